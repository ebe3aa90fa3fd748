import ArgumentParser
import Catalog
import Corpus
import DUAL
import Foundation
import MRC
import Simulation
import Store
import Transfer
import Voxels

/// `tomostore corpus …`: synthetic training corpora on demand.
struct CorpusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "corpus",
        abstract: "Synthetic training corpora: store a recipe, produce any sample on demand, reproducibly.",
        subcommands: [CorpusCreate.self, CorpusInfo.self, CorpusGet.self, CorpusExport.self]
    )
}

/// Writes a volume as .mrc or .npy.
func writeVolume(_ v: Volume, to path: String, voxelSize: Double) throws {
    if path.hasSuffix(".npy") {
        try NPYWriter.write(v, to: path)
    } else {
        var o = MRCWriteOptions()
        o.voxelSize = Triple(voxelSize, voxelSize, voxelSize)
        try MRCWriter.write(v, to: path, options: o)
    }
}

struct CorpusCreate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "create",
        abstract: "Store a corpus recipe (returns at once; samples are made when read).",
        discussion:
            "Example:\n  tomostore corpus create s.store c1 --samples 1000 --size 128,128,128 --seed 6789 "
            + "--simulator physics"
    )
    @Argument(help: "The store directory.") var store: String
    @Argument(help: "Corpus name.") var name: String
    @Option(help: "Number of samples.") var samples: Int
    @Option(help: "Sample size X,Y,Z in voxels.") var size: String
    @Option(help: "Seed.") var seed: UInt64
    @Option(help: "Voxel size in Å (default: physics 10; dual the model's).") var voxel: Double?
    @Option(
        help: ArgumentHelp(
            "Comma-separated built-in template names and/or template files (.mrc/.map maps, .pdb/.cif models; "
                + "kept in the store). Default: all built-ins.")) var templates: String?
    @Option(help: "Fraction of the volume filled by particles.") var crowding = 0.2
    @OptionGroup var vesicleOptions: VesicleOptions
    @Option(help: "physics, or dual:MODEL (a .safetensors file, default, or a stored digest).") var simulator =
        "physics"
    @OptionGroup var grandModelResolution: GrandModelResolutionOption
    @Option(help: "SNR per projection (physics).") var snr = 0.1
    @Option(
        parsing: .unconditional,
        help: ArgumentHelp(
            "Tilt range min:max:step in degrees (physics: the tilt series; dual: the grand model is imaged by a "
                + "noise-free tilt series over it before simulation).")) var tilt = "-60:60:3"
    @Flag(
        name: .customLong("no-wedge"),
        help: "dual: simulate the whole grand model (no --tilt imaging, no wedge mask).")
    var noWedge = false
    @Flag(
        name: .customLong("ctf"),
        help: "dual: multiply the grand model by the CTF (3 µm defocus, 300 kV) before simulating it.")
    var ctf = false
    @Flag(
        name: .customLong("wedge-mask"),
        help: ArgumentHelp(
            "dual: remove --tilt's missing wedge from the grand model with a Fourier mask instead of imaging it "
                + "by a noise-free tilt series and weighted back-projection (the default)."))
    var wedgeMask = false

    /// --size as [x, y, z] voxels; --tilt as [min, max, step] degrees.
    var dims: [Int] { size.split(separator: ",").compactMap { Int($0) } }
    var t: [Double] { tilt.split(separator: ":").compactMap { Double($0) } }

    func validate() throws {
        guard dims.count == 3 else { throw ValidationError("--size must be X,Y,Z") }
        guard t.count == 3, t[0] <= t[1], t[2] > 0 else { throw ValidationError("--tilt must be min:max:step") }
        guard simulator == "physics" || simulator.hasPrefix("dual:") else {
            throw ValidationError("--simulator must be physics or dual:MODEL")
        }
    }

    func run() throws {
        let s = try Store(path: store)
        let dims = self.dims
        var recipe = CorpusRecipe(name: name, samples: samples, size: dims, seed: seed)
        recipe.voxelSize = voxel ?? 10
        recipe.crowding = crowding
        recipe.vesicles = vesicleOptions.vesicles
        recipe.vesicleDiameterNm = vesicleOptions.diameterNm.map { [$0.lowerBound, $0.upperBound] }
        recipe.snr = snr
        if let templates {
            // Built-in names stay names; files are kept in the store, so samples never need them again.
            var files: [TemplateFile] = []
            for item in templates.split(separator: ",").map(String.init) {
                if Template.builtIn.contains(where: { $0.name == item }) {
                    recipe.templates.append(item)
                } else if FileManager.default.fileExists(atPath: item) {
                    files.append(try Corpus.storeTemplate(item, voxelSize: recipe.voxelSize, in: s))
                } else {
                    throw CommandError(
                        "unknown template \(item): neither a built-in (\(Template.builtIn.map(\.name).joined(separator: ", "))) "
                            + "nor an existing .mrc/.pdb/.cif file")
                }
            }
            let names = recipe.templates + files.map(\.name)
            if let twice = names.first(where: { n in names.filter { $0 == n }.count > 1 }) {
                throw CommandError("template name \(twice) is given twice; rename one of the files")
            }
            if !files.isEmpty { recipe.templateFiles = files }
        }
        recipe.tilt = t
        if simulator.hasPrefix("dual:") {
            let (model, bytes, metadata) = try resolveModel(String(simulator.dropFirst(5)), store: s)
            try ModelRegistry(store: s).put(digest: model.digest, bytes)
            recipe.simulator = "dual"
            recipe.modelDigest = model.digest
            // DUAL simulates in the contrast of its training data, at its voxel size (samples at
            // another are resampled there and back: `Corpus.sample`).
            let domain = ModelDomain(metadata: metadata)
            recipe.voxelSize = voxel ?? domain.voxelSize
            recipe.simulationTile = Denoise.defaultTile
            recipe.contrast = domain.dataContrast
            recipe.grandModelResolution =
                grandModelResolution.resolution(fallback: CorpusRecipe.defaultGrandModelResolution)
                ?? domain.cleanResolution ?? 0
            if wedgeMask && noWedge {
                throw CommandError(
                    "--wedge-mask and --no-wedge exclude each other: --no-wedge keeps the whole grand model")
            }
            // The default images the grand model as a reconstruction would (README "Segmentation": its
            // segmenters find the shells' tops and bottoms, which a mask-filtered corpus does not teach).
            if wedgeMask {
                recipe.grandModelWedge = [t[0], t[1]]
            } else if !noWedge {
                recipe.grandModelReconstruction = true
            }
            if ctf { recipe.grandModelContrastTransfer = true }
        } else if simulator != "physics" {
            throw CommandError("--simulator must be physics or dual:MODEL")
        } else if noWedge {
            throw CommandError(
                "--no-wedge is for --simulator dual:MODEL; the physics simulator's wedge is its tilt range")
        } else if wedgeMask {
            throw CommandError(
                "--wedge-mask is for --simulator dual:MODEL; the physics simulator reconstructs its own tilt series")
        } else if ctf {
            throw CommandError(
                "--ctf is for --simulator dual:MODEL; the physics simulator applies the CTF to each projection")
        } else if grandModelResolution.text != nil {
            throw CommandError(
                "--resolution is for --simulator dual:MODEL; the physics simulator images the grand model")
        } else {
            recipe.contrast = .dark
        }
        try Corpus.create(recipe, in: s)
        print(
            "created corpus \"\(name)\": \(samples) samples of \(dims.map(String.init).joined(separator: "×")) "
                + "(\(recipe.simulator)), generated on demand"
        )
    }
}

