import Foundation
import Voxels

/// A picked (or true) particle position in voxels (x, y, z) with a score.
public struct Pick: Equatable, Sendable, Codable {
    public var x: Double, y: Double, z: Double
    public var score: Double
    public init(x: Double, y: Double, z: Double, score: Double = 0) {
        self.x = x
        self.y = y
        self.z = z
        self.score = score
    }
}

/// Difference-of-Gaussians particle picking as in the DUAL paper: filter with G(σ1) − G(σ2)
/// (σ2 = 1.1·σ1), take local maxima (strictly greater than their 26 neighbours) whose response is
/// above float32 rounding (`noiseFloor`), keep them from the highest response down while no kept
/// pick lies within `minDistance`, stop at `top`.
public enum ParticlePicker {
    /// The smallest response a pick may have, for a volume whose largest magnitude is `maxAbs`:
    /// 8 float32 ulps of it. The DoG of a flat region (a constant background, as a grand model or a
    /// good denoiser has) is zero up to rounding of that order, and the "maxima" of rounding noise,
    /// or maxima with a response ≤ 0 (a local peak inside a dip), are not blobs.
    public static func noiseFloor(maxAbs: Float) -> Float { 8 * Float.ulpOfOne * maxAbs }

    /// Which extremes are particles: minima (`dark`) or maxima (`bright`).
    public typealias Polarity = Contrast

    public static func pick(_ volume: Volume, sigma: Double, top: Int, minDistance: Double, polarity: Polarity)
        -> [Pick]
    {
        var response = GaussianFilter.differenceOfGaussians(volume, sigma1: sigma, sigma2: 1.1 * sigma)
        if polarity == .dark {
            response.withUnsafeMutableValues(as: Float.self) { p in for i in p.indices { p[i] = -p[i] } }
        }
        let s = volume.shape
        let floor = noiseFloor(
            maxAbs: volume.converted(to: .float32).values(as: Float.self).reduce(0) { max($0, abs($1)) })
        let values = response.values(as: Float.self)
        // Local maxima, found per z-plane in parallel.
        var perPlane = [[Pick]](repeating: [], count: s.z)
        perPlane.withUnsafeMutableBufferPointer { planes in
            let out = planes.baseAddress!
            Parallel.forEach(s.z) { z in
                var found: [Pick] = []
                for y in 0..<s.y {
                    for x in 0..<s.x {
                        let v = values[(z * s.y + y) * s.x + x]
                        guard v > floor else { continue }
                        var isMax = true
                        search: for dz in -1...1 {
                            for dy in -1...1 {
                                for dx in -1...1 where dz != 0 || dy != 0 || dx != 0 {
                                    let zz = z + dz
                                    let yy = y + dy
                                    let xx = x + dx
                                    if zz < 0 || zz >= s.z || yy < 0 || yy >= s.y || xx < 0 || xx >= s.x { continue }
                                    if values[(zz * s.y + yy) * s.x + xx] >= v {
                                        isMax = false
                                        break search
                                    }
                                }
                            }
                        }
                        if isMax { found.append(Pick(x: Double(x), y: Double(y), z: Double(z), score: Double(v))) }
                    }
                }
                out[z] = found
            }
        }
        let candidates = perPlane.flatMap { $0 }.sorted {
            ($0.score, -$0.z, -$0.y, -$0.x) > ($1.score, -$1.z, -$1.y, -$1.x)
        }
        var kept: [Pick] = []
        let d2 = minDistance * minDistance
        for c in candidates {
            if kept.count >= top { break }
            if kept.allSatisfy({
                ($0.x - c.x) * ($0.x - c.x) + ($0.y - c.y) * ($0.y - c.y) + ($0.z - c.z) * ($0.z - c.z) >= d2
            }) {
                kept.append(c)
            }
        }
        return kept
    }
}

/// Precision, recall and F1 of picks against true positions, matched one to one within a distance.
public struct PickingScore: Codable, Equatable, Sendable {
    public var truePositives: Int, picks: Int, truths: Int
    public var precision: Double { picks > 0 ? Double(truePositives) / Double(picks) : 0 }
    public var recall: Double { truths > 0 ? Double(truePositives) / Double(truths) : 0 }
    public var f1: Double { precision + recall > 0 ? 2 * precision * recall / (precision + recall) : 0 }

    /// Greedy one-to-one matching, closest pairs first, of picks to truths within `distance` voxels.
    public static func match(picks: [Pick], truths: [Pick], distance: Double) -> PickingScore {
        var pairs: [(Double, Int, Int)] = []
        for (i, p) in picks.enumerated() {
            for (j, t) in truths.enumerated() {
                let d = ((p.x - t.x) * (p.x - t.x) + (p.y - t.y) * (p.y - t.y) + (p.z - t.z) * (p.z - t.z)).squareRoot()
                if d <= distance { pairs.append((d, i, j)) }
            }
        }
        pairs.sort { ($0.0, $0.1, $0.2) < ($1.0, $1.1, $1.2) }
        var usedPick = Set<Int>()
        var usedTruth = Set<Int>()
        for (_, i, j) in pairs where !usedPick.contains(i) && !usedTruth.contains(j) {
            usedPick.insert(i)
            usedTruth.insert(j)
        }
        return PickingScore(truePositives: usedPick.count, picks: picks.count, truths: truths.count)
    }
}
