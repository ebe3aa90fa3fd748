import Catalog
import Codecs
import DUAL
import Foundation
import Imaging
import Simulation
import Store
import Voxels

/// How every sample of a corpus is made (formats/corpus.md). Sample i is a pure function of the
/// recipe and i: its seed is derived from (seed, i), and nothing else varies.
public struct CorpusRecipe: Codable, Equatable, Sendable {
    public var name: String
    public var samples: Int
    /// Size in voxels [x, y, z].
    public var size: [Int]
    public var seed: UInt64
    public var voxelSize = 10.0
    /// Built-in template names (empty: all built-ins, unless `templateFiles` are given).
    public var templates: [String] = []
    /// User templates (MRC maps, PDB/mmCIF models) whose bytes the store keeps (`Corpus.storeTemplate`).
    public var templateFiles: [TemplateFile]?
    public var crowding = 0.2
    /// Vesicles per sample (nil: 0.5 per µm³, at least one where one fits).
    public var vesicles: Int?
    /// Vesicle diameters [min, max] in nm, at the bilayer's mid-plane (nil: 40–100).
    public var vesicleDiameterNm: [Double]?
    /// "physics", or "dual" with `modelDigest` (the model is kept in the store).
    public var simulator = "physics"
    public var modelDigest: String?
    /// Tile edge of DUAL simulation (`dual` only): 64 shares 8 voxels with each neighbour, as `tomostore
    /// simulate`; nil (recipes written before it was recorded): the model's patch sharing half.
    public var simulationTile: Int?
    /// `dual` only: FWHM in Å of the Gaussian low-pass applied to the grand model before simulation, 0
    /// for none; nil (recipes written before it was recorded): the model's `clean_resolution`.
    public var grandModelResolution: Double?
    /// `corpus create`'s `grandModelResolution` for `dual` (Å, 0: none; README, Segmentation).
    public static let defaultGrandModelResolution = 0.0
    /// `dual` only: the tilt range [min, max] in degrees (about y, beam along z) whose missing wedge is
    /// removed from the grand model before simulation (`MissingWedge`, a raised-cosine edge
    /// `grandModelWedgeTransition` degrees wide); nil: none (recipes written before it was recorded).
    public var grandModelWedge: [Double]?
    /// The width in degrees of the wedge's raised-cosine edge (`MissingWedge.wedgeWeight`).
    public static let grandModelWedgeTransition = 5.0
    /// `dual` only, instead of `grandModelWedge`: the grand model is imaged by a noise-free tilt series
    /// over `tilt` (line integrals about y, no CTF) and weighted back-projection, as the physics simulator
    /// reconstructs (the wedge and the streaks of discrete tilts); `corpus create`'s default for `dual`;
    /// nil or false: not (`--wedge-mask`, `--no-wedge`, recipes written before it was recorded).
    public var grandModelReconstruction: Bool?
    /// `dual` only: the grand model is multiplied by the contrast transfer function of `defocusMicrons`
    /// (`CTF.multiply3D`, of |k|: what each projection's CTF gives a tomogram's Fourier components),
    /// sign chosen so that its first lobe keeps the density's contrast; nil or false: no CTF.
    public var grandModelContrastTransfer: Bool?
    /// The tomograms' contrast: physics dark; dual the model's data contrast (`ModelDomain.dataContrast`).
    /// nil in recipes written before it was recorded: dark.
    public var contrast: Contrast?
    public var snr = 0.1
    /// Tilt range and step in degrees.
    public var tilt = [-60.0, 60.0, 3.0]
    public var defocusMicrons = 3.0
    public var softwareVersion = TomoStoreVersion.string

    public init(name: String, samples: Int, size: [Int], seed: UInt64) {
        self.name = name
        self.samples = samples
        self.size = size
        self.seed = seed
    }

    /// The physics simulator's imaging of a sample with seed `seed`: the recipe's tilts, SNR and CTF.
    func tiltSeries(seed: UInt64) -> TiltSeriesParameters {
        var p = TiltSeriesParameters()
        (p.minTilt, p.maxTilt, p.tiltStep) = (tilt[0], tilt[1], tilt[2])
        p.snr = snr
        p.seed = seed
        p.ctf = CTF(defocus: defocusMicrons * 10_000)
        return p
    }

    /// The seed of sample i (SplitMix64 of seed and i).
    public func sampleSeed(_ i: Int) -> UInt64 {
        CounterRNG.mix(seed ^ CounterRNG.mix(UInt64(i) &+ 0x632B_E59B_D9B4_E019))
    }
}

