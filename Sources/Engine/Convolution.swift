import Foundation
import Voxels

/// The geometry of a 3D convolution over [N, C, D, H, W] tensors: cubic kernel `k`, stride `s`,
/// zero padding `p` on every side (k / 2 for "same" convolutions).
public struct ConvGeometry: Equatable, Sendable {
    public let n: Int, cin: Int, cout: Int
    public let d: Int, h: Int, w: Int
    public let k: Int, stride: Int, pad: Int
    public var od: Int { (d + 2 * pad - k) / stride + 1 }
    public var oh: Int { (h + 2 * pad - k) / stride + 1 }
    public var ow: Int { (w + 2 * pad - k) / stride + 1 }
    /// Input voxels per channel.
    public var inVoxels: Int { d * h * w }
    /// Output voxels per channel.
    public var outVoxels: Int { od * oh * ow }
    /// Rows of the im2col matrix (Cin·k³).
    public var patch: Int { cin * k * k * k }
    /// True for a 1×1×1 stride-1 convolution, which needs no im2col.
    var isPointwise: Bool { k == 1 && stride == 1 && pad == 0 }

    public init(input: [Int], cout: Int, k: Int, stride: Int, pad: Int) {
        precondition(input.count == 5, "convolution input must be [N, C, D, H, W], not \(input)")
        n = input[0]
        cin = input[1]
        d = input[2]
        h = input[3]
        w = input[4]
        self.cout = cout
        self.k = k
        self.stride = stride
        self.pad = pad
        precondition(od > 0 && oh > 0 && ow > 0, "convolution output would be empty for input \(input)")
    }

    /// Output rows (oz, oy) per block: about `blockVoxels` output voxels (the size at which sgemm
    /// runs best here), but small enough that every core gets at least two blocks of one sample.
    /// The split never depends on the batch size: sgemm's rounding depends on its block shape, so a
    /// sample's result must not change with the samples batched beside it (overlap tiles are
    /// batched differently depending on the box asked for).
    var rowsPerBlock: Int {
        let byCache = max(1, ConvGeometry.blockVoxels / ow)
        let byCores = max(1, (rowCount + 2 * EngineThreads.count - 1) / (2 * EngineThreads.count))
        return min(byCache, byCores)
    }
    static let blockVoxels: Int = Int(ProcessInfo.processInfo.environment["TOMOSTORE_CONV_BLOCK"] ?? "") ?? 2048
    var rowCount: Int { od * oh }
    var blockCount: Int { (rowCount + rowsPerBlock - 1) / rowsPerBlock }
    func rows(ofBlock b: Int) -> Range<Int> { (b * rowsPerBlock)..<min(rowCount, (b + 1) * rowsPerBlock) }

    /// The output x range lo..<hi whose input column ox·stride + kx − pad lies inside 0..<w.
    func validColumns(kx: Int) -> (lo: Int, hi: Int) {
        let lo = min(ow, max(0, (pad - kx + stride - 1) / stride))
        return (lo, max(lo, min(ow, (w - 1 + pad - kx) / stride + 1)))
    }

    /// Fills cols[patch][rows.count · ow] with the input patches of the given output rows
    /// (zero outside the volume). `x` points at one sample's [Cin, D, H, W].
    func im2col(_ x: UnsafePointer<Float>, rows: Range<Int>, into cols: UnsafeMutablePointer<Float>) {
        let nb = rows.count * ow
        for ci in 0..<cin {
            let plane = x + ci * inVoxels
            for kz in 0..<k {
                for ky in 0..<k {
                    for kx in 0..<k {
                        let r = ((ci * k + kz) * k + ky) * k + kx
                        var dst = cols + r * nb
                        let (lo, hi) = validColumns(kx: kx)
                        for row in rows {
                            let oz = row / oh
                            let oy = row % oh
                            let zi = oz * stride + kz - pad
                            let yi = oy * stride + ky - pad
                            if zi < 0 || zi >= d || yi < 0 || yi >= h {
                                dst.update(repeating: 0, count: ow)
                            } else {
                                let src = plane + (zi * h + yi) * w
                                if lo > 0 { dst.update(repeating: 0, count: lo) }
                                if stride == 1 {
                                    (dst + lo).update(from: src + (lo + kx - pad), count: hi - lo)
                                } else {
                                    var xi = lo * stride + kx - pad
                                    for ox in lo..<hi {
                                        dst[ox] = src[xi]
                                        xi += stride
                                    }
                                }
                                if hi < ow { (dst + hi).update(repeating: 0, count: ow - hi) }
                            }
                            dst += ow
                        }
                    }
                }
            }
        }
    }

