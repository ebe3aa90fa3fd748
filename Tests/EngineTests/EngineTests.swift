import Foundation
import Testing

@testable import Engine

@Suite("Engine kernels against naive references")
struct KernelTests {
    static let geometries: [(shape: [Int], cout: Int, k: Int, stride: Int)] = [
        ([1, 1, 8, 8, 8], 4, 3, 1), ([2, 3, 5, 7, 6], 5, 3, 1), ([1, 4, 9, 6, 7], 3, 3, 2),
        ([2, 5, 4, 4, 4], 6, 1, 1), ([1, 2, 70, 3, 130], 3, 3, 1), ([1, 3, 6, 5, 4], 2, 1, 2),
        ([1, 9, 5, 6, 7], 8, 3, 1),  // Winograd F(2,3): forward, dw, and dx (a convolution with 8 input channels)
        ([2, 8, 3, 5, 33], 8, 3, 1),  // Winograd F(4,3)
    ]

    @Test("conv3d forward equals direct convolution (relative error < 1e-5)")
    func convForward() {
        for (i, g) in Self.geometries.enumerated() {
            let x = Tensor.normal(g.shape, seed: UInt64(i))
            let w = Tensor.normal([g.cout, g.shape[1], g.k, g.k, g.k], seed: UInt64(100 + i))
            let b = Tensor.normal([g.cout], seed: UInt64(200 + i))
            let y = Convolution.forward(x, weight: w, bias: b, stride: g.stride)
            let r = Reference.conv3d(x, w, b, stride: g.stride, pad: g.k / 2)
            #expect(y.shape == r.shape && relativeError(y, r) < 1e-5, "geometry \(g): \(relativeError(y, r))")
        }
    }

