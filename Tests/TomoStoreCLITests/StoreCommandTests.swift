import Foundation
import MRC
import Testing
import Voxels

/// Writes a random float32 MRC file for CLI tests.
func randomMRC(_ path: String, shape: Extent3, seed: UInt64) throws -> Volume {
    let rng = CounterRNG(seed: seed)
    let v = Volume(shape: shape, values: (0..<shape.count).map { Float(rng.normal(counter: UInt64($0))) })
    try MRCWriter.write(v, to: path)
    return v
}

func json(_ text: String) -> Any? { try? JSONSerialization.jsonObject(with: Data(text.utf8)) }

@Suite("store commands", .serialized)
struct StoreCommandTests {
    @Test("init, ingest, ls, info, get (.npy and .mrc), export, rm, verify")
    func workflow() throws {
        let dir = try CLI.temporaryDirectory()
        let v = try randomMRC(dir + "/t.mrc", shape: Extent3(x: 50, y: 40, z: 30), seed: 3)
        let s = dir + "/s.store"
        #expect(try CLI.run("init", s).status == 0)
        #expect(try CLI.run("init", s).status != 0, "init twice")
        let ingest = try CLI.run("ingest", s, dir + "/t.mrc", "--name", "t", "--chunk", "16", "--attr", "tilt_min=-60")
        #expect(ingest.status == 0, "\(ingest.stderr)")
        let info = try #require(json(try CLI.run("info", s, "t", "--json").stdout) as? [String: Any])
        #expect(info["complete"] as? Bool == true && info["shape"] as? [Int] == [50, 40, 30])
        #expect(info["chunk"] as? [Int] == [16, 16, 16] && info["codec"] as? String == "zstd:3")
        for key in [
            "stored_chunks", "stored_bytes", "raw_bytes", "stats", "voxel_size", "origin", "mrc", "attributes",
            "created", "software_version", "fill_value", "kind", "dtype",
        ] {
            #expect(info[key] != nil, "info lacks \(key)")
        }
        let list = try #require(json(try CLI.run("ls", s, "--json").stdout) as? [[String: Any]])
        #expect(list.map { $0["name"] as? String } == ["t"])
        let box = Box3(x: 7..<41, y: 3..<39, z: 15..<17)
        #expect(try CLI.run("get", s, "t", "--box", box.description, "-o", dir + "/b.npy").status == 0)
        let npy = Array(try Data(contentsOf: URL(fileURLWithPath: dir + "/b.npy")))
        let headerLength = Int(npy[8]) | Int(npy[9]) << 8
        #expect(Array(npy[(10 + headerLength)...]) == v.extracting(box).withUnsafeBytes { Array($0) })
        #expect(try CLI.run("get", s, "t", "--box", box.description, "-o", dir + "/b.mrc").status == 0)
        #expect(try MRCReader(path: dir + "/b.mrc").readAll() == v.extracting(box))
        #expect(try CLI.run("export", s, "t", "-o", dir + "/e.mrc").status == 0)
        #expect(try MRCReader(path: dir + "/e.mrc").readAll() == v)
        let verify = try CLI.run("verify", s, "--json")
        #expect(verify.status == 0 && (json(verify.stdout) as? [String: Any])?["ok"] as? Bool == true)
        #expect(try CLI.run("rm", s, "t").status == 0)
        #expect((json(try CLI.run("ls", s, "--json").stdout) as? [Any])?.isEmpty == true)
    }

    @Test("a store opens, takes data and reads where address space is short (ulimit -v 4 GB: no 1 TiB map)")
    func shortAddressSpace() throws {
        let dir = try CLI.temporaryDirectory()
        let v = try randomMRC(dir + "/t.mrc", shape: Extent3(x: 40, y: 30, z: 20), seed: 5)
        let s = dir + "/s.store"
        let script = """
            ulimit -v 4000000 && "$0" init "$1" && "$0" ingest "$1" "$2" --name t --voxel 10 --quiet \
            && "$0" get "$1" t --box 0:40,0:30,0:20 -o "$3" && "$0" verify "$1"
            """
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = ["-c", script, CLI.binary, s, dir + "/t.mrc", dir + "/g.npy"]
        let err = Pipe()
        p.standardError = err
        p.standardOutput = Pipe()
        try p.run()
        let message = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        #expect(p.terminationStatus == 0, "\(message)")
        let npy = Array(try Data(contentsOf: URL(fileURLWithPath: dir + "/g.npy")))
        let values = npy.suffix(v.count * 4).withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        #expect(values == v.values(as: Float.self))
    }

