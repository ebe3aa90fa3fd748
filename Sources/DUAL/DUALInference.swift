import Engine
import Foundation
import Voxels

/// Overlap-tile inference anchored to the volume origin: tiles of P³ voxels overlapping their
/// neighbours by o voxels (o = P/2 by default), at origins k·(P − o) − o along each axis, each
/// weighted by a separable window whose overlapping ramps sum to exactly 1; voxels outside the volume
/// are mirrored (scipy's "reflect"). The value of a voxel therefore depends only on the input, the
/// tile and the overlap, never on how the volume was split into requests. A smaller overlap runs
/// fewer tiles ((P / (P − o))³ per voxel: 8 at one half, 2.4 at one quarter). Windows and sums are
/// in Float64 and rounded to Float32 once, so where every tile gives the same value (a flat
/// background) the blend gives exactly that value, not one that wanders by an ulp.
public enum DUALInference {
    /// The window weight of position i in a tile of P voxels: sin²(π (i + ½) / P).
    static func window(_ p: Int) -> [Double] {
        (0..<p).map { i in
            let s = sin(Double.pi * (Double(i) + 0.5) / Double(p))
            return s * s
        }
    }

    /// The window of a tile of P voxels overlapping each neighbour by o voxels (1 ≤ o ≤ P/2): a
    /// sin² ramp over the first o positions, 1 between, a cos² ramp over the last o, so that a tile's
    /// falling ramp and its neighbour's rising ramp sum to 1. At o = P/2 it is `window(P)`.
    static func window(_ p: Int, overlap o: Int) -> [Double] {
        if 2 * o == p { return window(p) }
        return (0..<p).map { i in
            if i < o {
                let s = sin(Double.pi * (Double(i) + 0.5) / Double(2 * o))
                return s * s
            }
            if i >= p - o {
                let c = cos(Double.pi * (Double(i - (p - o)) + 0.5) / Double(2 * o))
                return c * c
            }
            return 1
        }
    }

    /// Applies `network` (one tile [1, 1, P, P, P] → same shape) to the box `box` of a volume whose
    /// full extent is `shape`, reading input voxels through `input` (any box, possibly partly
    /// outside the volume: the caller mirrors). Tiles overlap by `overlap` voxels (default P/2, at
    /// most P/2); tiles of one batch run together.
    public static func apply(
        box: Box3, shape: Extent3, tile p: Int, overlap: Int? = nil, batch: Int = 4,
        input: (Box3) throws -> Volume, network: (Tensor, [(x: Int, y: Int, z: Int)]) -> Tensor
    ) throws -> Volume {
        try apply(
            box: box, shape: shape, tile: p, overlap: overlap, batch: batch, channels: 1, input: input,
            network: network)[0]
    }

    /// `apply` for a network with `channels` output channels (tiles [n, 1, P, P, P] → [n, channels,
    /// P, P, P]): one blended volume per channel, each blended exactly as a one-channel network's.
    public static func apply(
        box: Box3, shape: Extent3, tile p: Int, overlap: Int? = nil, batch: Int = 4, channels: Int,
        input: (Box3) throws -> Volume, network: (Tensor, [(x: Int, y: Int, z: Int)]) -> Tensor
    ) throws -> [Volume] {
        let o = min(p / 2, max(1, overlap ?? p / 2))
        let s = p - o
        let w = window(p, overlap: o)
        // Tile origins k·s − o, from the first tile that reaches into [lo, hi) to the last.
        func origins(_ lo: Int, _ hi: Int) -> [Int] {
            let numerator = lo - p + o
            let kMin = (numerator >= 0 ? numerator / s : -((-numerator + s - 1) / s)) + 1
            return Array(stride(from: kMin * s - o, to: hi, by: s))
        }
        let tiles = origins(box.lower.z, box.upper.z).flatMap { z in
            origins(box.lower.y, box.upper.y).flatMap { y in origins(box.lower.x, box.upper.x).map { x in (x, y, z) } }
        }
        let bs = box.shape
        let voxels = bs.count
        var sums = [Double](repeating: 0, count: voxels * channels)
        for start in stride(from: 0, to: tiles.count, by: batch) {
            let group = Array(tiles[start..<min(tiles.count, start + batch)])
            var values: [Float] = []
            values.reserveCapacity(group.count * p * p * p)
            for (x, y, z) in group {
                values += try input(Box3(x: x..<(x + p), y: y..<(y + p), z: z..<(z + p))).converted(to: .float32)
                    .values(as: Float.self)
            }
            let result = network(
                Tensor(shape: [group.count, 1, p, p, p], values: values), group.map { (x: $0.0, y: $0.1, z: $0.2) }
            ).scalars
            for (g, (x0, y0, z0)) in group.enumerated() {
                for channel in 0..<channels {
                    let base = (g * channels + channel) * p * p * p
                    let offset = channel * voxels
                    for tz in 0..<p {
                        let z = z0 + tz
                        guard z >= box.lower.z && z < box.upper.z else { continue }
                        for ty in 0..<p {
                            let y = y0 + ty
                            guard y >= box.lower.y && y < box.upper.y else { continue }
                            let wzy = w[tz] * w[ty]
                            let row: Int = offset + ((z - box.lower.z) * bs.y + (y - box.lower.y)) * bs.x - box.lower.x
                            let from: Int = base + (tz * p + ty) * p
                            for tx in 0..<p {
                                let x = x0 + tx
                                guard x >= box.lower.x && x < box.upper.x else { continue }
                                sums[row + x] += wzy * w[tx] * Double(result[from + tx])
                            }
                        }
                    }
                }
            }
        }
        _ = shape
        return (0..<channels).map { c in
            Volume(shape: bs, values: sums[(c * voxels)..<((c + 1) * voxels)].map { Float($0) })
        }
    }