    /// Adds dcols[patch][rows.count · ow] back into dx (one sample's [Cin, D, H, W]): the adjoint of im2col.
    func col2im(_ dcols: UnsafePointer<Float>, rows: Range<Int>, into dx: UnsafeMutablePointer<Float>) {
        let nb = rows.count * ow
        for ci in 0..<cin {
            let plane = dx + ci * inVoxels
            for kz in 0..<k {
                for ky in 0..<k {
                    for kx in 0..<k {
                        let r = ((ci * k + kz) * k + ky) * k + kx
                        var src = dcols + r * nb
                        let (lo, hi) = validColumns(kx: kx)
                        for row in rows {
                            let oz = row / oh
                            let oy = row % oh
                            let zi = oz * stride + kz - pad
                            let yi = oy * stride + ky - pad
                            if zi >= 0 && zi < d && yi >= 0 && yi < h {
                                let dst = plane + (zi * h + yi) * w
                                var xi = lo * stride + kx - pad
                                for ox in lo..<hi {
                                    dst[xi] += src[ox]
                                    xi += stride
                                }
                            }
                            src += ow
                        }
                    }
                }
            }
        }
    }
}

/// 3D convolution kernels: 3×3×3 stride-1 "same" ones by Winograd (`WinogradConvolution`), every
/// other geometry by im2col of blocks of about 2048 output voxels + single-threaded sgemm per
/// block; blocks spread over all cores, bias (and LeakyReLU) fused while a block is in cache.
public enum Convolution {
    /// How 3×3×3 stride-1 "same" convolutions are computed: Winograd (`WinogradConvolution`, the
    /// default, 3.4–8× fewer multiplications) or im2col + sgemm (every other geometry uses im2col).
    public enum Algorithm: Sendable { case winograd, im2col }

    /// y = conv(x, w) + b, then LeakyReLU with `slope` when given (fused into each block while it is
    /// in cache). x [N, Cin, D, H, W], w [Cout, Cin, k, k, k], b [Cout] or nil.
    public static func forward(
        _ x: Tensor, weight: Tensor, bias: Tensor?, stride: Int = 1, pad: Int? = nil, leakySlope: Float? = nil,
        algorithm: Algorithm = .winograd
    ) -> Tensor {
        forward(
            x, weight: weight, bias: bias, stride: stride, pad: pad, leakySlope: leakySlope, algorithm: algorithm,
            transientWeight: false)
    }

    /// `forward`; `transientWeight` marks a kernel made for this one call (the flipped kernel of an
    /// input gradient), whose Winograd transform is not worth keeping in the cache.
    static func forward(
        _ x: Tensor, weight: Tensor, bias: Tensor?, stride: Int, pad: Int?, leakySlope: Float?,
        algorithm: Algorithm, transientWeight: Bool
    ) -> Tensor {
        _ = EngineThreads.configured
        let k = weight.shape[2]
        let g = ConvGeometry(input: x.shape, cout: weight.shape[0], k: k, stride: stride, pad: pad ?? k / 2)
        precondition(
            weight.shape == [g.cout, g.cin, k, k, k], "weight \(weight.shape) does not match input \(x.shape)")
        var y = Tensor(uninitialized: [g.n, g.cout, g.od, g.oh, g.ow])
        let yp = y.withUnsafeMutableBufferPointer { $0.baseAddress! }
        if algorithm == .winograd && WinogradConvolution.applies(to: g) {
            x.withUnsafeBufferPointer { xb in
                weight.withUnsafeBufferPointer { wb in
                    WinogradConvolution.forward(
                        xb.baseAddress!, weight: wb.baseAddress!,
                        bias: bias?.withUnsafeBufferPointer { $0.baseAddress! },
                        geometry: g, leakySlope: leakySlope, into: yp, cacheKernel: !transientWeight)
                }
            }
            return y
        }
        x.withUnsafeBufferPointer { xb in
            weight.withUnsafeBufferPointer { wb in
                let bp = bias?.withUnsafeBufferPointer { $0.baseAddress! }
                let jobs = g.n * g.blockCount
                Parallel.forEach(jobs) { job in
                    let sample = job / g.blockCount
                    let rows = g.rows(ofBlock: job % g.blockCount)
                    let xs = xb.baseAddress! + sample * g.cin * g.inVoxels
                    let ys = yp + sample * g.cout * g.outVoxels + rows.lowerBound * g.ow
                    let nb = rows.count * g.ow
                    Workspace.with { ws in
                        let cols: UnsafePointer<Float>
                        let ldb: Int
                        if g.isPointwise {
                            cols = xs + rows.lowerBound * g.ow
                            ldb = g.inVoxels
                        } else {
                            let buffer = ws.floats(g.patch * nb)
                            g.im2col(xs, rows: rows, into: buffer)
                            cols = UnsafePointer(buffer)
                            ldb = nb
                        }
                        BLAS.sgemm(
                            m: g.cout, n: nb, k: g.patch, a: wb.baseAddress!, lda: g.patch, b: cols, ldb: ldb, c: ys,
                            ldc: g.outVoxels)
                    }
                    for co in 0..<g.cout {
                        let row = ys + co * g.outVoxels
                        let value = bp?[co] ?? 0
                        if let slope = leakySlope {
                            for i in 0..<nb {
                                let v = row[i] + value
                                row[i] = v > 0 ? v : slope * v
                            }
                        } else if bp != nil {
                            for i in 0..<nb { row[i] += value }
                        }
                    }
                }
            }
        }
        return y
    }

