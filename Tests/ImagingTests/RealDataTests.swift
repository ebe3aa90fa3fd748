import Foundation
import Testing
import Voxels

@testable import Imaging

/// Sparse dense blobs (protein bright) on white noise, like a tomogram's solvent with particles.
func blobVolume(_ s: Extent3, seed: UInt64, amplitude: Float = 2) -> Volume {
    var v = randomVolume(s, seed: seed)
    let rng = CounterRNG(seed: seed &+ 99)
    v.withUnsafeMutableValues(as: Float.self) { a in
        for k in 0..<40 {
            let c = (
                rng.uniform(stream: 1, counter: UInt64(3 * k)) * Double(s.x),
                rng.uniform(stream: 1, counter: UInt64(3 * k + 1)) * Double(s.y),
                rng.uniform(stream: 1, counter: UInt64(3 * k + 2)) * Double(s.z)
            )
            for z in 0..<s.z {
                for y in 0..<s.y {
                    for x in 0..<s.x {
                        let d2 =
                            (Double(x) - c.0) * (Double(x) - c.0) + (Double(y) - c.1) * (Double(y) - c.1)
                            + (Double(z) - c.2) * (Double(z) - c.2)
                        if d2 < 36 { a[(z * s.y + y) * s.x + x] += amplitude * Float(exp(-d2 / 8)) }
                    }
                }
            }
        }
    }
    return v
}

func negated(_ v: Volume) -> Volume {
    var out = v
    out.withUnsafeMutableValues(as: Float.self) { a in for i in a.indices { a[i] = -a[i] } }
    return out
}

@Suite("Contrast estimate")
struct ContrastEstimateTests {
    @Test("bright blobs read as bright, the same volume inverted as dark, pure noise as undetermined")
    func polarity() throws {
        let v = blobVolume(Extent3(x: 64, y: 64, z: 48), seed: 3)
        let bright = try ContrastEstimate.estimate(shape: v.shape, voxelSize: 10) { v.extracting($0) }
        let dark = try ContrastEstimate.estimate(shape: v.shape, voxelSize: 10) { negated(v).extracting($0) }
        #expect(bright.contrast == .bright)
        #expect(dark.contrast == .dark)
        // Inverting the volume negates the skewness exactly (same boxes, same filters).
        #expect(abs(bright.skewness + dark.skewness) < 1e-9)
        let noise = randomVolume(Extent3(x: 64, y: 64, z: 48), seed: 4)
        let none = try ContrastEstimate.estimate(shape: noise.shape, voxelSize: 10) { noise.extracting($0) }
        #expect(abs(none.skewness) < abs(bright.skewness) / 3, "white noise skewness \(none.skewness)")
    }
}

@Suite("Resampler")
struct ResamplerTests {
    /// A band-limited cosine along x at `k` cycles per Å, sampled on a grid of `spacing` Å.
    func cosine(_ s: Extent3, spacing: Double, k: Double) -> Volume {
        Volume(
            shape: s,
            values: (0..<s.count).map { i in Float(cos(2 * Double.pi * k * Double(i % s.x) * spacing)) })
    }

    @Test("resampling a band-limited cosine matches the cosine on the target grid (interior, 2e-2)")
    func cosineBothWays() {
        for (from, to) in [(13.5, 10.0), (20, 10), (10, 13.5), (10, 20)] {
            let r = Resampler(from: from, to: to)
            // 1/(8 × the coarser spacing) cycles per Å: well inside both grids' band.
            let k = 1 / (8 * max(from, to))
            let target = Box3(x: 10..<30, y: 8..<10, z: 8..<10)
            let needed = r.sourceBox(for: target)
            #expect(needed.lower.x >= 0 && needed.lower.y >= 0 && needed.lower.z >= 0)
            let whole = cosine(needed.upper, spacing: from, k: k)
            let out = r.apply(whole.extracting(needed), covering: needed, to: target)
            let expected = cosine(target.upper, spacing: to, k: k).extracting(target)
            #expect(maxDifference(out, expected) < 2e-2, "\(from) → \(to) Å")
        }
    }

