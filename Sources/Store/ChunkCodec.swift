import Foundation
import Voxels

/// Why a stored chunk cannot be decoded.
public struct ChunkCorruption: Error, CustomStringConvertible, Sendable {
    public let description: String
}

/// The 40-byte header in front of every stored chunk (formats/store.md, "Chunk values").
struct ChunkHeader: Equatable {
    static let size = 40
    static let magic: (UInt8, UInt8) = (0x54, 0x43)  // "TC"
    static let version: UInt8 = 1

    var codec: UInt8
    var dtype: DType
    var level: UInt8
    var extent: Extent3
    var rawSize: Int
    var checksum: UInt64

    func write(to p: UnsafeMutableRawPointer) {
        p.storeBytes(of: Self.magic.0, toByteOffset: 0, as: UInt8.self)
        p.storeBytes(of: Self.magic.1, toByteOffset: 1, as: UInt8.self)
        p.storeBytes(of: Self.version, toByteOffset: 2, as: UInt8.self)
        p.storeBytes(of: codec, toByteOffset: 3, as: UInt8.self)
        p.storeBytes(of: dtype.code, toByteOffset: 4, as: UInt8.self)
        p.storeBytes(of: level, toByteOffset: 5, as: UInt8.self)
        p.storeBytes(of: UInt16(0), toByteOffset: 6, as: UInt16.self)
        p.storeBytes(of: UInt32(extent.x).littleEndian, toByteOffset: 8, as: UInt32.self)
        p.storeBytes(of: UInt32(extent.y).littleEndian, toByteOffset: 12, as: UInt32.self)
        p.storeBytes(of: UInt32(extent.z).littleEndian, toByteOffset: 16, as: UInt32.self)
        p.storeBytes(of: UInt32(0), toByteOffset: 20, as: UInt32.self)
        p.storeBytes(of: UInt64(rawSize).littleEndian, toByteOffset: 24, as: UInt64.self)
        p.storeBytes(of: checksum.littleEndian, toByteOffset: 32, as: UInt64.self)
    }

    init(codec: UInt8, dtype: DType, level: UInt8, extent: Extent3, rawSize: Int, checksum: UInt64) {
        self.codec = codec; self.dtype = dtype; self.level = level
        self.extent = extent; self.rawSize = rawSize; self.checksum = checksum
    }

    /// Parses and sanity-checks a header.
    init(parsing value: UnsafeRawBufferPointer) throws {
        guard value.count >= Self.size else { throw ChunkCorruption(description: "value of \(value.count) bytes is shorter than the chunk header") }
        let p = value.baseAddress!
        guard p.load(fromByteOffset: 0, as: UInt8.self) == Self.magic.0, p.load(fromByteOffset: 1, as: UInt8.self) == Self.magic.1 else {
            throw ChunkCorruption(description: "bad magic bytes")
        }
        let version = p.load(fromByteOffset: 2, as: UInt8.self)
        guard version == Self.version else { throw ChunkCorruption(description: "unknown chunk header version \(version)") }
        codec = p.load(fromByteOffset: 3, as: UInt8.self)
        guard codec <= 2 else { throw ChunkCorruption(description: "unknown codec \(codec)") }
        guard let d = DType(code: p.load(fromByteOffset: 4, as: UInt8.self)) else { throw ChunkCorruption(description: "unknown dtype code") }
        dtype = d
        level = p.load(fromByteOffset: 5, as: UInt8.self)
        extent = Extent3(x: Int(UInt32(littleEndian: p.loadUnaligned(fromByteOffset: 8, as: UInt32.self))),
                         y: Int(UInt32(littleEndian: p.loadUnaligned(fromByteOffset: 12, as: UInt32.self))),
                         z: Int(UInt32(littleEndian: p.loadUnaligned(fromByteOffset: 16, as: UInt32.self))))
        rawSize = Int(truncatingIfNeeded: UInt64(littleEndian: p.loadUnaligned(fromByteOffset: 24, as: UInt64.self)))
        checksum = UInt64(littleEndian: p.loadUnaligned(fromByteOffset: 32, as: UInt64.self))
        guard rawSize == extent.count * dtype.byteCount else { throw ChunkCorruption(description: "raw size \(rawSize) does not match extent \(extent)") }
        if codec == 0 && value.count != Self.size + rawSize { throw ChunkCorruption(description: "raw payload has \(value.count - Self.size) bytes, expected \(rawSize)") }
    }
}