    @Test(
        // Relative error < 1e-5 and < 5e-5 (F(4,3) rounds about 10× more); odd and even sizes, thin volumes,
        // partial tiles, several row blocks, bias and LeakyReLU.
        "Winograd F(2,3) and F(4,3) equal direct convolution within 1e-5 and 5e-5 on every geometry",
        arguments: [0, 1])
    func winograd(tiling: Int) {
        let cases: [(shape: [Int], cout: Int)] = [
            ([1, 8, 8, 8, 8], 8), ([2, 9, 5, 7, 3], 10), ([1, 16, 3, 1, 37], 4), ([1, 12, 11, 2, 9], 16),
            ([1, 8, 2, 260, 3], 4), ([1, 8, 9, 13, 70], 6), ([2, 16, 4, 8, 64], 8),
        ]
        for (i, c) in cases.enumerated() {
            let g = ConvGeometry(input: c.shape, cout: c.cout, k: 3, stride: 1, pad: 1)
            #expect(WinogradConvolution.applies(to: g))
            let x = Tensor.normal(c.shape, seed: UInt64(400 + i))
            let w = Tensor.normal([c.cout, c.shape[1], 3, 3, 3], seed: UInt64(500 + i))
            let b = Tensor.normal([c.cout], seed: UInt64(600 + i))
            for slope: Float? in [nil, 0.2] {
                var y = Tensor(zeros: [c.shape[0], c.cout] + Array(c.shape[2...]))
                func run<T: WinogradTiling>(_ t: T.Type) {
                    let u = w.withUnsafeBufferPointer {
                        WinogradConvolution.transformedKernel(
                            $0.baseAddress!, cout: c.cout, cin: c.shape[1], by: T.kernelTransform)
                    }
                    x.withUnsafeBufferPointer { xb in
                        u.withUnsafeBufferPointer { ub in
                            b.withUnsafeBufferPointer { bb in
                                y.withUnsafeMutableBufferPointer { yb in
                                    WinogradConvolution.forward(
                                        xb.baseAddress!, kernel: ub.baseAddress!, bias: bb.baseAddress!, geometry: g,
                                        leakySlope: slope,
                                        into: yb.baseAddress!, tiling: T.self)
                                }
                            }
                        }
                    }
                }
                if tiling == 0 { run(WinogradF2.self) } else { run(WinogradF4.self) }
                var r = Reference.conv3d(x, w, b, stride: 1, pad: 1)
                if let slope { r = Tensor(shape: r.shape, values: r.scalars.map { $0 > 0 ? $0 : slope * $0 }) }
                #expect(
                    relativeError(y, r) < (tiling == 0 ? 1e-5 : 5e-5),
                    "F(\(2 + 2 * tiling),3) shape \(c.shape) slope \(String(describing: slope)): \(relativeError(y, r))"
                )
            }
            // The default path (tiling chosen by width) agrees with im2col.
            let viaDefault = Convolution.forward(x, weight: w, bias: b, leakySlope: 0.2)
            let viaIm2col = Convolution.forward(x, weight: w, bias: b, leakySlope: 0.2, algorithm: .im2col)
            #expect(relativeError(viaDefault, viaIm2col) < 5e-5)
        }
        // Weights changed in place (same storage, as an optimizer step does) are transformed anew,
        // not taken from the transformed-kernel cache.
        let x = Tensor.normal([1, 8, 6, 6, 40], seed: 700)
        var w = Tensor.normal([4, 8, 3, 3, 3], seed: 701)
        let before = Convolution.forward(x, weight: w, bias: nil)
        w.withUnsafeMutableBufferPointer { p in for i in 0..<p.count { p[i] = -2 * p[i] } }
        let after = Convolution.forward(x, weight: w, bias: nil)
        #expect(relativeError(after, Convolution.forward(x, weight: w, bias: nil, algorithm: .im2col)) < 5e-5)
        #expect(relativeError(after, before * -2) < 5e-5)
    }

    @Test("Winograd: a sample's result does not depend on the samples batched with it (bit for bit), both tilings")
    func winogradBatchInvariance() {
        for shape in [[3, 8, 5, 6, 7], [3, 8, 4, 9, 40]] {  // F(2,3), F(4,3)
            let x = Tensor.normal(shape, seed: 900)
            let w = Tensor.normal([6, 8, 3, 3, 3], seed: 901)
            let b = Tensor.normal([6], seed: 902)
            let g = ConvGeometry(input: shape, cout: 6, k: 3, stride: 1, pad: 1)
            #expect(WinogradConvolution.applies(to: g))
            let batched = Convolution.forward(x, weight: w, bias: b, leakySlope: 0.2).scalars
            let per = batched.count / shape[0]
            let perInput = x.count / shape[0]
            for n in 0..<shape[0] {
                let one = Tensor(
                    shape: [1] + Array(shape[1...]), values: Array(x.scalars[n * perInput..<(n + 1) * perInput]))
                #expect(
                    Convolution.forward(one, weight: w, bias: b, leakySlope: 0.2).scalars
                        == Array(batched[n * per..<(n + 1) * per]), "\(shape) sample \(n)")
            }
        }
    }

    @Test(
        "Winograd weight gradients (F(2,3) and F(4,3)) equal im2col's: partial tiles, several samples and row blocks",
        arguments: [0, 1])
    func winogradWeightGradient(tiling: Int) {
        for (i, shape) in [[1, 8, 6, 5, 7], [2, 12, 9, 13, 70], [1, 8, 2, 70, 33]].enumerated() {
            let cout = 5 + i
            let x = Tensor.normal(shape, seed: UInt64(800 + i))
            let w = Tensor.normal([cout, shape[1], 3, 3, 3], seed: UInt64(810 + i))
            let dy = Tensor.normal([shape[0], cout] + Array(shape[2...]), seed: UInt64(820 + i))
            let g = ConvGeometry(input: shape, cout: cout, k: 3, stride: 1, pad: 1)
            let dw = x.withUnsafeBufferPointer { xb in
                dy.withUnsafeBufferPointer { dyb in
                    tiling == 0
                        ? WinogradConvolution.weightGradient(
                            xb.baseAddress!, outputGradient: dyb.baseAddress!, geometry: g, tiling: WinogradF2.self)
                        : WinogradConvolution.weightGradient(
                            xb.baseAddress!, outputGradient: dyb.baseAddress!, geometry: g, tiling: WinogradF4.self)
                }
            }
            let reference = Convolution.backward(x, weight: w, outputGradient: dy, needInput: false, algorithm: .im2col)
                .dw
            let e = relativeError(Tensor(shape: w.shape, values: dw), reference)
            #expect(e < (tiling == 0 ? 1e-5 : 5e-5), "F(\(2 + 2 * tiling),3) \(shape): \(e)")
        }
    }

    @Test("conv3d gradients equal the adjoint of direct convolution (dx, dw, db; relative error < 1e-4)")
    func convBackward() {
        for (i, g) in Self.geometries.enumerated() {
            let x = Tensor.normal(g.shape, seed: UInt64(i))
            let w = Tensor.normal([g.cout, g.shape[1], g.k, g.k, g.k], seed: UInt64(100 + i))
            let y = Convolution.forward(x, weight: w, bias: nil, stride: g.stride)
            let dy = Tensor.normal(y.shape, seed: UInt64(300 + i))
            let grads = Convolution.backward(x, weight: w, outputGradient: dy, stride: g.stride)
            // <dy, conv(x, w)> is linear in x and in w: its gradients are the exact references.
            func inner(_ x: Tensor, _ w: Tensor) -> Double {
                (Reference.conv3d(x, w, nil, stride: g.stride, pad: g.k / 2) * dy).sum
            }
            for (name, analytic, base, wrt) in [("dx", grads.dx!, x, 0), ("dw", grads.dw, w, 1)] {
                var worst: Float = 0
                for s in 0..<min(10, base.count) {
                    let j = (s * 104729) % base.count
                    var e = Tensor(zeros: base.shape)
                    e.withUnsafeMutableBufferPointer { $0[j] = 1 }
                    let exact = wrt == 0 ? inner(e, w) : inner(x, e)
                    worst = max(worst, Float(abs(Double(analytic.scalars[j]) - exact) / max(1, abs(exact))))
                }
                #expect(worst < 1e-4, "\(name) geometry \(g): \(worst)")
            }
            let db = Convolution.channelSums(dy)
            #expect(grads.db.maxAbsDifference(db) < 1e-4)
        }
    }

    @Test("transposed convolution equals the direct definition, forward and gradients")
    func transposedConv() {
        let x = Tensor.normal([2, 3, 3, 4, 5], seed: 1)
        let w = Tensor.normal([3, 4, 2, 2, 2], seed: 2)
        let b = Tensor.normal([4], seed: 3)
        let y = TransposedConvolution.forward(x, weight: w, bias: b)
        #expect(relativeError(y, Reference.convTranspose(x, w, b)) < 1e-5)
        let failures = gradientCheck([
            Variable(x, requiresGrad: true), Variable(w, requiresGrad: true), Variable(b, requiresGrad: true),
        ]) { t, v in
            projection(t, t.convTranspose3d(v[0], v[1], v[2]), seed: 9)
        }
        #expect(failures.isEmpty, "\(failures)")
    }

    @Test("max and average pooling: values and gradients")
    func pooling() {
        let x = Tensor.normal([2, 2, 4, 6, 5], seed: 4)  // odd W: last plane dropped
        let (y, _) = Pooling.max(x)
        #expect(y.shape == [2, 2, 2, 3, 2])
        var expected: Float = -.infinity
        for dz in 0..<2 {
            for dy in 0..<2 { for dx in 0..<2 { expected = max(expected, x[1, 1, 2 + dz, 4 + dy, 2 + dx]) } }
        }
        #expect(y[1, 1, 1, 2, 1] == expected)
        #expect(
            abs(
                Pooling.average(x)[0, 1, 1, 0, 1] - (0..<8).map { x[0, 1, 2 + $0 / 4, ($0 / 2) % 2, 2 + $0 % 2] }
                    .reduce(0, +) / 8) < 1e-6)
        // Rows wide enough for the 8-wide path and a scalar tail, with ties and NaNs: values and
        // argmax equal a naive loop (larger value or first NaN wins, first of equals kept).
        var wide = Tensor.normal([1, 3, 4, 6, 37], seed: 9)
        wide.withUnsafeMutableBufferPointer { p in
            for i in stride(from: 0, to: p.count, by: 7) { p[i] = (p[i] * 2).rounded() / 2 }  // ties
            p[40] = .nan
            p[41] = .nan
            p[300] = .nan
            p[555] = -.infinity
        }
        let (pooled, argmax) = Pooling.max(wide)
        let ws = wide.scalars
        for c in 0..<3 {
            for z in 0..<2 {
                for yy in 0..<3 {
                    for xx in 0..<18 {
                        var best = -Float.infinity
                        var at = 0
                        for dz in 0..<2 {
                            for dy in 0..<2 {
                                for dx in 0..<2 {
                                    let i = ((c * 4 + 2 * z + dz) * 6 + 2 * yy + dy) * 37 + 2 * xx + dx
                                    if ws[i] > best || (ws[i].isNaN && !best.isNaN) {
                                        best = ws[i]
                                        at = i
                                    }
                                }
                            }
                        }
                        let j = ((c * 2 + z) * 3 + yy) * 18 + xx
                        #expect(
                            pooled.scalars[j].bitPattern == best.bitPattern && argmax[j] == Int32(at), "output \(j)")
                    }
                }
            }
        }
        for op in 0..<2 {
            let failures = gradientCheck([Variable(x, requiresGrad: true)], h: 1e-3) { t, v in
                projection(t, op == 0 ? t.maxPool(v[0]) : t.avgPool(v[0]), seed: 5)
            }
            #expect(failures.isEmpty, "\(failures)")
        }
    }
}

