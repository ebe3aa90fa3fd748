import Engine
import Foundation
import Voxels

/// The grain of a volume's texture: the power-weighted mean spatial frequency |k| (cycles per
/// voxel, 0.04 < |k| ≤ 0.5) of Hann-windowed 32³ boxes. In a low-SNR tomogram the power is mostly
/// noise, so this measures how fine the noise is: about 0.37 for white noise, less for noise that
/// is smooth (low-passed, binned, upsampled). Resampling by a factor f (voxels per voxel) scales it by
/// about 1/f. A denoiser separates structure from noise by scale, so it needs input whose grain is
/// near the grain of its training data.
public enum NoiseGrain {
    /// Measures the grain of a volume of `shape` voxels from up to 27 boxes at fixed positions
    /// (three per axis), read through `read`; the same volume always gives the same value.
    public static func measure(shape: Extent3, read: (Box3) throws -> Volume) throws -> Double {
        let e = (x: min(32, shape.x), y: min(32, shape.y), z: min(32, shape.z))
        func starts(_ n: Int, _ edge: Int) -> [Int] {
            n <= edge ? [0] : Array(Set([0, (n - edge) / 2, n - edge])).sorted()
        }
        func hann(_ n: Int) -> [Float] {
            (0..<n).map { n > 1 ? Float(0.5 - 0.5 * cos(2 * Double.pi * (Double($0) + 0.5) / Double(n))) : 1 }
        }
        let (wx, wy, wz) = (hann(e.x), hann(e.y), hann(e.z))
        let half = e.x / 2 + 1
        var power = [Double](repeating: 0, count: e.z * e.y * half)
        var input = [Float](repeating: 0, count: e.z * e.y * e.x)
        var output = [Float](repeating: 0, count: 2 * e.z * e.y * half)
        for z in starts(shape.z, e.z) {
            for y in starts(shape.y, e.y) {
                for x in starts(shape.x, e.x) {
                    let box = Box3(x: x..<(x + e.x), y: y..<(y + e.y), z: z..<(z + e.z))
                    let values = try read(box).converted(to: .float32).values(as: Float.self)
                    let mean = values.reduce(0, +) / Float(values.count)
                    for k in 0..<e.z {
                        for j in 0..<e.y {
                            for i in 0..<e.x {
                                let n = (k * e.y + j) * e.x + i
                                input[n] = (values[n] - mean) * wz[k] * wy[j] * wx[i]
                            }
                        }
                    }
                    input.withUnsafeMutableBufferPointer { src in
                        output.withUnsafeMutableBufferPointer { dst in
                            FFTPlans.shared.forward([e.z, e.y, e.x], src.baseAddress!, dst.baseAddress!)
                        }
                    }
                    for n in 0..<power.count {
                        let (re, im) = (Double(output[2 * n]), Double(output[2 * n + 1]))
                        power[n] += re * re + im * im
                    }
                }
            }
        }
        func frequency(_ i: Int, _ n: Int) -> Double { Double(i <= n / 2 ? i : i - n) / Double(n) }
        var (weighted, total) = (0.0, 0.0)
        for k in 0..<e.z {
            for j in 0..<e.y {
                for i in 0..<half {
                    let f = (frequency(k, e.z), frequency(j, e.y), Double(i) / Double(e.x))
                    let radius = (f.0 * f.0 + f.1 * f.1 + f.2 * f.2).squareRoot()
                    guard radius > 0.04 && radius <= 0.5 else { continue }
                    // The half spectrum holds the columns 1 … (W−1)/2 twice over (conjugates).
                    let multiplicity = (i == 0 || (e.x % 2 == 0 && i == e.x / 2)) ? 1.0 : 2.0
                    let p = power[(k * e.y + j) * half + i] * multiplicity
                    weighted += p * radius
                    total += p
                }
            }
        }
        return total > 0 ? weighted / total : 0
    }
}
