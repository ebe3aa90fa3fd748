import ArgumentParser
import Catalog
import Foundation
import Imaging
import Simulation
import Store
import Voxels

/// `tomostore synth STORE --name NAME --size X,Y,Z --seed S …`: a synthetic sample.
struct Synth: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Synthesize a cryo-ET sample: grand model, labels, particle table and a simulated tomogram.",
        discussion: """
            Packs pseudo-macromolecules (8 built-in shapes, 10–30 nm), vesicle bilayers and gold fiducials
            at random non-overlapping positions and orientations, then simulates a tilt series about y
            (projection, CTF, Gaussian noise at --snr per projection) and reconstructs it by weighted
            back-projection. Writes NAME/grand-model (float32, protein positive), NAME/labels (uint8:
            0 background, 1 membrane, 2 fiducial, 3… templates) and NAME/tomogram (float32, protein dark).
            The particle table is read with `tomostore particles`. Same parameters and seed → same bytes.

            Example:
              tomostore synth s.store --name sample1 --size 256,256,128 --seed 7 --voxel 10 --tilt -60:60:3 --snr 0.1
            """
    )

    @Argument(help: "The store directory.") var store: String
    @Option(help: "Sample name (datasets NAME/grand-model, NAME/labels, NAME/tomogram).") var name: String
    @Option(help: "Size in voxels X,Y,Z.") var size: String
    @Option(help: "Seed.") var seed: UInt64 = 1
    @Option(help: "Voxel size in Å.") var voxel = 10.0
    @Option(parsing: .unconditional, help: "Tilt range and step in degrees: min:max:step.") var tilt = "-60:60:3"
    @Option(help: "SNR of each projection (signal variance / noise variance).") var snr = 0.1
    @Option(help: "Total electron dose in e⁻/Å² over the series: shot (Poisson) noise instead of --snr.") var dose:
        Double?
    @Option(help: "Defocus in µm (underfocus).") var defocus = 3.0
    @Option(help: "Fraction of the volume filled by particles.") var crowding = 0.2
    @Option(
        help:
            ArgumentHelp(
                "Comma-separated built-in template names (or all), and/or template files: MRC maps (.mrc, .map) and "
                    + "atomic models (.pdb, .cif).")
    ) var templates = "all"
    @Flag(help: "Print a JSON summary.") var json = false

    func run() throws {
        let dims = size.split(separator: ",").compactMap { Int($0) }
        guard dims.count == 3, dims.allSatisfy({ $0 >= 8 && $0 <= 4096 }) else {
            throw CommandError("--size must be X,Y,Z with each between 8 and 4096")
        }
        let t = tilt.split(separator: ":").compactMap { Double($0) }
        guard t.count == 3, t[0] >= -90, t[1] <= 90, t[0] <= t[1], t[2] > 0 else {
            throw CommandError("--tilt must be min:max:step in degrees within -90…90, e.g. -60:60:3")
        }
        guard voxel > 0, snr >= 0, crowding >= 0 && crowding <= 0.6 else {
            throw CommandError("need --voxel > 0, --snr ≥ 0 and 0 ≤ --crowding ≤ 0.6")
        }
        var chosen: [Template] = []
        for item in templates.split(separator: ",").map(String.init) {
            if item == "all" {
                chosen += Template.builtIn
                continue
            }
            if let t = Template.builtIn.first(where: { $0.name == item }) {
                chosen.append(t)
                continue
            }
            if FileManager.default.fileExists(atPath: item) {
                chosen.append(try TemplateLoader.load(item, voxelSize: voxel))
                continue
            }
            throw CommandError(
                "unknown template \(item): neither a built-in "
                    + "(\(Template.builtIn.map(\.name).joined(separator: ", "))) nor an existing .mrc/.pdb/.cif file"
            )
        }
        let s = try Store(path: store)
        for suffix in ["grand-model", "labels", "tomogram"] { try Store.validate(name: "\(name)/\(suffix)") }
        let start = Date()
        var gp = GrandModelParameters(shape: Extent3(x: dims[0], y: dims[1], z: dims[2]))
        gp.voxelSize = voxel
        gp.seed = seed
        gp.templates = chosen
        gp.crowding = crowding
        let model = GrandModel.make(gp)
        var tp = TiltSeriesParameters()
        tp.minTilt = t[0]
        tp.maxTilt = t[1]
        tp.tiltStep = t[2]
        tp.snr = snr
        tp.seed = seed
        if let dose {
            guard dose > 0 else { throw CommandError("--dose must be positive (e⁻/Å² over the whole series)") }
            tp.dose = dose
        }
        tp.ctf = CTF(defocus: defocus * 10_000)
        let (tomogram, _) = TiltSeriesSimulator.simulate(model.density, voxelSize: voxel, parameters: tp)
        let attributes: [String: JSONValue] = [
            "seed": .number(Double(seed)), "tilt_min": .number(t[0]), "tilt_max": .number(t[1]),
            "tilt_step": .number(t[2]),
            "snr": .number(snr), "dose_e_per_a2": dose.map { .number($0) } ?? .null, "defocus_um": .number(defocus),
            "voltage_kv": .number(300), "cs_mm": .number(2.7),
            "amplitude_contrast": .number(0.07), "crowding": .number(crowding), "sample": .string(name),
        ]
        try storeVolume(s, "\(name)/grand-model", .grandModel, model.density, voxel, attributes)
        let labels = try storeVolume(
            s, "\(name)/labels", .labels, model.labels, voxel, attributes,
            classes: Dictionary(uniqueKeysWithValues: model.classes.map { (String($0.key), $0.value) }))
        try labels.putBlob("particles.csv", Array(ParticleTable.csv(model.particles, voxelSize: voxel).utf8))
        try storeVolume(s, "\(name)/tomogram", .synthetic, tomogram, voxel, attributes)
        let elapsed = Date().timeIntervalSince(start)
        if json {
            print(
                try jsonText(any: [
                    "name": name, "particles": model.particles.count, "classes": model.classes.count,
                    "tilts": tp.tilts.count, "seconds": elapsed,
                ]))
        } else {
            print(
                String(
                    format: "synthesized \"%@\": %d objects (%d classes), %d tilts, in %.1f s", name,
                    model.particles.count, model.classes.count, tp.tilts.count, elapsed))
        }
    }
}