@Suite("Differentiable operations: finite-difference gradient checks")
struct GradientTests {
    func v(_ shape: [Int], _ seed: UInt64, scale: Float = 1, offset: Float = 0) -> Variable {
        Variable(Tensor.normal(shape, mean: offset, std: scale, seed: seed), requiresGrad: true)
    }

    @Test func convolutions() {
        for stride in [1, 2] {
            let failures = gradientCheck([v([1, 2, 5, 4, 6], 1), v([3, 2, 3, 3, 3], 2), v([3], 3)]) { t, x in
                projection(t, t.conv3d(x[0], x[1], x[2], stride: stride), seed: 4)
            }
            #expect(failures.isEmpty, "stride \(stride): \(failures)")
        }
    }

    @Test func elementwise() {
        let ops: [(String, (Tape, [Variable]) -> Variable)] = [
            ("add", { t, x in t.add(x[0], x[1]) }), ("sub", { t, x in t.sub(x[0], x[1]) }),
            ("mul", { t, x in t.mul(x[0], x[1]) }), ("scale", { t, x in t.scale(x[0], -1.7) }),
            ("leakyReLU", { t, x in t.leakyReLU(x[0]) }), ("relu", { t, x in t.relu(x[0]) }),
            ("tanh", { t, x in t.tanh(x[0]) }), ("sigmoid", { t, x in t.sigmoid(x[0]) }),
            ("exp", { t, x in t.exp(x[0]) }), ("abs", { t, x in t.absolute(x[0]) }),
            ("log", { t, x in t.log(t.addScalar(t.mul(x[0], x[0]), 0.5)) }),
            ("concat", { t, x in t.concatChannels(x[0], x[1]) }), ("reshape", { t, x in t.reshape(x[0], [2, 36]) }),
        ]
        for (name, op) in ops {
            let failures = gradientCheck([v([2, 3, 2, 3, 2], 1), v([2, 3, 2, 3, 2], 2)], h: 1e-3) { t, x in
                projection(t, op(t, x), seed: 7)
            }
            #expect(failures.isEmpty, "\(name): \(failures)")
        }
    }

