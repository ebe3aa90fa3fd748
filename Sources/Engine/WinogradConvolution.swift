import Foundation
import Voxels

/// 3×3×3 stride-1 "same" convolutions by Winograd's minimal filtering F(m×m×m, 3×3×3).
///
/// The output is cut into m×m×m tiles; each reads a t×t×t input tile (t = m + 2, zero outside the
/// volume). Per input channel, the tile is transformed to V = Bᵀ·d·B along z, y and x (t³ values,
/// "points"); per (output, input) channel pair the kernel is transformed once to U = G·g·Gᵀ. At each
/// point the products summed over input channels are one small matrix product,
/// M[p] (Cout × tiles) = U[p] (Cout × Cin) · V[p] (Cin × tiles), done by sgemm; the inverse transform
/// Aᵀ·M·A gives the m³ outputs. F(2,3) (`WinogradF2`) does 64 multiplications per 8 outputs instead
/// of 8·27 = 216 (3.4× fewer); F(4,3) (`WinogradF4`) 216 per 64 (8× fewer, and 3.4 instead of 8
/// transformed values written per input value), at about 10× F(2,3)'s rounding error (still ~1e-5
/// relative per layer). Point p = (c·t + b)·t + a for transform indices c (z), b (y), a (x).
///
/// Transforms run on vectors of 8 tiles side by side along x (tile rows padded to whole vectors;
/// padding tiles read zeros and are never written out). Work is split into blocks of one sample, one
/// tile plane in z and a run of tile rows in y (as many as keep the block's transformed inputs and
/// products within `blockBytes`, so they stay in the core's L2 cache); the split depends only on the
/// sample's shape, never on the batch, so a sample's result does not depend on its neighbours.
enum WinogradConvolution {
    /// Whether `forward` handles this geometry: k 3, stride 1, padding 1, and enough input channels
    /// for the per-point products to be worth an sgemm.
    static func applies(to g: ConvGeometry) -> Bool {
        g.k == 3 && g.stride == 1 && g.pad == 1 && g.cin >= 8
    }

    /// The tiling for a geometry: F(4,3) where rows hold at least a vector of 4-wide tiles, F(2,3)
    /// for thinner volumes (whose padding tiles would waste most of F(4,3)'s vectors).
    static func tiling(for g: ConvGeometry) -> any WinogradTiling.Type {
        (g.ow + 3) / 4 >= Lane.scalarCount ? WinogradF4.self : WinogradF2.self
    }

    /// y = conv(x, w) + b, then LeakyReLU with `slope` when given; x [N, Cin, D, H, W], w [Cout, Cin, 3, 3, 3].
    /// The transformed kernel comes from (and goes to) `TransformedKernelCache` when `cacheKernel`.
    static func forward(
        _ x: UnsafePointer<Float>, weight w: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
        geometry g: ConvGeometry, leakySlope: Float?, into y: UnsafeMutablePointer<Float>, cacheKernel: Bool = true
    ) {
        func run<T: WinogradTiling>(_: T.Type) {
            let make = { transformedKernel(w, cout: g.cout, cin: g.cin, by: T.kernelTransform) }
            let u =
                cacheKernel
                ? TransformedKernelCache.shared.kernel(for: w, count: g.cout * g.cin * 27, points: T.points, make: make)
                : make()
            u.withUnsafeBufferPointer {
                forward(
                    x, kernel: $0.baseAddress!, bias: bias, geometry: g, leakySlope: leakySlope, into: y, tiling: T.self
                )
            }
        }
        run(tiling(for: g))
    }

