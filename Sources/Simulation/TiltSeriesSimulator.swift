import Foundation
import Imaging
import Voxels

/// How to image a grand model.
public struct TiltSeriesParameters: Sendable {
    /// Tilt range and step in degrees (about the y axis; the beam is along z at 0°).
    public var minTilt = -60.0, maxTilt = 60.0, tiltStep = 3.0
    /// Microscope: defocus in Å (positive = underfocus), voltage, Cs, amplitude contrast, B-factor; nil:
    /// projections as line integrals, unmodulated (density then comes out bright).
    public var ctf: CTF? = CTF(defocus: 30_000)
    /// Signal-to-noise ratio of each projection: variance of the CTF-modulated projection over the
    /// variance of the added Gaussian noise (used unless `dose` is set); 0: no noise.
    public var snr = 0.1
    /// Total electron dose in e⁻/Å² over the whole series: when set, noise is shot noise — each pixel
    /// counts Poisson(λ₀ · (1 + `contrast` · q / rms(q))) electrons, with λ₀ = dose per tilt × voxel
    /// area and q the CTF-modulated projection; the image is then counts / λ₀ − 1.
    public var dose: Double? = nil
    /// RMS relative modulation of the beam by the specimen for shot noise (0.1 = 10%).
    public var contrast = 0.1
    public var seed: UInt64 = 1

    public init() {}

    /// The tilt angles in degrees, from min to max by step (max included when on the grid).
    public var tilts: [Double] {
        guard tiltStep > 0, maxTilt >= minTilt else { return [minTilt] }
        return (0...Int(((maxTilt - minTilt) / tiltStep + 1e-9).rounded(.down))).map { minTilt + Double($0) * tiltStep }
    }
}

/// Images a density map the way a microscope and a reconstruction program would: a tilt series of
/// projections about y (line integrals, bilinear sampling, one voxel steps), the CTF applied to
/// each projection, Gaussian noise at the requested SNR per projection, then weighted
/// back-projection (ramp filter along the tilt-perpendicular axis) onto the map's grid. The
/// tomogram therefore has the missing wedge of the tilt range, CTF fringes and correlated noise.
/// Geometry: at tilt θ the detector coordinate of a point (x, z) (voxels from the volume centre) is
/// u = x cos θ − z sin θ, the beam runs along (sin θ, 0, cos θ), so the measured Fourier components
/// satisfy atan(−kz/kx) ∈ [θmin, θmax] (`MissingWedge`). Contrast as in experimental data: density
/// (protein) comes out dark.
public enum TiltSeriesSimulator {
    /// The tomogram of `density` (float32 [z][y][x]) and its noisy tilt series ([tilt][y][u]).
    public static func simulate(_ density: Volume, voxelSize: Double, parameters p: TiltSeriesParameters) -> (
        tomogram: Volume, tiltSeries: Volume
    ) {
        let f = density.converted(to: .float32)
        let s = f.shape
        let tilts = p.tilts
        var projections = project(f, tilts: tilts)
        // CTF and noise, tilt by tilt.
        let rng = CounterRNG(seed: p.seed)
        let plane = s.x * s.y
        var series = Volume(shape: Extent3(x: s.x, y: s.y, z: tilts.count), dtype: .float32)
        for (t, _) in tilts.enumerated() {
            let image = projections.extracting(Box3(x: 0..<s.x, y: 0..<s.y, z: t..<(t + 1)))
            let modulated = p.ctf?.multiply(image, voxelSize: voxelSize) ?? image
            let sd = VoxelStatistics.of(modulated).rms
            var noisy = modulated
            if let dose = p.dose {
                let lambda0 = dose / Double(tilts.count) * voxelSize * voxelSize
                let scale = sd > 0 ? p.contrast / sd : 0
                noisy.withUnsafeMutableValues(as: Float.self) { v in
                    for i in 0..<plane {
                        let expected = lambda0 * max(0, 1 + scale * Double(v[i]))
                        let counts = Self.poisson(expected, rng, stream: 100 + UInt64(t), counter: UInt64(i))
                        v[i] = Float(counts / lambda0 - 1)
                    }
                }
            } else if p.snr > 0 {
                let noise = sd / p.snr.squareRoot()
                noisy.withUnsafeMutableValues(as: Float.self) { v in
                    for i in 0..<plane {
                        v[i] += Float(noise * rng.normal(stream: 100 + UInt64(t), counter: UInt64(i)))
                    }
                }
            }
            series.copyRegion(
                from: noisy, sourceBox: Box3(shape: noisy.shape), destinationOrigin: Extent3(x: 0, y: 0, z: t))
        }
        projections = series
        // Weighted back-projection: ramp filter along u, then back-project.
        var filtered = Volume(shape: series.shape, dtype: .float32)
        for t in 0..<tilts.count {
            let image = series.extracting(Box3(x: 0..<s.x, y: 0..<s.y, z: t..<(t + 1)))
            let ramp = FourierFilter.apply(image) { kx, _, _ in abs(kx) * 2 }
            filtered.copyRegion(
                from: ramp, sourceBox: Box3(shape: ramp.shape), destinationOrigin: Extent3(x: 0, y: 0, z: t))
        }
        return (backProject(filtered, tilts: tilts, shape: s), projections)
    }

