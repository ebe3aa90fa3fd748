import DUAL
import Engine
import Foundation
import Imaging
import Store
import Voxels

/// Runs network operators over overlap tiles with models stored in the store (by digest).
enum ModelCache {
    static func model(_ digest: String, store: Store) throws -> DUALModel {
        guard let m = try LoadedModels.model(digest: digest, bytes: { try store.model(digest: digest) }) else {
            throw OperatorError("model \(digest) is not in the store; define the dataset again with --model")
        }
        return m
    }

    /// The `overlap` parameter of the network operators: the fraction of a tile shared with each
    /// neighbour along an axis, 0.05…0.5 (default 0.5, the paper's half-overlapping tiles).
    static func overlap(_ p: [String: JSONValue], op: String) throws -> Double {
        try p.number("overlap", default: 0.5, in: 0.05...0.5, op: op)
    }

    /// Runs a network over the overlap tiles of `box`, reading the input standardized with its
    /// dataset statistics and mirrored at the volume's borders. `tile` defaults to the model's
    /// training patch; tiles share `overlap` of their edge with each neighbour.
    static func tiles(_ box: Box3, shape: Extent3, input: Dataset, digest: String, tile: Int? = nil, overlap: Double = 0.5,
                      _ network: (DUALModel, Tensor, [(x: Int, y: Int, z: Int)]) -> Tensor) throws -> Volume {
        let model = try model(digest, store: input.store)
        let edge = tile ?? model.config.patch, levels = 1 << (model.config.depth - 1)
        guard edge % levels == 0 else { throw OperatorError("tile \(edge) is not a multiple of \(levels), which the model's \(model.config.depth)-level U-Net needs") }
        let stats = input.info.stats
        let reader = DUALInference.mirroredReader(shape: shape, mean: stats?.mean ?? 0, std: stats?.rms ?? 1) { try input.read($0) }
        // Batches of at most four 32³ tiles' worth of voxels bound the activations' memory; a tile's
        // result does not depend on its batch.
        let batch = max(1, 4 * 32 * 32 * 32 / (edge * edge * edge))
        let shared = max(1, min(edge / 2, Int((overlap * Double(edge)).rounded())))
        return try DUALInference.apply(box: box, shape: shape, tile: edge, overlap: shared, batch: batch, input: reader) { network(model, $0, $1) }
    }
}

/// DUAL denoising (Dn) with overlap tiles anchored to the volume origin; the input is standardized
/// with its dataset statistics; the output is in the clean domain (standardized, protein bright).
public struct DenoiseOperator: LazyOperator {
    public static let name = "denoise"
    let digest: String, overlap: Double
    public init(parameters p: [String: JSONValue]) throws {
        try p.only(["model", "overlap"], op: Self.name)
        guard case .string(let d)? = p["model"] else { throw OperatorError("denoise: parameter model (a model digest) is required") }
        digest = d
        overlap = try ModelCache.overlap(p, op: Self.name)
    }
    public var inputCount: Int { 1 }
    public var halo: Int? { 64 }
    public func compute(_ inputs: [Volume], voxelSize: Double) -> Volume { inputs[0] }

    public func computeChunk(_ chunk: Box3, shape: Extent3, voxelSize: Double, inputs: [Dataset]) throws -> Volume {
        try ModelCache.tiles(chunk, shape: shape, input: inputs[0], digest: digest, overlap: overlap) { model, x, _ in model.denoiseTiles(x) }
    }
}

/// DUAL simulation Gs(v + P·Gn(z)) with z and P drawn from (seed, tile origin).
public struct SimulateOperator: LazyOperator {
    public static let name = "simulate"
    let digest: String, seed: UInt64, overlap: Double
    public init(parameters p: [String: JSONValue]) throws {
        try p.only(["model", "seed", "overlap"], op: Self.name)
        guard case .string(let d)? = p["model"] else { throw OperatorError("simulate: parameter model (a model digest) is required") }
        digest = d
        seed = UInt64(try p.number("seed", default: 1, in: 0...1e15, op: Self.name))
        overlap = try ModelCache.overlap(p, op: Self.name)
    }
    public var inputCount: Int { 1 }
    public var halo: Int? { 64 }
    public func compute(_ inputs: [Volume], voxelSize: Double) -> Volume { inputs[0] }

