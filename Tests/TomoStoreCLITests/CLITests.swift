import Foundation
import MRC
import Testing
import Voxels

/// Runs the built `tomostore` binary (found beside the test bundle, or at $TOMOSTORE_BIN).
struct CLI {
    static let binary: String = {
        if let env = ProcessInfo.processInfo.environment["TOMOSTORE_BIN"] { return env }
        var dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for _ in 0..<4 {
            let candidate = dir.appendingPathComponent("tomostore").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            dir = dir.deletingLastPathComponent()
        }
        return ".build/debug/tomostore"
    }()

    struct Result {
        let status: Int32
        let stdout: String
        let stderr: String
    }

    static func run(_ arguments: String...) throws -> Result { try run(arguments) }

    static func run(_ arguments: [String]) throws -> Result {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: binary)
        p.arguments = arguments
        let out = Pipe()
        let err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return Result(
            status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self),
            stderr: String(decoding: e, as: UTF8.self))
    }

    static func temporaryDirectory() throws -> String {
        let d = NSTemporaryDirectory() + "tomostore-cli-\(getpid())-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        return d
    }
}

@Suite("tomostore command line", .serialized)
struct CLITests {
    @Test("demo runs end to end and exits 0")
    func demo() throws {
        let dir = try CLI.temporaryDirectory()
        let r = try CLI.run("demo", "--dir", dir)
        #expect(r.status == 0, "stderr: \(r.stderr)")
        #expect(r.stdout.contains("demo complete"))
        #expect(r.stdout.contains("defined compensate(sample/tomogram) lazily"), "\(r.stdout)")
        #expect(FileManager.default.fileExists(atPath: dir + "/tomogram.mrc"))
    }

    /// A 128×96×64 float32 MRC with 10 Å voxels, written directly (no demo run).
    func tomogram(_ dir: String) throws {
        var o = MRCWriteOptions()
        o.voxelSize = Triple(10, 10, 10)
        let s = Extent3(x: 128, y: 96, z: 64)
        try MRCWriter.write(
            Volume(shape: s, values: (0..<s.count).map { Float($0 % 1000) * 0.01 }), to: dir + "/tomogram.mrc",
            options: o)
    }

    @Test("inspect --json reports the named keys in canonical terms")
    func inspectJSON() throws {
        let dir = try CLI.temporaryDirectory()
        try tomogram(dir)
        let r = try CLI.run("inspect", dir + "/tomogram.mrc", "--json")
        #expect(r.status == 0, "stderr: \(r.stderr)")
        let j = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        #expect(j["shape"] as? [Int] == [128, 96, 64])
        #expect(j["mode"] as? Int == 2)
        #expect(j["dtype"] as? String == "float32")
        #expect(j["voxel_size"] as? [Double] == [10, 10, 10])
        #expect(j["axis_order"] as? [Int] == [1, 2, 3])
        #expect(j["endianness"] as? String == "little")
        #expect(j["nsymbt"] as? Int == 0)
        #expect(j["exttyp"] as? String == "")
        #expect(j["origin"] as? [Double] == [0, 0, 0])
        let stats = try #require(j["stats"] as? [String: Any])
        for key in ["min", "max", "mean", "rms"] { #expect(stats[key] is Double, "stats.\(key)") }
    }

    @Test("inspect --json writes non-finite header fields and voxels as \"nan\"/\"inf\", as the catalog does")
    func inspectNonFinite() throws {
        let dir = try CLI.temporaryDirectory()
        var o = MRCWriteOptions()
        o.voxelSize = Triple(Double.infinity, 10, 10)
        let s = Extent3(x: 4, y: 4, z: 2)
        let values = (0..<s.count).map { i -> Float in i == 3 ? .nan : Float(i) }
        try MRCWriter.write(Volume(shape: s, values: values), to: dir + "/nan.mrc", options: o)
        let r = try CLI.run("inspect", dir + "/nan.mrc", "--json")
        #expect(r.status == 0, "stderr: \(r.stderr)")
        let j = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        #expect((j["voxel_size"] as? [Any])?.first as? String == "inf", "\(r.stdout)")
    }

    @Test("convert with --mode changes the mode and keeps the geometry")
    func convertMode() throws {
        let dir = try CLI.temporaryDirectory()
        try tomogram(dir)
        let out = dir + "/half.mrc"
        let r = try CLI.run("convert", dir + "/tomogram.mrc", out, "--mode", "12")
        #expect(r.status == 0, "stderr: \(r.stderr)")
        let j =
            try JSONSerialization.jsonObject(with: Data(try CLI.run("inspect", out, "--json").stdout.utf8))
            as? [String: Any]
        #expect(j?["mode"] as? Int == 12 && j?["dtype"] as? String == "float16")
        #expect(j?["voxel_size"] as? [Double] == [10, 10, 10])
    }

    @Test("bad input gives one line on stderr and a non-zero exit, never a crash")
    func badInput() throws {
        let dir = try CLI.temporaryDirectory()
        let junk = dir + "/junk.mrc"
        try Data((0..<4000).map { UInt8(truncatingIfNeeded: $0 &* 7919 &+ 13) }).write(to: URL(fileURLWithPath: junk))
        let cases: [[String]] = [
            ["inspect", dir + "/missing.mrc"],
            ["inspect", junk, "--json"],
            ["inspect", dir],
            ["convert", junk, dir + "/out.mrc"],
            ["convert", dir + "/missing.mrc", dir + "/out.mrc", "--mode", "3"],
        ]
        for args in cases {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: CLI.binary)
            p.arguments = args
            let err = Pipe()
            p.standardError = err
            p.standardOutput = Pipe()
            try p.run()
            let text = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            p.waitUntilExit()
            #expect(p.terminationStatus != 0, "\(args) exited 0")
            #expect(p.terminationReason == .exit, "\(args) crashed")
            #expect(!text.isEmpty && !text.contains("Fatal error"), "\(args): \(text)")
        }
        let r = try CLI.run("inspect", junk)
        #expect(r.stderr.split(separator: "\n").count == 1)
        #expect(r.stderr.contains(junk))
        #expect(!FileManager.default.fileExists(atPath: dir + "/out.mrc"))
    }

    @Test("version names the four C libraries")
    func version() throws {
        let r = try CLI.run("version", "--json")
        let j = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: String])
        for key in ["tomostore", "lmdb", "zstd", "openblas", "fftw"] { #expect(j[key] != nil, "\(key)") }
        #expect(j["fftw"]?.hasPrefix("fftw-3") == true)
    }
}