    /// Weighted softmax cross-entropy: gradient by central differences, value and softmax against a
    /// direct Float64 evaluation of the definition (tolerance 1e-5 relative).
    @Test func softmaxCrossEntropy() {
        let (n, c, d) = (2, 3, 2)
        let voxels = d * d * d
        let labels = (0..<(n * voxels)).map { Int32(($0 * 7 + 1) % c) }
        let weights: [Float] = [0.5, 2, 1.25]
        let failures = gradientCheck([v([n, c, d, d, d], 1)], h: 1e-3, rtol: 2e-2, atol: 1e-3) { t, x in
            t.softmaxCrossEntropy(x[0], labels: labels, weights: weights)
        }
        #expect(failures.isEmpty, "\(failures)")
        let x = Tensor.normal([n, c, d, d, d], std: 3, seed: 11)
        let loss = Tape(recording: false).softmaxCrossEntropy(Variable(x), labels: labels, weights: weights)
        let p = x.softmaxChannels().scalars
        let values = x.scalars.map(Double.init)
        var (sum, total) = (0.0, 0.0)
        for b in 0..<n {
            for i in 0..<voxels {
                let logits = (0..<c).map { values[(b * c + $0) * voxels + i] }
                let normalizer = logits.map { Foundation.exp($0) }.reduce(0, +)
                for k in 0..<c {
                    let exact = Foundation.exp(logits[k]) / normalizer
                    #expect(abs(Double(p[(b * c + k) * voxels + i]) - exact) < 1e-6)
                }
                let y = Int(labels[b * voxels + i])
                sum -= Double(weights[y]) * (logits[y] - Foundation.log(normalizer))
                total += Double(weights[y])
            }
        }
        #expect(abs(Double(loss.value.scalar) - sum / total) < 1e-5 * abs(sum / total))
    }

