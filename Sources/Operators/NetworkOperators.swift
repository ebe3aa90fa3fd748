import Catalog
import DUAL
import Engine
import Foundation
import Imaging
import Store
import Voxels

/// What a DUAL network operator runs on each standardized tile batch ([n, 1, edge, edge, edge]).
enum NetworkTask: Sendable {
    /// Dn: denoise.
    case denoise
    /// Gs(v + P·Gn(z)), the noise a `NoiseField` of the seed, the result in `contrast`.
    case simulate(seed: UInt64, contrast: Contrast)
    /// Dn's translation merged into the missing wedge (`WedgeFill`), result in the input's units.
    case compensate(fill: WedgeFill, matchGain: Bool)
}

/// How a network operator brings its input to the network and back: overlap tiles of `edge` voxels
/// sharing `overlap` with each neighbour, anchored to the origin of the working grid, on the input
/// standardized, inverted and resampled as `adaptation` says (parameters overlap, invert, voxel,
/// working_voxel). Any region gives the whole-volume result.
struct NetworkTiling: Sendable {
    let edge: Int
    let overlap: Int
    /// Inversion and working voxel size (parameters invert, voxel, working_voxel).
    let adaptation: NetworkInputAdaptation
    /// Input grid → working grid and back, nil at the input's grid.
    let resampling: (toWorking: Resampler, back: Resampler)?

    /// Reads parameters overlap (a fraction of the edge, default ½) and the adaptation's.
    init(op: String, parameters p: [String: JSONValue], edge: Int) throws {
        self.edge = edge
        let fraction = try p.number("overlap", default: 0.5, in: 0.05...0.5, op: op)
        overlap = max(1, min(edge / 2, Int((fraction * Double(edge)).rounded())))
        let adaptation = try NetworkInputAdaptation(parameters: p, op: op)
        self.adaptation = adaptation
        resampling =
            adaptation.voxel == adaptation.workingVoxel
            ? nil
            : (
                Resampler(from: adaptation.voxel, to: adaptation.workingVoxel),
                Resampler(from: adaptation.workingVoxel, to: adaptation.voxel)
            )
    }

    var footprint: Footprint {
        guard let resampling else { return .tiles(edge: edge, overlap: overlap, voxelsPerWorkingVoxel: 1) }
        return .tiles(
            edge: edge, overlap: overlap, voxelsPerWorkingVoxel: resampling.toWorking.to / resampling.toWorking.from)
    }

    /// The blended output channels of `network` (standardized tiles [n, 1, P, P, P] at working-grid
    /// `origins` → [n, channels, P, P, P]) over `region` of `input`'s grid.
    func apply(
        _ region: Box3, input: any VolumeSource, channels: Int,
        network: (Tensor, [(x: Int, y: Int, z: Int)]) -> Tensor
    ) throws -> [Volume] {
        let (workingShape, reader) = adaptation.workingView(of: input)
        let workingRegion = resampling.map { $0.back.sourceBox(for: region) } ?? region
        // Batches of at most four 32³ tiles' worth of voxels bound the activations' memory; a tile's
        // result does not depend on its batch.
        let batch = max(1, 4 * 32 * 32 * 32 / (edge * edge * edge))
        let results = try DUALInference.apply(
            box: workingRegion, shape: workingShape, tile: edge, overlap: overlap, batch: batch, channels: channels,
            input: reader, network: network)
        guard let (_, back) = resampling else { return results }
        return results.map { back.apply($0, covering: workingRegion, to: region) }
    }
}

/// A DUAL network operator prepared once per derived dataset: the model (loaded from the store by
/// digest), the tiling, and the task.
struct PreparedNetworkOperator: PreparedOperator {
    let op: String
    let model: DUALModel
    /// What the model was trained on (its file's metadata).
    let domain: ModelDomain
    let tiling: NetworkTiling
    let task: NetworkTask

    /// Loads the model named by parameter `model` (a digest) and checks that `tile` (default: the
    /// model's training patch) suits its U-Net.
    init(
        op: String, parameters p: [String: JSONValue], tile: Int? = nil, task: NetworkTask, context: OperatorContext
    ) throws {
        guard case .string(let digest)? = p["model"] else {
            throw OperatorError("\(op): parameter model (a model digest) is required")
        }
        guard let bytes = try context.models.bytes(digest: digest) else {
            throw OperatorError("\(op): model \(digest) is not in the store; define the dataset again with a model")
        }
        let (model, metadata) = try DUALModelFile.decode(bytes: bytes, source: "stored model \(digest)")
        domain = ModelDomain(metadata: metadata)
        let edge = tile ?? model.config.patch
        try Self.check(tile: edge, depth: model.config.depth, op: op)
        self.op = op
        self.model = model
        self.task = task
        tiling = try NetworkTiling(op: op, parameters: p, edge: edge)
    }