struct CorpusInfo: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "info",
        abstract: "Print a corpus's recipe, class table and class abundance (from the first samples).")
    @Argument(help: "The store directory.") var store: String
    @Argument(help: "Corpus name.") var name: String
    @Option(help: "Samples to measure abundance on.") var measure = 2
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        let s = try Store(path: store)
        let recipe = try Corpus.recipe(name, in: s)
        var voxels: [String: Int] = [:]
        var particles: [String: Int] = [:]
        var classes: [Int: String] = [:]
        for i in 0..<min(measure, recipe.samples) {
            let sample = try Corpus.cachedSample(i, of: recipe, store: s, cache: true)
            classes = sample.classes
            for v in sample.labels.values(as: UInt8.self) { voxels[classes[Int(v)] ?? "\(v)", default: 0] += 1 }
            for p in sample.particles { particles[p.className, default: 0] += 1 }
        }
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        let recipeJSON = try JSONSerialization.jsonObject(with: try encoder.encode(recipe))
        let result: [String: Any] = [
            "recipe": recipeJSON,
            "classes": Dictionary(uniqueKeysWithValues: classes.map { (String($0.key), $0.value) }),
            "voxels_per_class": voxels, "particles_per_class": particles,
            "measured_samples": min(measure, recipe.samples),
        ]
        if json {
            print(try jsonText(any: result))
            return
        }
        let classList = classes.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ", ")
        let size = recipe.size.map(String.init).joined(separator: "×")
        print(
            "corpus \"\(recipe.name)\": \(recipe.samples) samples of \(size) voxels at \(recipe.voxelSize) Å, "
                + "simulator \(recipe.simulator), seed \(recipe.seed)")
        print("classes: \(classList)")
        let measured = min(measure, recipe.samples)
        for (name, count) in particles.sorted(by: { $0.key < $1.key }) {
            print("  \(name): \(count) particles, \(voxels[name] ?? 0) voxels in \(measured) sample(s)")
        }
    }
}