/// Stores an in-memory volume as a complete dataset (64³ chunks), with statistics.
@discardableResult
func storeVolume(
    _ store: Store, _ name: String, _ kind: DatasetKind, _ volume: Volume, _ voxel: Double,
    _ attributes: [String: JSONValue], classes: [String: String]? = nil
) throws -> Dataset {
    var spec = Store.NewDataset(name: name, kind: kind, dtype: volume.dtype, shape: volume.shape)
    spec.voxelSize = [voxel, voxel, voxel]
    spec.attributes = attributes
    spec.classes = classes
    let ds = try store.createDataset(spec, complete: false)
    do {
        try ds.write(volume, at: Extent3(x: 0, y: 0, z: 0))
        try ds.markComplete(statistics: VoxelStatistics.of(volume))
    } catch {
        try? store.remove(named: name)
        throw error
    }
    return ds
}

/// Particle tables: CSV (stored with the sample), RELION STAR and copick-style JSON.
enum ParticleTable {
    static let header = "class_id,class,instance,x,y,z,x_angstrom,y_angstrom,z_angstrom,rot,tilt,psi"

    static func csv(_ particles: [Particle], voxelSize v: Double) -> String {
        header + "\n"
            + particles.map { p in
                String(
                    format: "%d,%@,%d,%.3f,%.3f,%.3f,%.2f,%.2f,%.2f,%.3f,%.3f,%.3f", p.classID, p.className, p.instance,
                    p.x, p.y, p.z, p.x * v, p.y * v, p.z * v, p.rot, p.tilt, p.psi)
            }.joined(separator: "\n") + "\n"
    }

