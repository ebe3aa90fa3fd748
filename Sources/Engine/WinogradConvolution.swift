import Foundation
import Voxels

/// 3×3×3 stride-1 "same" convolutions by Winograd's minimal filtering F(2×2×2, 3×3×3).
///
/// The output is cut into 2×2×2 tiles; each reads a 4×4×4 input tile (zero outside the volume).
/// Per input channel, the tile is transformed to V = Bᵀ·d·B along z, y and x (64 values, "points");
/// per (output, input) channel pair the kernel is transformed once to U = G·g·Gᵀ. At each of the 64
/// points the products summed over input channels are one small matrix product,
/// M[p] (Cout × tiles) = U[p] (Cout × Cin) · V[p] (Cin × tiles), done by sgemm; the inverse
/// transform Aᵀ·M·A gives the 2×2×2 outputs. That is 64 multiplications per 8 outputs instead of
/// 8·27 = 216: 3.4× fewer, for a few additions per value in the transforms.
///
/// Transforms (Lavin & Gray 2016, F(2,3)): Bᵀ = [1 0 −1 0; 0 1 1 0; 0 −1 1 0; 0 1 0 −1],
/// G = [1 0 0; ½ ½ ½; ½ −½ ½; 0 0 1], Aᵀ = [1 1 1 0; 0 1 −1 −1]. Point p = (c·4 + b)·4 + a for
/// transform indices c (z), b (y), a (x).
///
/// Work is split into blocks of one sample, one tile plane in z and a run of tile rows in y (about
/// `blockTiles` tiles, so the transformed tiles stay in cache); the split depends only on the
/// sample's shape, never on the batch, so a sample's result does not depend on its neighbours.
enum WinogradConvolution {
    /// Tiles per block (transformed input of a block: 64 · Cin · tiles floats).
    static let blockTiles = 128

    /// Whether `forward` handles this geometry: k 3, stride 1, padding 1, and enough input channels
    /// for the per-point products to be worth an sgemm.
    static func applies(to g: ConvGeometry) -> Bool {
        g.k == 3 && g.stride == 1 && g.pad == 1 && g.cin >= 8
    }

    /// U [64][Cout][Cin]: the kernel w [Cout, Cin, 3, 3, 3] transformed by G along z, y and x.
    static func transformedKernel(_ w: UnsafePointer<Float>, cout: Int, cin: Int) -> [Float] {
        var u = [Float](repeating: 0, count: 64 * cout * cin)
        // G applied to 3 values: (g0, (g0+g1+g2)/2, (g0−g1+g2)/2, g2).
        @inline(__always) func g4(_ v0: Float, _ v1: Float, _ v2: Float) -> (Float, Float, Float, Float) {
            (v0, 0.5 * (v0 + v1 + v2), 0.5 * (v0 - v1 + v2), v2)
        }
        u.withUnsafeMutableBufferPointer { ub in
            var alongX = [Float](repeating: 0, count: 36), alongY = [Float](repeating: 0, count: 48)
            for co in 0..<cout { for ci in 0..<cin {
                let k = w + (co * cin + ci) * 27
                for r in 0..<9 {  // rows (kz, ky): x 3 → 4
                    let t = g4(k[r * 3], k[r * 3 + 1], k[r * 3 + 2])
                    alongX[r * 4] = t.0; alongX[r * 4 + 1] = t.1; alongX[r * 4 + 2] = t.2; alongX[r * 4 + 3] = t.3
                }
                for kz in 0..<3 { for a in 0..<4 {  // y 3 → 4
                    let t = g4(alongX[(kz * 3) * 4 + a], alongX[(kz * 3 + 1) * 4 + a], alongX[(kz * 3 + 2) * 4 + a])
                    alongY[(kz * 4) * 4 + a] = t.0; alongY[(kz * 4 + 1) * 4 + a] = t.1
                    alongY[(kz * 4 + 2) * 4 + a] = t.2; alongY[(kz * 4 + 3) * 4 + a] = t.3
                } }
                for ba in 0..<16 {  // z 3 → 4
                    let t = g4(alongY[ba], alongY[16 + ba], alongY[32 + ba])
                    for (c, v) in [t.0, t.1, t.2, t.3].enumerated() { ub[((c * 16 + ba) * cout + co) * cin + ci] = v }
                }
            } }
        }
        return u
    }

