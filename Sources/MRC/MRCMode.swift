import Voxels

/// MRC data modes that TomoStore reads, and the dtype each yields.
public enum MRCMode: Int32, Sendable, CaseIterable {
    /// 8-bit integers: signed per MRC2014, unsigned in IMOD files whose flags say so.
    case bytes = 0
    /// 16-bit signed integers.
    case int16 = 1
    /// 32-bit IEEE floats.
    case float32 = 2
    /// 16-bit unsigned integers.
    case uint16 = 6
    /// 16-bit IEEE floats.
    case float16 = 12
    /// 4-bit unsigned integers, two per byte, low nibble first, rows padded to whole bytes (read only).
    case packed4 = 101

    /// The modes TomoStore can write.
    public static let writable: [MRCMode] = [.bytes, .int16, .float32, .uint16, .float16]

    /// A short human name for a mode number, including the ones TomoStore rejects.
    public static func name(of mode: Int32) -> String {
        switch mode {
        case 0: return "8-bit integer"
        case 1: return "16-bit signed integer"
        case 2: return "32-bit float"
        case 3: return "complex 16-bit integer"
        case 4: return "complex 32-bit float"
        case 6: return "16-bit unsigned integer"
        case 12: return "16-bit float"
        case 101: return "4-bit packed integer"
        default: return "unknown"
        }
    }

    /// Every mode number defined by MRC2014 or in common use, valid or not for TomoStore.
    static let known: Set<Int32> = [0, 1, 2, 3, 4, 6, 12, 101]

    /// The dtype data of this mode is read as (`bytesUnsigned` applies to mode 0 only).
    public func dtype(bytesUnsigned: Bool) -> DType {
        switch self {
        case .bytes: return bytesUnsigned ? .uint8 : .int8
        case .int16: return .int16
        case .float32: return .float32
        case .uint16: return .uint16
        case .float16: return .float16
        case .packed4: return .uint8
        }
    }

    /// The mode a dtype is written as by default. uint8 is widened to mode 6 (as mrcfile does) so that
    /// every MRC2014 reader sees the right values; request mode 0 explicitly to keep IMOD-style
    /// unsigned bytes. uint32 has no MRC mode.
    public static func defaultMode(for dtype: DType) -> MRCMode? {
        switch dtype {
        case .int8: return .bytes
        case .uint8: return .uint16
        case .int16: return .int16
        case .uint16: return .uint16
        case .float16: return .float16
        case .float32: return .float32
        case .uint32: return nil
        }
    }
}