    /// Rows of a stored CSV as dictionaries.
    static func rows(_ text: String) -> [[String: String]] {
        let lines = text.split(whereSeparator: \.isNewline).map(String.init)
        guard let head = lines.first?.split(separator: ",").map(String.init) else { return [] }
        return lines.dropFirst().map { line in
            Dictionary(
                uniqueKeysWithValues: zip(
                    head, line.split(separator: ",", omittingEmptySubsequences: false).map(String.init)))
        }
    }

    /// The particle table of a synthetic sample (stored with NAME/labels).
    static func load(_ store: Store, sample: String) throws -> String {
        let labels = try store.info(named: "\(sample)/labels")
        guard let bytes = try store.blob(dataset: labels.id, name: "particles.csv") else {
            throw CommandError("sample \"\(sample)\" has no particle table (expected with dataset \(sample)/labels)")
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// `tomostore particles STORE NAME [--format csv|star|json]`: a sample's particle table.
struct Particles: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print a synthetic sample's particle table as CSV, RELION STAR or copick JSON.",
        discussion: """
            CSV columns: class_id,class,instance,x,y,z (voxels),x_angstrom,y_angstrom,z_angstrom,rot,tilt,psi
            (ZYZ Euler angles in degrees); class_id is the value in NAME/labels.

            Example:
              tomostore particles s.store sample1 --format star > particles.star
            """
    )

    @Argument(help: "The store directory.") var store: String
    @Argument(help: "The sample name given to synth.") var name: String
    @Option(help: "csv, star or json.") var format = "csv"

    func run() throws {
        let text = try ParticleTable.load(try Store(path: store), sample: name)
        switch format {
        case "csv":
            print(text, terminator: "")
        case "star":
            var out = "\n# version 30001\n\ndata_particles\n\nloop_\n"
            let fields = [
                ("_rlnCoordinateX", "x"), ("_rlnCoordinateY", "y"), ("_rlnCoordinateZ", "z"), ("_rlnAngleRot", "rot"),
                ("_rlnAngleTilt", "tilt"), ("_rlnAnglePsi", "psi"), ("_rlnClassNumber", "class_id"),
            ]
            for (i, f) in fields.enumerated() { out += "\(f.0) #\(i + 1)\n" }
            for row in ParticleTable.rows(text) {
                out += fields.map { row[$0.1] ?? "0" }.joined(separator: "\t") + "\n"
            }
            print(out, terminator: "")
        case "json":
            // copick's picks file: locations in Å, a 4×4 transformation (rotation, no shift) per point.
            let voxel = (try? Store(path: store).info(named: "\(name)/labels").voxelSize[0]) ?? 10
            let points = ParticleTable.rows(text).map { row -> [String: Any] in
                func number(_ key: String) -> Double { Double(row[key] ?? "") ?? 0 }
                let location: [String: Double] = [
                    "x": number("x_angstrom"), "y": number("y_angstrom"), "z": number("z_angstrom"),
                ]
                let r = Rotation(rot: number("rot"), tilt: number("tilt"), psi: number("psi")).m
                let transformation: [[Double]] = [
                    [r[0], r[1], r[2], 0], [r[3], r[4], r[5], 0], [r[6], r[7], r[8], 0], [0, 0, 0, 1],
                ]
                return [
                    "location": location, "transformation_": transformation, "instance_id": Int(number("instance")),
                    "score": 1.0, "object_type": row["class"] ?? "", "class_id": Int(number("class_id")),
                ]
            }
            print(
                try jsonText(any: [
                    "pickable_object_name": "particles", "user_id": "tomostore", "session_id": name, "run_name": name,
                    "voxel_spacing": voxel, "unit": "angstrom", "trust_orientation": true, "points": points,
                ]))
        default:
            throw CommandError("--format must be csv, star or json")
        }
    }
}
