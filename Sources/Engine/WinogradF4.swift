/// Winograd F(4×4×4, 3×3×3) (Lavin & Gray 2016, interpolation points 0, ±1, ±2, ∞):
/// Bᵀ = [4 0 −5 0 1 0; 0 −4 −4 1 1 0; 0 4 −4 −1 1 0; 0 −2 −1 2 1 0; 0 2 −1 −2 1 0; 0 4 0 −5 0 1],
/// G = [¼ 0 0; −⅙ −⅙ −⅙; −⅙ ⅙ −⅙; 1⁄24 1⁄12 ⅙; 1⁄24 −1⁄12 ⅙; 0 0 1],
/// Aᵀ = [1 1 1 1 1 0; 0 1 −1 2 −2 0; 0 1 1 4 4 0; 0 1 −1 8 −8 1]; 6×6×6 input tiles, 4×4×4 outputs.
enum WinogradF4: WinogradTiling {
    typealias Lane = WinogradConvolution.Lane
    static let outputTile = 4
    static let points = 216
    static let kernelTransform: [[Float]] = [
        [0.25, 0, 0], [-1.0 / 6, -1.0 / 6, -1.0 / 6], [-1.0 / 6, 1.0 / 6, -1.0 / 6],
        [1.0 / 24, 1.0 / 12, 1.0 / 6], [1.0 / 24, -1.0 / 12, 1.0 / 6], [0, 0, 1],
    ]
    static let outputAdjoint: [[Float]] = [
        [1, 0, 0, 0], [1, 1, 1, 1], [1, -1, 1, -1], [1, 2, 4, 8], [1, -2, 4, -8], [0, 0, 0, 1],
    ]
    static var lanes: Int { WinogradConvolution.lanes }

    /// 36 input rows split by x mod 4 (4 · (txp + 8) each), then two sets of 216 tile rows.
    static func scratchFloats(txp: Int) -> Int { 144 * (txp + lanes) + 432 * txp }

    @inline(__always) private static func load(_ p: UnsafePointer<Float>) -> Lane { WinogradConvolution.load(p) }
    @inline(__always) private static func store(_ v: Lane, _ p: UnsafeMutablePointer<Float>) {
        WinogradConvolution.store(v, p)
    }

    /// Bᵀ·d for 6 vectors of tiles at s[0], s[ss], …, s[5ss], into o[0], o[os], …, o[5os].
    @inline(__always) private static func inputTransform(
        _ s: UnsafePointer<Float>, _ ss: Int, _ o: UnsafeMutablePointer<Float>, _ os: Int
    ) {
        let d0 = load(s)
        let d1 = load(s + ss)
        let d2 = load(s + 2 &* ss)
        let d3 = load(s + 3 &* ss)
        let d4 = load(s + 4 &* ss)
        let d5 = load(s + 5 &* ss)
        let four: Float = 4
        let five: Float = 5
        let two: Float = 2
        store(four * d0 - five * d2 + d4, o)
        store(d4 + d3 - four * (d1 + d2), o + os)
        store(d4 - d3 + four * (d1 - d2), o + 2 &* os)
        store(d4 - d2 + two * (d3 - d1), o + 3 &* os)
        store(d4 - d2 - two * (d3 - d1), o + 4 &* os)
        store(four * d1 - five * d3 + d5, o + 5 &* os)
    }

