import Foundation
import Testing
import Voxels

@testable import Imaging

func randomVolume(_ s: Extent3, seed: UInt64) -> Volume {
    let rng = CounterRNG(seed: seed)
    return Volume(shape: s, values: (0..<s.count).map { Float(rng.normal(counter: UInt64($0))) })
}

func maxDifference(_ a: Volume, _ b: Volume) -> Double {
    let x = a.converted(to: .float32).values(as: Float.self)
    let y = b.converted(to: .float32).values(as: Float.self)
    return zip(x, y).reduce(0) { max($0, Double(abs($1.0 - $1.1))) }
}

@Suite("Filters")
struct FilterTests {
    /// Direct 3D Gaussian convolution with reflected borders, in Double.
    func naiveGaussian(_ v: Volume, sigma: Double) -> Volume {
        let w = GaussianFilter.kernel(sigma: sigma).map(Double.init)
        let r = w.count / 2
        let s = v.shape
        var out = [Float](repeating: 0, count: s.count)
        for z in 0..<s.z {
            for y in 0..<s.y {
                for x in 0..<s.x {
                    var acc = 0.0
                    for dz in -r...r {
                        for dy in -r...r {
                            for dx in -r...r {
                                acc +=
                                    w[dz + r] * w[dy + r] * w[dx + r]
                                    * v.value(
                                        x: reflectIndex(x + dx, s.x), y: reflectIndex(y + dy, s.y),
                                        z: reflectIndex(z + dz, s.z))
                            }
                        }
                    }
                    out[(z * s.y + y) * s.x + x] = Float(acc)
                }
            }
        }
        return Volume(shape: s, values: out)
    }

    @Test("reflect border indexing matches scipy's mode='reflect' (d c b a | a b c d | d c b a)")
    func reflect() {
        // numpy.pad(arange(4), 5, mode="symmetric"), which is scipy.ndimage's "reflect".
        #expect((-5..<9).map { reflectIndex($0, 4) } == [3, 3, 2, 1, 0, 0, 1, 2, 3, 3, 2, 1, 0, 0])
        #expect(reflectIndex(-3, 1) == 0 && reflectIndex(7, 1) == 0)
    }

    @Test("Gaussian filter equals a direct 3D convolution with reflected borders", arguments: [0.7, 1.5, 2.5])
    func gaussian(sigma: Double) {
        let v = randomVolume(Extent3(x: 9, y: 7, z: 5), seed: 1)  // radius > size on z for σ 2.5
        #expect(maxDifference(GaussianFilter.apply(v, sigma: sigma), naiveGaussian(v, sigma: sigma)) < 1e-5)
    }

    @Test("the kernel is scipy's: normalized exp(−x²/2σ²), radius ⌊4σ + 0.5⌋")
    func kernel() {
        let k = GaussianFilter.kernel(sigma: 2)
        #expect(k.count == 17)
        #expect(abs(k.reduce(0, +) - 1) < 1e-6)
        #expect(abs(Double(k[8]) / Double(k[9]) - exp(0.125)) < 1e-6)
    }

    @Test("difference of Gaussians is G(σ1) − G(σ2)")
    func dog() {
        let v = randomVolume(Extent3(x: 12, y: 10, z: 8), seed: 2)
        let d = GaussianFilter.differenceOfGaussians(v, sigma1: 1, sigma2: 1.1)
        let a = GaussianFilter.apply(v, sigma: 1).values(as: Float.self)
        let b = GaussianFilter.apply(v, sigma: 1.1).values(as: Float.self)
        #expect(d.values(as: Float.self) == zip(a, b).map { $0 - $1 })
    }