    /// U [t³][Cout][Cin]: the kernel w [Cout, Cin, 3, 3, 3] transformed by G (t × 3) along z, y and x.
    static func transformedKernel(_ w: UnsafePointer<Float>, cout: Int, cin: Int, by gm: [[Float]]) -> [Float] {
        let t = gm.count
        let tt = t * t
        let points = tt * t
        let gFlat = gm.flatMap { $0 }
        var u = [Float](repeating: 0, count: points * cout * cin)
        u.withUnsafeMutableBufferPointer { ub in
            gFlat.withUnsafeBufferPointer { gb in
                let up = ub.baseAddress!
                let g = gb.baseAddress!
                Parallel.forEach(cout) { co in
                    var alongX = [Float](repeating: 0, count: 9 * t)
                    var alongY = [Float](repeating: 0, count: 3 * tt)
                    alongX.withUnsafeMutableBufferPointer { xb in
                        alongY.withUnsafeMutableBufferPointer { yb in
                            let ax = xb.baseAddress!
                            let ay = yb.baseAddress!
                            for ci in 0..<cin {
                                let k = w + (co &* cin &+ ci) &* 27
                                for r in 0..<9 {
                                    for a in 0..<t {  // rows (kz, ky): x 3 → t
                                        ax[r &* t &+ a] =
                                            g[a &* 3] * k[r &* 3] + g[a &* 3 &+ 1] * k[r &* 3 &+ 1] + g[a &* 3 &+ 2]
                                            * k[r &* 3 &+ 2]
                                    }
                                }
                                for kz in 0..<3 {
                                    for b in 0..<t {
                                        for a in 0..<t {  // y 3 → t
                                            let s = ax + (kz &* 3 &* t &+ a)
                                            ay[(kz &* t &+ b) &* t &+ a] =
                                                g[b &* 3] * s[0] + g[b &* 3 &+ 1] * s[t] + g[b &* 3 &+ 2] * s[2 &* t]
                                        }
                                    }
                                }
                                for c in 0..<t {
                                    for ba in 0..<tt {  // z 3 → t
                                        up[((c &* tt &+ ba) &* cout &+ co) &* cin &+ ci] =
                                            g[c &* 3] * ay[ba] + g[c &* 3 &+ 1] * ay[tt &+ ba] + g[c &* 3 &+ 2]
                                            * ay[2 &* tt &+ ba]
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        return u
    }

    static func forward<T: WinogradTiling>(
        _ x: UnsafePointer<Float>, kernel u: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
        geometry g: ConvGeometry, leakySlope: Float?, into y: UnsafeMutablePointer<Float>, tiling: T.Type
    ) {
        let blocks = Blocks(g, tiling: T.self)
        let points = T.points
        let txp = blocks.txp
        let (cin, cout) = (g.cin, g.cout)
        Parallel.forEach(blocks.count) { job in
            let (sample, iz, rows) = blocks.block(job)
            let tiles = rows.count * txp
            let ys = y + sample * cout * g.outVoxels
            Workspace.with { ws in
                // Transformed inputs V [points][Cin][tiles], products M [points][Cout][tiles], scratch.
                let v = ws.floats(points * (cin + cout) * tiles + T.scratchFloats(txp: txp))
                let mm = v + points * cin * tiles
                let scratch = mm + points * cout * tiles
                transformInputs(
                    x + sample * cin * g.inVoxels, g, iz: iz, rows: rows, txp: txp, scratch: scratch, into: v,
                    tiling: T.self)
                for p in 0..<points {
                    BLAS.sgemm(
                        m: cout, n: tiles, k: cin, a: u + p * cout * cin, lda: cin,
                        b: v + p * cin * tiles, ldb: tiles, c: mm + p * cout * tiles, ldc: tiles)
                }
                for co in 0..<cout {
                    for iy in rows {
                        T.transformOutput(
                            mm + co * tiles + (iy - rows.lowerBound) * txp, pointStride: cout * tiles, g, iz: iz,
                            iy: iy, txp: txp,
                            bias: bias?[co] ?? 0, slope: leakySlope, scratch: scratch, into: ys + co * g.outVoxels)
                    }
                }
            }
        }
    }

    /// Bytes of transformed inputs and products (points · (Cin + Cout) · tiles floats) a block may
    /// hold: a core's L2 cache here. Of 128 KiB–1 MiB, 1 MiB gave the fastest U-Net forward
    /// (`bench engine`, two rounds; the layers' differences were within this machine's noise), and
    /// sizing by bytes instead of a fixed 32 tiles took the 32 → 16 layer at 64³ from ~23.5 to ~19.5 ms.
    static let blockBytes = 1 << 20

    /// How a convolution's tiles are cut into blocks: one sample, one tile plane in z, and a run of
    /// tile rows in y whose transformed inputs and products fit in `blockBytes`.
    struct Blocks {
        /// Tiles per row, padded to whole vectors.
        let txp: Int
        let rowsPerBlock: Int, rowBlocks: Int, perSample: Int, tileRows: Int
        /// Blocks in all samples.
        let count: Int

        init<T: WinogradTiling>(_ g: ConvGeometry, tiling: T.Type) {
            let m = T.outputTile
            let tz = (g.od + m - 1) / m
            let tx = (g.ow + m - 1) / m
            tileRows = (g.oh + m - 1) / m
            txp = (tx + lanes - 1) / lanes * lanes
            rowsPerBlock = max(1, min(tileRows, blockBytes / (4 * T.points * (g.cin + g.cout) * txp)))
            rowBlocks = (tileRows + rowsPerBlock - 1) / rowsPerBlock
            perSample = tz * rowBlocks
            count = g.n * perSample
        }

        /// Block `job`'s sample, tile plane and tile rows.
        func block(_ job: Int) -> (sample: Int, iz: Int, rows: Range<Int>) {
            let iy0 = (job % rowBlocks) * rowsPerBlock
            return (job / perSample, (job % perSample) / rowBlocks, iy0..<min(tileRows, iy0 + rowsPerBlock))
        }
    }

    /// V [points][Cin][tiles] of a block (tile plane iz, tile `rows`) of one sample `x` [Cin, D, H, W].
    static func transformInputs<T: WinogradTiling>(
        _ x: UnsafePointer<Float>, _ g: ConvGeometry, iz: Int, rows: Range<Int>, txp: Int,
        scratch: UnsafeMutablePointer<Float>, into v: UnsafeMutablePointer<Float>, tiling: T.Type
    ) {
        let tiles = rows.count * txp
        for ci in 0..<g.cin {
            for iy in rows {
                T.transformInput(
                    x + ci * g.inVoxels, g, iz: iz, iy: iy, txp: txp, scratch: scratch,
                    into: v + ci * tiles + (iy - rows.lowerBound) * txp, pointStride: g.cin * tiles)
            }
        }
    }

    /// The vector the transforms work in: 8 tiles side by side along x.
    typealias Lane = SIMD8<Float>
    static let lanes = 8

    @inline(__always) static func load(_ p: UnsafePointer<Float>) -> Lane {
        UnsafeRawPointer(p).loadUnaligned(as: Lane.self)
    }

    @inline(__always) static func store(_ v: Lane, _ p: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(p).storeBytes(of: v, as: Lane.self)
    }

    /// Calls `body(r, row)` for each output row of tile row (iz, iy) inside the volume: r = oz·m + oy
    /// for the row's place (oz, oy) in the m×m tiles, `row` its first voxel in `plane` [Do, Ho, Wo].
    @inline(__always) static func forEachOutputRow(
        _ g: ConvGeometry, m: Int, iz: Int, iy: Int, plane: UnsafeMutablePointer<Float>,
        _ body: (Int, UnsafeMutablePointer<Float>) -> Void
    ) {
        for oz in 0..<m {
            let z = m &* iz &+ oz
            guard z < g.od else { break }
            for oy in 0..<m {
                let yv = m &* iy &+ oy
                guard yv < g.oh else { break }
                body(oz &* m &+ oy, plane + (z &* g.oh &+ yv) &* g.ow)
            }
        }
    }

    /// LeakyReLU of a vector (identity without a slope).
    @inline(__always) static func activate(_ v: Lane, _ slope: Float?) -> Lane {
        guard let slope else { return v }
        var r = v
        r.replace(with: v * slope, where: v .< 0)
        return r
    }
}

/// One Winograd tiling F(m, 3): its transforms, on tile rows of `txp` tiles (a multiple of 8).
protocol WinogradTiling {
    /// m: outputs per tile and axis; the input tile is m + 2 wide.
    static var outputTile: Int { get }
    /// t³ transform points.
    static var points: Int { get }
    /// G (t × 3), applied to the kernel along each axis.
    static var kernelTransform: [[Float]] { get }
    /// A (t × m), the transpose of the output transform Aᵀ: applied to output gradients.
    static var outputAdjoint: [[Float]] { get }
    /// Scratch floats `transformInput` and `transformOutput` need for rows of `txp` tiles.
    static func scratchFloats(txp: Int) -> Int
    /// The t³ transformed values of every tile in tile row (iz, iy) of one input channel `plane`
    /// [D, H, W], written to `out + p · pointStride + ix` for ix < txp (padding tiles read zeros).
    static func transformInput(
        _ plane: UnsafePointer<Float>, _ g: ConvGeometry, iz: Int, iy: Int, txp: Int,
        scratch: UnsafeMutablePointer<Float>, into out: UnsafeMutablePointer<Float>, pointStride: Int)
    /// Inverse transform of tile row (iz, iy) of one output channel: reads `m + p · pointStride + ix`,
    /// adds the bias, applies LeakyReLU, and writes the outputs inside the volume to `plane` [Do, Ho, Wo].
    static func transformOutput(
        _ m: UnsafePointer<Float>, pointStride: Int, _ g: ConvGeometry, iz: Int, iy: Int, txp: Int,
        bias: Float, slope: Float?, scratch: UnsafeMutablePointer<Float>, into plane: UnsafeMutablePointer<Float>)
}

/// Recently transformed kernels, so inference, which runs the same layers over and over (one call
/// per batch of overlap tiles), transforms each kernel once. The weights' address only finds the
/// entry: a hit also compares the cached copy of the weights with the current ones byte for byte,
/// so weights changed in place (training) or a new tensor at a reused address never get a stale
/// transform. Holds at most `limitBytes`, dropping the oldest entries first.
final class TransformedKernelCache: Sendable {
    static let shared = TransformedKernelCache()
    static let limitBytes = 64 << 20

    private struct Key: Hashable {
        let address: UInt
        let count: Int
        let points: Int
    }
    private struct Entry {
        let weights: [Float]
        let kernel: [Float]
        var bytes: Int { 4 * (weights.count + kernel.count) }
    }
    private struct State {
        var entries: [Key: Entry] = [:]
        var order: [Key] = []
        var bytes = 0
    }
    private let state = Locked(State())

    /// The transformed kernel of the `count` weights at `w` for a tiling with `points` points:
    /// cached, or made by `make` and remembered.
    func kernel(for w: UnsafePointer<Float>, count: Int, points: Int, make: () -> [Float]) -> [Float] {
        let key = Key(address: UInt(bitPattern: w), count: count, points: points)
        let cached = state.withLock { $0.entries[key] }
        if let cached, cached.weights.withUnsafeBufferPointer({ memcmp($0.baseAddress!, w, 4 * count) == 0 }) {
            return cached.kernel
        }
        let entry = Entry(weights: Array(UnsafeBufferPointer(start: w, count: count)), kernel: make())
        state.withLock { s in
            if let old = s.entries.updateValue(entry, forKey: key) {
                s.bytes -= old.bytes
            } else {
                s.order.append(key)
            }
            s.bytes += entry.bytes
            while s.bytes > Self.limitBytes, s.order.count > 1 {
                let oldest = s.order.removeFirst()
                if let dropped = s.entries.removeValue(forKey: oldest) { s.bytes -= dropped.bytes }
            }
        }
        return entry.kernel
    }
}
