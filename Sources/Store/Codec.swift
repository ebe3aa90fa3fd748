import Voxels

/// How chunks of a dataset are encoded: `raw`, or `zstd:L` (level 1–19), with an optional
/// blosc-style byte shuffle before zstd (on by default for multi-byte dtypes).
public struct Codec: Codable, Hashable, Sendable, CustomStringConvertible {
    /// Compression level 1–19; 0 means raw (uncompressed).
    public let level: Int
    /// Byte-shuffle before compression.
    public let shuffle: Bool

    /// Uncompressed chunks.
    public static let raw = Codec(level: 0, shuffle: false)

    public init(level: Int, shuffle: Bool) {
        self.level = level
        self.shuffle = shuffle
    }

    /// Parses `raw`, `zstd` (level 3) or `zstd:L`; shuffle applies to multi-byte `dtype` unless
    /// `shuffle` is false. Returns nil for anything else.
    public init?(parsing text: String, dtype: DType, shuffle: Bool = true) {
        if text == "raw" { self = .raw; return }
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.first == "zstd", parts.count <= 2 else { return nil }
        let level = parts.count == 2 ? Int(parts[1]) : 3
        guard let level, (1...19).contains(level) else { return nil }
        self.init(level: level, shuffle: shuffle && dtype.byteCount > 1)
    }

    /// `raw` or `zstd:L`.
    public var description: String { level == 0 ? "raw" : "zstd:\(level)" }

    /// The codec byte in a chunk header: 0 raw, 1 zstd, 2 byte-shuffle then zstd.
    var headerCode: UInt8 { level == 0 ? 0 : (shuffle ? 2 : 1) }
}

extension DType {
    /// The dtype's code in chunk headers (formats/store.md).
    public var code: UInt8 {
        switch self {
        case .uint8: return 0
        case .int8: return 1
        case .uint16: return 2
        case .int16: return 3
        case .float16: return 4
        case .float32: return 5
        case .uint32: return 6
        }
    }

    /// The dtype with a chunk-header code.
    public init?(code: UInt8) {
        guard let d = DType.allCases.first(where: { $0.code == code }) else { return nil }
        self = d
    }
}