    @Test("anisotropic diffusion: one step by hand, constants unchanged, noise reduced, sum conserved")
    func diffusion() {
        let v = randomVolume(Extent3(x: 6, y: 5, z: 4), seed: 3)
        let one = AnisotropicDiffusion.apply(v, kappa: 1, lambda: 0.1, iterations: 1)
        let (x, y, z) = (2, 2, 1)
        var flux = 0.0
        for (dx, dy, dz) in [(1, 0, 0), (-1, 0, 0), (0, 1, 0), (0, -1, 0), (0, 0, 1), (0, 0, -1)] {
            let d = v.value(x: x + dx, y: y + dy, z: z + dz) - v.value(x: x, y: y, z: z)
            flux += exp(-d * d) * d
        }
        #expect(abs(one.value(x: x, y: y, z: z) - (v.value(x: x, y: y, z: z) + 0.1 * flux)) < 1e-5)
        let constant = Volume(shape: Extent3(x: 4, y: 4, z: 4), values: [Float](repeating: 2.5, count: 64))
        #expect(AnisotropicDiffusion.apply(constant, kappa: 1, iterations: 5) == constant)
        let smooth = AnisotropicDiffusion.apply(v, kappa: 2, iterations: 10)
        #expect(VoxelStatistics.of(smooth).rms < 0.7 * VoxelStatistics.of(v).rms)
        #expect(
            abs(VoxelStatistics.of(smooth).mean - VoxelStatistics.of(v).mean) < 1e-5,
            "zero-flux borders conserve the sum")
    }

    @Test("band-pass keeps a sinusoid inside the band and removes one outside")
    func bandPass() {
        let s = Extent3(x: 32, y: 16, z: 8)
        func wave(_ cycles: Double) -> Volume {
            Volume(
                shape: s, values: (0..<s.count).map { i in Float(cos(2 * Double.pi * cycles * Double(i % 32) / 32)) })
        }
        let low = wave(2)
        let high = wave(12)  // 0.0625 and 0.375 cycles/voxel
        #expect(maxDifference(FourierFilter.bandPass(low, low: 0, high: 0.2), low) < 1e-4)
        #expect(VoxelStatistics.of(FourierFilter.bandPass(high, low: 0, high: 0.2)).rms < 1e-4)
        #expect(VoxelStatistics.of(FourierFilter.bandPass(low, low: 0.3, high: 0.5)).rms < 1e-4)
    }
}

@Suite("Missing wedge and CTF")
struct FourierPhysicsTests {
    @Test("the wedge keeps exactly the directions inside the tilt range")
    func wedgeGeometry() {
        let w = MissingWedge(minDegrees: -60, maxDegrees: 60)
        #expect(w.contains(kx: 0.2, ky: 0.3, kz: 0.2))  // 45°
        #expect(!w.contains(kx: 0.05, ky: 0, kz: 0.3))  // atan(6) ≈ 80.5°
        #expect(w.contains(kx: 0, ky: 0.4, kz: 0) && w.contains(kx: 0, ky: 0, kz: 0))
        #expect(!w.contains(kx: 0, ky: 0, kz: 0.1))
        let asym = MissingWedge(minDegrees: -30, maxDegrees: 60)
        // θ = atan(−kz/kx): kz = −kx·tan 50° is +50° (kept), kz = +kx·tan 50° is −50° (missing).
        #expect(asym.contains(kx: 0.1, ky: 0, kz: -0.1 * tan(50 * Double.pi / 180)))
        #expect(!asym.contains(kx: 0.1, ky: 0, kz: 0.1 * tan(50 * Double.pi / 180)))
        let x = MissingWedge(beam: .x)
        #expect(!x.contains(kx: 0.3, ky: 0, kz: 0.05) && x.contains(kx: 0.05, ky: 0, kz: 0.3))
    }

    @Test("applying the wedge removes the power in the missing region and is a projection")
    func wedgeApply() {
        let v = randomVolume(Extent3(x: 16, y: 8, z: 16), seed: 4)
        let w = MissingWedge(minDegrees: -60, maxDegrees: 60)
        let once = w.apply(to: v)
        #expect(maxDifference(w.apply(to: once), once) < 1e-4, "applying twice changes nothing")
        // A plane wave along z (inside the wedge) disappears; one along x stays.
        let s = Extent3(x: 16, y: 8, z: 16)
        let alongZ = Volume(
            shape: s, values: (0..<s.count).map { i in Float(cos(2 * Double.pi * 3 * Double(i / 128) / 16)) })
        let alongX = Volume(
            shape: s, values: (0..<s.count).map { i in Float(cos(2 * Double.pi * 3 * Double(i % 16) / 16)) })
        #expect(VoxelStatistics.of(w.apply(to: alongZ)).rms < 1e-4)
        #expect(maxDifference(w.apply(to: alongX), alongX) < 1e-4)
    }