/// A user template file kept in the store: its bytes under `template/DIGEST` in `meta`.
public struct TemplateFile: Codable, Equatable, Sendable {
    /// Template (class) name: the file name without its extension.
    public var name: String
    /// The file's lower-case extension (mrc, map, pdb, cif, …): how its bytes are read.
    public var format: String
    /// Hex XXH64 of the bytes.
    public var digest: String

    public init(name: String, format: String, digest: String) {
        self.name = name
        self.format = format
        self.digest = digest
    }
}

/// One generated sample.
public struct CorpusSample: Sendable {
    public let index: Int
    public let grandModel: Volume
    public let labels: Volume
    public let tomogram: Volume
    public let particles: [Particle]
    public let classes: [Int: String]

    public init(
        index: Int, grandModel: Volume, labels: Volume, tomogram: Volume, particles: [Particle], classes: [Int: String]
    ) {
        self.index = index
        self.grandModel = grandModel
        self.labels = labels
        self.tomogram = tomogram
        self.particles = particles
        self.classes = classes
    }
}

/// Why a corpus operation failed.
public struct CorpusError: TomoStoreError {
    public let description: String
    public init(_ d: String) { description = d }
}

/// Corpora of synthetic samples produced on demand from a stored recipe.
public enum Corpus {
    static func key(_ name: String) -> String { "corpus/\(name)" }

