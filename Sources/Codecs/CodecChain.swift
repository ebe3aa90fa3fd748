import Voxels

/// An array→array codec: changes the order of a chunk's bytes, keeping their number.
public enum ArrayToArrayCodec: Hashable, Sendable {
    /// Byte shuffle (blosc's SHUFFLE): byte j of element i goes to j·count + i, so equal bytes of
    /// neighbouring voxels (exponents, high bytes) sit together. For multi-byte dtypes only.
    case byteShuffle
}

/// A bytes→bytes codec.
public enum BytesToBytesCodec: Hashable, Sendable {
    /// One zstd frame at `level` (1–19) with its content size and content checksum.
    case zstd(level: Int)
}

/// How a chunk's voxels become a stored value, in Zarr v3 terms: array→array codecs, then the
/// array→bytes codec (always `bytes`: little-endian, C order, [z][y][x] with x fastest), then
/// bytes→bytes codecs. TomoStore's chunk header (`ChunkHeader`) records which of the three chains of
/// store format 1 a chunk uses: none (raw), zstd, or byte shuffle then zstd.
public struct CodecChain: Hashable, Sendable, CustomStringConvertible {
    /// Applied first, to the voxel array.
    public let arrayToArray: [ArrayToArrayCodec]
    /// Applied last, to the encoded bytes.
    public let bytesToBytes: [BytesToBytesCodec]

    /// Uncompressed chunks.
    public static let raw = CodecChain(arrayToArray: [], bytesToBytes: [])

    /// The chain `[byteShuffle?] → bytes → zstd(level)`; level 0 means raw (and no shuffle).
    public init(level: Int, shuffle: Bool) {
        if level == 0 {
            self = .raw
        } else {
            self.init(arrayToArray: shuffle ? [.byteShuffle] : [], bytesToBytes: [.zstd(level: level)])
        }
    }

    /// A chain of the given stages. Store format 1 holds raw, zstd, and byte shuffle then zstd; a
    /// shuffle without zstd is refused when a chunk is prepared.
    public init(arrayToArray: [ArrayToArrayCodec], bytesToBytes: [BytesToBytesCodec]) {
        self.arrayToArray = arrayToArray
        self.bytesToBytes = bytesToBytes
    }

    /// Parses `raw`, `zstd` (level 3) or `zstd:L` (L 1–19); the byte shuffle is added for
    /// multi-byte `dtype` unless `shuffle` is false. Nil for anything else.
    public init?(parsing text: String, dtype: DType, shuffle: Bool = true) {
        if text == "raw" {
            self = .raw
            return
        }
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.first == "zstd", parts.count <= 2 else { return nil }
        let level = parts.count == 2 ? Int(parts[1]) : 3
        guard let level, (1...19).contains(level) else { return nil }
        self.init(level: level, shuffle: shuffle && dtype.byteCount > 1)
    }

    /// The zstd level (0 when the chain has no zstd stage).
    public var level: Int {
        for case .zstd(let level) in bytesToBytes { return level }
        return 0
    }

    /// True when the chain shuffles bytes.
    public var shuffle: Bool { arrayToArray.contains(.byteShuffle) }

    /// `raw` or `zstd:L` (the catalog's `codec` field; `shuffle` is its own field).
    public var description: String { level == 0 ? "raw" : "zstd:\(level)" }

    /// The chain's codec byte in a chunk header (formats/store.md): 0 raw, 1 zstd, 2 byte shuffle
    /// then zstd; nil for chains store format 1 cannot record.
    var headerCode: UInt8? {
        switch (arrayToArray, bytesToBytes.count) {
        case ([], 0): return 0
        case ([], 1): return 1
        case ([.byteShuffle], 1): return 2
        default: return nil
        }
    }

    /// The chain a chunk header's codec byte and level byte stand for.
    init?(headerCode: UInt8, level: UInt8) {
        switch headerCode {
        case 0: self = .raw
        case 1: self.init(level: max(1, Int(level)), shuffle: false)
        case 2: self.init(level: max(1, Int(level)), shuffle: true)
        default: return nil
        }
    }

    /// The chain as Zarr v3 `codecs` metadata for `dtype`, matching the bytes `ZarrChunk` serves: `bytes`
    /// (little-endian), then `zstd` — or, for a shuffled chain, Zarr's `blosc` codec (zstd inside, byte
    /// shuffle, one block), whose frame is the stored zstd frame behind a 24-byte blosc header. Blosc's
    /// `clevel` is 0–9; the stored zstd level (1–19) is capped there, it only matters for encoding.
    public func zarrCodecs(dtype: DType) -> [[String: Any]] {
        var codecs: [[String: Any]] = [["name": "bytes", "configuration": ["endian": "little"]]]
        for case .zstd(let level) in bytesToBytes {
            if shuffle {
                codecs.append([
                    "name": "blosc",
                    "configuration": [
                        "cname": "zstd", "clevel": min(level, 9), "shuffle": "shuffle", "typesize": dtype.byteCount,
                        "blocksize": 0,
                    ],
                ])
            } else {
                codecs.append(["name": "zstd", "configuration": ["level": level, "checksum": true]])
            }
        }
        return codecs
    }
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