    @Test("CTF: wavelength, sign at low frequency, first zero, phase flip")
    func ctf() {
        let c = CTF(defocus: 30_000)
        #expect(abs(c.wavelength - 0.019_687) < 1e-5)  // 300 kV
        #expect(c.value(at: 0) < 0 && abs(c.value(at: 0) + 0.07) < 1e-12)  // protein dark
        // First zero: √(1−A²) sin χ + A cos χ = 0 → χ = π − atan(A/√(1−A²)) (Cs negligible at low k).
        let chi = Double.pi - atan(0.07 / (1 - 0.07 * 0.07).squareRoot())
        let k0 = (chi / (Double.pi * c.wavelength * 30_000)).squareRoot()
        #expect(abs(c.value(at: k0)) < 2e-3)
        #expect(c.value(at: 0.8 * k0) < 0 && c.value(at: 1.2 * k0) > 0)
        let image = randomVolume(Extent3(x: 32, y: 32, z: 1), seed: 5)
        #expect(maxDifference(c.phaseFlip(c.phaseFlip(image, voxelSize: 10), voxelSize: 10), image) < 1e-4)
        let b = CTF(defocus: 30_000, bFactor: 100)
        #expect(abs(b.value(at: 0.05) - c.value(at: 0.05) * exp(-100 * 0.0025 / 4)) < 1e-12)
    }
}