    public func computeChunk(_ chunk: Box3, shape: Extent3, voxelSize: Double, inputs: [Dataset]) throws -> Volume {
        let s = seed
        return try ModelCache.tiles(chunk, shape: shape, input: inputs[0], digest: digest, overlap: overlap) { model, x, origins in model.simulateTiles(x, origins: origins, seed: s) }
    }
}

/// DUAL missing-wedge compensation (paper, section 2.5): Dn translates a tomogram (beam z) into the
/// style of its x↔z transposed copy (beam x), whose measured components cover the original's
/// missing wedge. On every overlap tile x (standardized) the observed components are kept and those
/// in the wedge taken from Dn(x), with a raised-cosine edge `transition` degrees wide and, with `gain`
/// "match" (the default), the fill's power equalized to the measured components' (`WedgeFill`);
/// `gain` "none" takes the translation as is. Tiles are blended like denoise's; the result is in the
/// input's units (mean and rms restored).
public struct CompensateOperator: LazyOperator {
    public static let name = "compensate"
    let digest: String
    let tile: Int
    let matchGain: Bool
    let overlap: Double
    /// The tile's spectral weights, built once from tilt range, transition and tile.
    let fill: WedgeFill

    public init(parameters p: [String: JSONValue]) throws {
        try p.only(["model", "tilt_min", "tilt_max", "transition", "tile", "gain", "overlap"], op: Self.name)
        overlap = try ModelCache.overlap(p, op: Self.name)
        guard case .string(let d)? = p["model"] else { throw OperatorError("compensate: parameter model (a model digest) is required") }
        digest = d
        let lo = try p.number("tilt_min", default: -60, in: -90...90, op: Self.name), hi = try p.number("tilt_max", default: 60, in: -90...90, op: Self.name)
        guard lo < hi else { throw OperatorError("compensate: tilt_min \(lo) must be below tilt_max \(hi)") }
        let transition = try p.number("transition", default: 6, in: 0...30, op: Self.name)
        tile = Int(try p.number("tile", default: 64, in: 8...256, op: Self.name))
        guard tile % 8 == 0 else { throw OperatorError("compensate: tile \(tile) must be a multiple of 8") }
        matchGain = try p.choice("gain", default: "match", among: ["match", "none"], op: Self.name) == "match"
        fill = WedgeFill(tile: tile, wedge: MissingWedge(minDegrees: lo, maxDegrees: hi, beam: .z), transition: transition)
    }
    public var inputCount: Int { 1 }
    public var halo: Int? { tile }
    public func compute(_ inputs: [Volume], voxelSize: Double) -> Volume { inputs[0] }

    public func computeChunk(_ chunk: Box3, shape: Extent3, voxelSize: Double, inputs: [Dataset]) throws -> Volume {
        guard min(shape.x, shape.y, shape.z) * 2 > tile else {
            throw OperatorError("compensate: \(inputs[0].name) (\(shape.x)×\(shape.y)×\(shape.z)) needs every axis longer than half the \(tile)³ tile; use a smaller tile (compensate --tile, derive --param tile=…)")
        }
        let (fill, match) = (fill, matchGain)
        var result = try ModelCache.tiles(chunk, shape: shape, input: inputs[0], digest: digest, tile: tile, overlap: overlap) { model, x, _ in
            fill.merge(observed: x, translated: model.denoiseTiles(x), matchGain: match)
        }
        let stats = inputs[0].info.stats
        let mean = Float(stats?.mean ?? 0), std = Float(stats?.rms ?? 1)
        result.withUnsafeMutableValues(as: Float.self) { v in for i in v.indices { v[i] = v[i] * std + mean } }  // back to the input's units
        return result
    }
}