    @Test func reductionsAndLosses() {
        let target = Tensor.uniform([3, 8], seed: 5)
        let ops: [(String, (Tape, [Variable]) -> Variable)] = [
            ("sum", { t, x in t.sum(x[0]) }), ("mean", { t, x in t.mean(x[0]) }),
            ("mse", { t, x in t.mse(x[0], x[1]) }), ("pearson", { t, x in t.pearson(x[0], x[1]) }),
            ("log(1 - pearson)", { t, x in t.log(t.addScalar(t.scale(t.pearson(x[0], x[1]), -1), 1)) }),
            ("bce", { t, x in t.bceWithLogits(x[0], target: target) }),
            ("kl", { t, x in t.klToStandardNormal(x[0]) }),
        ]
        for (name, op) in ops {
            let failures = gradientCheck([v([3, 8], 1), v([3, 8], 2)], h: 1e-3, rtol: 2e-2, atol: 1e-3) { t, x in
                op(t, x)
            }
            #expect(failures.isEmpty, "\(name): \(failures)")
        }
        // Values against direct formulas.
        let a = Tensor.normal([50], seed: 8)
        let b = Tensor.normal([50], seed: 9)
        let t = Tape(recording: false)
        let r = t.pearson(Variable(a), Variable(b)).value.scalar
        let (x, y) = (a.scalars.map(Double.init), b.scalars.map(Double.init))
        let mx = x.reduce(0, +) / 50
        let my = y.reduce(0, +) / 50
        var sxy = 0.0
        var sxx = 0.0
        var syy = 0.0
        for (xv, yv) in zip(x, y) {
            sxy += (xv - mx) * (yv - my)
            sxx += (xv - mx) * (xv - mx)
            syy += (yv - my) * (yv - my)
        }
        let exact = sxy / (sxx * syy).squareRoot()
        #expect(abs(Double(r) - exact) < 1e-6)
        let bce = t.bceWithLogits(Variable(a), target: Tensor.uniform([50], seed: 3)).value.scalar
        let tt = Tensor.uniform([50], seed: 3).scalars.map(Double.init)
        let exactBCE =
            zip(x, tt).map { xv, tv in
                -(tv * Foundation.log(1 / (1 + Foundation.exp(-xv))) + (1 - tv)
                    * Foundation.log(1 - 1 / (1 + Foundation.exp(-xv))))
            }.reduce(0, +) / 50
        #expect(abs(Double(bce) - exactBCE) < 1e-5)
    }

    @Test func instanceNormAndLinear() {
        let norm = gradientCheck(
            [v([2, 3, 3, 2, 4], 1, scale: 2, offset: 1), v([3], 2, offset: 1), v([3], 3)], h: 1e-2, rtol: 5e-2
        ) { t, x in
            projection(t, t.instanceNorm(x[0], gamma: x[1], beta: x[2]), seed: 4)
        }
        #expect(norm.isEmpty, "\(norm)")
        let y = Tape(recording: false).instanceNorm(
            Variable(Tensor.normal([1, 2, 4, 4, 4], mean: 3, std: 2, seed: 5)),
            gamma: Variable(Tensor(repeating: 1, shape: [2])), beta: Variable(Tensor(zeros: [2]))
        ).value
        let first = Array(y.scalars[0..<64]).map(Double.init)
        let mean = first.reduce(0, +) / 64
        let variance = first.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / 64
        #expect(abs(mean) < 1e-5 && abs(variance - 1) < 1e-3)
        let linear = gradientCheck([v([4, 5], 1), v([3, 5], 2), v([3], 3)]) { t, x in
            projection(t, t.linear(x[0], x[1], x[2]), seed: 4)
        }
        #expect(linear.isEmpty, "\(linear)")
    }