    /// y = conv(x, w) + b, then LeakyReLU with `slope` when given; x [N, Cin, D, H, W], w [Cout, Cin, 3, 3, 3].
    static func forward(_ x: UnsafePointer<Float>, kernel u: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                        geometry g: ConvGeometry, leakySlope: Float?, into y: UnsafeMutablePointer<Float>) {
        let tz = (g.od + 1) / 2, ty = (g.oh + 1) / 2, tx = (g.ow + 1) / 2
        // Tile rows are padded to whole vectors: the padding tiles read zeros and are never written out.
        let txp = (tx + lanes - 1) / lanes * lanes
        let rowsPerBlock = max(1, min(ty, blockTiles / txp))
        let rowBlocks = (ty + rowsPerBlock - 1) / rowsPerBlock
        let blocksPerSample = tz * rowBlocks
        let (cin, cout) = (g.cin, g.cout)
        Parallel.forEach(g.n * blocksPerSample) { job in
            let sample = job / blocksPerSample, iz = (job % blocksPerSample) / rowBlocks
            let iy0 = (job % rowBlocks) * rowsPerBlock, iy1 = min(ty, iy0 + rowsPerBlock)
            let tiles = (iy1 - iy0) * txp
            let xs = x + sample * cin * g.inVoxels
            let ys = y + sample * cout * g.outVoxels
            Workspace.with { ws in
                // Transformed inputs V [64][Cin][tiles], products M [64][Cout][tiles], then scratch:
                // 16 input rows split into even and odd x (2 · (txp + lanes) each), 128 tile rows.
                let half = txp + lanes
                let v = ws.floats(64 * (cin + cout) * tiles + 32 * half + 128 * txp)
                let m = v + 64 * cin * tiles
                let rows = m + 64 * cout * tiles
                let work = rows + 32 * half
                for ci in 0..<cin {
                    for iy in iy0..<iy1 {
                        transformInput(xs + ci * g.inVoxels, g, iz: iz, iy: iy, txp: txp, rows: rows, work: work,
                                       into: v + ci * tiles + (iy - iy0) * txp, pointStride: cin * tiles)
                    }
                }
                for p in 0..<64 {
                    BLAS.sgemm(m: cout, n: tiles, k: cin, a: u + p * cout * cin, lda: cin,
                               b: v + p * cin * tiles, ldb: tiles, c: m + p * cout * tiles, ldc: tiles)
                }
                for co in 0..<cout {
                    for iy in iy0..<iy1 {
                        transformOutput(m + co * tiles + (iy - iy0) * txp, pointStride: cout * tiles, g, iz: iz, iy: iy, txp: txp,
                                        bias: bias?[co] ?? 0, slope: leakySlope, work: work, into: ys + co * g.outVoxels)
                    }
                }
            }
        }
    }

    /// The vector the transforms work in: 8 tiles side by side along x.
    typealias Lane = SIMD8<Float>
    static let lanes = 8

    @inline(__always) private static func load(_ p: UnsafePointer<Float>) -> Lane {
        UnsafeRawPointer(p).loadUnaligned(as: Lane.self)
    }

    @inline(__always) private static func store(_ v: Lane, _ p: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(p).storeBytes(of: v, as: Lane.self)
    }

    /// Bᵀ·d for 4 vectors of tiles, into o[0], o[s], o[2s], o[3s].
    @inline(__always) private static func inputTransform(_ d0: Lane, _ d1: Lane, _ d2: Lane, _ d3: Lane,
                                                         _ o: UnsafeMutablePointer<Float>, stride s: Int) {
        store(d0 - d2, o); store(d1 + d2, o + s); store(d2 - d1, o + 2 &* s); store(d1 - d3, o + 3 &* s)
    }

