import Foundation
import Testing

@Suite("segment commands", .serialized)
struct SegmentCommandTests {
    /// Train on a small corpus, resume, apply lazily and to files (same bytes), score with eval; bad
    /// input is refused with one line.
    @Test("segment train (with resume) and apply: lazy datasets equal the MRC files; refusals are one line")
    func trainAndApply() throws {
        let dir = try CLI.temporaryDirectory()
        let s = "\(dir)/s.store"
        _ = try CLI.run("init", s)
        #expect(
            try CLI.run(
                "corpus", "create", s, "c", "--samples", "3", "--size", "40,40,32", "--voxel", "20", "--vesicles", "2",
                "--vesicle-diameter", "30-50", "--seed", "5"
            ).status == 0)
        #expect(
            try CLI.run("synth", s, "--name", "t", "--size", "40,36,30", "--voxel", "20", "--seed", "8").status == 0)
        let small = ["--patch", "16", "--base", "4", "--batch", "1", "--tiles-per-sample", "4", "--quiet"]
        let first = try CLI.run(
            [
                "segment", "train", s, "--corpus", "c", "-o", "\(dir)/seg.safetensors", "--iterations", "3",
                "--checkpoint-every", "3",
            ] + small)
        #expect(first.status == 0, "\(first.stderr)")
        let resumed = try CLI.run(
            ["segment", "train", s, "--corpus", "c", "-o", "\(dir)/seg.safetensors", "--iterations", "5", "--resume"]
                + small)
        #expect(resumed.status == 0 && resumed.stdout.contains("2 iterations"), "\(resumed.stdout) \(resumed.stderr)")
        let models = try CLI.run("models", s, "--json").stdout
        #expect(models.contains("\"segment\"") && models.contains("\"seg\""))

        let lazy = try CLI.run("segment", "apply", s, "t/tomogram", "--model", "seg", "--name", "t/seg", "--labels")
        #expect(lazy.status == 0, "\(lazy.stderr)")
        let files = try CLI.run(
            "segment", "apply", s, "t/tomogram", "--model", "\(dir)/seg.safetensors", "-o", "\(dir)/out", "--labels",
            "--quiet")
        #expect(files.status == 0, "\(files.stderr)")
        for part in ["membrane", "particle", "labels"] {
            let info = try CLI.run("info", s, "t/seg/\(part)", "--json").stdout
            #expect(info.contains(part == "labels" ? "\"uint8\"" : "\"float32\""), "t/seg/\(part): \(info)")
            #expect(try CLI.run("export", s, "t/seg/\(part)", "-o", "\(dir)/\(part)-lazy.mrc").status == 0)
            let a = try Data(contentsOf: URL(fileURLWithPath: "\(dir)/\(part)-lazy.mrc"))
            let b = try Data(contentsOf: URL(fileURLWithPath: "\(dir)/out/\(part).mrc"))
            // The voxels (after the 1024-byte header) are the same bytes.
            #expect(a.count == b.count && a.dropFirst(1024) == b.dropFirst(1024), "\(part)")
        }
        #expect(try CLI.run("info", s, "t/seg/labels", "--json").stdout.contains("\"membrane\""))
        let compact = try CLI.run(
            "segment", "apply", s, "t/tomogram", "--model", "seg", "--name", "t/seg8", "--dtype", "uint8", "--quiet")
        #expect(compact.status == 0, "\(compact.stderr)")
        #expect(try CLI.run("info", s, "t/seg8/membrane", "--json").stdout.contains("\"uint8\""))

        let refusals: [[String]] = [
            ["segment", "train", s, "--corpus", "nope", "-o", "\(dir)/x.safetensors"],
            ["segment", "train", s, "--corpus", "c", "--classes", "ribbon", "-o", "\(dir)/x.safetensors"] + small,
            ["segment", "train", s, "--corpus", "c", "--patch", "48", "-o", "\(dir)/x.safetensors"],
            ["segment", "train", s, "--corpus", "c", "--time", "soon", "-o", "\(dir)/x.safetensors"],
            ["segment", "train", s, "--corpus", "c", "--noise-augmentation=-1", "-o", "\(dir)/x.safetensors"],
            ["segment", "apply", s, "t/tomogram", "--model", "default", "--name", "x"],
            ["segment", "apply", s, "t/tomogram", "--model", "seg"],
            ["segment", "apply", s, "t/tomogram", "--model", "seg", "--name", "z", "--dtype", "float16"],
            ["segment", "apply", s, "t/tomogram", "--model", "seg", "--name", "t/seg"],
            ["segment", "apply", s, "nope", "--model", "seg", "--name", "y"],
            ["denoise", s, "t/tomogram", "--model", "seg", "-o", "\(dir)/d.mrc"],
        ]
        for args in refusals {
            let r = try CLI.run(args)
            #expect(r.status != 0, "\(args)")
            #expect(r.stderr.split(separator: "\n").count == 1, "\(args): \(r.stderr)")
            if args[0] == "denoise" { #expect(r.stderr.contains("segmenter"), "\(r.stderr)") }
        }
    }
}
