import Voxels

/// 2×2×2 pooling with stride 2 over [N, C, D, H, W] (odd trailing planes are dropped, as PyTorch does).
public enum Pooling {
    static func outputShape(_ s: [Int]) -> [Int] {
        precondition(
            s.count == 5 && s[2] >= 2 && s[3] >= 2 && s[4] >= 2, "pooling needs [N, C, D≥2, H≥2, W≥2], not \(s)")
        return [s[0], s[1], s[2] / 2, s[3] / 2, s[4] / 2]
    }

    /// 0, 1, …, 7: lane offsets of eight consecutive outputs.
    static let lanes = SIMD8<Int32>(0, 1, 2, 3, 4, 5, 6, 7)

    /// Max pooling; also returns, per output voxel, the input offset of the maximum (for backward).
    public static func max(_ x: Tensor) -> (Tensor, [Int32]) {
        let s = x.shape
        let o = outputShape(s)
        var y = Tensor(uninitialized: o)
        var argmax = [Int32](repeating: 0, count: y.count)
        let (d, h, w) = (s[2], s[3], s[4])
        let (od, oh, ow) = (o[2], o[3], o[4])
        x.withUnsafeBufferPointer { xb in
            y.withUnsafeMutableBufferPointer { yb in
                argmax.withUnsafeMutableBufferPointer { ab in
                    let xp = xb.baseAddress!
                    let yp = yb.baseAddress!
                    let ap = ab.baseAddress!
                    // Planes (n, c) on all cores; each writes only its own outputs.
                    Parallel.forEach(s[0] * s[1]) { plane in
                        let xin = plane &* d &* h &* w
                        let yout = plane &* od &* oh &* ow
                        for z in 0..<od {
                            for yy in 0..<oh {
                                // Eight outputs at a time; candidates in the same order as the scalar loop below,
                                // and the same rule: a larger value, or the first NaN, wins.
                                var xx = 0
                                while xx &+ 8 <= ow, 2 &* xx &+ 16 <= w {
                                    var best = SIMD8<Float>(repeating: -.infinity)
                                    var at = SIMD8<Int32>(repeating: 0)
                                    for dz in 0..<2 {
                                        for dy in 0..<2 {
                                            let row = xin &+ ((2 &* z &+ dz) &* h &+ 2 &* yy &+ dy) &* w &+ 2 &* xx
                                            let pair = UnsafeRawPointer(xp + row).loadUnaligned(as: SIMD16<Float>.self)
                                            for dx in 0..<2 {
                                                let v = dx == 0 ? pair.evenHalf : pair.oddHalf
                                                let wins = (v .> best) .| ((v .!= v) .& (best .== best))
                                                best.replace(with: v, where: wins)
                                                at.replace(
                                                    with: Self.lanes &* 2 &+ Int32(truncatingIfNeeded: row &+ dx),
                                                    where: wins)
                                            }
                                        }
                                    }
                                    let j = yout &+ (z &* oh &+ yy) &* ow &+ xx
                                    UnsafeMutableRawPointer(yp + j).storeBytes(of: best, as: SIMD8<Float>.self)
                                    UnsafeMutableRawPointer(ap + j).storeBytes(of: at, as: SIMD8<Int32>.self)
                                    xx &+= 8
                                }
                                for xx in xx..<ow {
                                    var best = -Float.infinity
                                    var at = 0
                                    for dz in 0..<2 {
                                        for dy in 0..<2 {
                                            for dx in 0..<2 {
                                                let i =
                                                    xin &+ ((2 &* z &+ dz) &* h &+ 2 &* yy &+ dy) &* w &+ 2 &* xx &+ dx
                                                if xp[i] > best || (xp[i].isNaN && !best.isNaN) {
                                                    best = xp[i]
                                                    at = i
                                                }
                                            }
                                        }
                                    }
                                    let j = yout &+ (z &* oh &+ yy) &* ow &+ xx
                                    yp[j] = best
                                    ap[j] = Int32(at)
                                }
                            }
                        }
                    }
                }
            }
        }
        return (y, argmax)
    }

    /// Gradient of max pooling: each output gradient goes to its argmax.
    public static func maxBackward(_ dy: Tensor, argmax: [Int32], inputShape: [Int]) -> Tensor {
        var dx = Tensor(zeros: inputShape)
        dy.withUnsafeBufferPointer { g in
            dx.withUnsafeMutableBufferPointer { d in
                for j in 0..<g.count { d[Int(argmax[j])] += g[j] }
            }
        }
        return dx
    }

    /// Average pooling.
    public static func average(_ x: Tensor) -> Tensor {
        let s = x.shape
        let o = outputShape(s)
        var y = Tensor(zeros: o)
        let (d, h, w) = (s[2], s[3], s[4])
        let (od, oh, ow) = (o[2], o[3], o[4])
        x.withUnsafeBufferPointer { xp in
            y.withUnsafeMutableBufferPointer { yp in
                for plane in 0..<(s[0] * s[1]) {
                    for z in 0..<od {
                        for yy in 0..<oh {
                            for xx in 0..<ow {
                                var acc: Float = 0
                                for dz in 0..<2 {
                                    for dy in 0..<2 {
                                        for dx in 0..<2 {
                                            acc +=
                                                xp[
                                                    plane * d * h * w + ((2 * z + dz) * h + 2 * yy + dy) * w + 2 * xx
                                                        + dx]
                                        }
                                    }
                                }
                                yp[plane * od * oh * ow + (z * oh + yy) * ow + xx] = acc / 8
                            }
                        }
                    }
                }
            }
        }
        return y
    }

    /// Gradient of average pooling.
    public static func averageBackward(_ dy: Tensor, inputShape s: [Int]) -> Tensor {
        var dx = Tensor(zeros: s)
        let o = outputShape(s)
        let (d, h, w) = (s[2], s[3], s[4])
        let (od, oh, ow) = (o[2], o[3], o[4])
        dy.withUnsafeBufferPointer { g in
            dx.withUnsafeMutableBufferPointer { xp in
                for plane in 0..<(s[0] * s[1]) {
                    for z in 0..<od {
                        for yy in 0..<oh {
                            for xx in 0..<ow {
                                let v = g[plane * od * oh * ow + (z * oh + yy) * ow + xx] / 8
                                for dz in 0..<2 {
                                    for dy in 0..<2 {
                                        let row = plane * d * h * w + ((2 * z + dz) * h + 2 * yy + dy) * w + 2 * xx
                                        for dx in 0..<2 { xp[row + dx] += v }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        return dx
    }
}