    /// Keeps a template file's bytes in the store (content-addressed: the same file is kept once) and
    /// returns its reference for a recipe's `templateFiles`. The file must load as a template.
    public static func storeTemplate(_ path: String, voxelSize: Double, in store: Store) throws -> TemplateFile {
        _ = try TemplateLoader.load(path, voxelSize: voxelSize)
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CorpusError("\(path): cannot read the template file")
        }
        let bytes = [UInt8](data)
        let url = URL(fileURLWithPath: path)
        let file = TemplateFile(
            name: url.deletingPathExtension().lastPathComponent, format: url.pathExtension.lowercased(),
            digest: String(bytes.withUnsafeBytes { XXHash64.hash($0) }, radix: 16))
        if try store.metaValue("template/\(file.digest)") == nil {
            try store.putMetaValue("template/\(file.digest)", bytes)
        }
        return file
    }

    /// Loaded user templates by (digest, voxel size): loading a PDB model is far slower than a sample.
    private static let loadedTemplates = Locked<[String: Template]>([:])

    /// The templates a recipe's samples are packed with: its built-ins (all when it names none and has
    /// no files), then its files, loaded from the store at the recipe's voxel size.
    static func templates(of recipe: CorpusRecipe, store: Store) throws -> [Template] {
        let files = recipe.templateFiles ?? []
        var chosen =
            recipe.templates.isEmpty && files.isEmpty
            ? Template.builtIn : Template.builtIn.filter { recipe.templates.contains($0.name) }
        for file in files {
            let key = "\(file.digest)@\(recipe.voxelSize)"
            if let cached = loadedTemplates.withLock({ $0[key] }) {
                chosen.append(cached)
                continue
            }
            guard let bytes = try store.metaValue("template/\(file.digest)"),
                String(bytes.withUnsafeBytes { XXHash64.hash($0) }, radix: 16) == file.digest
            else {
                throw CorpusError(
                    "corpus \"\(recipe.name)\": template \(file.name) (\(file.digest)) is missing from the store or damaged"
                )
            }
            let template = try TemplateLoader.load(
                bytes: bytes, ext: file.format, name: file.name, source: "template \(file.name)",
                voxelSize: recipe.voxelSize)
            loadedTemplates.withLock { $0[key] = template }
            chosen.append(template)
        }
        return chosen
    }

    /// Stores a recipe (returns at once; no sample is generated).
    public static func create(_ recipe: CorpusRecipe, in store: Store) throws {
        try Store.validate(name: recipe.name)
        guard recipe.samples > 0, recipe.size.count == 3, recipe.size.allSatisfy({ $0 >= 16 && $0 <= 2048 }) else {
            throw CorpusError(
                "corpus \"\(recipe.name)\" needs at least 1 sample and a size of 3 axes, each 16…2048 voxels")
        }
        if try store.metaValue(key(recipe.name)) != nil {
            throw CorpusError("corpus \"\(recipe.name)\" already exists")
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        try store.putMetaValue(key(recipe.name), Array(try encoder.encode(recipe)))
    }

    /// The recipe of corpus `name`, nil when the store has none of that name.
    public static func recipeIfPresent(_ name: String, in store: Store) throws -> CorpusRecipe? {
        guard !name.isEmpty, try store.metaValue(key(name)) != nil else { return nil }
        return try recipe(name, in: store)
    }

    /// Every corpus recipe in the store, by name.
    public static func recipes(in store: Store) throws -> [CorpusRecipe] {
        try store.metaValues(prefix: key("")).map { try recipe($0.key, in: store) }
    }

    /// The stored recipe of a corpus.
    public static func recipe(_ name: String, in store: Store) throws -> CorpusRecipe {
        guard let bytes = try store.metaValue(key(name)) else {
            throw CorpusError("no corpus named \"\(name)\"; create it with `tomostore corpus create`")
        }
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return try decoder.decode(CorpusRecipe.self, from: Data(bytes))
    }

    /// Generates sample i (deterministic: same recipe and i → same bytes, on any machine with this version).
    public static func sample(_ i: Int, of recipe: CorpusRecipe, store: Store) throws -> CorpusSample {
        guard i >= 0 && i < recipe.samples else {
            throw CorpusError("sample \(i) is outside corpus \"\(recipe.name)\" (0..<\(recipe.samples))")
        }
        let seed = recipe.sampleSeed(i)
        var gp = GrandModelParameters(shape: Extent3(x: recipe.size[0], y: recipe.size[1], z: recipe.size[2]))
        gp.voxelSize = recipe.voxelSize
        gp.seed = seed
        gp.crowding = recipe.crowding
        if let n = recipe.vesicles {
            guard (0...1000).contains(n) else {
                throw CorpusError("corpus \"\(recipe.name)\": vesicles \(n) must be 0…1000")
            }
            gp.vesicleCount = n
        }
        if let w = recipe.grandModelWedge, w.count != 2 || !(w[0] < w[1]) || w[0] < -90 || w[1] > 90 {
            throw CorpusError(
                "corpus \"\(recipe.name)\": grand_model_wedge \(w) must be [min, max] degrees, −90 ≤ min < max ≤ 90")
        }
        if recipe.grandModelReconstruction == true && recipe.grandModelWedge != nil {
            throw CorpusError(
                "corpus \"\(recipe.name)\": grand_model_reconstruction and grand_model_wedge exclude each other")
        }
        if let r = recipe.grandModelResolution, !(0...10_000).contains(r) {
            throw CorpusError("corpus \"\(recipe.name)\": grand_model_resolution \(r) must be 0…10000 Å (0: none)")
        }
        if let t = recipe.simulationTile, !(8...256).contains(t) || t % 8 != 0 {
            throw CorpusError("corpus \"\(recipe.name)\": simulation_tile \(t) must be a multiple of 8 in 8…256")
        }
        if let d = recipe.vesicleDiameterNm {
            guard d.count == 2, d[0] > 0, d[0] <= d[1], d[1] <= 10_000 else {
                throw CorpusError(
                    "corpus \"\(recipe.name)\": vesicle_diameter_nm \(d) must be [min, max] with 0 < min ≤ max ≤ 10000")
            }
            gp.vesicleRadii = (d[0] * 5)...(d[1] * 5)  // radius in Å = diameter in nm × 10 / 2
        }
        gp.templates = try templates(of: recipe, store: store)
        let model = GrandModel.make(gp)
        let tomogram: Volume
        if recipe.simulator == "dual" {
            guard let digest = recipe.modelDigest, let bytes = try ModelRegistry(store: store).bytes(digest: digest)
            else {
                throw CorpusError("corpus \"\(recipe.name)\": its DUAL model is not in the store")
            }
            let (dual, metadata) = try DUALModelFile.decode(bytes: bytes, source: "stored model \(digest)")
            // What a tilt series over the recipe's range measures of the grand model: the network then
            // adds the data's noise to structure that already lacks the missing wedge.
            var density = model.density
            if recipe.grandModelReconstruction == true {
                var tp = recipe.tiltSeries(seed: seed)
                (tp.snr, tp.ctf) = (0, nil)
                density = TiltSeriesSimulator.simulate(density, voxelSize: recipe.voxelSize, parameters: tp).tomogram
            } else if let w = recipe.grandModelWedge {
                density = MissingWedge(minDegrees: w[0], maxDegrees: w[1]).apply(
                    to: density, transition: CorpusRecipe.grandModelWedgeTransition)
            }
            if recipe.grandModelContrastTransfer == true {
                density = CTF(defocus: recipe.defocusMicrons * 10_000).multiply3D(density, voxelSize: recipe.voxelSize)
                density.negate()
            }
            let s = VoxelStatistics.of(density)
            let shape = density.shape
            let mirrored = DUALInference.mirroredReader(shape: shape, mean: s.mean, std: s.rms) {
                density.extracting($0)
            }
            // The network runs at its own voxel size: a grand model at another is resampled there
            // (Lanczos-3), low-passed to the recipe's `grandModelResolution` (without one, as the model's
            // clean domain was in training: `ModelDomain.cleanResolution`), and the simulated tomogram
            // brought back onto the recipe's grid.
            let domain = ModelDomain(metadata: metadata)
            let workingVoxel =
                abs(domain.voxelSize / recipe.voxelSize - 1) >= 0.05 ? domain.voxelSize : recipe.voxelSize
            let resolution = recipe.grandModelResolution ?? domain.cleanResolution ?? 0
            let (workingShape, reader) = Resampler.view(
                shape: shape, from: recipe.voxelSize, to: workingVoxel,
                lowpassSigma: resolution > 0
                    ? ModelDomain.lowpassSigma(resolution: resolution, voxel: workingVoxel) : nil, source: mirrored)
            let working = (
                shape: workingShape,
                back: workingVoxel == recipe.voxelSize ? nil : Resampler(from: workingVoxel, to: recipe.voxelSize)
            )
            let region = working.back?.sourceBox(for: Box3(shape: shape)) ?? Box3(shape: shape)
            let noise = NoiseField(model: dual, seed: seed)
            // `tomostore simulate`'s tiles (64³ sharing 8 voxels: 1.5 network voxels per voxel instead of
            // 8) where the recipe asks for them and the sample is long enough to mirror them, else the
            // model's patch sharing half.
            var (tile, overlap) = (dual.config.patch, Int?.none)
            if let edge = recipe.simulationTile, min(working.shape.x, working.shape.y, working.shape.z) > edge / 2 {
                (tile, overlap) = (edge, edge / 8)
            }
            var simulated = try DUALInference.apply(
                box: region, shape: working.shape, tile: tile, overlap: overlap, input: reader
            ) { x, origins in
                dual.simulateTiles(x, origins: origins, noise: noise)
            }
            if let back = working.back { simulated = back.apply(simulated, covering: region, to: Box3(shape: shape)) }
            // The network writes its noisy domain's contrast; the recipe asks for the data's.
            if (recipe.contrast ?? .dark) != domain.noisyContrast {
                simulated.negate()
            }
            tomogram = simulated
        } else {
            tomogram =
                TiltSeriesSimulator.simulate(
                    model.density, voxelSize: recipe.voxelSize, parameters: recipe.tiltSeries(seed: seed)
                ).tomogram
        }
        return CorpusSample(
            index: i, grandModel: model.density, labels: model.labels, tomogram: tomogram, particles: model.particles,
            classes: model.classes)
    }
}

