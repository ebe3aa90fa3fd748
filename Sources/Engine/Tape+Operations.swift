import Foundation

/// Differentiable operations. Each computes its forward value with the tensor kernels and records
/// how to send gradients back to its inputs.
extension Tape {
    // MARK: Convolutions and pooling

    /// 3D convolution: x [N, Cin, D, H, W], w [Cout, Cin, k, k, k], b [Cout]; zero padding k/2.
    public func conv3d(_ x: Variable, _ w: Variable, _ b: Variable?, stride: Int = 1) -> Variable {
        let y = Convolution.forward(x.value, weight: w.value, bias: b?.value, stride: stride)
        return record(y, inputs: [x, w] + (b.map { [$0] } ?? [])) { g in
            let grads = Convolution.backward(
                x.value, weight: w.value, outputGradient: g, stride: stride, needInput: x.requiresGrad)
            if let dx = grads.dx { x.accumulate(dx) }
            w.accumulate(grads.dw)
            b?.accumulate(grads.db)
        }
    }

    /// conv3d followed by LeakyReLU, fused: one pass over each output block. The backward pass
    /// recovers the activation's derivative from the output's sign (slope > 0).
    public func conv3dLeakyReLU(_ x: Variable, _ w: Variable, _ b: Variable?, stride: Int = 1, slope: Float = 0.2)
        -> Variable
    {
        precondition(slope > 0, "the fused activation needs a positive slope")
        let y = Convolution.forward(x.value, weight: w.value, bias: b?.value, stride: stride, leakySlope: slope)
        return record(y, inputs: [x, w] + (b.map { [$0] } ?? [])) { g in
            let pre = g.zip(y) { gv, yv in yv > 0 ? gv : slope * gv }
            let grads = Convolution.backward(
                x.value, weight: w.value, outputGradient: pre, stride: stride, needInput: x.requiresGrad)
            if let dx = grads.dx { x.accumulate(dx) }
            w.accumulate(grads.dw)
            b?.accumulate(grads.db)
        }
    }

    /// Transposed 3D convolution with kernel 2, stride 2: w [Cin, Cout, 2, 2, 2], b [Cout].
    public func convTranspose3d(_ x: Variable, _ w: Variable, _ b: Variable?) -> Variable {
        let y = TransposedConvolution.forward(x.value, weight: w.value, bias: b?.value)
        return record(y, inputs: [x, w] + (b.map { [$0] } ?? [])) { g in
            let grads = TransposedConvolution.backward(x.value, weight: w.value, outputGradient: g)
            x.accumulate(grads.dx)
            w.accumulate(grads.dw)
            b?.accumulate(grads.db)
        }
    }

    /// 2×2×2 max pooling, stride 2.
    public func maxPool(_ x: Variable) -> Variable {
        let (y, argmax) = Pooling.max(x.value)
        return record(y, inputs: [x]) { g in x.accumulate(Pooling.maxBackward(g, argmax: argmax, inputShape: x.shape)) }
    }

    /// 2×2×2 average pooling, stride 2.
    public func avgPool(_ x: Variable) -> Variable {
        record(Pooling.average(x.value), inputs: [x]) { g in
            x.accumulate(Pooling.averageBackward(g, inputShape: x.shape))
        }
    }

    // MARK: Shape