    @Test("binned means over a batch and sorted values: gradients, and values against direct formulas")
    func statistics() {
        let bins: [Int32] = [0, 2, -1, 1, 0, 2, 2, -1, 1, 0, 1, 2]
        let binned = gradientCheck([v([3, 12], 1)], h: 1e-3, rtol: 2e-2, atol: 1e-3) { t, x in
            projection(t, t.binnedMean(x[0], bins: bins, count: 4), seed: 2)
        }
        #expect(binned.isEmpty, "\(binned)")
        // Distinct values: sorting is differentiable away from ties.
        let sorted = gradientCheck([v([2, 9], 3)], h: 1e-4, rtol: 2e-2, atol: 1e-3) { t, x in
            projection(t, t.sortedValues(x[0]), seed: 4)
        }
        #expect(sorted.isEmpty, "\(sorted)")
        let x = Tensor.normal([3, 12], seed: 5)
        let t = Tape(recording: false)
        let means = t.binnedMean(Variable(x), bins: bins, count: 4).value.scalars
        let values = x.scalars
        for b in 0..<4 {
            let members = (0..<36).filter { bins[$0 % 12] == Int32(b) }.map { Double(values[$0]) }
            let exact = members.isEmpty ? 0 : members.reduce(0, +) / Double(members.count)
            #expect(abs(Double(means[b]) - exact) < 1e-6, "bin \(b)")
        }
        #expect(t.sortedValues(Variable(x)).value.scalars == values.sorted())
    }

    @Test("voxel permutation and its inverse")
    func permutation() {
        let p: [Int32] = (0..<24).map { Int32(($0 * 7) % 24) }
        let x = v([1, 2, 2, 3, 4], 1)
        let t = Tape(recording: false)
        let back = t.permuteVoxels(t.permuteVoxels(x, p), Tape.inverse(p))
        #expect(back.value.scalars == x.value.scalars)
        #expect(t.permuteVoxels(x, p).value[0, 1, 0, 0, 1] == x.value.scalars[24 + 7])
        let failures = gradientCheck([x]) { t, x in projection(t, t.permuteVoxels(x[0], p), seed: 3) }
        #expect(failures.isEmpty, "\(failures)")
    }

    @Test(
        "spectral log-magnitude equals the DFT definition; its FFTW backward passes finite differences",
        arguments: [[4, 3, 6], [3, 4, 5]])
    func spectral(dims: [Int]) {
        let x = Tensor.normal([1, 2] + dims, seed: 11)
        let (y, _) = SpectralMagnitude.forward(x, epsilon: 1e-3)
        let (d, h, w) = (dims[0], dims[1], dims[2])
        for c in 0..<2 {
            let plane = Array(x.scalars[(c * d * h * w)..<((c + 1) * d * h * w)])
            let exact = Reference.dftMagnitude(plane, d: d, h: h, w: w)
            let bins = d * h * (w / 2 + 1)
            for i in 0..<bins {
                #expect(abs(Double(y.scalars[c * bins + i]) - Foundation.log(exact[i] + 1e-3)) < 1e-4, "bin \(i)")
            }
        }
        let failures = gradientCheck([Variable(x, requiresGrad: true)], h: 1e-2, rtol: 5e-2, atol: 5e-3, samples: 30) {
            t, v in
            projection(t, t.spectralLogMagnitude(v[0]), seed: 2)
        }
        #expect(failures.isEmpty, "\(failures)")
    }