    /// The 64 transformed values of every tile in tile row (iz, iy) of one input channel `plane`
    /// [D, H, W], written to `out + p · pointStride + ix` for ix < txp (padding tiles read zeros).
    /// Scratch: `rows` 32·(txp + 8), `work` 128·txp floats.
    @inline(__always)
    private static func transformInput(_ plane: UnsafePointer<Float>, _ g: ConvGeometry, iz: Int, iy: Int, txp: Int,
                                       rows: UnsafeMutablePointer<Float>, work: UnsafeMutablePointer<Float>,
                                       into out: UnsafeMutablePointer<Float>, pointStride: Int) {
        let half = txp + lanes, alongY = work + 64 * txp
        // 16 input rows z = 2iz−1…2iz+2, y = 2iy−1…2iy+2, zero outside the volume, split by x parity:
        // even[k] = x 2k−1, odd[k] = x 2k, so tile ix reads even[ix], odd[ix], even[ix+1], odd[ix+1].
        for r in 0..<16 {
            let even = rows + 2 &* r &* half, odd = even + half
            even.update(repeating: 0, count: 2 &* half)
            let z = 2 &* iz &- 1 &+ r / 4, yv = 2 &* iy &- 1 &+ r % 4
            guard z >= 0 && z < g.d && yv >= 0 && yv < g.h else { continue }
            let src = plane + (z &* g.h &+ yv) &* g.w
            var k = 0
            while 2 &* k &+ 2 &* lanes <= g.w {
                let pair = UnsafeRawPointer(src + 2 &* k).loadUnaligned(as: SIMD16<Float>.self)
                store(pair.evenHalf, odd + k); store(pair.oddHalf, even + (k &+ 1))
                k &+= lanes
            }
            for xv in (2 &* k)..<g.w {
                if xv & 1 == 0 { odd[xv >> 1] = src[xv] } else { even[(xv &+ 1) >> 1] = src[xv] }
            }
        }
        // Along x: → work[(zz·4 + yy)·4 + a][ix].
        for r in 0..<16 {
            let even = UnsafePointer(rows + 2 &* r &* half), odd = even + half
            let o = work + r &* 4 &* txp
            for ix in stride(from: 0, to: txp, by: lanes) {
                inputTransform(load(even + ix), load(odd + ix), load(even + (ix &+ 1)), load(odd + (ix &+ 1)), o + ix, stride: txp)
            }
        }
        // Along y: (zz, a) → alongY[(zz·4 + a)·4 + b][ix].
        for zz in 0..<4 { for a in 0..<4 {
            let s = UnsafePointer(work + (zz &* 16 &+ a) &* txp)
            let o = alongY + (zz &* 4 &+ a) &* 4 &* txp
            for ix in stride(from: 0, to: txp, by: lanes) {
                inputTransform(load(s + ix), load(s + (4 &* txp &+ ix)), load(s + (8 &* txp &+ ix)), load(s + (12 &* txp &+ ix)), o + ix, stride: txp)
            }
        } }
        // Along z: (b, a) → out[(c·4 + b)·4 + a].
        for b in 0..<4 { for a in 0..<4 {
            let s = UnsafePointer(alongY + (a &* 4 &+ b) &* txp)
            let o = out + (b &* 4 &+ a) &* pointStride
            for ix in stride(from: 0, to: txp, by: lanes) {
                inputTransform(load(s + ix), load(s + (16 &* txp &+ ix)), load(s + (32 &* txp &+ ix)), load(s + (48 &* txp &+ ix)), o + ix, stride: 16 &* pointStride)
            }
        } }
    }