    /// Gradients of `forward`: (dx, dw, db) from dy [N, Cout, Do, Ho, Wo].
    ///
    /// For 3×3×3 stride-1 "same" convolutions (with `.winograd`), dW is computed in the Winograd
    /// domain (`WinogradConvolution.weightGradient`). Otherwise dW accumulates dY_block · cols_blockᵀ
    /// per thread (im2col recomputed block by block). For
    /// stride 1, dX is itself a convolution — of dY with the spatially flipped, channel-transposed
    /// kernel and padding k − 1 − p — computed by `forward` (gather, no scatter-add); for stride 2,
    /// dX = col2im(Wᵀ · dY) with per-thread partial sums.
    public static func backward(
        _ x: Tensor, weight: Tensor, outputGradient dy: Tensor, stride: Int = 1, pad: Int? = nil,
        needInput: Bool = true,
        algorithm: Algorithm = .winograd
    ) -> (dx: Tensor?, dw: Tensor, db: Tensor) {
        _ = EngineThreads.configured
        let k = weight.shape[2]
        let p = pad ?? k / 2
        let g = ConvGeometry(input: x.shape, cout: weight.shape[0], k: k, stride: stride, pad: p)
        let viaConvolution = stride == 1 && 2 * p == k - 1
        if viaConvolution && algorithm == .winograd && WinogradConvolution.applies(to: g) {
            let dw = x.withUnsafeBufferPointer { xb in
                dy.withUnsafeBufferPointer { dyb in
                    WinogradConvolution.weightGradient(xb.baseAddress!, outputGradient: dyb.baseAddress!, geometry: g)
                }
            }
            return (
                needInput ? inputGradientByConvolution(dy, weight: weight, pad: p) : nil,
                Tensor(shape: weight.shape, values: dw), channelSums(dy)
            )
        }
        let jobs = g.n * g.blockCount
        let threads = min(EngineThreads.count, jobs)
        var dwParts = [Tensor](repeating: Tensor(zeros: [0]), count: threads)
        var dxParts = [Tensor?](repeating: nil, count: threads)
        x.withUnsafeBufferPointer { xb in
            weight.withUnsafeBufferPointer { wb in
                dy.withUnsafeBufferPointer { dyb in
                    dwParts.withUnsafeMutableBufferPointer { dwSlots in
                        dxParts.withUnsafeMutableBufferPointer { dxSlots in
                            Parallel.forEach(threads) { t in
                                var dw = Tensor(zeros: weight.shape)
                                var dx: Tensor? = needInput && !viaConvolution ? Tensor(zeros: x.shape) : nil
                                let dwp = dw.withUnsafeMutableBufferPointer { $0.baseAddress! }
                                let dxp = dx?.withUnsafeMutableBufferPointer { $0.baseAddress! }
                                Workspace.with { ws in
                                    for job in (t * jobs / threads)..<((t + 1) * jobs / threads) {
                                        let sample = job / g.blockCount
                                        let rows = g.rows(ofBlock: job % g.blockCount)
                                        let nb = rows.count * g.ow
                                        let xs = xb.baseAddress! + sample * g.cin * g.inVoxels
                                        let dys =
                                            dyb.baseAddress! + sample * g.cout * g.outVoxels + rows.lowerBound * g.ow
                                        let buffer = ws.floats(2 * g.patch * nb)
                                        let cols: UnsafePointer<Float>
                                        let ldc: Int
                                        if g.isPointwise {
                                            cols = xs + rows.lowerBound * g.ow
                                            ldc = g.inVoxels
                                        } else {
                                            g.im2col(xs, rows: rows, into: buffer)
                                            cols = UnsafePointer(buffer)
                                            ldc = nb
                                        }
                                        BLAS.sgemm(
                                            transB: true, m: g.cout, n: g.patch, k: nb, a: dys, lda: g.outVoxels,
                                            b: cols, ldb: ldc, beta: 1, c: dwp, ldc: g.patch)
                                        if let dxp {
                                            let dxs = dxp + sample * g.cin * g.inVoxels
                                            if g.isPointwise {
                                                BLAS.sgemm(
                                                    transA: true, m: g.cin, n: nb, k: g.cout, a: wb.baseAddress!,
                                                    lda: g.patch, b: dys, ldb: g.outVoxels, beta: 1,
                                                    c: dxs + rows.lowerBound * g.ow, ldc: g.inVoxels)
                                            } else {
                                                let dcols = buffer + g.patch * nb
                                                BLAS.sgemm(
                                                    transA: true, m: g.patch, n: nb, k: g.cout, a: wb.baseAddress!,
                                                    lda: g.patch, b: dys, ldb: g.outVoxels, c: dcols, ldc: nb)
                                                g.col2im(dcols, rows: rows, into: dxs)
                                            }
                                        }
                                    }
                                }
                                dwSlots[t] = dw
                                dxSlots[t] = dx
                            }
                        }
                    }
                }
            }
        }
        var dw = dwParts[0]
        for t in 1..<threads { dw.add(dwParts[t]) }
        var dx: Tensor? = nil
        if needInput {
            if viaConvolution {
                dx = inputGradientByConvolution(dy, weight: weight, pad: p)
            } else {
                dx = dxParts[0]
                for t in 1..<threads { dx!.add(dxParts[t]!) }
            }
        }
        return (dx, dw, channelSums(dy))
    }

