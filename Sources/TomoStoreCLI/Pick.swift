import ArgumentParser
import Catalog
import Corpus
import Foundation
import Imaging
import Operators
import Store
import Voxels

/// `tomostore pick STORE NAME …`: DoG particle picking, scored against a particle table when given.
struct PickCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pick",
        abstract: "Pick particles with a difference of Gaussians (σ, 1.1σ) and non-maximum suppression.",
        discussion: """
            Writes the picks (x, y, z in voxels, score) as CSV, STAR or JSON (by the -o extension).
            With --truth-csv (a CSV with columns x, y, z in voxels) prints precision, recall and F1 of
            a one-to-one matching within --match-distance voxels.

            Example:
              tomostore pick s.store t1 --sigma 8 --top 500 --min-distance 24 --polarity dark -o picks.csv
            """
    )

    @OptionGroup var dataset: DatasetArguments
    @Option(help: "σ1 in voxels (σ2 = 1.1·σ1).") var sigma = 8.0
    @Option(help: "Keep at most this many picks.") var top = 500
    @Option(help: "Minimum distance between picks, voxels (default 3σ).") var minDistance: Double?
    @Option(
        help: """
            Particles to pick: dark (darker than the background, as reconstructed) or bright (default: the \
            dataset's recorded contrast, dark when it has none).
            """)
    var polarity: ParticlePicker.Polarity?
    @Option(help: "Synthetic sample whose particle table is the truth to score against.") var truth: String?
    @Option(help: "CSV of true positions (columns x, y, z in voxels) to score against.") var truthCsv: String?
    @Option(help: "Match distance for scoring, voxels (default σ).") var matchDistance: Double?
    @Option(help: "x0:x1,y0:y1,z0:z1 to pick in (default: whole volume).") var box: String?
    @Option(name: .shortAndLong, help: "Output picks: .csv, .star or .json.") var output: String
    @Flag(help: "Print JSON (precision, recall, f1 when scored).") var json = false

    func validate() throws {
        guard sigma > 0, top > 0 else { throw ValidationError("--sigma and --top must be positive") }
        let ext = output.split(separator: ".").last.map(String.init) ?? ""
        guard ["csv", "star", "json"].contains(ext) else {
            throw ValidationError("-o \(output) must end in .csv, .star or .json")
        }
    }

    func run() throws {
        let workspace = try Workspace(path: dataset.store)
        let store = workspace.store
        let ds = try workspace.open(dataset.name)
        let recorded = ds.info.contrast
        let pol = polarity ?? recorded ?? .dark
        if polarity == nil {
            printError(
                recorded.map { "picking \($0.rawValue) particles: \(ds.name)'s recorded contrast" }
                    ?? "picking dark particles: \(ds.name) records no contrast (--polarity to choose)")
        }
        let region = try box.map { try parseBox($0, shape: ds.shape) } ?? Box3(shape: ds.shape)
        guard region.isInside(ds.shape) else {
            throw StoreError.boxOutOfBounds(name: ds.name, box: region, shape: ds.shape)
        }
        let picks = ParticlePicker.pick(
            try ds.read(region), sigma: sigma, top: top, minDistance: minDistance ?? 3 * sigma, polarity: pol
        )
        .map {
            Imaging.Pick(
                x: $0.x + Double(region.lower.x), y: $0.y + Double(region.lower.y), z: $0.z + Double(region.lower.z),
                score: $0.score)
        }
        try PickTable.write(picks, to: output, voxelSize: ds.info.voxelSize[0])
        var result: [String: Any] = ["picks": picks.count, "output": output]
        var truths: [Imaging.Pick]? = nil
        if let truthCsv { truths = try PickTable.readPositions(csv: truthCsv) }
        if let truth {
            truths = ParticleTable.rows(try ParticleTable.load(store, sample: truth)).compactMap { row in
                guard let x = Double(row["x"] ?? ""), let y = Double(row["y"] ?? ""), let z = Double(row["z"] ?? "")
                else { return nil }
                return Imaging.Pick(x: x, y: y, z: z)
            }
        }
        if let truths {
            let score = PickingScore.match(picks: picks, truths: truths, distance: matchDistance ?? sigma)
            result["precision"] = score.precision
            result["recall"] = score.recall
            result["f1"] = score.f1
            result["true_positives"] = score.truePositives
            result["truths"] = score.truths
        }
        if json {
            print(try jsonText(any: result))
        } else {
            var line = "wrote \(picks.count) picks to \(output)"
            if let f1 = result["f1"] as? Double {
                line += String(
                    format: "; precision %.3f, recall %.3f, F1 %.3f", result["precision"] as! Double,
                    result["recall"] as! Double, f1)
            }
            print(line)
        }
    }
}

/// Reading and writing pick lists.
enum PickTable {
    /// CSV (`x,y,z,score`, voxels), RELION STAR (`_rlnCoordinateX/Y/Z`, `_rlnAutopickFigureOfMerit`)
    /// or copick-style JSON (`{"points": [{"location": {"x", "y", "z"} (Å), "score"}]}`).
    static func write(_ picks: [Imaging.Pick], to path: String, voxelSize: Double) throws {
        var text: String
        if path.hasSuffix(".csv") {
            text = "x,y,z,score\n" + picks.map { "\($0.x),\($0.y),\($0.z),\($0.score)" }.joined(separator: "\n") + "\n"
        } else if path.hasSuffix(".star") {
            text =
                "\ndata_\n\nloop_\n_rlnCoordinateX #1\n_rlnCoordinateY #2\n_rlnCoordinateZ "
                + "#3\n_rlnAutopickFigureOfMerit #4\n"
            text +=
                picks.map { String(format: "%.2f %.2f %.2f %.6f", $0.x, $0.y, $0.z, $0.score) }.joined(separator: "\n")
                + "\n"
        } else {
            let points = picks.map {
                ["location": ["x": $0.x * voxelSize, "y": $0.y * voxelSize, "z": $0.z * voxelSize], "score": $0.score]
                    as [String: Any]
            }
            text =
                try jsonText(any: ["pickable_object_name": "particle", "user_id": "tomostore", "points": points]) + "\n"
        }
        do { try text.write(toFile: path, atomically: true, encoding: .utf8) } catch {
            throw CommandError("cannot write \(path): \(error.localizedDescription)")
        }
    }

    /// x, y, z (voxels) from a CSV with a header naming at least the columns x, y and z.
    static func readPositions(csv path: String) throws -> [Imaging.Pick] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw CommandError("cannot read \(path)")
        }
        let lines = text.split(whereSeparator: \.isNewline).map(String.init).filter { !$0.isEmpty }
        guard let header = lines.first?.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }),
            let ix = header.firstIndex(of: "x"), let iy = header.firstIndex(of: "y"),
            let iz = header.firstIndex(of: "z")
        else {
            throw CommandError("\(path): the first line must name the columns, including x, y and z")
        }
        return try lines.dropFirst().enumerated().map { n, line in
            let f = line.split(separator: ",", omittingEmptySubsequences: false).map {
                $0.trimmingCharacters(in: .whitespaces)
            }
            guard f.count > max(ix, iy, iz), let x = Double(f[ix]), let y = Double(f[iy]), let z = Double(f[iz]) else {
                throw CommandError("\(path): line \(n + 2) has no numeric x, y, z")
            }
            return Imaging.Pick(x: x, y: y, z: z)
        }
    }
}