    /// Throws unless a U-Net of `depth` levels can run on tiles of `edge` voxels.
    static func check(tile edge: Int, depth: Int, op: String) throws {
        let levels = 1 << (depth - 1)
        guard edge % levels == 0 else {
            throw OperatorError(
                "\(op): tile \(edge) is not a multiple of \(levels), which the model's \(depth)-level U-Net needs")
        }
    }

    var footprint: Footprint { tiling.footprint }

    func compute(_ region: Box3, inputs: [any VolumeSource], voxelSize: Double) throws -> Volume {
        let input = inputs[0]
        let shape = input.shape
        let edge = tiling.edge
        if case .compensate = task, min(shape.x, shape.y, shape.z) * 2 <= edge {
            throw OperatorError(
                "\(op): \(input.name) (\(shape.x)×\(shape.y)×\(shape.z)) needs every axis longer than "
                    + "half the \(edge)³ tile; use a smaller tile (parameter tile)")
        }
        let (model, task) = (model, task)
        var noise: NoiseField?
        if case .simulate(let seed, _) = task { noise = NoiseField(model: model, seed: seed) }
        var result = try tiling.apply(region, input: input, channels: 1) { x, origins in
            switch task {
            case .denoise: return model.denoiseTiles(x)
            case .simulate: return model.simulateTiles(x, origins: origins, noise: noise!)
            case .compensate(let fill, let match):
                return fill.merge(observed: x, translated: model.denoiseTiles(x), matchGain: match)
            }
        }[0]
        if case .simulate(_, let contrast) = task, contrast != domain.noisyContrast {
            result.negate()
        }
        if case .compensate = task {
            // Back in the input's units and contrast.
            let stats = input.info.stats
            let m = Float(stats?.mean ?? 0)
            let s = Float((stats?.rms ?? 1) * (tiling.adaptation.invert ? -1 : 1))
            result.withUnsafeMutableValues(as: Float.self) { v in for i in v.indices { v[i] = v[i] * s + m } }
        }
        return result
    }
}

/// DUAL denoising (Dn) with overlap tiles anchored to the volume origin; the input is standardized
/// with its dataset statistics (and inverted when its contrast is not the model's noisy domain's,
/// resampled to the working voxel size: `NetworkInputAdaptation`); the output is in the clean domain
/// (standardized, protein bright) on the input's grid.
public enum DenoiseOperator: OperatorDefinition {
    public static let name = "denoise"
    public static let inputCount = 1

    /// The clean domain: density, protein bright, whatever the input's contrast.
    public static func outputContrast(inputs: [Contrast?], parameters: [String: JSONValue]) -> Contrast? {
        .bright
    }

    public static func validate(parameters p: [String: JSONValue]) throws {
        try p.only(["model", "overlap", "tile"] + NetworkInputAdaptation.keys, op: name)
        guard case .string? = p["model"] else {
            throw OperatorError("denoise: parameter model (a model digest) is required")
        }
        _ = try p.number("overlap", default: 0.5, in: 0.05...0.5, op: name)
        _ = try p.number("tile", default: 32, in: 8...256, op: name)
        _ = try NetworkInputAdaptation(parameters: p, op: name)
    }

    public static func prepare(parameters p: [String: JSONValue], context: OperatorContext) throws
        -> any PreparedOperator
    {
        try validate(parameters: p)
        let tile = p["tile"] == nil ? nil : Int(try p.number("tile", in: 8...256, op: name))
        return try PreparedNetworkOperator(op: name, parameters: p, tile: tile, task: .denoise, context: context)
    }
}

/// DUAL simulation Gs(v + P·Gn(z)), the noise P·Gn(z) a `NoiseField` of the seed over the working grid.
public enum SimulateOperator: OperatorDefinition {
    public static let name = "simulate"
    public static let inputCount = 1

    /// Parameter `output_contrast` (dark or bright; default dark): the contrast of the simulated
    /// tomogram, the model's data contrast (`ModelDomain.dataContrast`) when the CLI defines it. The
    /// network's output, in the model's noisy domain, is inverted where the two differ.
    public static func outputContrast(inputs: [Contrast?], parameters: [String: JSONValue]) -> Contrast? {
        (try? contrast(parameters)) ?? .dark
    }

    static func contrast(_ p: [String: JSONValue]) throws -> Contrast {
        switch p["output_contrast"] {
        case nil: return .dark
        case .string(let s)?:
            if let c = Contrast(rawValue: s) { return c }
            fallthrough
        default: throw OperatorError("simulate: parameter output_contrast must be \"dark\" or \"bright\"")
        }
    }

