import Foundation
import Voxels

/// Perona–Malik nonlinear anisotropic diffusion (the DUAL paper's "NAD" baseline): repeated
/// explicit steps u ← u + λ Σ over the 6 face neighbours of g(|∇u|)·∇u, with conductance
/// g(s) = exp(−(s/κ)²) (or 1/(1 + (s/κ)²)), zero flux across the volume's borders.
public enum AnisotropicDiffusion {
    /// The edge-stopping function.
    public enum Conductance: String, Sendable { case exponential, quadratic }

    /// Filters a volume (converted to float32).
    /// - Parameters:
    ///   - kappa: edge threshold, in the volume's intensity units (e.g. its standard deviation).
    ///   - lambda: step size, at most 1/6 for stability in 3D.
    ///   - iterations: number of steps.
    public static func apply(
        _ volume: Volume, kappa: Double, lambda: Double = 1.0 / 7, iterations: Int,
        conductance: Conductance = .exponential
    ) -> Volume {
        precondition(lambda > 0 && lambda <= 1.0 / 6, "λ must be in (0, 1/6] for a stable 3D step")
        var u = volume.converted(to: .float32)
        let s = u.shape
        var next = u
        let k2 = Float(kappa * kappa)
        let lam = Float(lambda)
        let exponential = conductance == .exponential
        for _ in 0..<iterations {
            u.withUnsafeValues(as: Float.self) { src in
                next.withUnsafeMutableValues(as: Float.self) { dst in
                    let a = src.baseAddress!
                    let out = dst.baseAddress!
                    Parallel.forEach(s.z) { z in
                        for y in 0..<s.y {
                            for x in 0..<s.x {
                                let i = (z * s.y + y) * s.x + x
                                let c = a[i]
                                var flux: Float = 0
                                @inline(__always) func add(_ j: Int) {
                                    let d = a[j] - c
                                    let g = exponential ? Foundation.exp(-(d * d) / k2) : 1 / (1 + d * d / k2)
                                    flux += g * d
                                }
                                if x > 0 { add(i - 1) }
                                if x < s.x - 1 { add(i + 1) }
                                if y > 0 { add(i - s.x) }
                                if y < s.y - 1 { add(i + s.x) }
                                if z > 0 { add(i - s.x * s.y) }
                                if z < s.z - 1 { add(i + s.x * s.y) }
                                out[i] = c + lam * flux
                            }
                        }
                    }
                }
            }
            swap(&u, &next)
        }
        return u
    }
}
