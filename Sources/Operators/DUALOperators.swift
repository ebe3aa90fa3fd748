import DUAL
import Engine
import Foundation
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

    /// Runs a network over the overlap tiles of `box`, reading the input standardized with its
    /// dataset statistics and mirrored at the volume's borders.
    static func tiles(_ box: Box3, shape: Extent3, input: Dataset, digest: String,
                      _ network: (DUALModel, Tensor, [(x: Int, y: Int, z: Int)]) -> Tensor) throws -> Volume {
        let model = try model(digest, store: input.store)
        let stats = input.info.stats
        let reader = DUALInference.mirroredReader(shape: shape, mean: stats?.mean ?? 0, std: stats?.rms ?? 1) { try input.read($0) }
        return try DUALInference.apply(box: box, shape: shape, tile: model.config.patch, input: reader) { network(model, $0, $1) }
    }
}

/// DUAL denoising (Dn) with overlap tiles anchored to the volume origin; the input is standardized
/// with its dataset statistics; the output is in the clean domain (standardized, protein bright).
public struct DenoiseOperator: LazyOperator {
    public static let name = "denoise"
    let digest: String
    public init(parameters p: [String: JSONValue]) throws {
        try p.only(["model"], op: Self.name)
        guard case .string(let d)? = p["model"] else { throw OperatorError("denoise: parameter model (a model digest) is required") }
        digest = d
    }
    public var inputCount: Int { 1 }
    public var halo: Int? { 64 }
    public func compute(_ inputs: [Volume], voxelSize: Double) -> Volume { inputs[0] }

    public func computeChunk(_ chunk: Box3, shape: Extent3, voxelSize: Double, inputs: [Dataset]) throws -> Volume {
        try ModelCache.tiles(chunk, shape: shape, input: inputs[0], digest: digest) { model, x, _ in model.denoiseTiles(x) }
    }
}

/// DUAL simulation Gs(v + P·Gn(z)) with z and P drawn from (seed, tile origin).
public struct SimulateOperator: LazyOperator {
    public static let name = "simulate"
    let digest: String, seed: UInt64
    public init(parameters p: [String: JSONValue]) throws {
        try p.only(["model", "seed"], op: Self.name)
        guard case .string(let d)? = p["model"] else { throw OperatorError("simulate: parameter model (a model digest) is required") }
        digest = d
        seed = UInt64(try p.number("seed", default: 1, in: 0...1e15, op: Self.name))
    }
    public var inputCount: Int { 1 }
    public var halo: Int? { 64 }
    public func compute(_ inputs: [Volume], voxelSize: Double) -> Volume { inputs[0] }

    public func computeChunk(_ chunk: Box3, shape: Extent3, voxelSize: Double, inputs: [Dataset]) throws -> Volume {
        let s = seed
        return try ModelCache.tiles(chunk, shape: shape, input: inputs[0], digest: digest) { model, x, origins in model.simulateTiles(x, origins: origins, seed: s) }
    }
}
