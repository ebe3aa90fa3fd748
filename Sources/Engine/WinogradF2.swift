/// Winograd F(2×2×2, 3×3×3) (Lavin & Gray 2016): Bᵀ = [1 0 −1 0; 0 1 1 0; 0 −1 1 0; 0 1 0 −1],
/// G = [1 0 0; ½ ½ ½; ½ −½ ½; 0 0 1], Aᵀ = [1 1 1 0; 0 1 −1 −1]; 4×4×4 input tiles, 2×2×2 outputs.
enum WinogradF2: WinogradTiling {
    typealias Lane = WinogradConvolution.Lane
    static let outputTile = 2
    static let points = 64
    static let kernelTransform: [[Float]] = [[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]]
    static let outputAdjoint: [[Float]] = [[1, 0], [1, 1], [1, -1], [0, -1]]
    static var lanes: Int { WinogradConvolution.lanes }

    /// 16 input rows split into even and odd x (2 · (txp + 8) each), then 128 tile rows.
    static func scratchFloats(txp: Int) -> Int { 32 * (txp + lanes) + 128 * txp }

    @inline(__always) private static func load(_ p: UnsafePointer<Float>) -> Lane { WinogradConvolution.load(p) }
    @inline(__always) private static func store(_ v: Lane, _ p: UnsafeMutablePointer<Float>) {
        WinogradConvolution.store(v, p)
    }

    /// Bᵀ·d for 4 vectors of tiles, into o[0], o[s], o[2s], o[3s].
    @inline(__always) private static func inputTransform(
        _ d0: Lane, _ d1: Lane, _ d2: Lane, _ d3: Lane,
        _ o: UnsafeMutablePointer<Float>, stride s: Int
    ) {
        store(d0 - d2, o)
        store(d1 + d2, o + s)
        store(d2 - d1, o + 2 &* s)
        store(d1 - d3, o + 3 &* s)
    }

    /// The 64 transformed values of every tile in tile row (iz, iy) of one input channel `plane`
    /// [D, H, W], written to `out + p · pointStride + ix` for ix < txp (padding tiles read zeros).
    /// Scratch: `rows` 32·(txp + 8), `work` 128·txp floats.
    @inline(__always)
    static func transformInput(
        _ plane: UnsafePointer<Float>, _ g: ConvGeometry, iz: Int, iy: Int, txp: Int,
        scratch: UnsafeMutablePointer<Float>, into out: UnsafeMutablePointer<Float>, pointStride: Int
    ) {
        let half = txp + lanes
        let rows = scratch
        let work = scratch + 32 * half
        let alongY = work + 64 * txp
        // 16 input rows z = 2iz−1…2iz+2, y = 2iy−1…2iy+2, zero outside the volume, split by x parity:
        // even[k] = x 2k−1, odd[k] = x 2k, so tile ix reads even[ix], odd[ix], even[ix+1], odd[ix+1].
        for r in 0..<16 {
            let even = rows + 2 &* r &* half
            let odd = even + half
            even.update(repeating: 0, count: 2 &* half)
            let z = 2 &* iz &- 1 &+ r / 4
            let yv = 2 &* iy &- 1 &+ r % 4
            guard z >= 0 && z < g.d && yv >= 0 && yv < g.h else { continue }
            let src = plane + (z &* g.h &+ yv) &* g.w
            var k = 0
            while 2 &* k &+ 2 &* lanes <= g.w {
                let pair = UnsafeRawPointer(src + 2 &* k).loadUnaligned(as: SIMD16<Float>.self)
                store(pair.evenHalf, odd + k)
                store(pair.oddHalf, even + (k &+ 1))
                k &+= lanes
            }
            for xv in (2 &* k)..<g.w {
                if xv & 1 == 0 { odd[xv >> 1] = src[xv] } else { even[(xv &+ 1) >> 1] = src[xv] }
            }
        }
        // Along x: → work[(zz·4 + yy)·4 + a][ix].
        for r in 0..<16 {
            let even = UnsafePointer(rows + 2 &* r &* half)
            let odd = even + half
            let o = work + r &* 4 &* txp
            for ix in stride(from: 0, to: txp, by: lanes) {
                inputTransform(
                    load(even + ix), load(odd + ix), load(even + (ix &+ 1)), load(odd + (ix &+ 1)), o + ix, stride: txp)
            }
        }
        // Along y: (zz, a) → alongY[(zz·4 + a)·4 + b][ix].
        for zz in 0..<4 {
            for a in 0..<4 {
                let s = UnsafePointer(work + (zz &* 16 &+ a) &* txp)
                let o = alongY + (zz &* 4 &+ a) &* 4 &* txp
                for ix in stride(from: 0, to: txp, by: lanes) {
                    inputTransform(
                        load(s + ix), load(s + (4 &* txp &+ ix)), load(s + (8 &* txp &+ ix)),
                        load(s + (12 &* txp &+ ix)), o + ix, stride: txp)
                }
            }
        }
        // Along z: (b, a) → out[(c·4 + b)·4 + a].
        for b in 0..<4 {
            for a in 0..<4 {
                let s = UnsafePointer(alongY + (a &* 4 &+ b) &* txp)
                let o = out + (b &* 4 &+ a) &* pointStride
                for ix in stride(from: 0, to: txp, by: lanes) {
                    inputTransform(
                        load(s + ix), load(s + (16 &* txp &+ ix)), load(s + (32 &* txp &+ ix)),
                        load(s + (48 &* txp &+ ix)), o + ix, stride: 16 &* pointStride)
                }
            }
        }
    }

