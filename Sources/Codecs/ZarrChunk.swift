import Voxels

/// Stored chunk values as Zarr v3 chunks, without re-encoding. A stored value is a 40-byte header
/// (formats/store.md) and a payload; for a full-size chunk the payload already is what the chain's
/// Zarr codecs (`CodecChain.zarrCodecs`) decode: the raw bytes, a zstd frame, or — for a shuffled
/// chain — a zstd frame of the shuffled bytes, which Zarr's `blosc` codec reads once a 24-byte blosc
/// header is put in front (blosc format 2: one block of the whole chunk, not split, zstd inside).
/// Zarr chunks are never cut at the array's edge, so edge chunks (stored cut) are padded and encoded
/// again by the caller before they are framed.
public enum ZarrChunk {
    /// The bytes of a stored value that identify its content: the header (with the XXH64 of the raw
    /// voxel bytes, the codec, level and extent) and the value's length.
    public struct Identity: Hashable, Sendable {
        let header: [UInt64]
        let count: Int

        /// The identity of a stored value.
        public init(_ value: UnsafeRawBufferPointer) {
            var words = [UInt64](repeating: 0, count: ChunkHeader.size / 8)
            for i in words.indices where (i + 1) * 8 <= value.count {
                words[i] = value.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self)
            }
            header = words
            count = value.count
        }
    }

    /// A stored value split into what is sent: `prefix` (empty, or the blosc header) then `payload`
    /// (a slice of the value, valid as long as the value is).
    public struct Framing {
        public let prefix: [UInt8]
        public let payload: UnsafeRawBufferPointer
    }

    /// The extent (x, y, z) a stored value's header records.
    public static func extent(of value: UnsafeRawBufferPointer) throws -> Extent3 {
        try ChunkHeader(parsing: value).extent
    }

    /// Frames a stored value as the Zarr v3 chunk of its chain; nil for a constant value (decode it and
    /// encode the chunk with the chain), and in the one case blosc cannot carry the zstd frame (its
    /// size equals the raw size, which blosc takes for an uncompressed copy): send `uncompressedBlosc`
    /// of the decoded bytes then.
    /// - Throws: `ChunkCorruption` for a value whose header does not parse.
    public static func framing(_ value: UnsafeRawBufferPointer) throws -> Framing? {
        let header = try ChunkHeader(parsing: value)
        let payload = UnsafeRawBufferPointer(rebasing: value[ChunkHeader.size...])
        if header.codec == ChunkHeader.constantCodec { return nil }  // one voxel: decode and encode it whole
        guard header.codec == 2 else { return Framing(prefix: [], payload: payload) }
        guard payload.count != header.rawSize, header.rawSize + 24 <= Int(Int32.max) else { return nil }
        var prefix = bloscHeader(
            flags: 0x01 | 0x10 | 0x80, typesize: header.dtype.byteCount, rawSize: header.rawSize,
            total: 24 + payload.count)
        append(Int32(20), to: &prefix)  // where block 0 starts: right after this table
        append(Int32(payload.count), to: &prefix)  // block 0's one stream: its compressed size
        return Framing(prefix: prefix, payload: payload)
    }

    /// A blosc frame holding `raw` uncompressed (the memcpy flag): 16-byte header, then the bytes.
    public static func uncompressedBlosc(_ raw: UnsafeRawBufferPointer, typesize: Int) -> [UInt8] {
        var out = bloscHeader(flags: 0x02 | 0x10 | 0x80, typesize: typesize, rawSize: raw.count, total: 16 + raw.count)
        out.append(contentsOf: raw)
        return out
    }

    /// Blosc's 16-byte header: format version 2, zstd format version 1, flags, typesize, then the raw
    /// size, block size (= raw size: one block) and total frame size, little-endian int32.
    static func bloscHeader(flags: UInt8, typesize: Int, rawSize: Int, total: Int) -> [UInt8] {
        var h: [UInt8] = [2, 1, flags, UInt8(min(typesize, 255))]
        append(Int32(rawSize), to: &h)
        append(Int32(rawSize), to: &h)
        append(Int32(total), to: &h)
        return h
    }

    static func append(_ v: Int32, to bytes: inout [UInt8]) {
        withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) }
    }
}