    /// Reads any box of a volume of `shape` through `read` (boxes inside the volume), mirroring
    /// voxels outside (reflect), standardized with the given mean and standard deviation (negative:
    /// standardized and inverted).
    public static func mirroredReader(
        shape: Extent3, mean: Double, std: Double, read: @escaping (Box3) throws -> Volume
    ) -> (Box3) throws -> Volume {
        { box in
            let inside = box.clamped(to: shape)
            // Mirror covers at most one period here (tiles are smaller than twice the volume).
            let needed = Box3(
                x: reflectRange(box.xRange, shape.x), y: reflectRange(box.yRange, shape.y),
                z: reflectRange(box.zRange, shape.z))
            let source = try read(needed.isEmpty ? inside : needed).converted(to: .float32)
            let b = box.shape
            var values = [Float](repeating: 0, count: b.count)
            // A negative deviation inverts the contrast.
            let scale = Float(std < 0 ? 1 / min(std, -1e-12) : 1 / max(std, 1e-12))
            let offset = Float(mean)
            source.withUnsafeValues(as: Float.self) { src in
                for z in 0..<b.z {
                    for y in 0..<b.y {
                        for x in 0..<b.x {
                            let gx = reflectIndex(box.lower.x + x, shape.x) - needed.lower.x
                            let gy = reflectIndex(box.lower.y + y, shape.y) - needed.lower.y
                            let gz = reflectIndex(box.lower.z + z, shape.z) - needed.lower.z
                            values[(z * b.y + y) * b.x + x] =
                                (src[(gz * needed.shape.y + gy) * needed.shape.x + gx] - offset) * scale
                        }
                    }
                }
            }
            return Volume(shape: b, values: values)
        }
    }

    static func reflectRange(_ r: Range<Int>, _ n: Int) -> Range<Int> {
        let values = r.map { reflectIndex($0, n) }
        return (values.min() ?? 0)..<((values.max() ?? 0) + 1)
    }
}

extension DUALModel {
    /// Dn over tiles: noisy (standardized) → clean domain.
    public func denoiseTiles(_ x: Tensor) -> Tensor { denoiser.infer(x) }

    /// Gs(v + P·Gn(z)) over tiles at `origins` (working-grid voxels), the noise read from `noise`, a field
    /// over the whole grid: overlapping tiles see the same noise where they overlap; then the
    /// model's simulation calibration, if it has one, tile by tile (a two-pass one runs Gs a second
    /// time with `noise.second`).
    public func simulateTiles(_ v: Tensor, origins: [(x: Int, y: Int, z: Int)], noise: NoiseField) -> Tensor {
        let simulated = generatorTiles(v, origins: origins, noise: noise)
        guard let calibration = simulationCalibration else { return simulated }
        guard calibration.differenceGain != nil else { return calibration.apply(simulated) }
        return calibration.apply(simulated, second: generatorTiles(v, origins: origins, noise: noise.second))
    }

    /// Gs(v + P·Gn(z)) over tiles as `simulateTiles` computes it, before any calibration (what the
    /// calibration is fitted to).
    func generatorTiles(_ v: Tensor, origins: [(x: Int, y: Int, z: Int)], noise: NoiseField) -> Tensor {
        let p = v.shape[2]
        var masks: [Float] = []
        masks.reserveCapacity(v.count)
        for o in origins { masks += noise.values(Box3(x: o.x..<(o.x + p), y: o.y..<(o.y + p), z: o.z..<(o.z + p))) }
        return generator.infer(v + Tensor(shape: v.shape, values: masks))
    }
}