    @Test("bad input: one line on stderr, non-zero exit, store untouched")
    func badInput() throws {
        let dir = try CLI.temporaryDirectory()
        _ = try randomMRC(dir + "/t.mrc", shape: Extent3(x: 20, y: 20, z: 20), seed: 1)
        try Data("not an mrc".utf8).write(to: URL(fileURLWithPath: dir + "/bad.mrc"))
        let s = dir + "/s.store"
        _ = try CLI.run("init", s)
        _ = try CLI.run("ingest", s, dir + "/t.mrc", "--name", "t")
        let cases: [[String]] = [
            ["get", s, "t", "--box", "0:21,0:5,0:5", "-o", dir + "/x.npy"],
            ["get", s, "t", "--box", "5:1,0:5,0:5", "-o", dir + "/x.npy"],
            ["get", s, "t", "--box", "a:b", "-o", dir + "/x.npy"],
            ["get", s, "t", "--box", "0:1,0:1", "-o", dir + "/x.npy"],
            ["get", s, "t", "--box", "0:1,0:1,0:1", "-o", dir + "/x.txt"],
            ["get", s, "nope", "--box", "0:1,0:1,0:1", "-o", dir + "/x.npy"],
            ["get", dir + "/no.store", "t", "-o", dir + "/x.npy"],
            ["ingest", s, dir + "/bad.mrc", "--name", "b"],
            ["ingest", s, dir + "/t.mrc", "--name", "t"],
            ["ingest", s, dir + "/t.mrc", "--name", "bad name"],
            ["ingest", s, dir + "/t.mrc", "--name", "f", "--kind", "labels"],
            ["ingest", s, dir + "/t.mrc", "--name", "c", "--codec", "lz4"],
            ["ingest", s, dir + "/t.mrc", "--name", "k", "--kind", "movie"],
            ["info", s, "nope"],
            ["rm", s, "nope"],
        ]
        for args in cases {
            let r = try CLI.run(args)
            #expect(r.status != 0, "\(args) succeeded")
            let lines = r.stderr.split(separator: "\n")
            #expect(lines.count == 1 && !r.stderr.contains("Fatal error"), "\(args): \(r.stderr)")
        }
        #expect(!FileManager.default.fileExists(atPath: dir + "/x.npy"))
        let list = try #require(json(try CLI.run("ls", s, "--json").stdout) as? [[String: Any]])
        #expect(list.map { $0["name"] as? String } == ["t"])
        #expect(try CLI.run("verify", s).status == 0)
        let out = try CLI.run("get", s, "t", "--box", "0:21,0:5,0:5", "-o", dir + "/x.npy")
        #expect(out.stderr.contains("0:20,0:20,0:20"), "the error names the volume's extent: \(out.stderr)")
    }