    /// Concatenation along the channel axis of [N, C, …] tensors.
    public func concatChannels(_ a: Variable, _ b: Variable) -> Variable {
        let sa = a.shape
        let sb = b.shape
        precondition(
            sa.count == sb.count && sa[0] == sb[0] && Array(sa.dropFirst(2)) == Array(sb.dropFirst(2)),
            "cannot concatenate \(sa) and \(sb)")
        let n = sa[0]
        let ca = sa[1]
        let cb = sb[1]
        let s = sa.dropFirst(2).reduce(1, *)
        var y = Tensor(uninitialized: [n, ca + cb] + sa.dropFirst(2))
        y.withUnsafeMutableBufferPointer { yp in
            a.value.withUnsafeBufferPointer { ap in
                b.value.withUnsafeBufferPointer { bp in
                    for i in 0..<n {
                        (yp.baseAddress! + i * (ca + cb) * s).update(from: ap.baseAddress! + i * ca * s, count: ca * s)
                        (yp.baseAddress! + (i * (ca + cb) + ca) * s).update(
                            from: bp.baseAddress! + i * cb * s, count: cb * s)
                    }
                }
            }
        }
        return record(y, inputs: [a, b]) { g in
            var ga = Tensor(uninitialized: sa)
            var gb = Tensor(uninitialized: sb)
            g.withUnsafeBufferPointer { gp in
                ga.withUnsafeMutableBufferPointer { ap in
                    gb.withUnsafeMutableBufferPointer { bp in
                        for i in 0..<n {
                            (ap.baseAddress! + i * ca * s).update(
                                from: gp.baseAddress! + i * (ca + cb) * s, count: ca * s)
                            (bp.baseAddress! + i * cb * s).update(
                                from: gp.baseAddress! + (i * (ca + cb) + ca) * s, count: cb * s)
                        }
                    }
                }
            }
            a.accumulate(ga)
            b.accumulate(gb)
        }
    }

    /// The same elements under a new shape.
    public func reshape(_ x: Variable, _ shape: [Int]) -> Variable {
        let old = x.shape
        return record(x.value.reshaped(shape), inputs: [x]) { g in x.accumulate(g.reshaped(old)) }
    }

    /// Voxel permutation: y[n, c, i] = x[n, c, p[i]] over the flattened spatial axes, for a
    /// permutation p of 0..<D·H·W. Its inverse is `permuteVoxels(_, inverse(p))`.
    public func permuteVoxels(_ x: Variable, _ p: [Int32]) -> Variable {
        let s = x.shape.dropFirst(2).reduce(1, *)
        let planes = x.value.count / max(1, s)
        precondition(p.count == s, "permutation of \(p.count) for \(s) voxels")
        var y = Tensor(uninitialized: x.shape)
        x.value.withUnsafeBufferPointer { xp in
            y.withUnsafeMutableBufferPointer { yp in
                for plane in 0..<planes { for i in 0..<s { yp[plane * s + i] = xp[plane * s + Int(p[i])] } }
            }
        }
        return record(y, inputs: [x]) { g in
            var dx = Tensor(uninitialized: x.shape)
            g.withUnsafeBufferPointer { gp in
                dx.withUnsafeMutableBufferPointer { dp in
                    for plane in 0..<planes { for i in 0..<s { dp[plane * s + Int(p[i])] = gp[plane * s + i] } }
                }
            }
            x.accumulate(dx)
        }
    }

    /// The inverse of a permutation.
    public static func inverse(_ p: [Int32]) -> [Int32] {
        var q = [Int32](repeating: 0, count: p.count)
        for (i, j) in p.enumerated() { q[Int(j)] = Int32(i) }
        return q
    }

    // MARK: Elementwise

    public func add(_ a: Variable, _ b: Variable) -> Variable {
        record(a.value + b.value, inputs: [a, b]) { g in
            a.accumulate(g)
            b.accumulate(g)
        }
    }

    public func sub(_ a: Variable, _ b: Variable) -> Variable {
        record(a.value - b.value, inputs: [a, b]) { g in
            a.accumulate(g)
            b.accumulate(g * -1)
        }
    }

    public func mul(_ a: Variable, _ b: Variable) -> Variable {
        record(a.value * b.value, inputs: [a, b]) { g in
            a.accumulate(g * b.value)
            b.accumulate(g * a.value)
        }
    }

    public func scale(_ a: Variable, _ s: Float) -> Variable {
        record(a.value * s, inputs: [a]) { g in a.accumulate(g * s) }
    }