    /// Aᵀ·m for 4 vectors of tiles: (m0 + m1 + m2, m1 − m2 − m3).
    @inline(__always) private static func outputTransform(_ m0: Lane, _ m1: Lane, _ m2: Lane, _ m3: Lane) -> (
        Lane, Lane
    ) {
        (m0 + m1 + m2, m1 - m2 - m3)
    }

    /// Inverse transform of tile row (iz, iy) of one output channel: reads `m + p · pointStride + ix`,
    /// adds the bias, applies LeakyReLU, and writes the 2×2×2 outputs inside the volume to `plane` [Do, Ho, Wo].
    @inline(__always)
    static func transformOutput(
        _ m: UnsafePointer<Float>, pointStride: Int, _ g: ConvGeometry, iz: Int, iy: Int, txp: Int,
        bias: Float, slope: Float?, scratch: UnsafeMutablePointer<Float>, into plane: UnsafeMutablePointer<Float>
    ) {
        let work = scratch
        // Along z: (b, a) → work[(oz·4 + b)·4 + a][ix].
        for ba in 0..<16 {
            let s = m + ba &* pointStride
            let o = work + ba &* txp
            for ix in stride(from: 0, to: txp, by: lanes) {
                let (r0, r1) = outputTransform(
                    load(s + ix), load(s + (16 &* pointStride &+ ix)), load(s + (32 &* pointStride &+ ix)),
                    load(s + (48 &* pointStride &+ ix)))
                store(r0, o + ix)
                store(r1, o + (16 &* txp &+ ix))
            }
        }
        // Along y: (oz, a) → work[32 + (oz·2 + oy)·4 + a][ix].
        let yBase = work + 32 &* txp
        for oz in 0..<2 {
            for a in 0..<4 {
                let s = UnsafePointer(work + (oz &* 16 &+ a) &* txp)
                let o = yBase + (oz &* 8 &+ a) &* txp
                for ix in stride(from: 0, to: txp, by: lanes) {
                    let (r0, r1) = outputTransform(
                        load(s + ix), load(s + (4 &* txp &+ ix)), load(s + (8 &* txp &+ ix)),
                        load(s + (12 &* txp &+ ix)))
                    store(r0, o + ix)
                    store(r1, o + (4 &* txp &+ ix))
                }
            }
        }
        // Along x, with bias and activation, interleaved into the output rows (whole vectors of
        // tiles while they fit in the row, the rest one voxel at a time).
        let biasLane = Lane(repeating: bias)
        WinogradConvolution.forEachOutputRow(g, m: 2, iz: iz, iy: iy, plane: plane) { r, row in
            let s = UnsafePointer(yBase + r &* 4 &* txp)
            var ix = 0
            while 2 &* (ix &+ lanes) <= g.ow {
                let (a0, a1) = outputTransform(
                    load(s + ix), load(s + (txp &+ ix)), load(s + (2 &* txp &+ ix)), load(s + (3 &* txp &+ ix)))
                var pair = SIMD16<Float>()
                pair.evenHalf = WinogradConvolution.activate(a0 + biasLane, slope)
                pair.oddHalf = WinogradConvolution.activate(a1 + biasLane, slope)
                UnsafeMutableRawPointer(row + 2 &* ix).storeBytes(of: pair, as: SIMD16<Float>.self)
                ix &+= lanes
            }
            while 2 &* ix < g.ow {
                let v1 = s[txp &+ ix]
                let v2 = s[2 &* txp &+ ix]
                var a0 = s[ix] + v1 + v2 + bias
                var a1 = v1 - v2 - s[3 &* txp &+ ix] + bias
                if let slope {
                    if a0 < 0 { a0 *= slope }
                    if a1 < 0 { a1 *= slope }
                }
                row[2 &* ix] = a0
                if 2 &* ix &+ 1 < g.ow { row[2 &* ix &+ 1] = a1 }
                ix &+= 1
            }
        }
    }
}
