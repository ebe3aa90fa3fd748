import CFFTW
import Foundation
import Voxels

/// FFTW plans for 3D real transforms, made once per shape behind a lock (the planner is not
/// thread-safe) and executed from any thread with FFTW's new-array functions.
public final class FFTPlans: @unchecked Sendable {
    // @unchecked: holds fftwf_plan handles, made under `lock` (FFTW's planner is not thread-safe)
    // and then only executed, which FFTW allows from any thread with the new-array functions.
    public static let shared = FFTPlans()
    private let lock = NSLock()
    private var forward: [[Int]: OpaquePointer] = [:]
    private var inverse: [[Int]: OpaquePointer] = [:]

    private func plan(_ shape: [Int], inverse isInverse: Bool) -> OpaquePointer {
        lock.lock()
        defer { lock.unlock() }
        if let p = isInverse ? inverse[shape] : forward[shape] { return p }
        let (d, h, w) = (Int32(shape[0]), Int32(shape[1]), Int32(shape[2]))
        let real = fftwf_alloc_real(shape[0] * shape[1] * shape[2])!
        let complex = fftwf_alloc_complex(shape[0] * shape[1] * (shape[2] / 2 + 1))!
        defer {
            fftwf_free(real)
            fftwf_free(complex)
        }
        let flags = UInt32(FFTW_ESTIMATE) | UInt32(FFTW_UNALIGNED)
        let p =
            isInverse
            ? fftwf_plan_dft_c2r_3d(d, h, w, complex, real, flags)!
            : fftwf_plan_dft_r2c_3d(d, h, w, real, complex, flags)!
        if isInverse { inverse[shape] = p } else { forward[shape] = p }
        return p
    }

    private var columns: [[Int]: OpaquePointer] = [:]

    /// Unnormalized in-place complex transform along the first axis of a [N][M] complex array
    /// (interleaved re, im): M transforms of length N, stride M (FFTW's forward sign −1, inverse +1).
    public func columns(length n: Int, count m: Int, inverse isInverse: Bool, _ data: UnsafeMutablePointer<Float>) {
        let key = [n, m, isInverse ? 1 : 0]
        lock.lock()
        let p: OpaquePointer
        if let cached = columns[key] {
            p = cached
        } else {
            let scratch = fftwf_alloc_complex(n * m)!
            var length = Int32(n)
            let flags = UInt32(FFTW_ESTIMATE) | UInt32(FFTW_UNALIGNED)
            p = fftwf_plan_many_dft(
                1, &length, Int32(m), scratch, nil, Int32(m), 1, scratch, nil, Int32(m), 1,
                isInverse ? FFTW_BACKWARD : FFTW_FORWARD, flags)!
            fftwf_free(scratch)
            columns[key] = p
        }
        lock.unlock()
        data.withMemoryRebound(to: fftwf_complex.self, capacity: 1) { fftwf_execute_dft(p, $0, $0) }
    }

    /// Unnormalized r2c transform of a [D][H][W] real array into [D][H][W/2+1] complex (interleaved re, im).
    public func forward(_ shape: [Int], _ input: UnsafeMutablePointer<Float>, _ output: UnsafeMutablePointer<Float>) {
        let p = plan(shape, inverse: false)
        output.withMemoryRebound(to: fftwf_complex.self, capacity: 1) { fftwf_execute_dft_r2c(p, input, $0) }
    }

    /// Unnormalized c2r transform (destroys its input, as FFTW's c2r does).
    public func inverse(_ shape: [Int], _ input: UnsafeMutablePointer<Float>, _ output: UnsafeMutablePointer<Float>) {
        let p = plan(shape, inverse: true)
        input.withMemoryRebound(to: fftwf_complex.self, capacity: 1) { fftwf_execute_dft_c2r(p, $0, output) }
    }
}

