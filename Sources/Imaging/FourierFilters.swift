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
        let (d, h, w) = (s.z, s.y, s.x)
        let wc = w / 2 + 1
        var real = volume.converted(to: .float32)
        let bins = d * h * wc
        var spectrum = [Float](repeating: 0, count: 2 * bins)
        real.withUnsafeMutableValues(as: Float.self) { r in
            spectrum.withUnsafeMutableBufferPointer { sp in
                FFTPlans.shared.forward([d, h, w], r.baseAddress!, sp.baseAddress!)
                let scale = 1 / Float(d * h * w)
                let base = sp.baseAddress!
                Parallel.forEach(d) { kz in
                    let fz = frequency(kz, d)
                    for ky in 0..<h {
                        let fy = frequency(ky, h)
                        for kx in 0..<wc {
                            let m = Float(mask(Double(kx) / Double(w), fy, fz)) * scale
                            let i = (kz * h + ky) * wc + kx
                            base[2 * i] *= m
                            base[2 * i + 1] *= m
                        }
                    }
                }
                FFTPlans.shared.inverse([d, h, w], sp.baseAddress!, r.baseAddress!)
            }
        }
        return real
    }

    /// The signed frequency (cycles/voxel) of FFT index i along an axis of n samples; index n/2 of
    /// an even n is +0.5.
    static func frequency(_ i: Int, _ n: Int) -> Double { Double(i <= n / 2 ? i : i - n) / Double(n) }

    /// `mask(kx, ky, kz)` (cycles/voxel, signed) sampled on the r2c half spectrum of a volume of
    /// `shape`: [kz][ky][kx] with kx in 0…nx/2, the layout `FFTPlans.forward` writes.
    public static func halfSpectrum(_ shape: Extent3, mask: (Double, Double, Double) -> Double) -> [Float] {
        let (d, h, w) = (shape.z, shape.y, shape.x)
        let wc = w / 2 + 1
        var out = [Float](repeating: 0, count: d * h * wc)
        for kz in 0..<d {
            let fz = frequency(kz, d)
            for ky in 0..<h {
                let fy = frequency(ky, h)
                for kx in 0..<wc { out[(kz * h + ky) * wc + kx] = Float(mask(Double(kx) / Double(w), fy, fz)) }
            }
        }
        return out
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
    public static func edge(_ k: Double, low: Double, high: Double, rolloff: Double) -> Double {
        var v = 1.0
        if low > 0 {
            if k < low - rolloff {
                v = 0
            } else if k < low {
                v *= 0.5 - 0.5 * cos(Double.pi * (k - low + rolloff) / max(rolloff, 1e-12))
            }
        }
        if k > high + rolloff {
            v = 0
        } else if k > high {
            v *= 0.5 + 0.5 * cos(Double.pi * (k - high) / max(rolloff, 1e-12))
        }
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
        self.minDegrees = minDegrees
        self.maxDegrees = maxDegrees
        self.beam = beam
    }

    /// 1 where the component (cycles/voxel) is measured, 0 in the missing wedge (the origin is measured).
    public func contains(kx: Double, ky: Double, kz: Double) -> Bool {
        let (along, across) = beam == .z ? (kz, kx) : (kx, kz)
        if along == 0 { return true }
        if across == 0 { return minDegrees <= -90 || maxDegrees >= 90 }
        let theta = atan(-along / across) * 180 / Double.pi  // (−90, 90)
        return theta >= minDegrees && theta <= maxDegrees
    }

    /// The tilt angle θ(k) (degrees, in (−90, 90]) of the central plane that contains k; nil at the origin.
    public func angle(kx: Double, kz: Double) -> Double? {
        let (along, across) = beam == .z ? (kz, kx) : (kx, kz)
        if along == 0 && across == 0 { return nil }
        if across == 0 { return 90 }
        return atan(-along / across) * 180 / Double.pi
    }

    /// How many degrees θ(k) lies outside the tilt range (angles wrap every 180°): negative inside
    /// the range (minus the distance to its nearer edge), positive in the missing wedge.
    public func degreesIntoWedge(kx: Double, kz: Double) -> Double {
        guard maxDegrees - minDegrees < 180, let theta = angle(kx: kx, kz: kz) else { return -90 }
        if theta >= minDegrees && theta <= maxDegrees { return -min(theta - minDegrees, maxDegrees - theta) }
        func positive(_ a: Double) -> Double {
            let r = a.truncatingRemainder(dividingBy: 180)
            return r < 0 ? r + 180 : r
        }
        return min(positive(minDegrees - theta), positive(theta - maxDegrees))
    }

    /// A smooth missing-wedge indicator: 0 where measured, 1 in the wedge, with a raised-cosine
    /// transition `transition` degrees wide centred on the wedge's edges (0: a hard edge, where the
    /// edge itself counts as measured). The origin is measured.
    public func wedgeWeight(kx: Double, ky: Double, kz: Double, transition: Double) -> Double {
        let d = degreesIntoWedge(kx: kx, kz: kz)
        let h = transition / 2
        if d <= -h || (transition == 0 && d <= 0) { return 0 }
        if d >= h { return 1 }
        return 0.5 - 0.5 * cos(Double.pi * (d + h) / transition)
    }

    /// The volume with its missing-wedge components removed (what a tomogram over this range keeps),
    /// with a hard edge or a raised-cosine one `transition` degrees wide (`wedgeWeight`).
    public func apply(to volume: Volume, transition: Double = 0) -> Volume {
        FourierFilter.apply(volume) { kx, ky, kz in 1 - wedgeWeight(kx: kx, ky: ky, kz: kz, transition: transition) }
    }
}