    static func transformInput(
        _ plane: UnsafePointer<Float>, _ g: ConvGeometry, iz: Int, iy: Int, txp: Int,
        scratch: UnsafeMutablePointer<Float>, into out: UnsafeMutablePointer<Float>, pointStride: Int
    ) {
        let phaseLength = txp + lanes
        let rows = scratch
        let alongX = scratch + 144 * phaseLength
        let alongY = alongX + 216 * txp
        // 36 input rows z = 4iz−1…4iz+4, y = 4iy−1…4iy+4, zero outside the volume, split by x mod 4:
        // phase r holds x = 4k + r − 1 at k, so tile ix reads phases 0–3 at ix, then 0 and 1 at ix + 1.
        for r in 0..<36 {
            let p0 = rows + 4 &* r &* phaseLength
            let p1 = p0 + phaseLength
            let p2 = p1 + phaseLength
            let p3 = p2 + phaseLength
            let z = 4 &* iz &- 1 &+ r / 6
            let yv = 4 &* iy &- 1 &+ r % 6
            guard z >= 0 && z < g.d && yv >= 0 && yv < g.h else {
                p0.update(repeating: 0, count: 4 &* phaseLength)
                continue
            }
            // Zeros where no voxel lands (x = −1, and from x = w on up to the last index read, txp);
            // the voxels overwrite the rest.
            p0[0] = 0
            let tail = max(0, g.w / 4 &- 1)
            let count = txp &+ 1 &- tail
            (p0 + tail).update(repeating: 0, count: count)
            (p1 + tail).update(repeating: 0, count: count)
            (p2 + tail).update(repeating: 0, count: count)
            (p3 + tail).update(repeating: 0, count: count)
            let src = plane + (z &* g.h &+ yv) &* g.w
            var k = 0
            while 4 &* k &+ 4 &* lanes <= g.w {
                let v = UnsafeRawPointer(src + 4 &* k).loadUnaligned(as: SIMD32<Float>.self)
                store(v.evenHalf.evenHalf, p1 + k)
                store(v.oddHalf.evenHalf, p2 + k)
                store(v.evenHalf.oddHalf, p3 + k)
                store(v.oddHalf.oddHalf, p0 + (k &+ 1))
                k &+= lanes
            }
            for xv in (4 &* k)..<g.w { (p0 + ((xv &+ 1) & 3) &* phaseLength)[(xv &+ 1) >> 2] = src[xv] }
        }
        // Along x: row r → alongX[r·6 + a].
        for r in 0..<36 {
            let p0 = UnsafePointer(rows + 4 &* r &* phaseLength)
            let o = alongX + r &* 6 &* txp
            for ix in stride(from: 0, to: txp, by: lanes) {
                // The six inputs of tile ix: phases 0, 1, 2, 3 at ix, phases 0, 1 at ix + 1.
                let d0 = load(p0 + ix)
                let d1 = load(p0 + (phaseLength &+ ix))
                let d2 = load(p0 + (2 &* phaseLength &+ ix))
                let d3 = load(p0 + (3 &* phaseLength &+ ix))
                let d4 = load(p0 + (ix &+ 1))
                let d5 = load(p0 + (phaseLength &+ ix &+ 1))
                let four: Float = 4
                let five: Float = 5
                let two: Float = 2
                store(four * d0 - five * d2 + d4, o + ix)
                store(d4 + d3 - four * (d1 + d2), o + (txp &+ ix))
                store(d4 - d3 + four * (d1 - d2), o + (2 &* txp &+ ix))
                store(d4 - d2 + two * (d3 - d1), o + (3 &* txp &+ ix))
                store(d4 - d2 - two * (d3 - d1), o + (4 &* txp &+ ix))
                store(four * d1 - five * d3 + d5, o + (5 &* txp &+ ix))
            }
        }
        // Along y: (zz, a) over yy → alongY[(zz·6 + a)·6 + b].
        for zz in 0..<6 {
            for a in 0..<6 {
                let s = UnsafePointer(alongX + (zz &* 36 &+ a) &* txp)
                let o = alongY + (zz &* 6 &+ a) &* 6 &* txp
                for ix in stride(from: 0, to: txp, by: lanes) { inputTransform(s + ix, 6 &* txp, o + ix, txp) }
            }
        }
        // Along z: (b, a) over zz → out[(c·6 + b)·6 + a].
        for b in 0..<6 {
            for a in 0..<6 {
                let s = UnsafePointer(alongY + (a &* 6 &+ b) &* txp)
                let o = out + (b &* 6 &+ a) &* pointStride
                for ix in stride(from: 0, to: txp, by: lanes) {
                    inputTransform(s + ix, 36 &* txp, o + ix, 36 &* pointStride)
                }
            }
        }
    }

