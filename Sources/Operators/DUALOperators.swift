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

    /// Runs a network over the overlap tiles of `box`, reading the input standardized with its
    /// dataset statistics and mirrored at the volume's borders.
    /// `tile` defaults to the model's training patch.
    static func tiles(_ box: Box3, shape: Extent3, input: Dataset, digest: String, tile: Int? = nil,
                      _ network: (DUALModel, Tensor, [(x: Int, y: Int, z: Int)]) -> Tensor) throws -> Volume {
        let model = try model(digest, store: input.store)
        let edge = tile ?? model.config.patch, levels = 1 << (model.config.depth - 1)
        guard edge % levels == 0 else { throw OperatorError("tile \(edge) is not a multiple of \(levels), which the model's \(model.config.depth)-level U-Net needs") }
        let stats = input.info.stats
        let reader = DUALInference.mirroredReader(shape: shape, mean: stats?.mean ?? 0, std: stats?.rms ?? 1) { try input.read($0) }
        // Batches of at most four 32³ tiles' worth of voxels bound the activations' memory; a tile's
        // result does not depend on its batch.
        let batch = max(1, 4 * 32 * 32 * 32 / (edge * edge * edge))
        return try DUALInference.apply(box: box, shape: shape, tile: edge, batch: batch, input: reader) { network(model, $0, $1) }
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

/// DUAL missing-wedge compensation (paper, section 2.5): Dn translates a tomogram (beam z) into the
/// style of its x↔z transposed copy (beam x), whose measured components cover the original's
/// missing wedge. On every overlap tile x (standardized), with X = F(x), Y = F(Dn(x)) and W the
/// smooth missing-wedge weight of the tilt range (0 where measured, 1 in the wedge), the output is
/// F⁻¹[(1 − W)·X + W·g(|k|)·Y]: observed components kept, the wedge's taken from the translation.
/// The gain g(|k|), per radial shell of width 1/P cycles/voxel, makes the filled wedge's mean power
/// in the shell equal to the mean power of the tile's measured components in it (`gain` "match",
/// the default: the transposed domain has the original's statistics, so a full tomogram's power
/// does not depend on direction, while a briefly trained Dn translates at too low an amplitude and
/// with another radial spectrum); or g = 1 (`gain` "none"). Dn supplies the wedge's content, the
/// measured components its power. Tiles are
/// blended like denoise's; the result is in the input's units (mean and rms restored).
public struct CompensateOperator: LazyOperator {
    public static let name = "compensate"
    let digest: String
    let wedge: MissingWedge
    let transition: Double
    let tile: Int
    let matchGain: Bool

    public init(parameters p: [String: JSONValue]) throws {
        try p.only(["model", "tilt_min", "tilt_max", "transition", "tile", "gain"], op: Self.name)
        guard case .string(let d)? = p["model"] else { throw OperatorError("compensate: parameter model (a model digest) is required") }
        digest = d
        let lo = try p.number("tilt_min", default: -60, in: -90...90, op: Self.name), hi = try p.number("tilt_max", default: 60, in: -90...90, op: Self.name)
        guard lo < hi else { throw OperatorError("compensate: tilt_min \(lo) must be below tilt_max \(hi)") }
        wedge = MissingWedge(minDegrees: lo, maxDegrees: hi, beam: .z)
        transition = try p.number("transition", default: 6, in: 0...30, op: Self.name)
        tile = Int(try p.number("tile", default: 64, in: 8...256, op: Self.name))
        guard tile % 8 == 0 else { throw OperatorError("compensate: tile \(tile) must be a multiple of 8") }
        matchGain = try p.choice("gain", default: "match", among: ["match", "none"], op: Self.name) == "match"
    }
    public var inputCount: Int { 1 }
    public var halo: Int? { tile }
    public func compute(_ inputs: [Volume], voxelSize: Double) -> Volume { inputs[0] }

    public func computeChunk(_ chunk: Box3, shape: Extent3, voxelSize: Double, inputs: [Dataset]) throws -> Volume {
        guard min(shape.x, shape.y, shape.z) * 2 > tile else {
            throw OperatorError("compensate: \(inputs[0].name) (\(shape.x)×\(shape.y)×\(shape.z)) needs every axis longer than half the \(tile)³ tile; use a smaller tile (compensate --tile, derive --param tile=…)")
        }
        let (w, t) = (wedge, transition)
        let weights = FourierFilter.halfSpectrum(Extent3(x: tile, y: tile, z: tile)) { kx, ky, kz in w.wedgeWeight(kx: kx, ky: ky, kz: kz, transition: t) }
        let match = matchGain
        let standardized = try ModelCache.tiles(chunk, shape: shape, input: inputs[0], digest: digest, tile: tile) { model, x, _ in
            Self.merge(observed: x, translated: model.denoiseTiles(x), wedgeWeights: weights, matchGain: match)
        }
        let stats = inputs[0].info.stats
        let mean = Float(stats?.mean ?? 0), std = Float(stats?.rms ?? 1)
        return Volume(shape: standardized.shape, values: standardized.values(as: Float.self).map { $0 * std + mean })
    }

    /// Per tile of a batch [B, 1, P, P, P]: F⁻¹[(1 − W)·F(observed) + W·g(|k|)·F(translated)], W given
    /// on the r2c half spectrum ([kz][ky][kx ≤ P/2]); g(|k|) as in the type's description.
    static func merge(observed: Tensor, translated: Tensor, wedgeWeights w: [Float], matchGain: Bool) -> Tensor {
        let p = observed.shape[2], n = p * p * p, wc = p / 2 + 1, bins = p * p * wc
        precondition(w.count == bins, "wedge weights for another tile size")
        var out = observed.scalars
        var fill = translated.scalars
        var x = [Float](repeating: 0, count: 2 * bins), y = [Float](repeating: 0, count: 2 * bins)
        let shell = FourierFilter.halfSpectrum(Extent3(x: p, y: p, z: p)) { kx, ky, kz in ((kx * kx + ky * ky + kz * kz).squareRoot() * Double(p)).rounded() }.map { Int($0) }
        let shells = (shell.max() ?? 0) + 1
        for b in 0..<observed.shape[0] {
            out.withUnsafeMutableBufferPointer { o in fill.withUnsafeMutableBufferPointer { f in
                FFTPlans.shared.forward([p, p, p], o.baseAddress! + b * n, &x)
                FFTPlans.shared.forward([p, p, p], f.baseAddress! + b * n, &y)
            } }
            // Radial shell of each bin (|k|·P rounded) and, when matching, each shell's gain.
            var gain = [Float](repeating: 1, count: shells)
            if matchGain {
                // Per shell: mean power of the measured bins of X and of the wedge bins of Y.
                var measuredX = [Double](repeating: 0, count: shells), measuredBins = [Double](repeating: 0, count: shells)
                var wedgeY = [Double](repeating: 0, count: shells), wedgeBins = [Double](repeating: 0, count: shells)
                for i in 1..<bins {  // bin 0 is the mean
                    let kx = i % wc, m = (kx == 0 || 2 * kx == p) ? 1.0 : 2.0, s = shell[i]
                    measuredX[s] += m * Double(1 - w[i]) * Double(x[2 * i] * x[2 * i] + x[2 * i + 1] * x[2 * i + 1])
                    measuredBins[s] += m * Double(1 - w[i])
                    wedgeY[s] += m * Double(w[i]) * Double(y[2 * i] * y[2 * i] + y[2 * i + 1] * y[2 * i + 1])
                    wedgeBins[s] += m * Double(w[i])
                }
                for s in 0..<shells where measuredBins[s] > 0 && wedgeY[s] > 0 {
                    gain[s] = Float(((measuredX[s] / measuredBins[s]) / (wedgeY[s] / wedgeBins[s])).squareRoot())
                }
            }
            let scale = 1 / Float(n)
            for i in 0..<bins {
                let a = (1 - w[i]) * scale, c = w[i] * gain[shell[i]] * scale
                x[2 * i] = a * x[2 * i] + c * y[2 * i]
                x[2 * i + 1] = a * x[2 * i + 1] + c * y[2 * i + 1]
            }
            out.withUnsafeMutableBufferPointer { o in FFTPlans.shared.inverse([p, p, p], &x, o.baseAddress! + b * n) }
        }
        return Tensor(shape: observed.shape, values: out)
    }
}