struct CorpusGet: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "get", abstract: "Write one sample's tomogram (or grand model, labels) or a box of it.",
        discussion: "Example:\n  tomostore corpus get s.store c1 --sample 42 --box 0:64,0:64,0:64 -o t42.npy")
    @Argument(help: "The store directory.") var store: String
    @Argument(help: "Corpus name.") var name: String
    @Option(help: "Sample index.") var sample: Int
    /// Which volume of a sample.
    enum SampleVolume: String, ExpressibleByArgument, CaseIterable {
        case tomogram
        case grandModel = "grand-model"
        case labels
    }

    @Option(help: "tomogram, grand-model or labels.") var volume: SampleVolume = .tomogram
    @Option(help: "x0:x1,y0:y1,z0:z1.") var box: String?
    @Option(name: .shortAndLong, help: "Output .mrc or .npy.") var output: String
    @Flag(name: .customLong("no-cache"), help: "Do not keep the sample in the store.") var noCache = false

    func run() throws {
        let s = try Store(path: store)
        let recipe = try Corpus.recipe(name, in: s)
        let x = try Corpus.cachedSample(sample, of: recipe, store: s, cache: !noCache)
        let v: Volume
        switch volume {
        case .tomogram: v = x.tomogram
        case .grandModel: v = x.grandModel
        case .labels: v = x.labels
        }
        let region = try box.map { try parseBox($0, shape: v.shape) } ?? Box3(shape: v.shape)
        guard region.isInside(v.shape) else {
            throw CommandError("box \(region) is outside the sample's 0:\(v.shape.x),0:\(v.shape.y),0:\(v.shape.z)")
        }
        try writeVolume(v.extracting(region), to: output, voxelSize: recipe.voxelSize)
        print("wrote \(output): sample \(sample) \(volume.rawValue) box \(region)")
    }
}