@Suite("Metrics and picking")
struct MetricsTests {
    /// SSIM by the definition: every 7³ window inside the volume, Double throughout.
    func naiveSSIM(_ a: Volume, _ b: Volume) -> Double {
        func std(_ v: Volume) -> [Double] {
            let x = v.values(as: Float.self).map(Double.init)
            let m = x.reduce(0, +) / Double(x.count)
            let s = (x.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(x.count)).squareRoot()
            return x.map { ($0 - m) / s }
        }
        let g = std(a)
        let q = std(b)
        let s = a.shape
        let range = g.max()! - g.min()!
        let c1 = pow(0.01 * range, 2)
        let c2 = pow(0.03 * range, 2)
        var total = 0.0
        var count = 0
        for z in 3..<(s.z - 3) {
            for y in 3..<(s.y - 3) {
                for x in 3..<(s.x - 3) {
                    var xs: [Double] = []
                    var ys: [Double] = []
                    for dz in -3...3 {
                        for dy in -3...3 {
                            for dx in -3...3 {
                                let i = ((z + dz) * s.y + y + dy) * s.x + x + dx
                                xs.append(g[i])
                                ys.append(q[i])
                            }
                        }
                    }
                    let mx = xs.reduce(0, +) / 343
                    let my = ys.reduce(0, +) / 343
                    var vx = 0.0
                    var vy = 0.0
                    var vxy = 0.0
                    for i in 0..<343 {
                        vx += (xs[i] - mx) * (xs[i] - mx)
                        vy += (ys[i] - my) * (ys[i] - my)
                        vxy += (xs[i] - mx) * (ys[i] - my)
                    }
                    vx /= 342
                    vy /= 342
                    vxy /= 342
                    total += ((2 * mx * my + c1) * (2 * vxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
                    count += 1
                }
            }
        }
        return total / Double(count)
    }

    @Test("SSIM equals the windowed definition; PSNR equals its formula; identical volumes score 1 / ∞")
    func metrics() {
        let truth = GaussianFilter.apply(randomVolume(Extent3(x: 12, y: 11, z: 10), seed: 6), sigma: 1)
        let noise = randomVolume(Extent3(x: 12, y: 11, z: 10), seed: 7)
        var test = truth
        test.withUnsafeMutableValues(as: Float.self) { p in
            noise.withUnsafeValues(as: Float.self) { n in for i in p.indices { p[i] += 0.3 * n[i] } }
        }
        #expect(abs(Metrics.ssim(truth: truth, test: test) - naiveSSIM(truth, test)) < 1e-9)
        #expect(abs(Metrics.ssim(truth: truth, test: truth) - 1) < 1e-9)
        let g = Metrics.standardized(truth)
        let q = Metrics.standardized(test)
        let range = g.max()! - g.min()!
        let mse = zip(g, q).map { ($0 - $1) * ($0 - $1) }.reduce(0, +) / Double(g.count)
        #expect(abs(Metrics.psnr(truth: truth, test: test) - 10 * log10(range * range / mse)) < 1e-9)
    }

    @Test("DoG picking finds Gaussian blobs of either polarity; matching counts one to one")
    func picking() {
        let s = Extent3(x: 48, y: 40, z: 32)
        let centres = [
            (10.0, 10.0, 8.0), (30.0, 12.0, 20.0), (20.0, 30.0, 12.0), (38.0, 30.0, 24.0), (12.0, 28.0, 22.0),
        ]
        let rng = CounterRNG(seed: 8)
        var values = [Float](repeating: 0, count: s.count)
        for z in 0..<s.z {
            for y in 0..<s.y {
                for x in 0..<s.x {
                    var v = 0.1 * rng.normal(counter: UInt64((z * s.y + y) * s.x + x))
                    for (cx, cy, cz) in centres {
                        let d2 = pow(Double(x) - cx, 2) + pow(Double(y) - cy, 2) + pow(Double(z) - cz, 2)
                        v -= exp(-d2 / (2 * 2.5 * 2.5))  // dark blobs
                    }
                    values[(z * s.y + y) * s.x + x] = Float(v)
                }
            }
        }
        let volume = Volume(shape: s, values: values)
        let truths = centres.map { Pick(x: $0.0, y: $0.1, z: $0.2) }
        let picks = ParticlePicker.pick(volume, sigma: 2.5, top: 5, minDistance: 6, polarity: .dark)
        let score = PickingScore.match(picks: picks, truths: truths, distance: 2)
        #expect(score.truePositives == 5 && score.f1 == 1, "\(picks)")
        let wrong = ParticlePicker.pick(volume, sigma: 2.5, top: 5, minDistance: 6, polarity: .bright)
        #expect(PickingScore.match(picks: wrong, truths: truths, distance: 2).truePositives < 2)
        // One-to-one: two picks on one truth count once.
        let double = PickingScore.match(
            picks: [Pick(x: 0, y: 0, z: 0), Pick(x: 0.5, y: 0, z: 0)], truths: [Pick(x: 0, y: 0, z: 0)], distance: 1)
        #expect(double.truePositives == 1 && double.precision == 0.5 && double.recall == 1)
    }

    @Test("a flat background (at any offset) gives no picks: rounding-level DoG maxima are not blobs")
    func flatBackgroundPicking() {
        let s = Extent3(x: 40, y: 36, z: 32)
        for background: Float in [0, -0.2817, 0.0019803, 5] {
            var values = [Float](repeating: background, count: s.count)
            // Two bright blobs, clipped to the background beyond 3σ (as a ReLU output is).
            for (cx, cy, cz) in [(12.0, 10.0, 9.0), (27.0, 25.0, 21.0)] {
                for z in 0..<s.z {
                    for y in 0..<s.y {
                        for x in 0..<s.x {
                            let d2 = pow(Double(x) - cx, 2) + pow(Double(y) - cy, 2) + pow(Double(z) - cz, 2)
                            if d2 < 9 * 2.5 * 2.5 {
                                values[(z * s.y + y) * s.x + x] += Float(exp(-d2 / (2 * 2.5 * 2.5)))
                            }
                        }
                    }
                }
            }
            let picks = ParticlePicker.pick(
                Volume(shape: s, values: values), sigma: 3, top: 300, minDistance: 8, polarity: .bright)
            let score = PickingScore.match(
                picks: picks, truths: [Pick(x: 12, y: 10, z: 9), Pick(x: 27, y: 25, z: 21)], distance: 1)
            #expect(score.truePositives == 2 && picks.count == 2, "background \(background): \(picks.count) picks")
        }
    }
}

@Suite("Smooth missing-wedge weight")
struct WedgeWeightTests {
    func direction(_ degrees: Double, _ r: Double = 0.2) -> (Double, Double) {
        // θ = atan(−kz/kx): kx = r cos θ, kz = −r sin θ.
        (r * cos(degrees * Double.pi / 180), -r * sin(degrees * Double.pi / 180))
    }

    @Test("with no transition the weight is exactly the complement of contains")
    func hardEdge() {
        let rng = CounterRNG(seed: 8)
        for w in [
            MissingWedge(), MissingWedge(minDegrees: -45, maxDegrees: 62),
            MissingWedge(minDegrees: -50, maxDegrees: 50, beam: .x),
        ] {
            for i in 0..<2000 {
                let k = (0..<3).map { rng.uniform(stream: $0, counter: UInt64(i)) - 0.5 }
                #expect(
                    w.wedgeWeight(kx: k[0], ky: k[1], kz: k[2], transition: 0)
                        == (w.contains(kx: k[0], ky: k[1], kz: k[2]) ? 0 : 1))
            }
            #expect(
                w.wedgeWeight(kx: 0, ky: 0, kz: 0, transition: 0) == 0
                    && w.wedgeWeight(kx: 0, ky: 0.3, kz: 0, transition: 6) == 0)
        }
    }

