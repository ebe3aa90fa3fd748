import Voxels

/// The 17-byte key of a stored chunk: dataset id (u32), level (u8), chunk z, y, x (u32 each), all
/// big-endian, so that bytewise key order sorts chunks by (dataset, level, z, y, x) and a
/// dataset's chunks are contiguous.
public struct ChunkKey: Hashable, Sendable {
    public static let size = 17
    public let dataset: UInt32
    public let level: UInt8
    /// Chunk coordinates (not voxels).
    public let index: Extent3

    public init(dataset: UInt32, level: UInt8 = 0, index: Extent3) {
        self.dataset = dataset
        self.level = level
        self.index = index
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
        dataset = Self.uint32(raw)
        level = raw[4]
        let u32 = { (o: Int) in Int(Self.uint32(UnsafeRawBufferPointer(rebasing: raw[o..<o + 4]))) }
        index = Extent3(x: u32(13), y: u32(9), z: u32(5))
    }

    /// A u32 as 4 big-endian bytes (dataset ids in keys).
    public static func bigEndian(_ v: UInt32) -> [UInt8] {
        [UInt8(v >> 24), UInt8((v >> 16) & 0xff), UInt8((v >> 8) & 0xff), UInt8(v & 0xff)]
    }

    /// The big-endian u32 in the first 4 bytes of `bytes` (fewer bytes: those, as a shorter number).
    public static func uint32<C: Collection>(_ bytes: C) -> UInt32 where C.Element == UInt8 {
        bytes.prefix(4).reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
    }
}