/// A growable, 64-byte-aligned scratch buffer reused across chunks.
final class ScratchBuffer: @unchecked Sendable {
    private(set) var pointer: UnsafeMutableRawPointer
    private(set) var capacity: Int
    /// Bytes in use.
    var count = 0

    init(capacity: Int = 0) {
        self.capacity = max(capacity, 64)
        pointer = UnsafeMutableRawPointer.allocate(byteCount: self.capacity, alignment: 64)
    }

    deinit { pointer.deallocate() }

    /// Makes room for at least `n` bytes (contents are not kept).
    func reserve(_ n: Int) {
        guard n > capacity else { return }
        pointer.deallocate()
        capacity = n
        pointer = UnsafeMutableRawPointer.allocate(byteCount: n, alignment: 64)
    }

    var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: pointer, count: count) }
}

/// Encodes chunks (header + payload) with one thread's reusable zstd context and buffers.
final class ChunkEncoder {
    let codec: Codec
    private let compressor: ZstdCompressor?
    private let shuffled = ScratchBuffer()

    init(codec: Codec) {
        self.codec = codec
        compressor = codec.level > 0 ? ZstdCompressor(level: Int32(codec.level)) : nil
    }

    /// Encodes raw voxel bytes ([z][y][x], little-endian) of a chunk with `extent` into `out`.
    func encode(_ raw: UnsafeRawBufferPointer, dtype: DType, extent: Extent3, into out: ScratchBuffer) throws {
        let checksum = XXHash64.hash(raw)
        let header = ChunkHeader(codec: codec.headerCode, dtype: dtype, level: UInt8(codec.level), extent: extent, rawSize: raw.count, checksum: checksum)
        guard let compressor else {
            out.reserve(ChunkHeader.size + raw.count)
            header.write(to: out.pointer)
            if raw.count > 0 { (out.pointer + ChunkHeader.size).copyMemory(from: raw.baseAddress!, byteCount: raw.count) }
            out.count = ChunkHeader.size + raw.count
            return
        }
        var source = raw
        if codec.shuffle && dtype.byteCount > 1 {
            shuffled.reserve(raw.count)
            ByteShuffle.shuffle(raw.baseAddress!, shuffled.pointer, count: raw.count / dtype.byteCount, width: dtype.byteCount)
            source = UnsafeRawBufferPointer(start: shuffled.pointer, count: raw.count)
        }
        let bound = ZstdCompressor.bound(raw.count)
        out.reserve(ChunkHeader.size + bound)
        header.write(to: out.pointer)
        let n = try compressor.compress(source, into: out.pointer + ChunkHeader.size, capacity: bound)
        out.count = ChunkHeader.size + n
    }
}

/// Decodes stored chunks with one thread's reusable zstd context and buffer, verifying the header
/// against what the catalog expects.
///
/// Integrity: zstd frames carry a content checksum that zstd verifies while decompressing, so a
/// flipped bit in a zstd payload always fails the read; raw payloads are checked against the header's
/// XXH64. Full decodes can also recompute the header's XXH64 of the voxel bytes (`verify` does).
final class ChunkDecoder {
    private let decompressor = ZstdDecompressor()
    private let scratch = ScratchBuffer()

    /// Decodes `value` into `dst` (exactly the chunk's raw size).
    /// - Parameter checksum: also recompute XXH64 of the decoded voxel bytes against the header.
    func decode(_ value: UnsafeRawBufferPointer, dtype: DType, extent: Extent3, into dst: UnsafeMutableRawBufferPointer, checksum: Bool) throws {
        let header = try check(value, dtype: dtype, extent: extent)
        guard dst.count == header.rawSize else { throw ChunkCorruption(description: "destination size mismatch") }
        let stream = try decompressedStream(value, header)
        if header.codec == 2 {
            ByteShuffle.unshuffle(stream.baseAddress!, dst.baseAddress!, count: header.rawSize / dtype.byteCount, width: dtype.byteCount)
        } else if header.rawSize > 0 {
            dst.baseAddress!.copyMemory(from: stream.baseAddress!, byteCount: header.rawSize)
        }
        if checksum && header.codec != 0 { try verifyChecksum(UnsafeRawBufferPointer(dst), header) }
    }