    @Test("a raised cosine across the edges: ½ on the edge, 0 and 1 half a transition away, the wedge wraps at ±90°")
    func transition() {
        let w = MissingWedge(minDegrees: -50, maxDegrees: 60)
        func weight(_ deg: Double) -> Double {
            let (kx, kz) = direction(deg)
            return w.wedgeWeight(kx: kx, ky: 0.1, kz: kz, transition: 10)
        }
        #expect(abs(weight(60) - 0.5) < 1e-9 && abs(weight(-50) - 0.5) < 1e-9)
        #expect(weight(55) == 0 && weight(65) == 1 && weight(-45) == 0 && weight(-55) == 1)
        #expect(abs(weight(62.5) - (0.5 - 0.5 * cos(Double.pi * 7.5 / 10))) < 1e-9)
        #expect(weight(89.9) == 1 && weight(-89.9) == 1 && weight(0) == 0)
        var last = -1.0
        for d in stride(from: 50.0, through: 70, by: 0.5) {
            #expect(weight(d) >= last)
            last = weight(d)
        }
        #expect(abs(w.degreesIntoWedge(kx: direction(80).0, kz: direction(80).1) - 20) < 1e-9)
        #expect(abs(w.degreesIntoWedge(kx: direction(-80).0, kz: direction(-80).1) - 30) < 1e-9)
        #expect(abs(w.degreesIntoWedge(kx: direction(10).0, kz: direction(10).1) + 50) < 1e-9)
    }
}

@Suite("Out-of-core Fourier filtering")
struct OutOfCoreFourierTests {
    @Test("the out-of-core filter equals the in-memory 3D transform within float32 rounding, in any memory budget")
    func matchesInMemory() throws {
        let shape = Extent3(x: 23, y: 18, z: 11)  // odd and even sizes
        let rng = CounterRNG(seed: 5)
        let volume = Volume(shape: shape, values: (0..<shape.count).map { Float(rng.normal(counter: UInt64($0))) })
        let mask: (Double, Double, Double) -> Double = { kx, ky, kz in
            let k = (kx * kx + ky * ky + kz * kz).squareRoot()
            return (k < 0.3 ? 1 : 0.2) * (kz > 0 ? 0.9 : 1) + (kx == 0 ? 0 : 0.05 * cos(40 * k))
        }
        let truth = FourierFilter.apply(volume, mask: { kx, ky, kz in mask(kx, ky, abs(kz)) })
        for budget in [1, 4096, 64 << 20] {
            var filter = OutOfCoreFourierFilter(shape: shape)
            filter.memoryBytes = budget
            var out = Volume(shape: shape, dtype: .float32)
            let p = out.withUnsafeMutableBytes { $0.baseAddress! }
            var boxes = 0
            try filter.apply(
                read: { z in volume.extracting(Box3(x: 0..<shape.x, y: 0..<shape.y, z: z)) },
                mask: { kx, ky, kz in mask(kx, ky, abs(kz)) }, rows: 5, planes: 4,
                deliver: { box, band in
                    boxes += 1
                    band.withUnsafeBytes { src in
                        box.forEachRow(within: box, into: Box3(shape: shape)) { from, to, n in
                            (p + to * 4).copyMemory(from: src.baseAddress! + from * 4, byteCount: n * 4)
                        }
                    }
                })
            #expect(boxes == 3 * 4)
            let a = out.values(as: Float.self)
            let b = truth.values(as: Float.self)
            let worst = zip(a, b).map { abs($0 - $1) }.max() ?? 0
            #expect(worst < 1e-5, "budget \(budget): largest difference \(worst)")
        }
    }
}
