import Voxels

/// Transposed 3D convolution with kernel 2 and stride 2 (up-sampling by 2 along z, y, x), as one
/// GEMM per sample: Z[Cout·8, V] = Wᵀ · X[Cin, V], then each of the 8 kernel offsets scattered into
/// its sub-lattice of the output. Weights are [Cin, Cout, 2, 2, 2] (PyTorch's ConvTranspose3d layout).
public enum TransposedConvolution {
    /// y [N, Cout, 2D, 2H, 2W] from x [N, Cin, D, H, W].
    public static func forward(_ x: Tensor, weight: Tensor, bias: Tensor?) -> Tensor {
        _ = EngineThreads.configured
        let s = x.shape
        let cin = s[1]
        let cout = weight.shape[1]
        precondition(weight.shape == [cin, cout, 2, 2, 2], "weight \(weight.shape) does not match input \(s)")
        let (d, h, w) = (s[2], s[3], s[4])
        let v = d * h * w
        var y = Tensor(uninitialized: [s[0], cout, 2 * d, 2 * h, 2 * w])
        let yp = y.withUnsafeMutableBufferPointer { $0.baseAddress! }
        let planes = d  // parallel over input z-planes
        x.withUnsafeBufferPointer { xb in
            weight.withUnsafeBufferPointer { wb in
                let bp = bias?.withUnsafeBufferPointer { $0.baseAddress! }
                Parallel.forEach(s[0] * planes) { job in
                    let sample = job / planes
                    let z = job % planes
                    let hw = h * w
                    Workspace.with { ws in
                        let zbuf = ws.floats(cout * 8 * hw)
                        BLAS.sgemm(
                            transA: true, m: cout * 8, n: hw, k: cin, a: wb.baseAddress!, lda: cout * 8,
                            b: xb.baseAddress! + sample * cin * v + z * hw, ldb: v, c: zbuf, ldc: hw)
                        let ys = yp + sample * cout * 8 * v
                        for co in 0..<cout {
                            let b = bp?[co] ?? 0
                            for a in 0..<2 {
                                for bb in 0..<2 {
                                    for c in 0..<2 {
                                        let src = zbuf + (co * 8 + a * 4 + bb * 2 + c) * hw
                                        for yy in 0..<h {
                                            let dst = ys + co * 8 * v + ((2 * z + a) * 2 * h + 2 * yy + bb) * 2 * w + c
                                            for xx in 0..<w { dst[2 * xx] = src[yy * w + xx] + b }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        return y
    }

    /// Gradients (dx, dw, db) from dy [N, Cout, 2D, 2H, 2W].
    public static func backward(_ x: Tensor, weight: Tensor, outputGradient dy: Tensor) -> (
        dx: Tensor, dw: Tensor, db: Tensor
    ) {
        _ = EngineThreads.configured
        let s = x.shape
        let n = s[0]
        let cin = s[1]
        let cout = weight.shape[1]
        let (d, h, w) = (s[2], s[3], s[4])
        let v = d * h * w
        var dx = Tensor(uninitialized: s)
        let dxp = dx.withUnsafeMutableBufferPointer { $0.baseAddress! }
        var dw = Tensor(zeros: weight.shape)
        // Gather dZ[Cout·8, V] per sample, then dX = W · dZ and dW += X · dZᵀ.
        var dz = Tensor(uninitialized: [cout * 8, v])
        dy.withUnsafeBufferPointer { g in
            x.withUnsafeBufferPointer { xb in
                weight.withUnsafeBufferPointer { wb in
                    for sample in 0..<n {
                        let gs = g.baseAddress! + sample * cout * 8 * v
                        dz.withUnsafeMutableBufferPointer { zp in
                            let zbase = zp.baseAddress!
                            Parallel.forEach(cout) { co in
                                for a in 0..<2 {
                                    for bb in 0..<2 {
                                        for c in 0..<2 {
                                            let dst = zbase + (co * 8 + a * 4 + bb * 2 + c) * v
                                            for z in 0..<d {
                                                for yy in 0..<h {
                                                    let src =
                                                        gs + co * 8 * v + ((2 * z + a) * 2 * h + 2 * yy + bb) * 2 * w
                                                        + c
                                                    let row = dst + (z * h + yy) * w
                                                    for xx in 0..<w { row[xx] = src[2 * xx] }
                                                }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                        dz.withUnsafeBufferPointer { zp in
                            let blocks = EngineThreads.count
                            Parallel.forEach(blocks) { t in
                                let lo = t * v / blocks
                                let hi = (t + 1) * v / blocks
                                BLAS.sgemm(
                                    m: cin, n: hi - lo, k: cout * 8, a: wb.baseAddress!, lda: cout * 8,
                                    b: zp.baseAddress! + lo, ldb: v,
                                    c: dxp + sample * cin * v + lo, ldc: v)
                            }
                            dw.withUnsafeMutableBufferPointer { wp in
                                BLAS.sgemm(
                                    transB: true, m: cin, n: cout * 8, k: v, a: xb.baseAddress! + sample * cin * v,
                                    lda: v,
                                    b: zp.baseAddress!, ldb: v, beta: 1, c: wp.baseAddress!, ldc: cout * 8)
                            }
                        }
                    }
                }
            }
        }
        return (dx, dw, Convolution.channelSums(dy))
    }
}