    public static func validate(parameters p: [String: JSONValue]) throws {
        try p.only(["model", "seed", "overlap", "tile", "output_contrast"] + NetworkInputAdaptation.keys, op: name)
        _ = try contrast(p)
        _ = try p.number("tile", default: 32, in: 8...256, op: name)
        _ = try NetworkInputAdaptation(parameters: p, op: name)
        guard case .string? = p["model"] else {
            throw OperatorError("simulate: parameter model (a model digest) is required")
        }
        _ = try p.number("seed", default: 1, in: 0...1e15, op: name)
        _ = try p.number("overlap", default: 0.5, in: 0.05...0.5, op: name)
    }

    public static func prepare(parameters p: [String: JSONValue], context: OperatorContext) throws
        -> any PreparedOperator
    {
        try validate(parameters: p)
        let seed = UInt64(try p.number("seed", default: 1, in: 0...1e15, op: name))
        let tile = p["tile"] == nil ? nil : Int(try p.number("tile", in: 8...256, op: name))
        return try PreparedNetworkOperator(
            op: name, parameters: p, tile: tile, task: .simulate(seed: seed, contrast: try contrast(p)),
            context: context)
    }
}

/// DUAL missing-wedge compensation (paper, section 2.5): Dn translates a tomogram (beam z) into the
/// style of its x↔z transposed copy (beam x), whose measured components cover the original's
/// missing wedge. On every overlap tile x (standardized) the observed components are kept and those
/// in the wedge taken from Dn(x), with a raised-cosine edge `transition` degrees wide and, with `gain`
/// "match" (the default), the fill's power equalized to the measured components' (`WedgeFill`);
/// `gain` "none" takes the translation as is. Tiles are blended like denoise's; the result is in the
/// input's units (mean and rms restored).
public enum CompensateOperator: OperatorDefinition {
    public static let name = "compensate"
    public static let inputCount = 1

    /// The tile edge, tilt range, transition and gain, checked.
    static func settings(_ p: [String: JSONValue]) throws -> (
        tile: Int, wedge: MissingWedge, transition: Double, match: Bool
    ) {
        try p.only(
            ["model", "tilt_min", "tilt_max", "transition", "tile", "gain", "overlap"] + NetworkInputAdaptation.keys,
            op: name)
        _ = try NetworkInputAdaptation(parameters: p, op: name)
        _ = try p.number("overlap", default: 0.5, in: 0.05...0.5, op: name)
        guard case .string? = p["model"] else {
            throw OperatorError("compensate: parameter model (a model digest) is required")
        }
        let lo = try p.number("tilt_min", default: -60, in: -90...90, op: name)
        let hi = try p.number("tilt_max", default: 60, in: -90...90, op: name)
        guard lo < hi else { throw OperatorError("compensate: tilt_min \(lo) must be below tilt_max \(hi)") }
        let transition = try p.number("transition", default: 6, in: 0...30, op: name)
        let tile = Int(try p.number("tile", default: 64, in: 8...256, op: name))
        guard tile % 8 == 0 else { throw OperatorError("compensate: tile \(tile) must be a multiple of 8") }
        let match = try p.choice("gain", default: "match", among: ["match", "none"], op: name) == "match"
        return (tile, MissingWedge(minDegrees: lo, maxDegrees: hi, beam: .z), transition, match)
    }

    public static func validate(parameters p: [String: JSONValue]) throws { _ = try settings(p) }

    /// The tilt range to compensate: the one given, else the dataset's attributes, else the range
    /// the model was trained for (its metadata `tilt_min`, `tilt_max`), else ±60°.
    public static func tiltRange(
        given: TiltRange?, attributes: [String: JSONValue], modelMetadata: [String: String]
    ) -> TiltRange {
        let trained = TiltRange(
            checking: modelMetadata["tilt_min"].flatMap(Double.init), modelMetadata["tilt_max"].flatMap(Double.init))
        return given ?? TiltRange(attributes: attributes) ?? trained ?? .standard
    }

    /// The default tile edge for a volume of `shape` voxels: 64, or the largest multiple of 8 below
    /// twice the shortest axis.
    public static func defaultTile(for shape: Extent3) -> Int {
        min(64, max(8, (2 * min(shape.x, shape.y, shape.z) - 1) / 8 * 8))
    }

    public static func prepare(parameters p: [String: JSONValue], context: OperatorContext) throws
        -> any PreparedOperator
    {
        let s = try settings(p)
        // The tile's spectral weights, built once from tilt range, transition and tile.
        let fill = WedgeFill(tile: s.tile, wedge: s.wedge, transition: s.transition)
        return try PreparedNetworkOperator(
            op: name, parameters: p, tile: s.tile, task: .compensate(fill: fill, matchGain: s.match), context: context)
    }
}
