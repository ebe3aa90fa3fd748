/// The element type of a volume's voxels, as stored on disk and in memory (little-endian).
public enum DType: String, Codable, CaseIterable, Sendable {
    case uint8, int8, uint16, int16, float16, float32, uint32

    /// Bytes per voxel.
    public var byteCount: Int {
        switch self {
        case .uint8, .int8: return 1
        case .uint16, .int16, .float16: return 2
        case .float32, .uint32: return 4
        }
    }

    /// True for the floating-point types.
    public var isFloatingPoint: Bool { self == .float16 || self == .float32 }

    /// The smallest and largest finite value the type can hold.
    public var range: ClosedRange<Double> {
        switch self {
        case .uint8: return 0...255
        case .int8: return -128...127
        case .uint16: return 0...65535
        case .int16: return -32768...32767
        case .uint32: return 0...4_294_967_295
        case .float16: return -65504...65504
        case .float32: return Double(-Float.greatestFiniteMagnitude)...Double(Float.greatestFiniteMagnitude)
        }
    }

    /// Parses a dtype name ("float32", "uint8", …), or returns nil.
    public init?(name: String) { self.init(rawValue: name.lowercased()) }
}

/// A Swift scalar type that can be a voxel; ties the Swift type to its `DType`.
public protocol VoxelScalar: Sendable, Comparable {
    /// The dtype this Swift type is stored as.
    static var dtype: DType { get }
    /// The value as a Double (exact for every supported type).
    var doubleValue: Double { get }
    /// Converts a Double: integers round to nearest (ties away from zero) and clamp to the range;
    /// floating-point types round to nearest representable value.
    init(converting value: Double)
}

extension UInt8: VoxelScalar {
    public static var dtype: DType { .uint8 }
    public var doubleValue: Double { Double(self) }
    public init(converting value: Double) { self = Self(clampingRounded: value) }
}
extension Int8: VoxelScalar {
    public static var dtype: DType { .int8 }
    public var doubleValue: Double { Double(self) }
    public init(converting value: Double) { self = Self(clampingRounded: value) }
}
extension UInt16: VoxelScalar {
    public static var dtype: DType { .uint16 }
    public var doubleValue: Double { Double(self) }
    public init(converting value: Double) { self = Self(clampingRounded: value) }
}
extension Int16: VoxelScalar {
    public static var dtype: DType { .int16 }
    public var doubleValue: Double { Double(self) }
    public init(converting value: Double) { self = Self(clampingRounded: value) }
}
extension UInt32: VoxelScalar {
    public static var dtype: DType { .uint32 }
    public var doubleValue: Double { Double(self) }
    public init(converting value: Double) { self = Self(clampingRounded: value) }
}
extension Float16: VoxelScalar {
    public static var dtype: DType { .float16 }
    public var doubleValue: Double { Double(self) }
    public init(converting value: Double) { self = Float16(Float(value)) }
}
extension Float: VoxelScalar {
    public static var dtype: DType { .float32 }
    public var doubleValue: Double { Double(self) }
    public init(converting value: Double) { self = Float(value) }
}

extension FixedWidthInteger where Self: VoxelScalar {
    /// Rounds to nearest (ties away from zero) and clamps into the type's range; NaN becomes 0.
    /// Written with a truncating conversion instead of `rounded()` (a libm call) for speed; exact
    /// because the fractional part of a Double is computed exactly.
    @inlinable
    init(clampingRounded value: Double) {
        if value.isNaN {
            self = 0
            return
        }
        if value <= Double(Self.min) {
            self = Self.min
            return
        }
        if value >= Double(Self.max) {
            self = Self.max
            return
        }
        var i = Int64(value)
        let fraction = value - Double(i)
        if fraction >= 0.5 { i += 1 } else if fraction <= -0.5 { i -= 1 }
        self = Self(truncatingIfNeeded: Swift.min(Swift.max(i, Int64(Self.min)), Int64(Self.max)))
    }
}