    /// a + s for a constant s.
    public func addScalar(_ a: Variable, _ s: Float) -> Variable {
        record(a.value.map { $0 + s }, inputs: [a]) { g in a.accumulate(g) }
    }

    public func leakyReLU(_ x: Variable, slope: Float = 0.2) -> Variable {
        record(x.value.map { $0 > 0 ? $0 : slope * $0 }, inputs: [x]) { g in
            x.accumulate(g.zip(x.value) { gv, xv in xv > 0 ? gv : slope * gv })
        }
    }

    public func relu(_ x: Variable) -> Variable { leakyReLU(x, slope: 0) }

    public func tanh(_ x: Variable) -> Variable {
        let y = x.value.map { Foundation.tanh($0) }
        return record(y, inputs: [x]) { g in x.accumulate(g.zip(y) { gv, yv in gv * (1 - yv * yv) }) }
    }

    public func sigmoid(_ x: Variable) -> Variable {
        let y = x.value.map { 1 / (1 + Foundation.exp(-$0)) }
        return record(y, inputs: [x]) { g in x.accumulate(g.zip(y) { gv, yv in gv * yv * (1 - yv) }) }
    }

    public func log(_ x: Variable) -> Variable {
        record(x.value.map { Foundation.log($0) }, inputs: [x]) { g in x.accumulate(g.zip(x.value) { $0 / $1 }) }
    }

    public func exp(_ x: Variable) -> Variable {
        let y = x.value.map { Foundation.exp($0) }
        return record(y, inputs: [x]) { g in x.accumulate(g * y) }
    }

    /// |x|; the derivative at 0 is taken as 0.
    public func absolute(_ x: Variable) -> Variable {
        let y = x.value.map { Swift.abs($0) }
        return record(y, inputs: [x]) { g in x.accumulate(g.zip(x.value) { gv, xv in xv > 0 ? gv : xv < 0 ? -gv : 0 }) }
    }

    // MARK: Normalization and dense layers

