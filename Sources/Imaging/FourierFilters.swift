import Engine
import Foundation
import Voxels

/// Filters applied in Fourier space with FFTW (3D r2c / c2r, plans cached per shape): radial
/// low/high/band-pass and arbitrary half-spectrum masks such as the missing wedge. Frequencies are in
/// cycles per voxel (0 … 0.5 at Nyquist).
public enum FourierFilter {
    /// Multiplies the volume's spectrum by `mask(kx, ky, kz)` (cycles/voxel, signed) and transforms
    /// back. The mask must be real and even (mask(−k) = mask(k)) for a real result.
    public static func apply(_ volume: Volume, mask: (Double, Double, Double) -> Double) -> Volume {
        let s = volume.shape
        let (d, h, w) = (s.z, s.y, s.x), wc = w / 2 + 1
        var real = volume.converted(to: .float32)
        let bins = d * h * wc
        var spectrum = [Float](repeating: 0, count: 2 * bins)
        real.withUnsafeMutableValues(as: Float.self) { r in
            spectrum.withUnsafeMutableBufferPointer { sp in
                FFTPlans.shared.forward([d, h, w], r.baseAddress!, sp.baseAddress!)
                let scale = 1 / Float(d * h * w)
                let base = sp.baseAddress!
                Parallel.forEach(d) { kz in
                    let fz = Double(kz <= d / 2 ? kz : kz - d) / Double(d)
                    for ky in 0..<h {
                        let fy = Double(ky <= h / 2 ? ky : ky - h) / Double(h)
                        for kx in 0..<wc {
                            let m = Float(mask(Double(kx) / Double(w), fy, fz)) * scale
                            let i = (kz * h + ky) * wc + kx
                            base[2 * i] *= m; base[2 * i + 1] *= m
                        }
                    }
                }
                FFTPlans.shared.inverse([d, h, w], sp.baseAddress!, r.baseAddress!)
            }
        }
        return real
    }

    /// A radial band-pass: passes |k| in [low, high] cycles/voxel with raised-cosine edges of width
    /// `rolloff` (low = 0: low-pass; high ≥ 0.87: high-pass).
    public static func bandPass(_ volume: Volume, low: Double, high: Double, rolloff: Double = 0.02) -> Volume {
        apply(volume) { kx, ky, kz in
            let k = (kx * kx + ky * ky + kz * kz).squareRoot()
            return edge(k, low: low, high: high, rolloff: rolloff)
        }
    }

    /// Smooth window: 1 inside [low, high], 0 outside, raised cosine across `rolloff` at each edge.
    static func edge(_ k: Double, low: Double, high: Double, rolloff: Double) -> Double {
        var v = 1.0
        if low > 0 {
            if k < low - rolloff { v = 0 } else if k < low { v *= 0.5 - 0.5 * cos(Double.pi * (k - low + rolloff) / max(rolloff, 1e-12)) }
        }
        if k > high + rolloff { v = 0 } else if k > high { v *= 0.5 + 0.5 * cos(Double.pi * (k - high) / max(rolloff, 1e-12)) }
        return v
    }
}

/// The missing wedge of single-axis tilt tomography: the Fourier components a tilt series about y
/// over [θmin, θmax] measures. With the beam along z, the projection at tilt θ samples the central
/// plane perpendicular to (sin θ, 0, cos θ) (x, y, z), so a component k is measured when
/// θ(k) = atan(−kz / kx) lies in the tilt range (ky is free). With the beam along x (the transposed
/// domain used for compensation) the roles of x and z swap: θ(k) = atan(−kx / kz).
public struct MissingWedge: Sendable {
    /// The beam (light) axis.
    public enum BeamAxis: String, Sendable { case z, x }
    public let minDegrees: Double
    public let maxDegrees: Double
    public let beam: BeamAxis

    public init(minDegrees: Double = -60, maxDegrees: Double = 60, beam: BeamAxis = .z) {
        self.minDegrees = minDegrees; self.maxDegrees = maxDegrees; self.beam = beam
    }

    /// 1 where the component (cycles/voxel) is measured, 0 in the missing wedge (the origin is measured).
    public func contains(kx: Double, ky: Double, kz: Double) -> Bool {
        let (along, across) = beam == .z ? (kz, kx) : (kx, kz)
        if along == 0 { return true }
        if across == 0 { return minDegrees <= -90 || maxDegrees >= 90 }
        let theta = atan(-along / across) * 180 / Double.pi  // (−90, 90)
        return theta >= minDegrees && theta <= maxDegrees
    }

    /// The volume with its missing-wedge components removed (what a tomogram over this range keeps).
    public func apply(to volume: Volume) -> Volume {
        FourierFilter.apply(volume) { kx, ky, kz in contains(kx: kx, ky: ky, kz: kz) ? 1 : 0 }
    }
}