    @Test("gradients flow through compositions of networks and accumulate across backward passes")
    func composition() {
        let a = UNet3D(base: 2, depth: 2, seed: 1)
        let b = UNet3D(base: 2, depth: 2, seed: 2)
        let x = Variable(Tensor.normal([1, 1, 4, 4, 4], seed: 3))
        // A cycle: x → a → b, compared with x (like DUAL's reconstruction loss).
        func loss(_ t: Tape) -> Variable { t.mse(b(a(x, tape: t), tape: t), x) }
        let params = [a.parameters[0], b.parameters[2]]
        let failures = gradientCheck(params, h: 1e-2, rtol: 5e-2, atol: 2e-3, samples: 6) { t, _ in loss(t) }
        #expect(failures.isEmpty, "\(failures)")
        for p in a.parameters + b.parameters { p.zeroGradient() }
        let t1 = Tape()
        t1.backward(loss(t1))
        let once = a.parameters[0].grad!
        let t2 = Tape()
        t2.backward(loss(t2))
        #expect(a.parameters[0].grad!.maxAbsDifference(once * 2) < 1e-5 * max(1, once.maxAbs))
    }
}

@Suite("Initialization, optimizers, safetensors")
struct TrainingTests {
    @Test(
        "orthogonal initialization has orthonormal rows or columns",
        arguments: [[8, 27], [64, 16], [16, 2, 3, 3, 3], [5, 5]])
    func orthogonal(shape: [Int]) {
        let w = Initializers.orthogonal(shape, seed: 3)
        let rows = shape[0]
        let cols = w.count / rows
        let m = w.scalars
        let small = min(rows, cols)
        for i in 0..<small {
            for j in 0..<small {
                var dot = 0.0
                if rows <= cols {
                    for c in 0..<cols { dot += Double(m[i * cols + c]) * Double(m[j * cols + c]) }
                } else {
                    for r in 0..<rows { dot += Double(m[r * cols + i]) * Double(m[r * cols + j]) }
                }
                #expect(abs(dot - (i == j ? 1 : 0)) < 1e-5, "\(shape) (\(i), \(j)) = \(dot)")
            }
        }
        #expect(Initializers.orthogonal(shape, seed: 3).scalars == m, "same seed, same weights")
    }

    @Test("AdamW's first steps follow the update rule computed by hand")
    func adamW() {
        let p = Variable(Tensor(shape: [2], values: [1, -2]), requiresGrad: true)
        let opt = AdamW([p], learningRate: 0.1, weightDecay: 0.01)
        var w: [Double] = [1, -2]
        var m: [Double] = [0, 0]
        var vv: [Double] = [0, 0]
        for step in 1...3 {
            let g: [Double] = [0.5 * Double(step), -1.5]
            p.grad = Tensor(shape: [2], values: g.map { Float($0) })
            opt.update()
            for i in 0..<2 {
                m[i] = 0.9 * m[i] + 0.1 * g[i]
                vv[i] = 0.999 * vv[i] + 0.001 * g[i] * g[i]
                let mh = m[i] / (1 - pow(0.9, Double(step)))
                let vh = vv[i] / (1 - pow(0.999, Double(step)))
                w[i] -= 0.1 * (0.01 * w[i] + mh / (vh.squareRoot() + 1e-8))
            }
            #expect(abs(Double(p.value.scalars[0]) - w[0]) < 1e-5 && abs(Double(p.value.scalars[1]) - w[1]) < 1e-5)
            #expect(p.grad == nil)
        }
    }

    @Test("AdamW's rate scales: each parameter follows the update rule at its own learning rate")
    func adamWRateScales() {
        let values: [Float] = [1, -2]
        let params = (0..<3).map { _ in Variable(Tensor(shape: [2], values: values), requiresGrad: true) }
        let opt = AdamW(params, learningRate: 0.1, weightDecay: 0.01, rateScales: [1, 0.25, 0])
        let alone = Variable(Tensor(shape: [2], values: values), requiresGrad: true)
        let reference = AdamW([alone], learningRate: 0.025, weightDecay: 0.01)
        for step in 1...3 {
            let g = Tensor(shape: [2], values: [0.5 * Float(step), -1.5])
            for p in params + [alone] { p.grad = g }
            opt.update()
            reference.update()
        }
        // Scale 0.25 is AdamW at a quarter of the rate, bit for bit; scale 0 leaves the parameter as it was.
        #expect(params[1].value.scalars == alone.value.scalars)
        #expect(params[2].value.scalars == values)
        #expect(params[0].value.scalars != values && params[0].value.scalars != alone.value.scalars)
    }