    /// Decodes only the part of a chunk (covering `chunkBox`) that overlaps `box`, writing it into
    /// `out`, a volume covering `box` ([z][y][x], x fastest). Unshuffles only the voxels needed.
    func decodeRegion(_ value: UnsafeRawBufferPointer, dtype: DType, chunkBox: Box3, box: Box3, into out: UnsafeMutableRawPointer) throws {
        guard let overlap = chunkBox.intersection(box) else { return }
        let header = try check(value, dtype: dtype, extent: chunkBox.shape)
        let stream = try decompressedStream(value, header)
        let width = dtype.byteCount
        let cs = chunkBox.shape, bs = box.shape
        let count = cs.count
        let src = stream.baseAddress!
        for z in overlap.zRange {
            for y in overlap.yRange {
                let chunkRow = ((z - chunkBox.lower.z) * cs.y + (y - chunkBox.lower.y)) * cs.x + (overlap.lower.x - chunkBox.lower.x)
                let outRow = ((z - box.lower.z) * bs.y + (y - box.lower.y)) * bs.x + (overlap.lower.x - box.lower.x)
                let n = overlap.shape.x
                if header.codec == 2 {
                    ByteShuffle.unshuffleRun(src, count: count, width: width, from: chunkRow, length: n, into: out + outRow * width)
                } else {
                    (out + outRow * width).copyMemory(from: src + chunkRow * width, byteCount: n * width)
                }
            }
        }
    }

    /// Parses the header and checks it against the expected dtype and extent.
    private func check(_ value: UnsafeRawBufferPointer, dtype: DType, extent: Extent3) throws -> ChunkHeader {
        let header = try ChunkHeader(parsing: value)
        guard header.dtype == dtype else { throw ChunkCorruption(description: "chunk is \(header.dtype), dataset is \(dtype)") }
        guard header.extent == extent else { throw ChunkCorruption(description: "chunk extent \(header.extent) differs from the grid's \(extent)") }
        return header
    }

    /// The payload as the byte stream that was compressed (shuffled for codec 2): the raw payload
    /// itself (checksum verified) or the decompressed zstd frame (zstd verifies its content checksum).
    private func decompressedStream(_ value: UnsafeRawBufferPointer, _ header: ChunkHeader) throws -> UnsafeRawBufferPointer {
        let payload = UnsafeRawBufferPointer(rebasing: value[ChunkHeader.size...])
        if header.codec == 0 {
            try verifyChecksum(payload, header)
            return payload
        }
        scratch.reserve(header.rawSize)
        let dst = UnsafeMutableRawBufferPointer(start: scratch.pointer, count: header.rawSize)
        do {
            try decompressor.decompress(payload, into: dst)
        } catch let error as ZstdError {
            throw ChunkCorruption(description: error.description)
        }
        return UnsafeRawBufferPointer(dst)
    }

    private func verifyChecksum(_ raw: UnsafeRawBufferPointer, _ header: ChunkHeader) throws {
        let actual = XXHash64.hash(raw)
        guard actual == header.checksum else {
            throw ChunkCorruption(description: "checksum mismatch (stored \(String(header.checksum, radix: 16)), computed \(String(actual, radix: 16)))")
        }
    }
}

/// A small thread-safe pool of per-thread objects (encoders, decoders).
final class Pool<T>: @unchecked Sendable {
    private var items: [T] = []
    private let make: () -> T
    private let lock = NSLock()

    init(_ make: @escaping () -> T) { self.make = make }

    func with<R>(_ body: (T) throws -> R) rethrows -> R {
        lock.lock()
        let item = items.popLast() ?? make()
        lock.unlock()
        defer { lock.lock(); items.append(item); lock.unlock() }
        return try body(item)
    }
}