    /// Instance normalization with affine parameters: per sample and channel over D·H·W,
    /// y = γ (x − μ) / √(σ² + ε) + β, with γ, β of shape [C].
    public func instanceNorm(_ x: Variable, gamma: Variable, beta: Variable, epsilon: Float = 1e-5) -> Variable {
        let n = x.shape[0]
        let c = x.shape[1]
        let s = x.value.count / (n * c)
        var xhat = Tensor(uninitialized: x.shape)
        var invStd = [Float](repeating: 0, count: n * c)
        var y = Tensor(uninitialized: x.shape)
        x.value.withUnsafeBufferPointer { xp in
            xhat.withUnsafeMutableBufferPointer { hp in
                y.withUnsafeMutableBufferPointer { yp in
                    gamma.value.withUnsafeBufferPointer { gp in
                        beta.value.withUnsafeBufferPointer { bp in
                            for plane in 0..<(n * c) {
                                let base = plane * s
                                var mean = 0.0
                                for i in 0..<s { mean += Double(xp[base + i]) }
                                mean /= Double(s)
                                var variance = 0.0
                                for i in 0..<s {
                                    let d = Double(xp[base + i]) - mean
                                    variance += d * d
                                }
                                variance /= Double(s)
                                let inv = Float(1 / (variance + Double(epsilon)).squareRoot())
                                invStd[plane] = inv
                                let ch = plane % c
                                for i in 0..<s {
                                    let h = (xp[base + i] - Float(mean)) * inv
                                    hp[base + i] = h
                                    yp[base + i] = gp[ch] * h + bp[ch]
                                }
                            }
                        }
                    }
                }
            }
        }
        return record(y, inputs: [x, gamma, beta]) { g in
            var dx = Tensor(uninitialized: x.shape)
            var dgamma = Tensor(zeros: [c])
            var dbeta = Tensor(zeros: [c])
            g.withUnsafeBufferPointer { gp in
                xhat.withUnsafeBufferPointer { hp in
                    dx.withUnsafeMutableBufferPointer { dp in
                        gamma.value.withUnsafeBufferPointer { gam in
                            dgamma.withUnsafeMutableBufferPointer { dg in
                                dbeta.withUnsafeMutableBufferPointer { db in
                                    for plane in 0..<(n * c) {
                                        let base = plane * s
                                        let ch = plane % c
                                        var sumG = 0.0
                                        var sumGH = 0.0
                                        for i in 0..<s {
                                            sumG += Double(gp[base + i])
                                            sumGH += Double(gp[base + i] * hp[base + i])
                                        }
                                        dg[ch] += Float(sumGH)
                                        db[ch] += Float(sumG)
                                        let k = gam[ch] * invStd[plane] / Float(s)
                                        for i in 0..<s {
                                            dp[base + i] =
                                                k
                                                * (Float(s) * gp[base + i] - Float(sumG) - hp[base + i] * Float(sumGH))
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            x.accumulate(dx)
            gamma.accumulate(dgamma)
            beta.accumulate(dbeta)
        }
    }

    /// Dense layer: x [N, in], w [out, in], b [out] → [N, out].
    public func linear(_ x: Variable, _ w: Variable, _ b: Variable?) -> Variable {
        let n = x.shape[0]
        let fin = x.shape[1]
        let fout = w.shape[0]
        precondition(w.shape == [fout, fin], "linear weight \(w.shape) does not match input \(x.shape)")
        var y = Tensor(zeros: [n, fout])
        x.value.withUnsafeBufferPointer { xp in
            w.value.withUnsafeBufferPointer { wp in
                y.withUnsafeMutableBufferPointer { yp in
                    BLAS.sgemm(
                        transB: true, m: n, n: fout, k: fin, a: xp.baseAddress!, lda: fin, b: wp.baseAddress!, ldb: fin,
                        c: yp.baseAddress!, ldc: fout)
                    if let b {
                        b.value.withUnsafeBufferPointer { bp in
                            for i in 0..<n { for j in 0..<fout { yp[i * fout + j] += bp[j] } }
                        }
                    }
                }
            }
        }
        return record(y, inputs: [x, w] + (b.map { [$0] } ?? [])) { g in
            var dx = Tensor(zeros: x.shape)
            var dw = Tensor(zeros: w.shape)
            g.withUnsafeBufferPointer { gp in
                x.value.withUnsafeBufferPointer { xp in
                    w.value.withUnsafeBufferPointer { wp in
                        dx.withUnsafeMutableBufferPointer { dxp in
                            BLAS.sgemm(
                                m: n, n: fin, k: fout, a: gp.baseAddress!, lda: fout, b: wp.baseAddress!, ldb: fin,
                                c: dxp.baseAddress!, ldc: fin)
                        }
                        dw.withUnsafeMutableBufferPointer { dwp in
                            BLAS.sgemm(
                                transA: true, m: fout, n: fin, k: n, a: gp.baseAddress!, lda: fout, b: xp.baseAddress!,
                                ldb: fin, c: dwp.baseAddress!, ldc: fin)
                        }
                    }
                }
            }
            x.accumulate(dx)
            w.accumulate(dw)
            if let b {
                var db = Tensor(zeros: [fout])
                g.withUnsafeBufferPointer { gp in
                    db.withUnsafeMutableBufferPointer { dp in
                        for i in 0..<n { for j in 0..<fout { dp[j] += gp[i * fout + j] } }
                    }
                }
                b.accumulate(db)
            }
        }
    }

    // MARK: Reductions and losses (scalars, shape [])

    public func sum(_ x: Variable) -> Variable {
        record(Tensor(scalar: Float(x.value.sum)), inputs: [x]) { g in
            x.accumulate(Tensor(repeating: g.scalar, shape: x.shape))
        }
    }

    public func mean(_ x: Variable) -> Variable {
        let n = Float(x.value.count)
        return record(Tensor(scalar: Float(x.value.mean)), inputs: [x]) { g in
            x.accumulate(Tensor(repeating: g.scalar / n, shape: x.shape))
        }
    }

    /// Mean squared error over all elements.
    public func mse(_ a: Variable, _ b: Variable) -> Variable {
        let diff = a.value - b.value
        let n = Float(diff.count)
        let value = diff.withUnsafeBufferPointer { p in p.reduce(0.0) { $0 + Double($1 * $1) } } / Double(n)
        return record(Tensor(scalar: Float(value)), inputs: [a, b]) { g in
            let k = 2 * g.scalar / n
            a.accumulate(diff * k)
            b.accumulate(diff * -k)
        }
    }

    /// Pearson correlation of all elements of a and b.
    public func pearson(_ a: Variable, _ b: Variable, epsilon: Double = 1e-12) -> Variable {
        precondition(a.value.count == b.value.count, "pearson of \(a.shape) and \(b.shape)")
        let n = Double(a.value.count)
        let ma = a.value.mean
        let mb = b.value.mean
        var sab = 0.0
        var saa = 0.0
        var sbb = 0.0
        a.value.withUnsafeBufferPointer { ap in
            b.value.withUnsafeBufferPointer { bp in
                for i in 0..<ap.count {
                    let x = Double(ap[i]) - ma
                    let y = Double(bp[i]) - mb
                    sab += x * y
                    saa += x * x
                    sbb += y * y
                }
            }
        }
        let denom = (saa * sbb).squareRoot() + epsilon
        let r = sab / denom
        return record(Tensor(scalar: Float(r)), inputs: [a, b]) { g in
            let gs = Double(g.scalar)
            // dr/da_i = (b_i − mb)/denom − r (a_i − ma)/saa, and symmetrically (n-independent means cancel).
            let ka = gs / denom
            let kaa = gs * r / max(saa, epsilon)
            let kb = gs / denom
            let kbb = gs * r / max(sbb, epsilon)
            if a.requiresGrad {
                a.accumulate(a.value.zip(b.value) { x, y in Float(ka * (Double(y) - mb) - kaa * (Double(x) - ma)) })
            }
            if b.requiresGrad {
                b.accumulate(b.value.zip(a.value) { y, x in Float(kb * (Double(x) - ma) - kbb * (Double(y) - mb)) })
            }
            _ = n
        }
    }

    /// Mean binary cross-entropy of logits x against targets t ∈ [0, 1], computed stably:
    /// max(x, 0) − x·t + log(1 + e^−|x|).
    public func bceWithLogits(_ x: Variable, target t: Tensor) -> Variable {
        let n = Float(x.value.count)
        let terms = x.value.zip(t) { xv, tv in Swift.max(xv, 0) - xv * tv + Foundation.log1p(Foundation.exp(-abs(xv))) }
        return record(Tensor(scalar: Float(terms.mean)), inputs: [x]) { g in
            let k = g.scalar / n
            x.accumulate(x.value.zip(t) { xv, tv in k * (1 / (1 + Foundation.exp(-xv)) - tv) })
        }
    }

    /// KL divergence of the batch's code distribution from N(0, I): codes [B, K], per dimension the
    /// batch mean μ and variance v, ½ Σₖ (μ² + v − log v − 1).
    public func klToStandardNormal(_ codes: Variable, epsilon: Double = 1e-6) -> Variable {
        let b = codes.shape[0]
        let k = codes.shape[1]
        let c = codes.value.scalars.map(Double.init)
        var mu = [Double](repeating: 0, count: k)
        var v = [Double](repeating: 0, count: k)
        for i in 0..<b { for j in 0..<k { mu[j] += c[i * k + j] / Double(b) } }
        for i in 0..<b { for j in 0..<k { v[j] += (c[i * k + j] - mu[j]) * (c[i * k + j] - mu[j]) / Double(b) } }
        var value = 0.0
        for j in 0..<k {
            let vv = v[j] + epsilon
            value += 0.5 * (mu[j] * mu[j] + vv - Foundation.log(vv) - 1)
        }
        return record(Tensor(scalar: Float(value)), inputs: [codes]) { g in
            var grad = [Float](repeating: 0, count: b * k)
            for i in 0..<b {
                for j in 0..<k {
                    let vv = v[j] + epsilon
                    grad[i * k + j] = Float(
                        Double(g.scalar) * (mu[j] + (1 - 1 / vv) * (c[i * k + j] - mu[j])) / Double(b))
                }
            }
            codes.accumulate(Tensor(shape: [b, k], values: grad))
        }
    }

    /// Means of x's elements by bin, over the batch: x [N, …] with M elements per item, `bins` (M
    /// entries, each in 0..<count or −1 to leave the element out) → [count], the mean of every item's
    /// elements of each bin (0 for an empty bin). Summary statistics of a batch (e.g. a power spectrum by
    /// frequency shell) to match against a target.
    public func binnedMean(_ x: Variable, bins: [Int32], count: Int) -> Variable {
        let m = bins.count
        let items = x.value.count / max(1, m)
        precondition(items * m == x.value.count, "binnedMean: \(m) bins for \(x.shape)")
        var members = [Double](repeating: 0, count: count)
        for b in bins where b >= 0 { members[Int(b)] += Double(items) }
        var sums = [Double](repeating: 0, count: count)
        x.value.withUnsafeBufferPointer { xp in
            for item in 0..<items {
                for i in 0..<m where bins[i] >= 0 { sums[Int(bins[i])] += Double(xp[item * m + i]) }
            }
        }
        let means = (0..<count).map { Float(members[$0] > 0 ? sums[$0] / members[$0] : 0) }
        return record(Tensor(shape: [count], values: means), inputs: [x]) { g in
            let share = (0..<count).map { members[$0] > 0 ? g.scalars[$0] / Float(members[$0]) : 0 }
            var dx = Tensor(repeating: 0, shape: x.shape)
            dx.withUnsafeMutableBufferPointer { dp in
                for item in 0..<items { for i in 0..<m where bins[i] >= 0 { dp[item * m + i] = share[Int(bins[i])] } }
            }
            x.accumulate(dx)
        }
    }

    /// All elements of x in ascending order, flattened ([count]); the gradient goes back to each
    /// element's position. Ties keep their order. The empirical quantile function, so that the MSE of
    /// two sorted batches is the squared 2-Wasserstein distance of their value distributions.
    public func sortedValues(_ x: Variable) -> Variable {
        let values = x.value.scalars
        let order = values.indices.sorted { values[$0] < values[$1] || (values[$0] == values[$1] && $0 < $1) }
        return record(Tensor(shape: [values.count], values: order.map { values[$0] }), inputs: [x]) { g in
            var dx = Tensor(repeating: 0, shape: x.shape)
            g.withUnsafeBufferPointer { gp in
                dx.withUnsafeMutableBufferPointer { dp in for (rank, i) in order.enumerated() { dp[i] = gp[rank] } }
            }
            x.accumulate(dx)
        }
    }

    /// log(|rfftn(x)| + ε) over the last three axes: [N, C, D, H, W] → [N, C, D, H, W/2+1].
    public func spectralLogMagnitude(_ x: Variable, epsilon: Float = 1e-3) -> Variable {
        let (y, spectrum) = SpectralMagnitude.forward(x.value, epsilon: epsilon)
        return record(y, inputs: [x]) { g in
            x.accumulate(SpectralMagnitude.backward(g, spectrum: spectrum, inputShape: x.shape, epsilon: epsilon))
        }
    }
}
