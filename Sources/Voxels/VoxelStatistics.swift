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
        if T.self == Float.self {
            add(
                UnsafeBufferPointer(
                    start: UnsafeRawPointer(values.baseAddress)?.assumingMemoryBound(to: Float.self),
                    count: values.count))
        } else {
            addGeneric(values)
        }
    }

    /// The scalar two-pass computation for any voxel type.
    mutating func addGeneric<T: VoxelScalar>(_ values: UnsafeBufferPointer<T>) {
        var part = VoxelStatistics()
        var lo = Double.infinity
        var hi = -Double.infinity
        var sum = 0.0
        var n = 0
        var nans = 0
        for v in values {
            let d = v.doubleValue
            if d.isNaN {
                nans += 1
                continue
            }
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
            part.count = n
            part.min = lo
            part.max = hi
            part.mean = mean
            part.m2 = m2
        }
        part.nanCount = nans
        merge(part)
    }

    /// Adds float32 values with SIMD: min/max in Float, sums of values and of squared deviations in
    /// Double (two passes, like the generic path, so the result matches it to rounding).
    public mutating func add(_ values: UnsafeBufferPointer<Float>) {
        let n8 = values.count / 8 * 8
        guard n8 > 0, let base = values.baseAddress else {
            addGeneric(values)
            return
        }
        let raw = UnsafeRawPointer(base)
        var lo = SIMD8<Float>(repeating: .infinity)
        var hi = SIMD8<Float>(repeating: -.infinity)
        var sumA = SIMD4<Double>()
        var sumB = SIMD4<Double>()
        var nans = 0
        var n = 0
        var i = 0
        while i < n8 {
            let v = raw.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self)
            if any(v .!= v) {
                for j in 0..<8 where !v[j].isNaN {
                    lo[0] = Swift.min(lo[0], v[j])
                    hi[0] = Swift.max(hi[0], v[j])
                    sumA[0] += Double(v[j])
                    n += 1
                }
                nans += (0..<8).filter { v[$0].isNaN }.count
            } else {
                lo.replace(with: v, where: v .< lo)
                hi.replace(with: v, where: v .> hi)
                sumA += SIMD4<Double>(Double(v[0]), Double(v[1]), Double(v[2]), Double(v[3]))
                sumB += SIMD4<Double>(Double(v[4]), Double(v[5]), Double(v[6]), Double(v[7]))
                n += 8
            }
            i += 8
        }
        var minimum = Double(lo.min())
        var maximum = Double(hi.max())
        var sum = (sumA + sumB).sum()
        for j in n8..<values.count {
            let d = Double(values[j])
            if d.isNaN {
                nans += 1
                continue
            }
            minimum = Swift.min(minimum, d)
            maximum = Swift.max(maximum, d)
            sum += d
            n += 1
        }
        var part = VoxelStatistics()
        part.nanCount = nans
        if n > 0 {
            let mean = sum / Double(n)
            let m = SIMD4<Double>(repeating: mean)
            var qA = SIMD4<Double>()
            var qB = SIMD4<Double>()
            var q = 0.0
            i = 0
            while i < n8 {
                let v = raw.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self)
                if any(v .!= v) {
                    for j in 0..<8 where !v[j].isNaN { q += (Double(v[j]) - mean) * (Double(v[j]) - mean) }
                } else {
                    let a = SIMD4<Double>(Double(v[0]), Double(v[1]), Double(v[2]), Double(v[3])) - m
                    let b = SIMD4<Double>(Double(v[4]), Double(v[5]), Double(v[6]), Double(v[7])) - m
                    qA += a * a
                    qB += b * b
                }
                i += 8
            }
            for j in n8..<values.count where !values[j].isNaN {
                q += (Double(values[j]) - mean) * (Double(values[j]) - mean)
            }
            part.count = n
            part.min = minimum
            part.max = maximum
            part.mean = mean
            part.m2 = q + (qA + qB).sum()
        }
        merge(part)
    }

    /// Adds every voxel of a volume.
    public mutating func add(_ volume: Volume) {
        if volume.dtype == .float32 {
            volume.withUnsafeValues(as: Float.self) { add($0) }
            return
        }
        func typed<T: VoxelScalar>(_: T.Type) { volume.withUnsafeValues(as: T.self) { addGeneric($0) } }
        VoxelScalarDispatch.with(volume.dtype) { typed($0) }
    }

    /// Folds another set of statistics into this one.
    public mutating func merge(_ other: VoxelStatistics) {
        nanCount += other.nanCount
        guard other.count > 0 else { return }
        guard count > 0 else {
            let nans = nanCount
            self = other
            nanCount = nans
            return
        }
        let n = Double(count)
        let m = Double(other.count)
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