    /// A Poisson draw with mean λ from counter-based uniforms: inversion (multiplying uniforms) below
    /// λ = 30, the normal approximation round(λ + √λ·z) (never negative) above.
    static func poisson(_ lambda: Double, _ rng: CounterRNG, stream: UInt64, counter: UInt64) -> Double {
        if lambda <= 0 { return 0 }
        if lambda >= 30 {
            return max(0, (lambda + lambda.squareRoot() * rng.normal(stream: stream, counter: counter)).rounded())
        }
        let limit = exp(-lambda)
        var product = 1.0
        var k = 0.0
        var draw: UInt64 = 0
        repeat {
            product *= rng.uniform(stream: stream + 7_919, counter: counter &* 128 &+ draw)
            draw += 1
            k += 1
        } while product > limit && draw < 128
        return k - 1
    }

    /// Line integrals through each xz-slice for every tilt: [tilt][y][u], u along x of the detector.
    public static func project(_ f: Volume, tilts: [Double]) -> Volume {
        let s = f.shape
        var out = Volume(shape: Extent3(x: s.x, y: s.y, z: tilts.count), dtype: .float32)
        let cx = Double(s.x - 1) / 2
        let cz = Double(s.z - 1) / 2
        // Samples one voxel apart along the beam, placed so that at 0° they fall on voxel centres.
        let reach = Int((Double(s.x * s.x + s.z * s.z)).squareRoot() / 2) + 1
        let steps = 2 * reach + 1
        let offset = cz - cz.rounded(.down)
        f.withUnsafeValues(as: Float.self) { src in
            out.withUnsafeMutableValues(as: Float.self) { dst in
                let a = src.baseAddress!
                let o = dst.baseAddress!
                Parallel.forEach(s.y) { y in
                    for (t, degrees) in tilts.enumerated() {
                        let th = degrees * Double.pi / 180
                        let c = cos(th)
                        let sn = sin(th)
                        for iu in 0..<s.x {
                            let u = Double(iu) - cx
                            var acc = 0.0
                            for k in 0..<steps {
                                let tt = Double(k - reach) - offset
                                let x = u * c + tt * sn + cx
                                let z = -u * sn + tt * c + cz
                                if x < 0 || z < 0 || x > Double(s.x - 1) || z > Double(s.z - 1) { continue }
                                let x0 = min(Int(x), s.x - 2 < 0 ? 0 : s.x - 2)
                                let z0 = min(Int(z), s.z - 2 < 0 ? 0 : s.z - 2)
                                let fx = x - Double(x0)
                                let fz = z - Double(z0)
                                let x1 = min(x0 + 1, s.x - 1)
                                let z1 = min(z0 + 1, s.z - 1)
                                let v00 = Double(a[(z0 * s.y + y) * s.x + x0])
                                let v01 = Double(a[(z0 * s.y + y) * s.x + x1])
                                let v10 = Double(a[(z1 * s.y + y) * s.x + x0])
                                let v11 = Double(a[(z1 * s.y + y) * s.x + x1])
                                acc += (v00 * (1 - fx) + v01 * fx) * (1 - fz) + (v10 * (1 - fx) + v11 * fx) * fz
                            }
                            o[(t * s.y + y) * s.x + iu] = Float(acc)
                        }
                    }
                }
            }
        }
        return out
    }

    /// Back-projects filtered projections [tilt][y][u] onto a volume of `shape`, linear in u.
    public static func backProject(_ p: Volume, tilts: [Double], shape s: Extent3) -> Volume {
        var out = Volume(shape: s, dtype: .float32)
        let cx = Double(s.x - 1) / 2
        let cz = Double(s.z - 1) / 2
        let weight = Float(Double.pi / Double(max(1, tilts.count)))
        p.withUnsafeValues(as: Float.self) { src in
            out.withUnsafeMutableValues(as: Float.self) { dst in
                let a = src.baseAddress!
                let o = dst.baseAddress!
                Parallel.forEach(s.y) { y in
                    for (t, degrees) in tilts.enumerated() {
                        let th = degrees * Double.pi / 180
                        let c = cos(th)
                        let sn = sin(th)
                        let row = a + (t * s.y + y) * s.x
                        for z in 0..<s.z {
                            let zc = Double(z) - cz
                            for x in 0..<s.x {
                                let u = (Double(x) - cx) * c - zc * sn + cx
                                if u < 0 || u > Double(s.x - 1) { continue }
                                let u0 = min(Int(u), max(0, s.x - 2))
                                let fu = Float(u - Double(u0))
                                let u1 = min(u0 + 1, s.x - 1)
                                o[(z * s.y + y) * s.x + x] += weight * (row[u0] * (1 - fu) + row[u1] * fu)
                            }
                        }
                    }
                }
            }
        }
        return out
    }
}