    /// Aᵀ·m for 4 vectors of tiles: (m0 + m1 + m2, m1 − m2 − m3).
    @inline(__always) private static func outputTransform(_ m0: Lane, _ m1: Lane, _ m2: Lane, _ m3: Lane) -> (Lane, Lane) {
        (m0 + m1 + m2, m1 - m2 - m3)
    }

    /// Inverse transform of tile row (iz, iy) of one output channel: reads `m + p · pointStride + ix`,
    /// adds the bias, applies LeakyReLU, and writes the 2×2×2 outputs inside the volume to `plane` [Do, Ho, Wo].
    @inline(__always)
    private static func transformOutput(_ m: UnsafePointer<Float>, pointStride: Int, _ g: ConvGeometry, iz: Int, iy: Int, txp: Int,
                                        bias: Float, slope: Float?, work: UnsafeMutablePointer<Float>,
                                        into plane: UnsafeMutablePointer<Float>) {
        // Along z: (b, a) → work[(oz·4 + b)·4 + a][ix].
        for ba in 0..<16 {
            let s = m + ba &* pointStride, o = work + ba &* txp
            for ix in stride(from: 0, to: txp, by: lanes) {
                let (r0, r1) = outputTransform(load(s + ix), load(s + (16 &* pointStride &+ ix)), load(s + (32 &* pointStride &+ ix)), load(s + (48 &* pointStride &+ ix)))
                store(r0, o + ix); store(r1, o + (16 &* txp &+ ix))
            }
        }
        // Along y: (oz, a) → work[32 + (oz·2 + oy)·4 + a][ix].
        let yBase = work + 32 &* txp
        for oz in 0..<2 { for a in 0..<4 {
            let s = UnsafePointer(work + (oz &* 16 &+ a) &* txp)
            let o = yBase + (oz &* 8 &+ a) &* txp
            for ix in stride(from: 0, to: txp, by: lanes) {
                let (r0, r1) = outputTransform(load(s + ix), load(s + (4 &* txp &+ ix)), load(s + (8 &* txp &+ ix)), load(s + (12 &* txp &+ ix)))
                store(r0, o + ix); store(r1, o + (4 &* txp &+ ix))
            }
        } }
        // Along x, with bias and activation, interleaved into the output rows (whole vectors of
        // tiles while they fit in the row, the rest one voxel at a time).
        let biasLane = Lane(repeating: bias)
        for oz in 0..<2 {
            let z = 2 &* iz &+ oz
            guard z < g.od else { break }
            for oy in 0..<2 {
                let yv = 2 &* iy &+ oy
                guard yv < g.oh else { break }
                let s = UnsafePointer(yBase + (oz &* 2 &+ oy) &* 4 &* txp)
                let row = plane + (z &* g.oh &+ yv) &* g.ow
                var ix = 0
                while 2 &* (ix &+ lanes) <= g.ow {
                    var (a0, a1) = outputTransform(load(s + ix), load(s + (txp &+ ix)), load(s + (2 &* txp &+ ix)), load(s + (3 &* txp &+ ix)))
                    a0 += biasLane; a1 += biasLane
                    if let slope { a0.replace(with: a0 * slope, where: a0 .< 0); a1.replace(with: a1 * slope, where: a1 .< 0) }
                    var pair = SIMD16<Float>()
                    pair.evenHalf = a0; pair.oddHalf = a1
                    UnsafeMutableRawPointer(row + 2 &* ix).storeBytes(of: pair, as: SIMD16<Float>.self)
                    ix &+= lanes
                }
                while 2 &* ix < g.ow {
                    let v1 = s[txp &+ ix], v2 = s[2 &* txp &+ ix]
                    var a0 = s[ix] + v1 + v2 + bias, a1 = v1 - v2 - s[3 &* txp &+ ix] + bias
                    if let slope { if a0 < 0 { a0 *= slope }; if a1 < 0 { a1 *= slope } }
                    row[2 &* ix] = a0
                    if 2 &* ix &+ 1 < g.ow { row[2 &* ix &+ 1] = a1 }
                    ix &+= 1
                }
            }
        }
    }
}