/// log(|rfftn(x)| + ε) over the last three axes of [N, C, D, H, W]: the spectral view the DUAL
/// discriminators score. Output [N, C, D, H, W/2+1].
public enum SpectralMagnitude {
    /// Forward; also returns the complex spectrum (interleaved) needed by the backward pass.
    public static func forward(_ x: Tensor, epsilon: Float) -> (Tensor, [Float]) {
        let s = x.shape
        precondition(s.count == 5, "spectral magnitude needs [N, C, D, H, W], not \(s)")
        let (d, h, w) = (s[2], s[3], s[4])
        let wc = w / 2 + 1
        let planes = s[0] * s[1]
        let real = d * h * w
        let bins = d * h * wc
        var spectrum = [Float](repeating: 0, count: planes * bins * 2)
        var y = Tensor(uninitialized: [s[0], s[1], d, h, wc])
        x.withUnsafeBufferPointer { xp in
            spectrum.withUnsafeMutableBufferPointer { sp in
                y.withUnsafeMutableBufferPointer { yp in
                    let spBase = sp.baseAddress!
                    let ypBase = yp.baseAddress!
                    Parallel.forEach(planes) { p in
                        Workspace.with { ws in
                            let input = ws.floats(real)
                            input.update(from: xp.baseAddress! + p * real, count: real)
                            let out = spBase + p * bins * 2
                            FFTPlans.shared.forward([d, h, w], input, out)
                            for i in 0..<bins {
                                let re = out[2 * i]
                                let im = out[2 * i + 1]
                                ypBase[p * bins + i] = Foundation.log((re * re + im * im).squareRoot() + epsilon)
                            }
                        }
                    }
                }
            }
        }
        return (y, spectrum)
    }

    /// Gradient: with G = dL/dy · z / (|z| (|z| + ε)) on the stored half-spectrum, dL/dx = Re Σ G e^{+iωn},
    /// computed with FFTW's c2r after mapping G to the Hermitian input c2r expects (halved off the
    /// W = 0 and Nyquist planes; Hermitian part on those planes).
    public static func backward(_ dy: Tensor, spectrum: [Float], inputShape s: [Int], epsilon: Float) -> Tensor {
        let (d, h, w) = (s[2], s[3], s[4])
        let wc = w / 2 + 1
        let planes = s[0] * s[1]
        let real = d * h * w
        let bins = d * h * wc
        var dx = Tensor(uninitialized: s)
        let dxp = dx.withUnsafeMutableBufferPointer { $0.baseAddress! }
        dy.withUnsafeBufferPointer { g in
            spectrum.withUnsafeBufferPointer { sp in
                Parallel.forEach(planes) { p in
                    Workspace.with { ws in
                        let buffer = ws.floats(bins * 2 + real)
                        let grad = buffer
                        let out = buffer + bins * 2
                        let z = sp.baseAddress! + p * bins * 2
                        for i in 0..<bins {
                            let re = z[2 * i]
                            let im = z[2 * i + 1]
                            let m = (re * re + im * im).squareRoot()
                            let scale = m > 0 ? g[p * bins + i] / (m * (m + epsilon)) : 0
                            grad[2 * i] = re * scale
                            grad[2 * i + 1] = im * scale
                        }
                        // Map to c2r's Hermitian convention.
                        let edge = w % 2 == 0 ? [0, wc - 1] : [0]
                        for kz in 0..<d {
                            for ky in 0..<h {
                                for kx in 0..<wc where !edge.contains(kx) {
                                    let i = (kz * h + ky) * wc + kx
                                    grad[2 * i] *= 0.5
                                    grad[2 * i + 1] *= 0.5
                                }
                            }
                        }
                        for kx in edge {
                            for kz in 0..<d {
                                for ky in 0..<h {
                                    let mz = (d - kz) % d
                                    let my = (h - ky) % h
                                    let i = (kz * h + ky) * wc + kx
                                    let j = (mz * h + my) * wc + kx
                                    if i > j { continue }
                                    let re = 0.5 * (grad[2 * i] + grad[2 * j])
                                    let im = 0.5 * (grad[2 * i + 1] - grad[2 * j + 1])
                                    grad[2 * i] = re
                                    grad[2 * i + 1] = im
                                    grad[2 * j] = re
                                    grad[2 * j + 1] = -im
                                }
                            }
                        }
                        FFTPlans.shared.inverse([d, h, w], grad, out)
                        (dxp + p * real).update(from: out, count: real)
                    }
                }
            }
        }
        return dx
    }
}