struct CorpusExport: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract:
            "Write samples a..b (half-open) as folders DIR/000003/ with tomogram, grand_model, labels and "
            + "particles.csv, or as training tiles.",
        discussion: """
            With --tiles N --per-sample K, each sample folder holds tiles/KKK/ with tomogram and labels
            tiles of N³ voxels and particles.csv of the particles inside (coordinates relative to the
            tile), at positions drawn from (seed, sample, k). Layout: formats/corpus.md.

            Example:
              tomostore corpus export s.store c1 --range 0..100 -o corpus/ --format npy --tiles 64 --per-sample 8
            """
    )
    @Argument(help: "The store directory.") var store: String
    @Argument(help: "Corpus name.") var name: String
    @Option(help: "a..b (half-open).") var range: String
    @Option(name: .shortAndLong, help: "Output directory.") var output: String
    /// The file format of exported volumes.
    enum FileFormat: String, ExpressibleByArgument, CaseIterable { case mrc, npy }

    @Option(help: "mrc or npy.") var format: FileFormat = .mrc
    @Option(help: "Tile edge in voxels.") var tiles: Int?
    @Option(help: "Tiles per sample.") var perSample = 4
    @Flag(name: .customLong("no-cache"), help: "Do not keep samples in the store.") var noCache = false
    @Flag(help: "No progress bar.") var quiet = false

    /// The half-open sample range `a..b`, or nil when malformed.
    var samples: Range<Int>? {
        let parts = range.components(separatedBy: "..").compactMap { Int($0) }
        guard parts.count == 2, parts[0] >= 0, parts[0] < parts[1] else { return nil }
        return parts[0]..<parts[1]
    }

    func validate() throws {
        guard samples != nil else { throw ValidationError("--range must be a..b with 0 ≤ a < b") }
    }

    func run() throws {
        let bounds = samples!
        let parts = [bounds.lowerBound, bounds.upperBound]
        let s = try Store(path: store)
        let recipe = try Corpus.recipe(name, in: s)
        guard parts[1] <= recipe.samples else {
            throw CommandError("--range \(range) exceeds the corpus's \(recipe.samples) samples")
        }
        let bar = ProgressBar("export \(name)", unit: "samples", quiet: quiet)
        let start = Date()
        for i in parts[0]..<parts[1] {
            let x = try Corpus.cachedSample(i, of: recipe, store: s, cache: !noCache)
            let dir = output + String(format: "/%06d", i)
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            if let edge = tiles {
                let rng = CounterRNG(seed: recipe.sampleSeed(i) ^ 0x71e5)
                let shape = x.tomogram.shape
                guard edge >= 1, edge <= min(shape.x, shape.y, shape.z) else {
                    throw CommandError("--tiles \(edge) must fit in the sample (\(shape))")
                }
                for k in 0..<perSample {
                    func at(_ a: UInt64, _ n: Int) -> Int {
                        Int(rng.uniform(stream: a, counter: UInt64(k)) * Double(n - edge + 1))
                    }
                    let o = Extent3(x: at(1, shape.x), y: at(2, shape.y), z: at(3, shape.z))
                    let box = Box3(x: o.x..<o.x + edge, y: o.y..<o.y + edge, z: o.z..<o.z + edge)
                    let tdir = dir + String(format: "/tiles/%03d", k)
                    try FileManager.default.createDirectory(atPath: tdir, withIntermediateDirectories: true)
                    try writeVolume(
                        x.tomogram.extracting(box), to: "\(tdir)/tomogram.\(format.rawValue)",
                        voxelSize: recipe.voxelSize)
                    try writeVolume(
                        x.labels.extracting(box), to: "\(tdir)/labels.\(format.rawValue)", voxelSize: recipe.voxelSize)
                    let inside = x.particles.filter {
                        box.xRange.contains(Int($0.x.rounded())) && box.yRange.contains(Int($0.y.rounded()))
                            && box.zRange.contains(Int($0.z.rounded()))
                    }
                    .map { p -> Particle in
                        var q = p
                        q.x -= Double(o.x)
                        q.y -= Double(o.y)
                        q.z -= Double(o.z)
                        return q
                    }
                    try ParticleTable.csv(inside, voxelSize: recipe.voxelSize).write(
                        toFile: "\(tdir)/particles.csv", atomically: true, encoding: .utf8)
                }
            } else {
                try writeVolume(x.tomogram, to: "\(dir)/tomogram.\(format.rawValue)", voxelSize: recipe.voxelSize)
                try writeVolume(x.grandModel, to: "\(dir)/grand_model.\(format.rawValue)", voxelSize: recipe.voxelSize)
                try writeVolume(x.labels, to: "\(dir)/labels.\(format.rawValue)", voxelSize: recipe.voxelSize)
                try ParticleTable.csv(x.particles, voxelSize: recipe.voxelSize).write(
                    toFile: "\(dir)/particles.csv", atomically: true, encoding: .utf8)
            }
            bar.update(i - parts[0] + 1, parts[1] - parts[0])
        }
        let seconds = Date().timeIntervalSince(start)
        let n = parts[1] - parts[0]
        let voxels = Double(recipe.size.reduce(1, *) * n)
        print(
            String(
                format: "exported %d samples to %@ in %.1f s (%.2f samples/s, %.1f Mvoxel/s)", n, output, seconds,
                Double(n) / seconds, voxels / seconds / 1e6))
    }
}
