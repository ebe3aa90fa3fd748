import ArgumentParser
import Catalog
import Corpus
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
    @OptionGroup var vesicleOptions: VesicleOptions
    @Flag(help: "Print a JSON summary.") var json = false

    /// --size as [x, y, z] voxels.
    var dims: [Int] { size.split(separator: ",").compactMap { Int($0) } }
    /// --tilt as [min, max, step] degrees.
    var t: [Double] { tilt.split(separator: ":").compactMap { Double($0) } }

    func validate() throws {
        guard dims.count == 3, dims.allSatisfy({ $0 >= 8 && $0 <= 4096 }) else {
            throw ValidationError("--size must be X,Y,Z with each between 8 and 4096")
        }
        guard t.count == 3, t[0] >= -90, t[1] <= 90, t[0] <= t[1], t[2] > 0 else {
            throw ValidationError("--tilt must be min:max:step in degrees within -90…90, e.g. -60:60:3")
        }
        guard voxel > 0, snr >= 0, crowding >= 0 && crowding <= 0.6 else {
            throw ValidationError("need --voxel > 0, --snr ≥ 0 and 0 ≤ --crowding ≤ 0.6")
        }
    }

    func run() throws {
        let (dims, t) = (self.dims, self.t)
        let chosen = try resolveTemplates(templates, voxelSize: voxel)
        let s = try Store(path: store)
        for suffix in ["grand-model", "labels", "tomogram"] { try Store.validate(name: "\(name)/\(suffix)") }
        let start = Date()
        var gp = GrandModelParameters(shape: Extent3(x: dims[0], y: dims[1], z: dims[2]))
        gp.voxelSize = voxel
        gp.seed = seed
        gp.templates = chosen
        gp.crowding = crowding
        vesicleOptions.apply(to: &gp)
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
        var attributes: [String: JSONValue] = [
            "seed": .number(Double(seed)), "tilt_min": .number(t[0]), "tilt_max": .number(t[1]),
            "tilt_step": .number(t[2]),
            "snr": .number(snr), "dose_e_per_a2": dose.map { .number($0) } ?? .null, "defocus_um": .number(defocus),
            "voltage_kv": .number(300), "cs_mm": .number(2.7),
            "amplitude_contrast": .number(0.07), "crowding": .number(crowding), "sample": .string(name),
        ]
        if let n = vesicleOptions.vesicles { attributes["vesicles"] = .number(Double(n)) }
        if let d = vesicleOptions.diameterNm {
            attributes["vesicle_diameter_nm"] = .array([.number(d.lowerBound), .number(d.upperBound)])
        }
        try s.storeVolume(
            model.density, name: "\(name)/grand-model", kind: .grandModel, voxelSize: voxel, attributes: attributes)
        let labels = try s.storeVolume(
            model.labels, name: "\(name)/labels", kind: .labels, voxelSize: voxel, attributes: attributes,
            classes: Dictionary(uniqueKeysWithValues: model.classes.map { (String($0.key), $0.value) }))
        try labels.putBlob("particles.csv", Array(ParticleTable.csv(model.particles, voxelSize: voxel).utf8))
        try s.storeVolume(
            tomogram, name: "\(name)/tomogram", kind: .synthetic, voxelSize: voxel, attributes: attributes,
            contrast: Contrast.simulated)
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
    /// How the table is printed.
    enum TableFormat: String, ExpressibleByArgument, CaseIterable { case csv, star, json }

    @Option(help: "csv, star or json.") var format: TableFormat = .csv

    func run() throws {
        let s = try Store(path: store)
        let text = try ParticleTable.load(s, sample: name)
        switch format {
        case .csv:
            print(text, terminator: "")
        case .star:
            print(ParticleTable.star(text), terminator: "")
        case .json:
            let voxel = try s.info(named: "\(name)/labels").voxelSize[0]
            print(try jsonText(any: ParticleTable.copick(text, session: name, voxelSize: voxel)))
        }
    }
}

/// Templates named in a comma-separated list: built-in names (or all) and template files (MRC maps,
/// PDB/mmCIF atomic models), sampled at `voxelSize` Å.
func resolveTemplates(_ list: String, voxelSize: Double) throws -> [Template] {
    var chosen: [Template] = []
    for item in list.split(separator: ",").map(String.init) {
        if item == "all" {
            chosen += Template.builtIn
            continue
        }
        if let t = Template.builtIn.first(where: { $0.name == item }) {
            chosen.append(t)
            continue
        }
        if FileManager.default.fileExists(atPath: item) {
            chosen.append(try TemplateLoader.load(item, voxelSize: voxelSize))
            continue
        }
        throw CommandError(
            "unknown template \(item): neither a built-in "
                + "(\(Template.builtIn.map(\.name).joined(separator: ", "))) nor an existing .mrc/.pdb/.cif file"
        )
    }
    return chosen
}

/// `--vesicles N` and `--vesicle-diameter MIN-MAX` of `synth` and `corpus create`.
struct VesicleOptions: ParsableArguments {
    @Option(help: "Vesicles per sample (default: 0.5 per µm³, at least one where one fits).") var vesicles: Int?
    @Option(
        help: ArgumentHelp(
            "Vesicle diameters MIN-MAX in nm at the bilayer's mid-plane, e.g. 100-150 for virus-like shells "
                + "(default 40-100); labelled membrane.", valueName: "nm-nm")) var vesicleDiameter: String?

    /// --vesicle-diameter as a range of nm (nil when not given).
    var diameterNm: ClosedRange<Double>? {
        guard let vesicleDiameter else { return nil }
        let parts = vesicleDiameter.split(separator: "-", omittingEmptySubsequences: false).map { Double($0) }
        guard parts.count == 2, let lo = parts[0], let hi = parts[1], lo > 0, lo <= hi, hi <= 10_000 else {
            return nil
        }
        return lo...hi
    }

    func validate() throws {
        if let vesicles, !(0...1000).contains(vesicles) { throw ValidationError("--vesicles must be 0…1000") }
        if vesicleDiameter != nil && diameterNm == nil {
            throw ValidationError("--vesicle-diameter must be MIN-MAX in nm with 0 < MIN ≤ MAX ≤ 10000, e.g. 100-150")
        }
    }

    func apply(to parameters: inout GrandModelParameters) {
        if let vesicles { parameters.vesicleCount = vesicles }
        if let d = diameterNm { parameters.vesicleRadii = (d.lowerBound * 5)...(d.upperBound * 5) }
    }
}
