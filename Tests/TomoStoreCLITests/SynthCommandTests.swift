import Foundation
import Testing

@Suite("synth, particles, eval, filter, pick", .serialized)
struct SynthCommandTests {
    @Test("a synthetic sample: three datasets, particle table in three formats, same seed same bytes across processes")
    func synthesize() throws {
        let dir = try CLI.temporaryDirectory()
        for store in ["a", "b"] {
            _ = try CLI.run("init", "\(dir)/\(store).store")
            let r = try CLI.run(
                "synth", "\(dir)/\(store).store", "--name", "s", "--size", "64,64,32", "--seed", "9", "--json")
            #expect(r.status == 0, "\(r.stderr)")
        }
        for ds in ["s/grand-model", "s/labels", "s/tomogram"] {
            #expect(try CLI.run("get", "\(dir)/a.store", ds, "-o", "\(dir)/a.npy").status == 0)
            #expect(try CLI.run("get", "\(dir)/b.store", ds, "-o", "\(dir)/b.npy").status == 0)
            #expect(
                try Data(contentsOf: URL(fileURLWithPath: "\(dir)/a.npy"))
                    == Data(contentsOf: URL(fileURLWithPath: "\(dir)/b.npy")), "\(ds) differs between runs")
        }
        let csv = try CLI.run("particles", "\(dir)/a.store", "s").stdout.split(separator: "\n")
        #expect(csv.first?.hasPrefix("class_id,class,instance,x,y,z") == true && csv.count > 2)
        let star = try CLI.run("particles", "\(dir)/a.store", "s", "--format", "star").stdout
        #expect(star.contains("_rlnCoordinateX") && star.contains("_rlnAngleTilt"))
        let points =
            (json(try CLI.run("particles", "\(dir)/a.store", "s", "--format", "json").stdout) as? [String: Any])?[
                "points"] as? [Any]
        #expect(points?.count == csv.count - 1)
        let info = json(try CLI.run("info", "\(dir)/a.store", "s/labels", "--json").stdout) as? [String: Any]
        #expect((info?["classes"] as? [String: String])?["1"] == "membrane")
    }

    @Test("eval, filter and pick give the documented keys; bad requests fail with one line")
    func evalFilterPick() throws {
        let dir = try CLI.temporaryDirectory()
        let s = "\(dir)/s.store"
        _ = try CLI.run("init", s)
        _ = try CLI.run("synth", s, "--name", "s", "--size", "64,64,32", "--seed", "4")
        let e =
            json(try CLI.run("eval", s, "--truth", "s/grand-model", "--test", "s/tomogram", "--json").stdout)
            as? [String: Any]
        #expect(e?["psnr"] is Double && e?["ssim"] is Double)
        #expect(try CLI.run("filter", s, "s/tomogram", "--gaussian", "1.5", "--name", "s/g").status == 0)
        #expect(try CLI.run("filter", s, "s/tomogram", "--nad", "--iterations", "3", "--name", "s/nad").status == 0)
        let p =
            json(
                try CLI.run(
                    "pick", s, "s/grand-model", "--sigma", "3", "--top", "100", "--min-distance", "8", "--polarity",
                    "bright",
                    "--truth", "s", "--json", "-o", "\(dir)/p.csv"
                ).stdout) as? [String: Any]
        #expect((p?["f1"] as? Double ?? 0) > 0.3 && p?["precision"] is Double && p?["recall"] is Double)
        #expect(try String(contentsOfFile: "\(dir)/p.csv", encoding: .utf8).hasPrefix("x,y,z,score"))
        for args in [
            ["synth", s, "--name", "t", "--size", "64,64"], ["synth", s, "--name", "s", "--size", "16,16,16"],
            ["eval", s, "--truth", "s/grand-model", "--test", "nope"], ["filter", s, "s/tomogram", "--name", "x"],
            ["pick", s, "s/tomogram", "--polarity", "grey", "-o", "\(dir)/x.csv"], ["particles", s, "nope"],
        ] {
            let r = try CLI.run(args)
            #expect(r.status != 0 && r.stderr.split(separator: "\n").count == 1, "\(args): \(r.stderr)")
        }
    }
}
