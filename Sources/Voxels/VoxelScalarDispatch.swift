/// Runtime dispatch from a `DType` to typed loops over raw voxel memory.
public enum VoxelScalarDispatch {
    /// Calls `body` with the Swift type that stores `dtype`.
    @inlinable
    public static func with<R>(_ dtype: DType, _ body: (any VoxelScalar.Type) throws -> R) rethrows -> R {
        switch dtype {
        case .uint8: return try body(UInt8.self)
        case .int8: return try body(Int8.self)
        case .uint16: return try body(UInt16.self)
        case .int16: return try body(Int16.self)
        case .float16: return try body(Float16.self)
        case .float32: return try body(Float.self)
        case .uint32: return try body(UInt32.self)
        }
    }

    /// The bytes of one value of `dtype` holding `value` (converted as `VoxelScalar.init(converting:)`).
    public static func bytes(of value: Double, as dtype: DType) -> [UInt8] {
        func encode<T: VoxelScalar>(_: T.Type) -> [UInt8] { withUnsafeBytes(of: T(converting: value)) { Array($0) } }
        return with(dtype) { encode($0) }
    }

    /// Loads element `index` of a raw array of `dtype` as a Double.
    public static func load(_ dtype: DType, _ base: UnsafeRawPointer, _ index: Int) -> Double {
        func load<T: VoxelScalar>(_: T.Type) -> Double {
            base.load(fromByteOffset: index * MemoryLayout<T>.stride, as: T.self).doubleValue
        }
        return with(dtype) { load($0) }
    }

    /// Converts `count` elements from one dtype to another (rounding and clamping as
    /// `VoxelScalar.init(converting:)`).
    public static func convert(
        from source: DType, _ src: UnsafeRawPointer, to target: DType, _ dst: UnsafeMutableRawPointer, count: Int
    ) {
        // Explicit switches (rather than `with`) so that every (source, target) pair is specialized.
        switch source {
        case .uint8: convert(UInt8.self, src, to: target, dst, count: count)
        case .int8: convert(Int8.self, src, to: target, dst, count: count)
        case .uint16: convert(UInt16.self, src, to: target, dst, count: count)
        case .int16: convert(Int16.self, src, to: target, dst, count: count)
        case .float16: convert(Float16.self, src, to: target, dst, count: count)
        case .float32: convert(Float.self, src, to: target, dst, count: count)
        case .uint32: convert(UInt32.self, src, to: target, dst, count: count)
        }
    }

    private static func convert<S: VoxelScalar>(
        _: S.Type, _ src: UnsafeRawPointer, to target: DType, _ dst: UnsafeMutableRawPointer, count: Int
    ) {
        switch target {
        case .uint8: convert(S.self, UInt8.self, src, dst, count: count)
        case .int8: convert(S.self, Int8.self, src, dst, count: count)
        case .uint16: convert(S.self, UInt16.self, src, dst, count: count)
        case .int16: convert(S.self, Int16.self, src, dst, count: count)
        case .float16: convert(S.self, Float16.self, src, dst, count: count)
        case .float32: convert(S.self, Float.self, src, dst, count: count)
        case .uint32: convert(S.self, UInt32.self, src, dst, count: count)
        }
    }

    @inline(__always)
    private static func convert<S: VoxelScalar, T: VoxelScalar>(
        _: S.Type, _: T.Type, _ src: UnsafeRawPointer, _ dst: UnsafeMutableRawPointer, count: Int
    ) {
        let s = src.assumingMemoryBound(to: S.self)
        let d = dst.assumingMemoryBound(to: T.self)
        for i in 0..<count { d[i] = T(converting: s[i].doubleValue) }
    }

    /// Converts Doubles into `count` elements of `target` (rounding and clamping as `convert`).
    public static func convertFromDouble(
        _ src: UnsafePointer<Double>, to target: DType, _ dst: UnsafeMutableRawPointer, count: Int
    ) {
        func inner<T: VoxelScalar>(_: T.Type) {
            let d = dst.assumingMemoryBound(to: T.self)
            for i in 0..<count { d[i] = T(converting: src[i]) }
        }
        with(target) { inner($0) }
    }

    /// Counts the elements that `convert` would clamp (outside the target's range) or that are NaN
    /// going to an integer type.
    public static func countOutOfRange(_ source: DType, _ src: UnsafeRawPointer, count: Int, target: DType) -> Int {
        if target.isFloatingPoint && target.byteCount >= source.byteCount && source.isFloatingPoint { return 0 }
        let range = target.range
        func inner<S: VoxelScalar>(_: S.Type) -> Int {
            let s = src.assumingMemoryBound(to: S.self)
            var n = 0
            for i in 0..<count {
                let v = s[i].doubleValue
                if target.isFloatingPoint {
                    if v.isFinite && !range.contains(v) { n += 1 }
                } else if v.isNaN || v <= range.lowerBound - 0.5 || v >= range.upperBound + 0.5 {
                    n += 1
                }  // rounds outside
            }
            return n
        }
        return with(source) { inner($0) }
    }
}