    /// Aᵀ·m for 6 vectors of tiles at s[0], s[ss], …, s[5ss]: the 4 outputs.
    @inline(__always) private static func outputTransform(_ s: UnsafePointer<Float>, _ ss: Int) -> (
        Lane, Lane, Lane, Lane
    ) {
        let m1 = load(s + ss)
        let m2 = load(s + 2 &* ss)
        let m3 = load(s + 3 &* ss)
        let m4 = load(s + 4 &* ss)
        let sum12 = m1 + m2
        let dif12 = m1 - m2
        let sum34 = m3 + m4
        let dif34 = m3 - m4
        let two: Float = 2
        let four: Float = 4
        let eight: Float = 8
        return (
            load(s) + sum12 + sum34, dif12 + two * dif34, sum12 + four * sum34,
            dif12 + eight * dif34 + load(s + 5 &* ss)
        )
    }

    static func transformOutput(
        _ m: UnsafePointer<Float>, pointStride: Int, _ g: ConvGeometry, iz: Int, iy: Int, txp: Int,
        bias: Float, slope: Float?, scratch: UnsafeMutablePointer<Float>, into plane: UnsafeMutablePointer<Float>
    ) {
        let alongZ = scratch
        let alongY = scratch + 144 * txp
        // Along z: (b, a) over c → alongZ[oz·36 + ba].
        for ba in 0..<36 {
            let s = m + ba &* pointStride
            let o = alongZ + ba &* txp
            for ix in stride(from: 0, to: txp, by: lanes) {
                let r = outputTransform(s + ix, 36 &* pointStride)
                store(r.0, o + ix)
                store(r.1, o + (36 &* txp &+ ix))
                store(r.2, o + (72 &* txp &+ ix))
                store(r.3, o + (108 &* txp &+ ix))
            }
        }
        // Along y: (oz, a) over b → alongY[(oz·4 + oy)·6 + a].
        for oz in 0..<4 {
            for a in 0..<6 {
                let s = UnsafePointer(alongZ + (oz &* 36 &+ a) &* txp)
                let o = alongY + (oz &* 24 &+ a) &* txp
                for ix in stride(from: 0, to: txp, by: lanes) {
                    let r = outputTransform(s + ix, 6 &* txp)
                    store(r.0, o + ix)
                    store(r.1, o + (6 &* txp &+ ix))
                    store(r.2, o + (12 &* txp &+ ix))
                    store(r.3, o + (18 &* txp &+ ix))
                }
            }
        }
        // Along x, with bias and activation, four voxels per tile into the output rows (whole vectors
        // of tiles while they fit in the row, the rest one tile at a time).
        let biasLane = Lane(repeating: bias)
        WinogradConvolution.forEachOutputRow(g, m: 4, iz: iz, iy: iy, plane: plane) { r, row in
            let s = UnsafePointer(alongY + r &* 6 &* txp)
            var ix = 0
            while 4 &* (ix &+ lanes) <= g.ow {
                let t = outputTransform(s + ix, txp)
                var evens = SIMD16<Float>()
                var odds = SIMD16<Float>()
                var all = SIMD32<Float>()
                evens.evenHalf = WinogradConvolution.activate(t.0 + biasLane, slope)
                evens.oddHalf = WinogradConvolution.activate(t.2 + biasLane, slope)
                odds.evenHalf = WinogradConvolution.activate(t.1 + biasLane, slope)
                odds.oddHalf = WinogradConvolution.activate(t.3 + biasLane, slope)
                all.evenHalf = evens
                all.oddHalf = odds
                UnsafeMutableRawPointer(row + 4 &* ix).storeBytes(of: all, as: SIMD32<Float>.self)
                ix &+= lanes
            }
            while 4 &* ix < g.ow {
                let e = (0..<6).map { s[$0 &* txp &+ ix] }
                let sum12 = e[1] + e[2]
                let dif12 = e[1] - e[2]
                let sum34 = e[3] + e[4]
                let dif34 = e[3] - e[4]
                let values = [e[0] + sum12 + sum34, dif12 + 2 * dif34, sum12 + 4 * sum34, dif12 + 8 * dif34 + e[5]]
                for q in 0..<min(4, g.ow &- 4 &* ix) {
                    var v = values[q] + bias
                    if let slope, v < 0 { v *= slope }
                    row[4 &* ix &+ q] = v
                }
                ix &+= 1
            }
        }
    }
}
