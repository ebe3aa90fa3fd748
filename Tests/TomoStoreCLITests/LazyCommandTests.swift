import Foundation
import Testing

@Suite("derive, materialize, gc", .serialized)
struct LazyCommandTests {
    @Test("two processes reading the same lazy dataset at once both get the right bytes; materialize finishes the rest")
    func concurrentReaders() throws {
        let dir = try CLI.temporaryDirectory()
        let s = "\(dir)/s.store"
        _ = try CLI.run("init", s)
        _ = try CLI.run("synth", s, "--name", "a", "--size", "96,80,48", "--seed", "3")
        #expect(
            try CLI.run(
                "derive", s, "g", "--op", "nad", "--input", "a/tomogram", "--param", "kappa=1", "--param",
                "iterations=4"
            ).status == 0)
        #expect(
            try CLI.run(
                "derive", s, "ref", "--op", "nad", "--input", "a/tomogram", "--param", "kappa=1", "--param",
                "iterations=4"
            ).status == 0)
        let box = "10:90,5:70,3:45"
        let processes = (0..<2).map { i -> Process in
            let p = Process()
            p.executableURL = URL(fileURLWithPath: CLI.binary)
            p.arguments = ["get", s, "g", "--box", box, "-o", "\(dir)/c\(i).npy"]
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle.nullDevice
            return p
        }
        for p in processes { try p.run() }
        for p in processes {
            p.waitUntilExit()
            #expect(p.terminationStatus == 0)
        }
        #expect(try CLI.run("get", s, "ref", "--box", box, "-o", "\(dir)/r.npy").status == 0)
        let reference = try Data(contentsOf: URL(fileURLWithPath: "\(dir)/r.npy"))
        for i in 0..<2 {
            #expect(try Data(contentsOf: URL(fileURLWithPath: "\(dir)/c\(i).npy")) == reference, "reader \(i)")
        }
        #expect(try CLI.run("materialize", s, "g").status == 0)
        let info = json(try CLI.run("info", s, "g", "--json").stdout) as? [String: Any]
        #expect(info?["stored_chunks"] as? Int == info?["total_chunks"] as? Int)
        #expect(try CLI.run("verify", s).status == 0)
        #expect(try CLI.run("rm", s, "ref").status == 0)
        #expect(try CLI.run("gc", s).status == 0)
        let bad = try CLI.run("derive", s, "x", "--op", "gaussian", "--input", "a/tomogram", "--param", "sigma=abc")
        #expect(bad.status != 0 && bad.stderr.split(separator: "\n").count == 1)
    }
}