    @Test("training a tiny U-Net with AdamW lowers the loss; SGD moves against the gradient")
    func trainingReducesLoss() {
        let net = UNet3D(base: 2, depth: 2, seed: 5)
        let opt = AdamW(net.parameters, learningRate: 1e-2)
        let x = Variable(Tensor.normal([1, 1, 8, 8, 8], seed: 6))
        let target = Variable(Tensor.normal([1, 1, 8, 8, 8], seed: 6) * 0.5)
        var losses: [Float] = []
        for _ in 0..<30 {
            let t = Tape()
            let l = t.mse(net(x, tape: t), target)
            losses.append(l.value.scalar)
            t.backward(l)
            opt.update()
        }
        #expect(losses.last! < 0.5 * losses.first!, "\(losses.first!) → \(losses.last!)")
        let p = Variable(Tensor(shape: [1], values: [3]), requiresGrad: true)
        p.grad = Tensor(shape: [1], values: [2])
        SGD([p], learningRate: 0.25).update()
        #expect(p.value.scalar == 2.5)
    }

    @Test("large tensor buffers are kept for the next tensor of the same size, and zeros are zeros again")
    func bufferReuse() {
        // A size no other test uses (4.2 MB), so tests running in parallel do not take the buffer.
        let shape = [1, 1, 67, 61, 257]
        let bytes = 67 * 61 * 257 * 4
        var address: UInt = 0
        do {
            var t = Tensor(zeros: shape)
            t.withUnsafeMutableBufferPointer { p in
                address = UInt(bitPattern: p.baseAddress!)
                for i in 0..<p.count { p[i] = 1 }
            }
        }
        let again = Tensor(zeros: shape)
        #expect(again.withUnsafeBufferPointer { UInt(bitPattern: $0.baseAddress!) } == address)
        #expect(again.maxAbs == 0)
        // Below the threshold nothing is kept.
        let small = UnsafeMutableRawPointer.allocate(byteCount: 1 << 20, alignment: 64)
        #expect(!TensorBufferPool.keep(small, byteCount: 1 << 20))
        small.deallocate()
        #expect(bytes >= TensorBufferPool.minimumBytes)
    }

    @Test("safetensors round trip with the documented layout")
    func safetensors() throws {
        let dir = NSTemporaryDirectory() + "tomostore-engine-\(getpid())-\(UUID().uuidString.prefix(6))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let net = UNet3D(base: 2, depth: 2, seed: 9)
        try Safetensors.save(net, metadata: ["model": "unet"], to: dir + "/w.safetensors")
        let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: dir + "/w.safetensors")))
        let n = Int(bytes[0..<8].enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) })
        #expect(n % 8 == 0)
        let header = try #require(try JSONSerialization.jsonObject(with: Data(bytes[8..<(8 + n)])) as? [String: Any])
        let entry = try #require(header["down.0.conv1.weight"] as? [String: Any])
        #expect(entry["dtype"] as? String == "F32" && entry["shape"] as? [Int] == [2, 1, 3, 3, 3])
        let offsets = try #require(entry["data_offsets"] as? [Int])
        let first = Float(
            bitPattern: bytes[(8 + n + offsets[0])..<(8 + n + offsets[0] + 4)].enumerated().reduce(UInt32(0)) {
                $0 | UInt32($1.element) << (8 * UInt32($1.offset))
            })
        #expect(first == net.namedParameters.first { $0.0 == "down.0.conv1.weight" }!.1.value.scalars[0])
        let other = UNet3D(base: 2, depth: 2, seed: 10)
        let meta = try Safetensors.load(into: other, from: dir + "/w.safetensors")
        #expect(meta["model"] == "unet")
        for ((na, a), (nb, b)) in zip(net.namedParameters, other.namedParameters) {
            #expect(na == nb && a.value.scalars == b.value.scalars)
        }
        let x = Tensor.normal([1, 1, 8, 8, 8], seed: 1)
        #expect(net.infer(x).scalars == other.infer(x).scalars)
        #expect(throws: SafetensorsError.self) {
            try Safetensors.load(into: UNet3D(base: 4, depth: 2, seed: 1), from: dir + "/w.safetensors")
        }
    }
}
