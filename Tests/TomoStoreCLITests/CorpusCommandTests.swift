import Foundation
import Testing

@Suite("corpus commands", .serialized)
struct CorpusCommandTests {
    @Test("sample i alone equals sample i of a range export, across processes and stores; tiles and info work")
    func export() throws {
        let dir = try CLI.temporaryDirectory()
        for store in ["a", "b"] {
            _ = try CLI.run("init", "\(dir)/\(store).store")
            #expect(
                try CLI.run(
                    "corpus", "create", "\(dir)/\(store).store", "c", "--samples", "50", "--size", "40,40,24", "--seed",
                    "77"
                ).status == 0)
        }
        #expect(
            try CLI.run(
                "corpus", "export", "\(dir)/a.store", "c", "--range", "0..3", "-o", "\(dir)/range", "--format", "npy"
            ).status == 0)
        #expect(
            try CLI.run(
                "corpus", "export", "\(dir)/b.store", "c", "--range", "2..3", "-o", "\(dir)/alone", "--format", "npy",
                "--no-cache"
            ).status == 0)
        for f in ["tomogram.npy", "grand_model.npy", "labels.npy", "particles.csv"] {
            let a = try Data(contentsOf: URL(fileURLWithPath: "\(dir)/range/000002/\(f)"))
            let b = try Data(contentsOf: URL(fileURLWithPath: "\(dir)/alone/000002/\(f)"))
            #expect(a == b, "\(f) differs")
        }
        #expect(
            try CLI.run(
                "corpus", "export", "\(dir)/a.store", "c", "--range", "0..1", "-o", "\(dir)/tiles", "--format", "mrc",
                "--tiles", "16", "--per-sample", "2"
            ).status == 0)
        #expect(FileManager.default.fileExists(atPath: "\(dir)/tiles/000000/tiles/001/labels.mrc"))
        #expect(
            try CLI.run(
                "corpus", "get", "\(dir)/a.store", "c", "--sample", "1", "--volume", "labels", "--box", "0:8,0:8,0:8",
                "-o", "\(dir)/l.npy"
            ).status == 0)
        let info = json(try CLI.run("corpus", "info", "\(dir)/a.store", "c", "--json").stdout) as? [String: Any]
        #expect((info?["recipe"] as? [String: Any])?["samples"] as? Int == 50 && info?["classes"] != nil)
        let bad = try CLI.run("corpus", "export", "\(dir)/a.store", "c", "--range", "5..2", "-o", "\(dir)/x")
        #expect(bad.status != 0 && bad.stderr.split(separator: "\n").count == 1)
    }

    @Test("a DUAL-simulated corpus: sample i alone equals sample i of a range export; other samples differ")
    func dualSimulator() throws {
        let dir = try CLI.temporaryDirectory()
        for store in ["a", "b"] {
            _ = try CLI.run("init", "\(dir)/\(store).store")
            let created = try CLI.run(
                "corpus", "create", "\(dir)/\(store).store", "c", "--samples", "4", "--size", "32,32,32", "--seed", "9",
                "--simulator", "dual:default")
            #expect(created.status == 0, "\(created.stderr)")
        }
        #expect(
            try CLI.run(
                "corpus", "export", "\(dir)/a.store", "c", "--range", "0..3", "-o", "\(dir)/range", "--format", "npy"
            ).status == 0)
        #expect(
            try CLI.run(
                "corpus", "export", "\(dir)/b.store", "c", "--range", "2..3", "-o", "\(dir)/alone", "--format", "npy",
                "--no-cache"
            ).status == 0)
        let a = try Data(contentsOf: URL(fileURLWithPath: "\(dir)/range/000002/tomogram.npy"))
        let b = try Data(contentsOf: URL(fileURLWithPath: "\(dir)/alone/000002/tomogram.npy"))
        #expect(a == b)
        #expect(try Data(contentsOf: URL(fileURLWithPath: "\(dir)/range/000001/tomogram.npy")) != a)
        // At a voxel size other than the model's (10 Å), samples are simulated at the model's and
        // resampled back onto the recipe's grid: same shape, same bytes from a second store.
        for store in ["c", "d"] {
            _ = try CLI.run("init", "\(dir)/\(store).store")
            let created = try CLI.run(
                "corpus", "create", "\(dir)/\(store).store", "v", "--samples", "2", "--size", "40,36,34", "--seed",
                "9", "--voxel", "14", "--simulator", "dual:default")
            #expect(created.status == 0, "\(created.stderr)")
            let got = try CLI.run(
                "corpus", "get", "\(dir)/\(store).store", "v", "--sample", "1", "-o", "\(dir)/\(store)-v.npy",
                "--no-cache")
            #expect(got.status == 0, "\(got.stderr)")
        }
        let c = try Data(contentsOf: URL(fileURLWithPath: "\(dir)/c-v.npy"))
        #expect(c == (try Data(contentsOf: URL(fileURLWithPath: "\(dir)/d-v.npy"))))
        #expect(c.count == 128 + 40 * 36 * 34 * 4, "a 40×36×34 float32 .npy")
        let recipe = try CLI.run("corpus", "info", "\(dir)/c.store", "v", "--json").stdout
        #expect(recipe.contains("\"simulation_tile\" : 64") && recipe.contains("\"voxel_size\" : 14"), "\(recipe)")
    }

    @Test("--resolution and --tilt's imaging (or wedge mask) treat a DUAL corpus's grand models first, as recorded")
    func grandModelResolution() throws {
        let dir = try CLI.temporaryDirectory()
        let store = "\(dir)/s.store"
        _ = try CLI.run("init", store)
        var tomograms: [String: Data] = [:]
        for (name, options) in [
            ("sharp", ["--resolution", "none"]), ("soft", ["--resolution", "60"]),
            ("whole", ["--resolution", "none", "--no-wedge"]), ("ctf", ["--resolution", "none", "--ctf"]),
            ("mask", ["--resolution", "none", "--wedge-mask"]),
        ] {
            let created = try CLI.run(
                [
                    "corpus", "create", store, name, "--samples", "2", "--size", "32,32,32", "--seed", "9",
                    "--simulator",
                    "dual:default",
                ] + options)
            #expect(created.status == 0, "\(created.stderr)")
            for volume in ["tomogram", "grand-model"] {
                let got = try CLI.run(
                    "corpus", "get", store, name, "--sample", "0", "--volume", volume, "-o",
                    "\(dir)/\(name)-\(volume).npy")
                #expect(got.status == 0, "\(got.stderr)")
                tomograms["\(name)/\(volume)"] = try Data(
                    contentsOf: URL(fileURLWithPath: "\(dir)/\(name)-\(volume).npy"))
            }
        }
        // The same grand model, simulated from two low-passes.
        #expect(tomograms["sharp/grand-model"] == tomograms["soft/grand-model"])
        #expect(tomograms["sharp/tomogram"] != tomograms["soft/tomogram"])
        // The grand model is imaged by a noise-free tilt series over --tilt (default ±60°) unless --no-wedge.
        #expect(tomograms["sharp/grand-model"] == tomograms["whole/grand-model"])
        #expect(tomograms["sharp/tomogram"] != tomograms["whole/tomogram"])
        let soft = try CLI.run("corpus", "info", store, "soft", "--json").stdout
        #expect(soft.contains("\"grand_model_resolution\" : 60"), "\(soft)")
        let sharp = try CLI.run("corpus", "info", store, "sharp", "--json").stdout
        #expect(sharp.contains("\"grand_model_resolution\" : 0"), "\(sharp)")
        #expect(
            sharp.contains("\"grand_model_reconstruction\" : true") && !sharp.contains("grand_model_wedge"), "\(sharp)")
        let whole = try CLI.run("corpus", "info", store, "whole", "--json").stdout
        #expect(!whole.contains("grand_model_wedge") && !whole.contains("grand_model_reconstruction"), "\(whole)")
        // --ctf multiplies the grand model by the CTF first: same grand model, another tomogram.
        #expect(tomograms["sharp/grand-model"] == tomograms["ctf/grand-model"])
        #expect(tomograms["sharp/tomogram"] != tomograms["ctf/tomogram"])
        let ctf = try CLI.run("corpus", "info", store, "ctf", "--json").stdout
        #expect(ctf.contains("\"grand_model_contrast_transfer\" : true"), "\(ctf)")
        #expect(!sharp.contains("grand_model_contrast_transfer"), "\(sharp)")
        // --wedge-mask removes the wedge with a Fourier mask instead of the tilt series.
        #expect(tomograms["sharp/grand-model"] == tomograms["mask/grand-model"])
        #expect(tomograms["sharp/tomogram"] != tomograms["mask/tomogram"])
        #expect(tomograms["mask/tomogram"] != tomograms["whole/tomogram"])
        let mask = try CLI.run("corpus", "info", store, "mask", "--json").stdout
        #expect(mask.contains("\"grand_model_wedge\"") && !mask.contains("grand_model_reconstruction"), "\(mask)")
        for (bad, flag) in [
            (["--resolution", "-3", "--simulator", "dual:default"], "--resolution"),
            (["--resolution", "40"], "--resolution"),
            (["--no-wedge"], "--no-wedge"), (["--ctf"], "--ctf"), (["--wedge-mask"], "--wedge-mask"),
            (["--simulator", "dual:default", "--wedge-mask", "--no-wedge"], "--wedge-mask"),
        ] {
            let refused = try CLI.run(
                ["corpus", "create", store, "bad", "--samples", "2", "--size", "32,32,32", "--seed", "9"] + bad)
            #expect(refused.status != 0 && refused.stderr.contains(flag), "\(refused.stderr)")
        }
    }
}
