import Foundation
import TestSupport
import Testing
import Voxels

@testable import Imaging
@testable import Simulation

@Suite("Templates, grand models, simulator")
struct SimulationTests {
    @Test("built-in templates: eight or more distinct shapes, 10–30 nm, dense at their centre of mass")
    func templates() {
        let t = Template.builtIn
        #expect(t.count >= 8 && Set(t.map(\.name)).count == t.count)
        for template in t {
            #expect(
                template.radius * 2 >= 90 && template.radius * 2 <= 340,
                "\(template.name): diameter \(template.radius * 2) Å")
            var peak = 0.0
            for x in stride(from: -template.radius, through: template.radius, by: 5) {
                for y in stride(from: -template.radius, through: template.radius, by: 5) {
                    for z in stride(from: -template.radius, through: template.radius, by: 5) {
                        peak = max(peak, template.density(x, y, z))
                    }
                }
            }
            #expect(
                template.density(0, 0, 0) > 0.35 * peak,
                "\(template.name): centre \(template.density(0, 0, 0)) vs peak \(peak)")
        }
    }

    @Test("rotations: orthonormal, ZYZ angles round-trip, uniform in expectation")
    func rotations() {
        let rng = CounterRNG(seed: 3)
        var meanZ = (0.0, 0.0, 0.0)
        for i in 0..<2000 {
            let r = Rotation.random(rng, stream: 1, counter: UInt64(i))
            let e = r.eulerZYZ
            let back = Rotation(rot: e.rot, tilt: e.tilt, psi: e.psi)
            for k in 0..<9 { #expect(abs(back.m[k] - r.m[k]) < 1e-9) }
            let z = r.apply((0, 0, 1))
            meanZ = (meanZ.0 + z.0 / 2000, meanZ.1 + z.1 / 2000, meanZ.2 + z.2 / 2000)
        }
        #expect(
            abs(meanZ.0) < 0.05 && abs(meanZ.1) < 0.05 && abs(meanZ.2) < 0.05, "rotated axes are not uniform: \(meanZ)")
    }

    @Test("grand model: no overlaps, labels under every centre, deterministic")
    func grandModel() {
        var p = GrandModelParameters(shape: Extent3(x: 96, y: 96, z: 48))
        p.seed = 5
        let a = GrandModel.make(p)
        let b = GrandModel.make(p)
        #expect(a.density == b.density && a.labels == b.labels && a.particles == b.particles)
        #expect(a.particles.count >= 10)
        let labels = a.labels.values(as: UInt8.self)
        var inside = 0
        for q in a.particles {
            let i = (Int(q.z.rounded()) * 96 + Int(q.y.rounded())) * 96 + Int(q.x.rounded())
            if Int(labels[i]) == q.classID { inside += 1 }
        }
        #expect(inside == a.particles.count, "\(inside) of \(a.particles.count) centres in their class")
        for (i, q) in a.particles.enumerated() {
            for r in a.particles[(i + 1)...] {
                let d = ((q.x - r.x) * (q.x - r.x) + (q.y - r.y) * (q.y - r.y) + (q.z - r.z) * (q.z - r.z)).squareRoot()
                #expect(d > 5, "particles \(q.instance) and \(r.instance) overlap")
            }
        }
        p.seed = 6
        #expect(GrandModel.make(p).density != a.density)
    }

    @Test("projection equals summing along z at 0°; back-projection of one tilt smears along z")
    func projection() {
        let s = Extent3(x: 12, y: 3, z: 8)
        let rng = CounterRNG(seed: 1)
        let f = Volume(shape: s, values: (0..<s.count).map { Float(rng.uniform(counter: UInt64($0))) })
        let p = TiltSeriesSimulator.project(f, tilts: [0])
        for y in 0..<3 {
            for x in 0..<12 {
                var sum = 0.0
                for z in 0..<8 { sum += f.value(x: x, y: y, z: z) }
                #expect(abs(p.value(x: x, y: y, z: 0) - sum) < 1e-4)
            }
        }
        let back = TiltSeriesSimulator.backProject(p, tilts: [0], shape: s)
        #expect(abs(back.value(x: 4, y: 1, z: 0) - back.value(x: 4, y: 1, z: 7)) < 1e-5)
        // At 90°, the projection sums along x.
        let side = TiltSeriesSimulator.project(
            Volume(shape: Extent3(x: 8, y: 1, z: 8), values: (0..<64).map { Float($0 / 8) }), tilts: [90])
        #expect(abs(side.value(x: 7, y: 0, z: 0) - 8 * 0) < 1e-3 && abs(side.value(x: 0, y: 0, z: 0) - 8 * 7) < 1e-3)
    }

    /// A 64×64×32 grand model (x, y, z voxels) at the default 10 Å.
    static func grandModel64(seed: UInt64) -> GrandModel {
        var gp = GrandModelParameters(shape: Extent3(x: 64, y: 64, z: 32))
        gp.seed = seed
        return GrandModel.make(gp)
    }

    @Test("the simulated tomogram has the missing wedge of its tilt range, protein dark, and is deterministic")
    func tomogram() {
        let model = Self.grandModel64(seed: 3)
        var tp = TiltSeriesParameters()
        tp.seed = 3
        let (tomogram, series) = TiltSeriesSimulator.simulate(model.density, voxelSize: 10, parameters: tp)
        #expect(series.shape.z == 41)
        #expect(tomogram == TiltSeriesSimulator.simulate(model.density, voxelSize: 10, parameters: tp).tomogram)
        // Power inside the missing wedge (beyond 65°) is far below power inside the range (< 55°).
        let inside = MissingWedge(minDegrees: -55, maxDegrees: 55)
        let outside = MissingWedge(minDegrees: -65, maxDegrees: 65)
        let missing = VoxelStatistics.of(
            FourierFilter.apply(tomogram) { kx, ky, kz in outside.contains(kx: kx, ky: ky, kz: kz) ? 0 : 1 }
        ).rms
        let seen = VoxelStatistics.of(
            FourierFilter.apply(tomogram) { kx, ky, kz in inside.contains(kx: kx, ky: ky, kz: kz) ? 1 : 0 }
        ).rms
        #expect(missing < 0.2 * seen, "missing-wedge rms \(missing) vs measured \(seen)")
        // Protein dark: the tomogram (smoothed) anti-correlates with the density.
        let a = GaussianFilter.apply(tomogram, sigma: 2).values(as: Float.self)
        let b = model.density.values(as: Float.self)
        let ma = a.reduce(0, +) / Float(a.count)
        let mb = b.reduce(0, +) / Float(b.count)
        var cov = 0.0
        for i in 0..<a.count { cov += Double((a[i] - ma) * (b[i] - mb)) }
        #expect(cov < 0, "protein is not dark")
    }

    @Test("without noise and CTF the tomogram is the wedge-filtered density, bright, whatever the seed")
    func noiseFreeReconstruction() {
        let model = Self.grandModel64(seed: 5)
        var tp = TiltSeriesParameters()
        (tp.snr, tp.ctf, tp.seed) = (0, nil, 1)
        let (tomogram, _) = TiltSeriesSimulator.simulate(model.density, voxelSize: 10, parameters: tp)
        tp.seed = 2
        #expect(tomogram == TiltSeriesSimulator.simulate(model.density, voxelSize: 10, parameters: tp).tomogram)
        // Independent reference: the density with the ±60° wedge and the mean removed (a Fourier mask). Weighted
        // back-projection of 41 discrete tilts adds streaks and interpolation blur, so agreement is high, not
        // exact: Pearson r > 0.8 after a Gaussian of σ 1 voxel on both (measured 0.90).
        let wedge = MissingWedge(minDegrees: -60, maxDegrees: 60)
        let masked = FourierFilter.apply(model.density) { kx, ky, kz in
            kx == 0 && ky == 0 && kz == 0 ? 0 : (wedge.contains(kx: kx, ky: ky, kz: kz) ? 1 : 0)
        }
        let r = pearsonCorrelation(
            GaussianFilter.apply(tomogram, sigma: 1).values(as: Float.self),
            GaussianFilter.apply(masked, sigma: 1).values(as: Float.self))
        #expect(r > 0.8, "noise-free reconstruction vs wedge-masked density: r \(r)")
    }

    @Test(
        "Poisson draws have mean and variance λ (small λ by inversion, large by the normal limit)",
        arguments: [0.7, 4.0, 200.0])
    func poisson(lambda: Double) {
        let rng = CounterRNG(seed: 5)
        let n = 20_000
        let draws = (0..<n).map { TiltSeriesSimulator.poisson(lambda, rng, stream: 1, counter: UInt64($0)) }
        let mean = draws.reduce(0, +) / Double(n)
        let variance = draws.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(n)
        #expect(abs(mean - lambda) < 5 * (lambda / Double(n)).squareRoot())
        #expect(abs(variance - lambda) < 0.05 * lambda + 0.02)
        #expect(draws.allSatisfy { $0 >= 0 && $0 == $0.rounded() })
    }

    @Test("shot noise: more dose, cleaner tomogram")
    func dose() {
        var gp = GrandModelParameters(shape: Extent3(x: 48, y: 48, z: 24))
        gp.seed = 8
        let model = GrandModel.make(gp)
        func quality(_ dose: Double) -> Double {
            var tp = TiltSeriesParameters()
            tp.dose = dose
            let (tomogram, _) = TiltSeriesSimulator.simulate(model.density, voxelSize: 10, parameters: tp)
            let a = GaussianFilter.apply(tomogram, sigma: 1.5).values(as: Float.self)
            let b = model.density.values(as: Float.self)
            let ma = a.reduce(0, +) / Float(a.count)
            let mb = b.reduce(0, +) / Float(b.count)
            var c = 0.0
            var va = 0.0
            var vb = 0.0
            for i in 0..<a.count {
                c += Double((a[i] - ma) * (b[i] - mb))
                va += Double((a[i] - ma) * (a[i] - ma))
                vb += Double((b[i] - mb) * (b[i] - mb))
            }
            return -c / (va * vb).squareRoot()  // protein dark: anti-correlation
        }
        #expect(quality(2000) > quality(20))
    }

    @Test("voxel-integrated shells keep a membrane's density on a coarse grid wherever it falls; point samples do not")
    func voxelIntegratedShell() {
        // A 30 nm vesicle on a 27 Å grid: two leaflets of σ 7 Å, density 0.7, 36 Å apart.
        let (v, radius, n) = (27.0, 300.0, 40)
        let shape = Extent3(x: n, y: n, z: n)
        // ∫ 4π (R + d)² profile(d) dd for the two Gaussian leaflets at d = ±18 Å.
        let analytic = 4 * Double.pi * 0.7 * (2 * Double.pi * 49).squareRoot() * 2 * (radius * radius + 18 * 18 + 49)
        // The total density (Å³ units) and the coefficient of variation of the voxels on the shell.
        func render(broadening: Double, shift: Double) -> (total: Double, variation: Double) {
            var density = [Float](repeating: 0, count: shape.count)
            var labels = [UInt8](repeating: 0, count: shape.count)
            let c = Double(n) / 2 + shift
            GrandModel.renderShell(
                centre: (c, c, c), radius: radius, voxelSize: v, broadening: broadening, shape: shape,
                density: &density, labels: &labels)
            var ring: [Double] = []
            for z in 0..<n {
                for y in 0..<n {
                    for x in 0..<n {
                        let (dx, dy, dz) = (Double(x) - c, Double(y) - c, Double(z) - c)
                        let d = (dx * dx + dy * dy + dz * dz).squareRoot() * v - radius
                        if abs(d) < v / 2 { ring.append(Double(density[(z * n + y) * n + x])) }
                    }
                }
            }
            let mean = ring.reduce(0, +) / Double(ring.count)
            let variance = ring.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(ring.count)
            return (density.reduce(0.0) { $0 + Double($1) } * v * v * v, variance.squareRoot() / mean)
        }
        // numpy, the same formula: integrated totals 0.999–1.002 of the analytic, variation 0.23–0.24;
        // point samples 0.63–0.68.
        for shift in [0, 0.25, 0.5] {
            let integrated = render(broadening: v * v / 12, shift: shift)
            let sampled = render(broadening: 0, shift: shift)
            #expect(abs(integrated.total / analytic - 1) < 0.01, "integrated, shift \(shift): \(integrated)")
            #expect(integrated.variation < 0.3 && sampled.variation > 0.5, "shift \(shift): \(integrated) \(sampled)")
        }
    }
}