    /// dX of a stride-1 convolution with padding p: dY convolved with the flipped, channel-transposed
    /// kernel and padding k − 1 − p.
    static func inputGradientByConvolution(_ dy: Tensor, weight: Tensor, pad p: Int) -> Tensor {
        let k = weight.shape[2]
        return forward(
            dy, weight: flippedTranspose(weight), bias: nil, stride: 1, pad: k - 1 - p, leakySlope: nil,
            algorithm: .winograd, transientWeight: true)
    }

    /// w [Cout, Cin, k, k, k] → w' [Cin, Cout, k, k, k] with
    /// w'[ci, co, a, b, c] = w[co, ci, k−1−a, k−1−b, k−1−c].
    static func flippedTranspose(_ w: Tensor) -> Tensor {
        let (cout, cin, k) = (w.shape[0], w.shape[1], w.shape[2])
        let k3 = k * k * k
        var out = Tensor(uninitialized: [cin, cout, k, k, k])
        w.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for co in 0..<cout {
                    for ci in 0..<cin {
                        for i in 0..<k3 {
                            dst[(ci * cout + co) * k3 + i] = src[(co * cin + ci) * k3 + (k3 - 1 - i)]
                        }
                    }
                }
            }
        }
        return out
    }

    /// Sums of a [N, C, …] tensor per channel: [C].
    public static func channelSums(_ t: Tensor) -> Tensor {
        let n = t.shape[0]
        let c = t.shape[1]
        let s = t.count / max(1, n * c)
        var out = Tensor(zeros: [c])
        t.withUnsafeBufferPointer { p in
            out.withUnsafeMutableBufferPointer { o in
                for i in 0..<n {
                    for j in 0..<c {
                        var acc: Float = 0
                        let base = p.baseAddress! + (i * c + j) * s
                        for v in 0..<s { acc += base[v] }
                        o[j] += acc
                    }
                }
            }
        }
        return out
    }
}