/// Random labelled tiles of a corpus, for training inside TomoStore: tile k is drawn from sample
/// (k / tilesPerSample) mod samples at a position from (seed ^ positionSeed, k); `next()` never
/// ends (it throws when a sample cannot be made). The sample in use is kept, so consecutive tiles of
/// one sample cost one generation.
public struct CorpusTileIterator {
    public struct Tile {
        public let sample: Int
        public let origin: Extent3
        public let tomogram: Volume
        public let labels: Volume
        /// Mean and root-mean-square of the whole sample's tomogram (to standardize tiles as a whole
        /// dataset is standardized).
        public let mean: Double
        public let rms: Double
        /// The sample's class table (label value → name).
        public let classes: [Int: String]
    }
    let recipe: CorpusRecipe
    let store: Store
    let edge: Int
    let tilesPerSample: Int
    let positionSeed: UInt64
    /// The next tile's index.
    public var k = 0
    let prefetch: Bool
    var cached: MeasuredSample?
    /// The sample after the cached one, being made on another thread (`prefetch`).
    var pending: PendingSample?
    /// How many tiles will be asked for (tiles 0 ..< tileCount), when known: no sample is prefetched
    /// whose tiles all lie beyond it.
    public var tileCount: Int?

    /// With `prefetch`, the next sample is made on another thread while the tiles of the current one
    /// are used (the same bytes as without: a sample is a pure function of the recipe and its index).
    public init(
        recipe: CorpusRecipe, store: Store, tile edge: Int, tilesPerSample: Int = 1, positionSeed: UInt64 = 0,
        prefetch: Bool = false
    ) {
        self.recipe = recipe
        self.store = store
        self.edge = edge
        self.tilesPerSample = max(1, tilesPerSample)
        self.positionSeed = positionSeed
        self.prefetch = prefetch
    }

