import Voxels

extension Dataset {
    /// How a pyramid level reduces 2×2×2 voxels of the level below.
    public enum Reduction: Sendable {
        /// Their mean (intensities).
        case mean
        /// Their most frequent value (label volumes).
        case mode
    }

    /// Builds resolution levels 1…levels−1 (each 2×2×2-reduced from the previous), stored as chunks
    /// of the same shape under the level's key byte. Each level is committed in batches; the
    /// catalog's `levels` grows as each level completes.
    public func buildPyramid(levels: Int, reduction: Reduction, progress: ((Int, Int) -> Void)? = nil) throws {
        guard level == 0 else { throw StoreError.pyramidFromLevel(name: name, level: Int(level)) }
        guard levels >= 1 && levels <= 16 else { throw StoreError.pyramidLevels(levels) }
        let labels = reduction == .mode
        let info = self.info
        let total = (1..<max(1, levels)).reduce(0) { $0 + info.grid(level: $1).counts.count }
        var done = 0
        for l in 1..<max(1, levels) {
            let source = try Dataset(store: store, info: info, level: UInt8(l - 1))
            let target = try Dataset(store: store, info: info, level: UInt8(l))
            var batch: [(index: Extent3, volume: Volume)] = []
            for index in target.grid.allChunks {
                let b = target.grid.box(of: index)
                let from = Box3(
                    x: 2 * b.lower.x..<min(source.shape.x, 2 * b.upper.x),
                    y: 2 * b.lower.y..<min(source.shape.y, 2 * b.upper.y),
                    z: 2 * b.lower.z..<min(source.shape.z, 2 * b.upper.z))
                batch.append((index, try source.read(from, cached: false).downsampledByTwo(labels: labels)))
                if batch.count >= 16 {
                    try target.commit(try target.prepare(batch))
                    done += batch.count
                    progress?(done, total)
                    batch.removeAll()
                }
            }
            let levelsNow = l + 1
            try target.commit(try target.prepare(batch)) { info in info.levels = max(info.levels ?? 1, levelsNow) }
            done += batch.count
            progress?(done, total)
            try updateInfo { $0.levels = max($0.levels ?? 1, levelsNow) }
        }
    }
}