/// The non-structural noise P·Gn(z) of one simulated volume, laid over the working grid in blocks of
/// P³ voxels aligned to the origin (any integer position, also outside the volume): block B's code z_B
/// ~ N(0, I) and voxel permutation P_B are drawn from (seed, B), and voxel g of the block holds
/// Gn(z_B)[P_B(g)]. Each training patch gets one such block; at inference every tile reads the same
/// field, so overlapping tiles agree where they overlap and their blend keeps the noise's variance
/// (independent noise per tile, blended, has a variance that dips between tile centres: a periodic
/// pattern at the tile spacing). A voxel's noise depends only on the seed and its position. Not
/// thread-safe: one per computation (it caches the blocks it made, the most recent 256).
public final class NoiseField {
    let decoder: NoiseDecoder
    let codeLength: Int
    let edge: Int
    let seed: UInt64
    var blocks: [SIMD3<Int>: [Float]] = [:]
    var made: [SIMD3<Int>] = []
    static let cachedBlocks = 256

    public init(model: DUALModel, seed: UInt64) {
        decoder = model.noiseDecoder
        codeLength = model.config.codeLength
        edge = model.config.patch
        self.seed = seed
    }

    private init(decoder: NoiseDecoder, codeLength: Int, edge: Int, seed: UInt64) {
        (self.decoder, self.codeLength, self.edge, self.seed) = (decoder, codeLength, edge, seed)
    }

    /// An independent field of the same model, drawn from a seed derived from this one: the noise of
    /// Gs's second pass under a two-pass calibration (`SimulationCalibration.differenceGain`).
    public private(set) lazy var second = NoiseField(
        decoder: decoder, codeLength: codeLength, edge: edge, seed: seed ^ 0x5EC0_4D00_0000_0002)

    /// Block `b`'s P³ values (z, y, x order).
    func block(_ b: SIMD3<Int>) -> [Float] {
        if let values = blocks[b] { return values }
        let key =
            UInt64(bitPattern: Int64(b.x)) &* 0x9E37_79B9_7F4A_7C15 ^ UInt64(bitPattern: Int64(b.y))
            &* 0xC2B2_AE3D_27D4_EB4F ^ UInt64(bitPattern: Int64(b.z)) &* 0x1656_67B1_9E37_79F9
        let rng = CounterRNG(seed: seed ^ key)
        let code = (0..<codeLength).map { Float(rng.normal(stream: 1, counter: UInt64($0))) }
        let mask = decoder(Variable(Tensor(shape: [1, codeLength], values: code)), tape: Tape(recording: false))
            .value.scalars
        let n = mask.count
        var permutation = (0..<n).map { Int32($0) }
        for j in stride(from: n - 1, to: 0, by: -1) {
            permutation.swapAt(j, Int(rng.uniform(stream: 2, counter: UInt64(j)) * Double(j + 1)))
        }
        let values = permutation.map { mask[Int($0)] }
        if made.count >= Self.cachedBlocks { blocks[made.removeFirst()] = nil }
        made.append(b)
        blocks[b] = values
        return values
    }

    /// The field over `box` (z, y, x order).
    public func values(_ box: Box3) -> [Float] {
        let p = edge
        func floorDiv(_ a: Int) -> Int { a >= 0 ? a / p : -((-a + p - 1) / p) }
        let s = box.shape
        var out = [Float](repeating: 0, count: s.count)
        for bz in floorDiv(box.lower.z)...floorDiv(box.upper.z - 1) {
            for by in floorDiv(box.lower.y)...floorDiv(box.upper.y - 1) {
                for bx in floorDiv(box.lower.x)...floorDiv(box.upper.x - 1) {
                    let values = block(SIMD3(bx, by, bz))
                    let lower = SIMD3(bx, by, bz) &* p
                    let zs = max(box.lower.z, lower.z)..<min(box.upper.z, lower.z + p)
                    let ys = max(box.lower.y, lower.y)..<min(box.upper.y, lower.y + p)
                    let xs = max(box.lower.x, lower.x)..<min(box.upper.x, lower.x + p)
                    for z in zs {
                        for y in ys {
                            let from = ((z - lower.z) * p + (y - lower.y)) * p - lower.x
                            let to = ((z - box.lower.z) * s.y + (y - box.lower.y)) * s.x - box.lower.x
                            for x in xs { out[to + x] = values[from + x] }
                        }
                    }
                }
            }
        }
        return out
    }
}
