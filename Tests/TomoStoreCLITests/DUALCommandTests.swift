import Foundation
import Testing

@Suite("train, denoise, simulate", .serialized)
struct DUALCommandTests {
    @Test("train a tiny model, resume it, denoise now and lazily with equal voxels, simulate deterministically")
    func workflow() throws {
        let dir = try CLI.temporaryDirectory()
        let s = "\(dir)/s.store"
        _ = try CLI.run("init", s)
        for (name, seed) in [("a", "1"), ("b", "2")] {
            #expect(try CLI.run("synth", s, "--name", name, "--size", "40,36,24", "--seed", seed).status == 0)
        }
        let model = "\(dir)/m.safetensors"
        let tiny = [
            "--config", "base=2", "--config", "patch=16", "--config", "batch=2", "--config", "code_length=4",
            "--config", "discriminator_base=2",
        ]
        let train = try CLI.run(
            [
                "train", s, "--clean", "a/grand-model", "--noisy", "b/tomogram", "-o", model, "--iterations", "2",
                "--checkpoint-every", "1", "--quiet",
            ] + tiny)
        #expect(train.status == 0, "\(train.stderr)")
        let resumed = try CLI.run(
            [
                "train", s, "--clean", "a/grand-model", "--noisy", "b/tomogram", "-o", "\(dir)/m2.safetensors",
                "--iterations", "3", "--resume", "--quiet",
            ] + tiny)
        #expect(resumed.status != 0, "resume without a checkpoint for that output must fail")
        let again = try CLI.run(
            [
                "train", s, "--clean", "a/grand-model", "--noisy", "b/tomogram", "-o", model, "--iterations", "3",
                "--resume", "--quiet",
            ] + tiny)
        #expect(again.status == 0 && again.stdout.contains("1 iterations"), "\(again.stdout) \(again.stderr)")
        // train stored the model by name; --model by name, by digest and by file give the same voxels.
        let listed = try CLI.run("models", s, "--json")
        let entries = try JSONSerialization.jsonObject(with: Data(listed.stdout.utf8)) as? [[String: Any]] ?? []
        #expect(entries.count == 1 && entries.first?["name"] as? String == "m", "\(listed.stdout)")
        let digest = entries.first?["digest"] as? String ?? "?"
        for reference in ["m", digest] {
            #expect(
                try CLI.run(
                    "denoise", s, "b/tomogram", "--model", reference, "-o", "\(dir)/by-\(reference.prefix(8)).mrc"
                ).status == 0)
        }
        #expect(try CLI.run("denoise", s, "b/tomogram", "--model", model, "-o", "\(dir)/by-file.mrc").status == 0)
        let byFile = try Data(contentsOf: URL(fileURLWithPath: "\(dir)/by-file.mrc"))
        #expect(try Data(contentsOf: URL(fileURLWithPath: "\(dir)/by-m.mrc")) == byFile)
        #expect(try Data(contentsOf: URL(fileURLWithPath: "\(dir)/by-\(digest.prefix(8)).mrc")) == byFile)
        let unknown = try CLI.run("denoise", s, "b/tomogram", "--model", "no-such-model", "-o", "\(dir)/z.mrc")
        #expect(unknown.status != 0 && unknown.stderr.contains("no model no-such-model"))
        // Denoise the whole volume into a file, and lazily; boxes of the lazy dataset equal the file.
        #expect(try CLI.run("denoise", s, "b/tomogram", "--model", model, "-o", "\(dir)/d.mrc").status == 0)
        #expect(try CLI.run("denoise", s, "b/tomogram", "--model", model, "--name", "b/dual").status == 0)
        #expect(try CLI.run("ingest", s, "\(dir)/d.mrc", "--name", "b/dual-file").status == 0)
        for box in ["0:40,0:36,0:24", "5:19,7:30,3:11", "39:40,0:1,23:24"] {
            _ = try CLI.run("get", s, "b/dual", "--box", box, "-o", "\(dir)/x.npy")
            _ = try CLI.run("get", s, "b/dual-file", "--box", box, "-o", "\(dir)/y.npy")
            #expect(
                try Data(contentsOf: URL(fileURLWithPath: "\(dir)/x.npy"))
                    == Data(contentsOf: URL(fileURLWithPath: "\(dir)/y.npy")), "box \(box)")
        }
        // Simulation: same seed, same bytes; another seed, other bytes.
        for (out, seed) in [("s1", "4"), ("s2", "4"), ("s3", "5")] {
            #expect(
                try CLI.run("simulate", s, "a/grand-model", "--model", model, "--seed", seed, "-o", "\(dir)/\(out).mrc")
                    .status == 0)
        }
        let (s1, s2, s3) = try (
            Data(contentsOf: URL(fileURLWithPath: "\(dir)/s1.mrc")),
            Data(contentsOf: URL(fileURLWithPath: "\(dir)/s2.mrc")),
            Data(contentsOf: URL(fileURLWithPath: "\(dir)/s3.mrc"))
        )
        #expect(s1 == s2 && s1 != s3)
        // --resolution: a low-pass the model's clean domain did not have changes the simulation; none is
        // this model's own (it records no clean-domain resolution).
        for (out, resolution) in [("r60", "60"), ("r0", "none")] {
            let run = try CLI.run(
                "simulate", s, "a/grand-model", "--model", model, "--seed", "4", "--resolution", resolution, "-o",
                "\(dir)/\(out).mrc")
            #expect(run.status == 0, "\(run.stderr)")
            #expect(resolution == "none" || run.stderr.contains("low-passed to 60 Å, as asked"), "\(run.stderr)")
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: "\(dir)/r0.mrc")) == s1)
        #expect(try Data(contentsOf: URL(fileURLWithPath: "\(dir)/r60.mrc")) != s1)
        // `derive --op simulate --seed S` is the operator's seed, the same as `--param seed=S`.
        let defined = try CLI.run("simulate", s, "a/grand-model", "--model", model, "--name", "sim")
        let text = defined.stdout + defined.stderr
        let after = text.components(separatedBy: "with model ").dropFirst().first ?? ""
        let modelDigest = String(after.prefix { $0.isHexDigit })
        #expect(!modelDigest.isEmpty, "\(text)")
        let common = ["--op", "simulate", "--input", "a/grand-model", "--param", "model=\(modelDigest)"]
        for (name, seed) in [("d4", ["--seed", "4"]), ("d5", ["--seed", "5"]), ("p5", ["--param", "seed=5"])] {
            let derived = try CLI.run(["derive", s, name] + common + seed)
            #expect(derived.status == 0, "\(derived.stderr)")
        }
        let (d4, d5, p5) = try ["d4", "d5", "p5"].map { name -> Data in
            _ = try CLI.run("get", s, name, "--box", "0:40,0:36,0:24", "-o", "\(dir)/\(name).npy")
            return try Data(contentsOf: URL(fileURLWithPath: "\(dir)/\(name).npy"))
        }.tuple3()
        #expect(d5 == p5 && d4 != d5)
        let clash = try CLI.run(["derive", s, "d6"] + common + ["--seed", "6", "--param", "seed=7"])
        #expect(clash.status != 0 && clash.stderr.contains("give the seed once"))
        let bad = try CLI.run("denoise", s, "b/tomogram", "--model", "\(dir)/none.safetensors", "-o", "\(dir)/z.mrc")
        #expect(bad.status != 0 && bad.stderr.split(separator: "\n").count == 1)
    }

    /// The `__metadata__` of a safetensors file.
    static func metadata(_ path: String) throws -> [String: String] {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        let count = data.prefix(8).enumerated().reduce(0) { $0 | Int($1.1) << (8 * $1.0) }
        let header = try JSONSerialization.jsonObject(with: data.subdata(in: 8..<(8 + count))) as? [String: Any]
        return header?["__metadata__"] as? [String: String] ?? [:]
    }

    @Test("train on one's own data: no --clean fine-tunes the shipped model at the working voxel size, --time")
    func ownData() throws {
        let dir = try CLI.temporaryDirectory()
        let s = "\(dir)/s.store"
        _ = try CLI.run("init", s)
        #expect(
            try CLI.run("synth", s, "--name", "b", "--size", "48,40,32", "--seed", "3", "--voxel", "20").status == 0)
        let model = "\(dir)/own.safetensors"
        let train = try CLI.run(
            "train", s, "--noisy", "b/tomogram", "--time", "1h", "--iterations", "2", "-o", model)
        #expect(train.status == 0, "\(train.stderr)")
        #expect(train.stdout.contains("2 iterations"), "\(train.stdout)")
        #expect(train.stderr.contains("clean domain: 4 grand models") && train.stderr.contains("fine-tuning default"))
        let m = try Self.metadata(model)
        let voxel = Double(m["voxel_size"] ?? "") ?? 0
        #expect(voxel >= 10 && voxel <= 20, "working voxel \(m["voxel_size"] ?? "none")")
        #expect(m["contrast_noisy"] == "dark" && m["contrast_clean"] == "bright" && m["from"] != nil, "\(m)")
        #expect(Double(m["noise_grain"] ?? "") ?? 0 > 0 && m["average_decay"] == "0.998", "\(m)")
        // The model denoises its own data at its own voxel size.
        let denoise = try CLI.run("denoise", s, "b/tomogram", "--model", model, "-o", "\(dir)/d.mrc")
        #expect(denoise.status == 0, "\(denoise.stderr)")
        // A time budget ends training early, and bad durations are one line.
        let timed = try CLI.run(
            [
                "train", s, "--noisy", "b/tomogram", "--time", "1s", "--from", "none", "-o", "\(dir)/t.safetensors",
                "--quiet", "--config", "base=2", "--config", "patch=16", "--config", "code_length=2",
                "--config", "discriminator_base=2",
            ])
        #expect(timed.status == 0, "\(timed.stderr)")
        for bad in ["abc", "0m", "-5s"] {
            let r = try CLI.run("train", s, "--noisy", "b/tomogram", "--time", bad, "-o", "\(dir)/x.safetensors")
            #expect(r.status != 0 && r.stderr.contains("--time"), "\(bad): \(r.stderr)")
        }
    }
}

extension Array {
    /// The first three elements (the array must hold at least three).
    fileprivate func tuple3() -> (Element, Element, Element) { (self[0], self[1], self[2]) }
}
