/// Running statistics of voxel values (min, max, mean, rms deviation), mergeable across slabs or
/// chunks in any grouping with the same result up to float rounding (Chan et al. pairwise update).
///
/// `rms` is the root-mean-square deviation from the mean (population standard deviation), the
/// quantity MRC2014 calls RMS. NaN voxels are counted in `nanCount` and left out of the others.
public struct VoxelStatistics: Sendable, Equatable, Codable {
    /// Number of non-NaN values seen.
    public private(set) var count: Int = 0
    /// Number of NaN values seen.
    public private(set) var nanCount: Int = 0
    /// Smallest value (+∞ when empty).
    public private(set) var min: Double = .infinity
    /// Largest value (−∞ when empty).
    public private(set) var max: Double = -.infinity
    /// Mean of the values (0 when empty).
    public private(set) var mean: Double = 0
    /// Sum of squared deviations from the mean.
    private var m2: Double = 0

    public init() {}

    /// Root-mean-square deviation from the mean (0 when empty).
    public var rms: Double { count > 0 ? (m2 / Double(count)).squareRoot() : 0 }

    /// Adds the values of a buffer.
    public mutating func add<T: VoxelScalar>(_ values: UnsafeBufferPointer<T>) {
        var part = VoxelStatistics()
        var lo = Double.infinity, hi = -Double.infinity, sum = 0.0, n = 0, nans = 0
        for v in values {
            let d = v.doubleValue
            if d.isNaN { nans += 1; continue }
            if d < lo { lo = d }
            if d > hi { hi = d }
            sum += d
            n += 1
        }
        if n > 0 {
            let mean = sum / Double(n)
            var m2 = 0.0
            for v in values {
                let d = v.doubleValue
                if d.isNaN { continue }
                m2 += (d - mean) * (d - mean)
            }
            part.count = n; part.min = lo; part.max = hi; part.mean = mean; part.m2 = m2
        }
        part.nanCount = nans
        merge(part)
    }

    /// Adds every voxel of a volume.
    public mutating func add(_ volume: Volume) {
        func typed<T: VoxelScalar>(_: T.Type) { volume.withUnsafeValues(as: T.self) { add($0) } }
        VoxelScalarDispatch.with(volume.dtype) { typed($0) }
    }

    /// Folds another set of statistics into this one.
    public mutating func merge(_ other: VoxelStatistics) {
        nanCount += other.nanCount
        guard other.count > 0 else { return }
        guard count > 0 else { let nans = nanCount; self = other; nanCount = nans; return }
        let n = Double(count), m = Double(other.count)
        let delta = other.mean - mean
        mean += delta * m / (n + m)
        m2 += other.m2 + delta * delta * n * m / (n + m)
        count += other.count
        min = Swift.min(min, other.min)
        max = Swift.max(max, other.max)
    }

    /// Statistics of a whole volume.
    public static func of(_ volume: Volume) -> VoxelStatistics {
        var s = VoxelStatistics()
        s.add(volume)
        return s
    }
}
