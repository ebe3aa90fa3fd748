import Voxels

/// The 17-byte key of a stored chunk: dataset id (u32), level (u8), chunk z, y, x (u32 each), all
/// big-endian, so that LMDB's byte order sorts keys by (dataset, level, z, y, x) and a dataset's
/// chunks are contiguous.
public struct ChunkKey: Hashable, Sendable {
    public static let size = 17
    public let dataset: UInt32
    public let level: UInt8
    /// Chunk coordinates (not voxels).
    public let index: Extent3

    public init(dataset: UInt32, level: UInt8 = 0, index: Extent3) {
        self.dataset = dataset; self.level = level; self.index = index
    }

    /// The key's bytes.
    public var bytes: [UInt8] {
        var b = Self.prefix(dataset: dataset, level: level)
        for v in [index.z, index.y, index.x] { b += Self.bigEndian(UInt32(v)) }
        return b
    }

    /// Key prefix of every chunk of a dataset (4 bytes), or of one level (5 bytes).
    public static func prefix(dataset: UInt32, level: UInt8? = nil) -> [UInt8] {
        bigEndian(dataset) + (level.map { [$0] } ?? [])
    }

    /// Parses a key; nil when it is not 17 bytes.
    public init?(_ raw: UnsafeRawBufferPointer) {
        guard raw.count == Self.size else { return nil }
        func u32(_ o: Int) -> UInt32 { raw[o..<o + 4].reduce(0) { $0 << 8 | UInt32($1) } }
        dataset = u32(0)
        level = raw[4]
        index = Extent3(x: Int(u32(13)), y: Int(u32(9)), z: Int(u32(5)))
    }

    static func bigEndian(_ v: UInt32) -> [UInt8] {
        [UInt8(v >> 24), UInt8((v >> 16) & 0xff), UInt8((v >> 8) & 0xff), UInt8(v & 0xff)]
    }
}
