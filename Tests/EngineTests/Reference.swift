import Foundation

@testable import Engine

/// Naive, independent reference implementations (Double accumulation) used by the engine tests.
enum Reference {
    /// Direct 3D convolution: x [N, Cin, D, H, W], w [Cout, Cin, k, k, k], zero padding p, stride s.
    static func conv3d(_ x: Tensor, _ w: Tensor, _ b: Tensor?, stride s: Int, pad p: Int) -> Tensor {
        let (n, cin, d, h, wd) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3], x.shape[4])
        let cout = w.shape[0]
        let k = w.shape[2]
        let od = (d + 2 * p - k) / s + 1
        let oh = (h + 2 * p - k) / s + 1
        let ow = (wd + 2 * p - k) / s + 1
        var out = [Float](repeating: 0, count: n * cout * od * oh * ow)
        let xs = x.scalars
        let ws = w.scalars
        let bs = b?.scalars
        for i in 0..<n {
            for co in 0..<cout {
                for z in 0..<od {
                    for y in 0..<oh {
                        for xx in 0..<ow {
                            var acc = Double(bs?[co] ?? 0)
                            for ci in 0..<cin {
                                for kz in 0..<k {
                                    for ky in 0..<k {
                                        for kx in 0..<k {
                                            let zi = z * s + kz - p
                                            let yi = y * s + ky - p
                                            let xi = xx * s + kx - p
                                            if zi < 0 || zi >= d || yi < 0 || yi >= h || xi < 0 || xi >= wd { continue }
                                            acc +=
                                                Double(xs[(((i * cin + ci) * d + zi) * h + yi) * wd + xi])
                                                * Double(ws[(((co * cin + ci) * k + kz) * k + ky) * k + kx])
                                        }
                                    }
                                }
                            }
                            out[(((i * cout + co) * od + z) * oh + y) * ow + xx] = Float(acc)
                        }
                    }
                }
            }
        }
        return Tensor(shape: [n, cout, od, oh, ow], values: out)
    }

    /// Direct transposed convolution, kernel 2, stride 2; w [Cin, Cout, 2, 2, 2].
    static func convTranspose(_ x: Tensor, _ w: Tensor, _ b: Tensor?) -> Tensor {
        let (n, cin, d, h, wd) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3], x.shape[4])
        let cout = w.shape[1]
        var out = [Double](repeating: 0, count: n * cout * 8 * d * h * wd)
        let xs = x.scalars
        let ws = w.scalars
        for i in 0..<n {
            for ci in 0..<cin {
                for co in 0..<cout {
                    for z in 0..<d {
                        for y in 0..<h {
                            for xx in 0..<wd {
                                for a in 0..<2 {
                                    for bb in 0..<2 {
                                        for c in 0..<2 {
                                            let o =
                                                (((i * cout + co) * 2 * d + 2 * z + a) * 2 * h + 2 * y + bb) * 2 * wd
                                                + 2 * xx + c
                                            out[o] +=
                                                Double(xs[(((i * cin + ci) * d + z) * h + y) * wd + xx])
                                                * Double(ws[(((ci * cout + co) * 2 + a) * 2 + bb) * 2 + c])
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        if let b {
            let per = 8 * d * h * wd
            for i in 0..<n {
                for co in 0..<cout { for v in 0..<per { out[(i * cout + co) * per + v] += Double(b.scalars[co]) } }
            }
        }
        return Tensor(shape: [n, cout, 2 * d, 2 * h, 2 * wd], values: out.map { Float($0) })
    }

    /// |DFT| of a real [D][H][W] array on the half spectrum [D][H][W/2+1], by the definition.
    static func dftMagnitude(_ v: [Float], d: Int, h: Int, w: Int) -> [Double] {
        let wc = w / 2 + 1
        var out = [Double](repeating: 0, count: d * h * wc)
        for kz in 0..<d {
            for ky in 0..<h {
                for kx in 0..<wc {
                    var re = 0.0
                    var im = 0.0
                    for z in 0..<d {
                        for y in 0..<h {
                            for x in 0..<w {
                                let phase =
                                    -2 * Double.pi
                                    * (Double(kz * z) / Double(d) + Double(ky * y) / Double(h) + Double(kx * x)
                                        / Double(w))
                                re += Double(v[(z * h + y) * w + x]) * cos(phase)
                                im += Double(v[(z * h + y) * w + x]) * sin(phase)
                            }
                        }
                    }
                    out[(kz * h + ky) * wc + kx] = (re * re + im * im).squareRoot()
                }
            }
        }
        return out
    }
}

/// Finite-difference gradient check: loss(inputs) must be a scalar built on a fresh tape; compares
/// the tape's gradient with central differences on up to `samples` elements of each input.
/// Tolerance: |analytic − numeric| ≤ atol + rtol·|numeric| (float32 forward passes, step h).
func gradientCheck(
    _ inputs: [Variable], h: Float = 1e-2, rtol: Float = 3e-2, atol: Float = 3e-3, samples: Int = 12,
    _ loss: (Tape, [Variable]) -> Variable
) -> [String] {
    let tape = Tape()
    let l = loss(tape, inputs)
    tape.backward(l)
    var failures: [String] = []
    for (k, v) in inputs.enumerated() where v.requiresGrad {
        let analytic = v.grad ?? Tensor(zeros: v.shape)
        let n = v.value.count
        for s in 0..<min(samples, n) {
            let i = (s * 7919 + k * 31) % n
            let original = v.value.scalars[i]
            func evaluate(_ value: Float) -> Float {
                v.value.withUnsafeMutableBufferPointer { $0[i] = value }
                return loss(Tape(recording: false), inputs).value.scalar
            }
            let numeric = (evaluate(original + h) - evaluate(original - h)) / (2 * h)
            _ = evaluate(original)
            let a = analytic.scalars[i]
            if abs(a - numeric) > atol + rtol * abs(numeric) {
                failures.append("input \(k) element \(i): analytic \(a), numeric \(numeric)")
            }
        }
    }
    return failures
}

/// A fixed random projection turning any tensor into a scalar loss: Σ y ⊙ R.
func projection(_ tape: Tape, _ y: Variable, seed: UInt64) -> Variable {
    tape.sum(tape.mul(y, Variable(Tensor.normal(y.shape, seed: seed))))
}

func relativeError(_ a: Tensor, _ b: Tensor) -> Float {
    a.maxAbsDifference(b) / max(b.maxAbs, 1e-12)
}