    /// Stops prefetching: the next sample is dropped if it has not started, waited for if it is being
    /// made. Call it before the caller returns (`defer`): a process must not exit while another thread
    /// is still making a sample. `next()` works after it (without what was dropped).
    public mutating func finish() {
        pending?.cancel()
        pending = nil
    }

    /// The next tile.
    public mutating func next() throws -> Tile {
        let i = (k / tilesPerSample) % recipe.samples
        if cached?.sample.index != i {
            if let pending, pending.index == i {
                cached = try pending.wait()
            } else {
                cached = try MeasuredSample(index: i, recipe: recipe, store: store)
            }
            let nextFirstTile = (k / tilesPerSample + 1) * tilesPerSample
            let nextUsed = tileCount.map { nextFirstTile < $0 } ?? true
            pending =
                prefetch && nextUsed
                ? PendingSample(index: (i + 1) % recipe.samples, recipe: recipe, store: store) : nil
        }
        let (s, mean, rms) = (cached!.sample, cached!.mean, cached!.rms)
        let rng = CounterRNG(seed: recipe.seed ^ 0x7f4a_7c15 ^ positionSeed)
        let shape = s.tomogram.shape
        func at(_ axis: UInt64, _ n: Int) -> Int {
            Int(rng.uniform(stream: axis, counter: UInt64(k)) * Double(max(1, n - edge + 1)))
        }
        let o = Extent3(x: at(1, shape.x), y: at(2, shape.y), z: at(3, shape.z))
        let box = Box3(
            x: o.x..<min(shape.x, o.x + edge), y: o.y..<min(shape.y, o.y + edge), z: o.z..<min(shape.z, o.z + edge))
        k += 1
        return Tile(
            sample: i, origin: o, tomogram: s.tomogram.extracting(box), labels: s.labels.extracting(box), mean: mean,
            rms: rms, classes: s.classes)
    }
}

/// A corpus sample with its tomogram's mean and root-mean-square.
struct MeasuredSample: Sendable {
    let sample: CorpusSample
    let mean: Double
    let rms: Double

    init(index: Int, recipe: CorpusRecipe, store: Store) throws {
        sample = try Corpus.sample(index, of: recipe, store: store)
        let stats = VoxelStatistics.of(sample.tomogram)
        (mean, rms) = (stats.mean, stats.rms)
    }
}

/// A sample being made on a background thread; `wait` returns it (or rethrows what making it threw),
/// `cancel` drops it.
final class PendingSample: Sendable {
    let index: Int
    /// Whether it was cancelled, and what making it gave (nil while queued or being made, or when
    /// cancelled before it started).
    private let state = Locked<(cancelled: Bool, result: Result<MeasuredSample, any Error>?)>((false, nil))
    /// Signalled once the background work has ended (made, failed or skipped).
    private let done = DispatchSemaphore(value: 0)

    init(index: Int, recipe: CorpusRecipe, store: Store) {
        self.index = index
        DispatchQueue.global().async { [state, done] in
            defer { done.signal() }
            guard !state.withLock({ $0.cancelled }) else { return }
            let made = Result { try MeasuredSample(index: index, recipe: recipe, store: store) }
            state.withLock { $0.result = made }
        }
    }

    /// Blocks until the sample is made.
    func wait() throws -> MeasuredSample {
        settle()
        guard let result = state.withLock({ $0.result }) else {
            throw CorpusError("sample \(index) was cancelled before it was made")
        }
        return try result.get()
    }

    /// Drops the sample: one not yet started is never made, one being made is waited for, so that no
    /// work on the store or the engine outlives the caller (a process whose `exit` runs OpenBLAS's
    /// clean-up while another thread is inside OpenBLAS crashes).
    func cancel() {
        state.withLock { $0.cancelled = true }
        settle()
    }

    /// Whether the background work has ended.
    var isSettled: Bool {
        guard done.wait(timeout: .now()) == .success else { return false }
        done.signal()
        return true
    }

    /// Blocks until the background work has ended.
    private func settle() {
        done.wait()
        done.signal()
    }
}