    @Test("a constant stays that constant; any box equals the whole volume's voxels")
    func constantAndBoxInvariance() {
        let r = Resampler(from: 20, to: 10)
        let whole = Box3(x: 0..<40, y: 0..<30, z: 0..<20)
        let needed = r.sourceBox(for: whole)
        let flat = Volume(shape: needed.shape, values: [Float](repeating: 3.25, count: needed.shape.count))
        let out = r.apply(flat, covering: needed, to: whole)
        #expect(out.values(as: Float.self).allSatisfy { abs($0 - 3.25) < 1e-5 })
        let noise = randomVolume(needed.shape, seed: 9)
        let all = r.apply(noise, covering: needed, to: whole)
        let part = Box3(x: 7..<19, y: 3..<29, z: 11..<20)
        let partNeeded = r.sourceBox(for: part)
        let partSource = noise.extracting(
            partNeeded.translated(
                by: Extent3(
                    x: -needed.lower.x, y: -needed.lower.y,
                    z: -needed.lower.z)))
        let piece = r.apply(partSource, covering: partNeeded, to: part)
        let expected = all.extracting(
            part.translated(by: Extent3(x: -whole.lower.x, y: -whole.lower.y, z: -whole.lower.z)))
        #expect(maxDifference(piece, expected) == 0)
    }
}

@Suite("Noise grain")
struct NoiseGrainTests {
    @Test("white noise ~0.37; smoothed noise lower; twofold upsampled noise about half")
    func grain() throws {
        let n = randomVolume(Extent3(x: 64, y: 64, z: 64), seed: 5)
        let white = try NoiseGrain.measure(shape: n.shape) { n.extracting($0) }
        #expect(abs(white - 0.37) < 0.02, "white \(white)")
        let smooth = GaussianFilter.apply(n, sigma: 1)
        let s = try NoiseGrain.measure(shape: n.shape) { smooth.extracting($0) }
        #expect(s < 0.8 * white)
        let r = Resampler(from: 20, to: 10)
        let target = Box3(x: 0..<64, y: 0..<64, z: 0..<64)
        let needed = r.sourceBox(for: target)
        let src = randomVolume(needed.shape, seed: 6)
        let up = r.apply(src, covering: needed, to: target)
        let u = try NoiseGrain.measure(shape: up.shape) { up.extracting($0) }
        #expect(u > 0.4 * white && u < 0.65 * white, "upsampled \(u)")
    }
}

@Suite("Pick score")
struct PickScoreTests {
    /// CNR and AUC by their definitions, with a brute-force distance test and pairwise AUC.
    func reference(_ v: Volume, _ picks: [(x: Double, y: Double, z: Double)], exclude: Double) -> (Double, Double) {
        let s = v.shape
        let a = v.values(as: Float.self).map(Double.init)
        let idx = picks.map {
            (
                Int($0.x.rounded(.toNearestOrEven)), Int($0.y.rounded(.toNearestOrEven)),
                Int($0.z.rounded(.toNearestOrEven))
            )
        }.filter { $0.0 >= 0 && $0.1 >= 0 && $0.2 >= 0 && $0.0 < s.x && $0.1 < s.y && $0.2 < s.z }
        var bg: [Double] = []
        for z in 0..<s.z {
            for y in 0..<s.y {
                for x in 0..<s.x {
                    let far = idx.allSatisfy { p in
                        let d = Double((p.0 - x) * (p.0 - x) + (p.1 - y) * (p.1 - y) + (p.2 - z) * (p.2 - z))
                        return d.squareRoot() > exclude
                    }
                    if far { bg.append(a[(z * s.y + y) * s.x + x]) }
                }
            }
        }
        let sv = idx.map { a[($0.2 * s.y + $0.1) * s.x + $0.0] }
        let m = bg.reduce(0, +) / Double(bg.count)
        let sd = (bg.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(bg.count)).squareRoot()
        let cnr = (sv.reduce(0, +) / Double(sv.count) - m) / sd
        var wins = 0.0
        for p in sv { for b in bg { wins += p > b ? 1 : (p == b ? 0.5 : 0) } }
        return (cnr, wins / Double(sv.count * bg.count))
    }

    @Test("CNR and AUC equal the definitions (1e-9), ties counted one half, outside picks dropped")
    func matchesDefinition() {
        var v = blobVolume(Extent3(x: 20, y: 18, z: 16), seed: 8)
        // Ties: a flat patch.
        v.withUnsafeMutableValues(as: Float.self) { a in for i in 0..<200 { a[i] = 0.5 } }
        let picks: [(x: Double, y: Double, z: Double)] = [
            (3.4, 2.5, 0.2), (10, 9, 8), (10.49, 9.2, 8.6), (17.5, 1.5, 15), (-1, 3, 3), (5, 5, 40), (0.2, 0.3, 0.1),
        ]
        let got = PickScore.score(v, picks: picks, exclude: 2.5)
        let (cnr, auc) = reference(v, picks, exclude: 2.5)
        #expect(got.used == 5 && got.dropped == 2)
        #expect(abs(got.cnr - cnr) < 1e-9 && abs(got.auc - auc) < 1e-9, "\(got) vs \(cnr), \(auc)")
    }
}