    @Test("kill -9 at random moments during ingest: the store verifies, complete data survive, --resume finishes")
    func killDuringIngest() throws {
        let dir = try CLI.temporaryDirectory()
        let shape = Extent3(x: 256, y: 256, z: 192)
        let v = try randomMRC(dir + "/big.mrc", shape: shape, seed: 7)
        let s = dir + "/s.store"
        _ = try CLI.run("init", s)
        _ = try randomMRC(dir + "/small.mrc", shape: Extent3(x: 30, y: 30, z: 30), seed: 8)
        #expect(try CLI.run("ingest", s, dir + "/small.mrc", "--name", "kept").status == 0)
        // Kill moments adapt to this machine's speed: within [lo, hi], where lo is the latest moment
        // known to be too early (no dataset yet) and hi the earliest known to be too late (finished).
        let started = Date()
        #expect(try CLI.run("ingest", s, dir + "/big.mrc", "--name", "timing", "--quiet").status == 0)
        var lo = 0.0
        var hi = Date().timeIntervalSince(started) * 1.2
        _ = try CLI.run("rm", s, "timing")
        let rng = CounterRNG(seed: UInt64(Date().timeIntervalSince1970))
        var interrupted = 0
        for attempt in 0..<10 where attempt < 5 || interrupted < 2 {
            let delay = lo + (hi - lo) * (attempt < 2 ? 0.5 : rng.uniform(counter: UInt64(attempt)))
            let p = Process()
            p.executableURL = URL(fileURLWithPath: CLI.binary)
            p.arguments = ["ingest", s, dir + "/big.mrc", "--name", "big\(attempt)", "--quiet"]
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle.nullDevice
            try p.run()
            Thread.sleep(forTimeInterval: delay)
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
            let verify = try CLI.run("verify", s)
            #expect(verify.status == 0, "verify after kill at \(delay) s: \(verify.stdout)")
            #expect(
                (json(try CLI.run("info", s, "kept", "--json").stdout) as? [String: Any])?["complete"] as? Bool == true)
            let list = (json(try CLI.run("ls", s, "--json").stdout) as? [[String: Any]]) ?? []
            guard let entry = list.first(where: { $0["name"] as? String == "big\(attempt)" }) else {
                lo = delay
                continue
            }
            if entry["complete"] as? Bool != false { hi = delay }
            if entry["complete"] as? Bool == false {
                interrupted += 1
                #expect(
                    try CLI.run("get", s, "big\(attempt)", "-o", dir + "/no.npy").status != 0,
                    "an incomplete dataset was readable")
                let resume = try CLI.run(
                    "ingest", s, dir + "/big.mrc", "--name", "big\(attempt)", "--resume", "--quiet")
                #expect(resume.status == 0, "resume: \(resume.stderr)")
            }
            let box = Box3(x: 100..<228, y: 0..<256, z: 150..<192)
            #expect(try CLI.run("get", s, "big\(attempt)", "--box", box.description, "-o", dir + "/b.npy").status == 0)
            let npy = Array(try Data(contentsOf: URL(fileURLWithPath: dir + "/b.npy")))
            let headerLength = Int(npy[8]) | Int(npy[9]) << 8
            #expect(
                Array(npy[(10 + headerLength)...]) == v.extracting(box).withUnsafeBytes { Array($0) },
                "attempt \(attempt) data differ")
            _ = try CLI.run("rm", s, "big\(attempt)")
        }
        #expect(interrupted > 0, "no kill landed during an ingest (last window \(lo)…\(hi) s)")
        #expect(try CLI.run("verify", s).status == 0)
    }

    /// True where this process may mount a tmpfs (root with CAP_SYS_ADMIN); probes and unmounts.
    static func canMountTmpfs() -> Bool {
        guard let dir = try? smallFilesystem(megabytes: 1) else { return false }
        unmount(dir)
        return true
    }

    static func unmount(_ dir: String) {
        let u = Process()
        u.executableURL = URL(fileURLWithPath: "/bin/umount")
        u.arguments = [dir]
        try? u.run()
        u.waitUntilExit()
    }

    /// Mounts a tmpfs of `megabytes` at a new directory, or nil where mounting is not permitted.
    static func smallFilesystem(megabytes: Int) throws -> String? {
        let dir = try CLI.temporaryDirectory() + "/fs"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/mount")
        p.arguments = ["-t", "tmpfs", "-o", "size=\(megabytes)m", "tmpfs", dir]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        guard (try? p.run()) != nil else { return nil }
        p.waitUntilExit()
        return p.terminationStatus == 0 ? dir : nil
    }

    @Test(
        "a full disk is one clear error; the store stays consistent and keeps what was committed",
        .enabled(if: canMountTmpfs()))
    func fullDisk() throws {
        guard let fs = try Self.smallFilesystem(megabytes: 6) else { return }
        defer { Self.unmount(fs) }
        let dir = try CLI.temporaryDirectory()
        _ = try randomMRC(dir + "/t.mrc", shape: Extent3(x: 128, y: 96, z: 64), seed: 2)
        let s = fs + "/s.store"
        #expect(try CLI.run("init", s).status == 0)
        var failures = 0
        for name in ["a", "b", "c", "d"] {
            let r = try CLI.run("ingest", s, dir + "/t.mrc", "--name", name, "--quiet")
            if r.status != 0 {
                failures += 1
                #expect(r.stderr.contains("full") && r.stderr.split(separator: "\n").count == 1, "\(r.stderr)")
            }
        }
        #expect(failures > 0, "a 6 MiB filesystem held four 3 MiB ingests")
        #expect(try CLI.run("verify", s).status == 0)
        let list = (json(try CLI.run("ls", s, "--json").stdout) as? [[String: Any]]) ?? []
        let complete = list.filter { $0["complete"] as? Bool == true }.compactMap { $0["name"] as? String }
        #expect(!complete.isEmpty)
        for name in complete {
            #expect(try CLI.run("get", s, name, "--box", "0:128,0:96,0:64", "-o", dir + "/\(name).npy").status == 0)
        }
    }
}
