import Foundation
import Voxels

/// How well a volume separates picked positions from the background, without ground truth.
///
/// Picks are rounded to the nearest voxel (ties to even); those outside the volume are dropped.
/// Background: voxels farther than `exclude` voxels from every rounded pick. CNR = (mean at the
/// picks − background mean) / background standard deviation (population); AUC = the probability
/// that a pick's value exceeds a background voxel's, ties counting one half (Mann–Whitney). Both are
/// signed towards bright picks and unchanged by standardizing the volume.
public enum PickScore {
    public struct Result: Sendable, Equatable {
        public let cnr: Double
        public let auc: Double
        public let used: Int
        public let dropped: Int

        public init(cnr: Double, auc: Double, used: Int, dropped: Int) {
            (self.cnr, self.auc, self.used, self.dropped) = (cnr, auc, used, dropped)
        }
    }

    /// Scores `volume` ([z][y][x]) at `picks` (x, y, z in voxels).
    public static func score(
        _ volume: Volume, picks: [(x: Double, y: Double, z: Double)], exclude: Double = 4
    ) -> Result {
        let shape = volume.shape
        let values = volume.converted(to: .float32).values(as: Float.self)
        var inside: [Int] = []
        var near = [Bool](repeating: false, count: shape.count)
        let r = Int(exclude.rounded(.down))
        let r2 = exclude * exclude
        var marked = Set<Int>()
        for p in picks {
            let (x, y, z) = (
                Int(p.x.rounded(.toNearestOrEven)), Int(p.y.rounded(.toNearestOrEven)),
                Int(p.z.rounded(.toNearestOrEven))
            )
            guard x >= 0, y >= 0, z >= 0, x < shape.x, y < shape.y, z < shape.z else { continue }
            let index = (z * shape.y + y) * shape.x + x
            inside.append(index)
            guard marked.insert(index).inserted else { continue }
            for dz in -r...r where z + dz >= 0 && z + dz < shape.z {
                for dy in -r...r where y + dy >= 0 && y + dy < shape.y {
                    for dx in -r...r where x + dx >= 0 && x + dx < shape.x {
                        if Double(dx * dx + dy * dy + dz * dz) <= r2 {
                            near[((z + dz) * shape.y + y + dy) * shape.x + x + dx] = true
                        }
                    }
                }
            }
        }
        var background: [Float] = []
        background.reserveCapacity(shape.count)
        for i in 0..<shape.count where !near[i] { background.append(values[i]) }
        let dropped = picks.count - inside.count
        guard !inside.isEmpty, background.count > 1 else {
            return Result(cnr: .nan, auc: .nan, used: inside.count, dropped: dropped)
        }
        let b = background.map(Double.init)
        let bMean = b.reduce(0, +) / Double(b.count)
        let bStd = (b.reduce(0) { $0 + ($1 - bMean) * ($1 - bMean) } / Double(b.count)).squareRoot()
        let s = inside.map { Double(values[$0]) }
        let sMean = s.reduce(0, +) / Double(s.count)
        background.sort()
        // Per pick: background values below it, plus half of those equal to it.
        func firstIndex(where predicate: (Float) -> Bool) -> Int {
            var (lo, hi) = (0, background.count)
            while lo < hi {
                let mid = (lo + hi) / 2
                if predicate(background[mid]) { hi = mid } else { lo = mid + 1 }
            }
            return lo
        }
        var wins = 0.0
        for i in inside {
            let v = values[i]
            let below = firstIndex { $0 >= v }
            let notAbove = firstIndex { $0 > v }
            wins += Double(below) + 0.5 * Double(notAbove - below)
        }
        return Result(
            cnr: bStd > 0 ? (sMean - bMean) / bStd : 0, auc: wins / (Double(s.count) * Double(b.count)),
            used: inside.count, dropped: dropped)
    }
}
