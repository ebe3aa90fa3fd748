import Foundation
import Testing

@Suite("train-compensate, compensate", .serialized)
struct CompensateCommandTests {
    @Test(
        "train a tiny compensation model, compensate now and lazily (same voxels); task kept; bad input one line"
    )
    func workflow() throws {
        let dir = try CLI.temporaryDirectory()
        let s = "\(dir)/s.store"
        _ = try CLI.run("init", s)
        #expect(
            try CLI.run("synth", s, "--name", "a", "--size", "40,36,24", "--seed", "1", "--tilt", "-50:60:5").status
                == 0)
        let model = "\(dir)/mw.safetensors"
        let tiny = [
            "--config", "base=2", "--config", "patch=16", "--config", "batch=2", "--config", "code_length=4",
            "--config", "discriminator_base=2",
        ]
        let train = try CLI.run(
            ["train-compensate", s, "--input", "a/tomogram", "-o", model, "--iterations", "2", "--quiet"] + tiny)
        #expect(train.status == 0 && train.stdout.contains("stored as \"mw\""), "\(train.stdout) \(train.stderr)")
        // The tilt range came from the dataset's attributes and is stored with the model.
        let header = try Data(contentsOf: URL(fileURLWithPath: model))
        let text = String(decoding: header.prefix(4096), as: UTF8.self)
        #expect(
            text.contains("\"task\":\"compensate\"") && text.contains("\"tilt_min\":\"-50\"")
                && text.contains("\"tilt_max\":\"60\""), "\(text.prefix(300))")

        // Now into a file and lazily: the same voxels for any box.
        #expect(
            try CLI.run("compensate", s, "a/tomogram", "--model", "mw", "--tile", "16", "-o", "\(dir)/c.mrc", "--quiet")
                .status == 0)
        let lazy = try CLI.run("compensate", s, "a/tomogram", "--model", model, "--tile", "16", "--name", "a/comp")
        #expect(lazy.status == 0, "\(lazy.stderr)")
        #expect(try CLI.run("ingest", s, "\(dir)/c.mrc", "--name", "a/comp-file").status == 0)
        for box in ["0:40,0:36,0:24", "5:19,7:30,3:11", "39:40,0:1,23:24"] {
            _ = try CLI.run("get", s, "a/comp", "--box", box, "-o", "\(dir)/x.npy")
            _ = try CLI.run("get", s, "a/comp-file", "--box", box, "-o", "\(dir)/y.npy")
            #expect(
                try Data(contentsOf: URL(fileURLWithPath: "\(dir)/x.npy"))
                    == Data(contentsOf: URL(fileURLWithPath: "\(dir)/y.npy")), "box \(box)")
        }
        // Without --tile, a volume thinner than 33 voxels gets a tile that fits (here 40 for 24 slices).
        let auto = try CLI.run("compensate", s, "a/tomogram", "--model", "mw", "-o", "\(dir)/auto.mrc", "--quiet")
        #expect(auto.status == 0, "\(auto.stderr)")
        #expect(try CLI.run("info", s, "a/comp").stdout.contains("derived:     compensate(a/tomogram)  gain=match"))
        let info = try CLI.run("info", s, "a/comp", "--json")
        #expect(info.stdout.contains("compensate") && info.stdout.contains("-50"), "\(info.stdout.prefix(600))")

        let listed = try CLI.run("models", s, "--json")
        #expect(listed.stdout.contains("\"task\" : \"compensate\""), "\(listed.stdout)")
        // Each model serves its own task only.
        let wrong = try CLI.run("denoise", s, "a/tomogram", "--model", "mw", "-o", "\(dir)/d.mrc")
        #expect(
            wrong.status != 0 && wrong.stderr.contains("train-compensate")
                && wrong.stderr.split(separator: "\n").count == 1, "\(wrong.stderr)")
        #expect(
            try CLI.run(
                [
                    "train", s, "--clean", "a/grand-model", "--noisy", "a/tomogram", "-o", "\(dir)/dn.safetensors",
                    "--iterations", "1", "--quiet",
                ] + tiny
            ).status == 0)
        let wrong2 = try CLI.run("compensate", s, "a/tomogram", "--model", "dn", "-o", "\(dir)/e.mrc")
        #expect(wrong2.status != 0 && wrong2.stderr.contains("not missing-wedge compensation"), "\(wrong2.stderr)")

        // Bad input: one line, non-zero, nothing defined.
        for args in [
            ["compensate", s, "a/tomogram", "--model", "mw", "--tilt=60:-60", "--name", "a/bad"],
            ["compensate", s, "a/tomogram", "--model", "mw", "--name", "a/bad", "-o", "\(dir)/f.mrc"],
            ["compensate", s, "a/tomogram", "--model", "mw", "--tile", "64", "-o", "\(dir)/f.mrc"],
            ["train-compensate", s, "--input", "a/tomogram,nope", "-o", "\(dir)/x.safetensors", "--iterations", "1"],
        ] {
            let r = try CLI.run(args)
            #expect(r.status != 0 && r.stderr.split(separator: "\n").count == 1, "\(args): \(r.stderr)")
        }
        #expect(try CLI.run("info", s, "a/bad").status != 0, "a refused definition leaves nothing behind")
    }
}
