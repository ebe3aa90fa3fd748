import Foundation
import Voxels

/// Why a stored chunk cannot be decoded.
public struct ChunkCorruption: TomoStoreError {
    public let description: String
}

/// The 40-byte header in front of every stored chunk (formats/store.md, "Chunk values").
///
/// Version 2 (written now) binds the value to its key: `checksum` is the XXH64 of the decoded payload
/// (the decompressed zstd frame, or the payload itself for raw and constant chunks) seeded with the
/// XXH64 of header bytes 0–31 followed by the chunk's key, so a value copied under another key, or
/// with its codec, dtype or extent bytes changed, fails every read. Version 1 (read only): the XXH64,
/// seed 0, of the raw voxel bytes.
struct ChunkHeader: Equatable {
    static let size = 40
    static let magic: (UInt8, UInt8) = (0x54, 0x43)  // "TC"
    static let version: UInt8 = 2
    /// Codec code of a constant chunk: the payload is one voxel, repeated over the extent.
    static let constantCodec: UInt8 = 3

    var version: UInt8 = Self.version
    var codec: UInt8
    var dtype: DType
    var level: UInt8
    var extent: Extent3
    var rawSize: Int
    var checksum: UInt64

    func write(to p: UnsafeMutableRawPointer) {
        p.storeBytes(of: Self.magic.0, toByteOffset: 0, as: UInt8.self)
        p.storeBytes(of: Self.magic.1, toByteOffset: 1, as: UInt8.self)
        p.storeBytes(of: version, toByteOffset: 2, as: UInt8.self)
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

    init(codec: UInt8, dtype: DType, level: UInt8, extent: Extent3, rawSize: Int, checksum: UInt64 = 0) {
        self.codec = codec
        self.dtype = dtype
        self.level = level
        self.extent = extent
        self.rawSize = rawSize
        self.checksum = checksum
    }

    /// Parses and sanity-checks a header.
    init(parsing value: UnsafeRawBufferPointer) throws {
        guard value.count >= Self.size else {
            throw ChunkCorruption(description: "value of \(value.count) bytes is shorter than the chunk header")
        }
        let p = value.baseAddress!
        guard p.load(fromByteOffset: 0, as: UInt8.self) == Self.magic.0,
            p.load(fromByteOffset: 1, as: UInt8.self) == Self.magic.1
        else { throw ChunkCorruption(description: "bad magic bytes") }
        version = p.load(fromByteOffset: 2, as: UInt8.self)
        guard version == 1 || version == 2 else {
            throw ChunkCorruption(description: "unknown chunk header version \(version)")
        }
        codec = p.load(fromByteOffset: 3, as: UInt8.self)
        guard codec <= (version == 1 ? 2 : Self.constantCodec) else {
            throw ChunkCorruption(description: "unknown codec \(codec)")
        }
        guard let d = DType(code: p.load(fromByteOffset: 4, as: UInt8.self)) else {
            throw ChunkCorruption(description: "unknown dtype code")
        }
        dtype = d
        level = p.load(fromByteOffset: 5, as: UInt8.self)
        func u32(_ offset: Int) -> Int {
            Int(UInt32(littleEndian: p.loadUnaligned(fromByteOffset: offset, as: UInt32.self)))
        }
        extent = Extent3(x: u32(8), y: u32(12), z: u32(16))
        rawSize = Int(truncatingIfNeeded: UInt64(littleEndian: p.loadUnaligned(fromByteOffset: 24, as: UInt64.self)))
        checksum = UInt64(littleEndian: p.loadUnaligned(fromByteOffset: 32, as: UInt64.self))
        let (count, overflow) = extent.x.multipliedReportingOverflow(by: extent.y)
        let (voxels, overflow2) = count.multipliedReportingOverflow(by: extent.z)
        guard !overflow, !overflow2, voxels <= 1 << 30, rawSize == voxels * dtype.byteCount else {
            throw ChunkCorruption(description: "raw size \(rawSize) does not match extent \(extent)")
        }
        let payload = value.count - Self.size
        if codec == 0 && payload != rawSize {
            throw ChunkCorruption(description: "raw payload has \(payload) bytes, expected \(rawSize)")
        }
        if codec == Self.constantCodec && payload != dtype.byteCount {
            throw ChunkCorruption(description: "constant payload has \(payload) bytes, expected \(dtype.byteCount)")
        }
    }

    /// The seed of a version-2 checksum: XXH64 of header bytes 0–31 (everything but the checksum)
    /// followed by the chunk's key.
    static func seed(header value: UnsafeRawPointer, key: [UInt8]) -> UInt64 {
        var bytes = [UInt8](repeating: 0, count: 32 + key.count)
        bytes.withUnsafeMutableBytes { out in
            out.baseAddress!.copyMemory(from: value, byteCount: 32)
            for (i, b) in key.enumerated() { out[32 + i] = b }
        }
        return bytes.withUnsafeBytes { XXHash64.hash($0) }
    }
}

/// A growable, 64-byte-aligned scratch buffer reused across chunks.
public final class ScratchBuffer: @unchecked Sendable {
    // @unchecked: raw memory owned by one thread at a time (taken from a `Pool`, or made for one
    // chunk and handed on whole).
    public private(set) var pointer: UnsafeMutableRawPointer
    public private(set) var capacity: Int
    /// Bytes in use.
    public var count = 0

    public init(capacity: Int = 0) {
        self.capacity = max(capacity, 64)
        pointer = UnsafeMutableRawPointer.allocate(byteCount: self.capacity, alignment: 64)
    }

    deinit { pointer.deallocate() }

    /// Makes room for at least `n` bytes (contents are not kept).
    public func reserve(_ n: Int) {
        guard n > capacity else { return }
        pointer.deallocate()
        capacity = n
        pointer = UnsafeMutableRawPointer.allocate(byteCount: n, alignment: 64)
    }

    /// The bytes in use.
    public var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: pointer, count: count) }
}

/// A small thread-safe pool of reusable objects (zstd contexts, scratch buffers), one taken per
/// thread at a time.
public final class Pool<T: Sendable>: Sendable {
    private let items = Locked<[T]>([])
    private let make: @Sendable () -> T

    public init(_ make: @escaping @Sendable () -> T) { self.make = make }

    /// Runs `body` with an item from the pool (a new one when none is free), then returns it.
    public func with<R>(_ body: (T) throws -> R) rethrows -> R {
        let item = items.withLock { $0.popLast() } ?? make()
        defer { items.withLock { $0.append(item) } }
        return try body(item)
    }
}

/// Per-thread zstd contexts and scratch buffers shared by every prepared codec of a store.
public final class CodecContexts: Sendable {
    private let compressors: [Pool<ZstdCompressor>]
    let decompressors = Pool { (ZstdDecompressor(), ScratchBuffer()) }
    let scratch = Pool { ScratchBuffer() }

    public init() { compressors = (0...19).map { level in Pool { ZstdCompressor(level: Int32(max(1, level))) } } }

    func compressor(level: Int) -> Pool<ZstdCompressor> { compressors[level] }
}

/// A codec chain prepared for one chunk shape and dtype: encodes a chunk's voxels ([z][y][x], x
/// fastest, little-endian) into a stored value (header + payload) and decodes values back, whole or
/// just the part overlapping a box. Safe to use from many threads at once.
///
/// Integrity: every version-2 value is checked on every decode against the header's XXH64, which
/// covers the decoded payload, the header and the chunk's key (so damaged, re-coded, swapped or
/// copied values all fail); zstd also checks its frame's content checksum.
public final class PreparedChunkCodec: Sendable {
    /// The chain.
    public let chain: CodecChain
    /// Voxel type.
    public let dtype: DType
    /// The chunk's extent in voxels (x, y, z).
    public let extent: Extent3
    /// Bytes of the decoded chunk.
    public let rawSize: Int
    private let headerCode: UInt8
    private let shuffleWidth: Int?
    private let contexts: CodecContexts

    /// Prepares `chain` for chunks of `extent` voxels of `dtype`.
    /// - Throws: `ChunkCorruption` when store format 1 cannot record the chain.
    public init(_ chain: CodecChain, dtype: DType, extent: Extent3, contexts: CodecContexts) throws {
        guard let code = chain.headerCode else {
            throw ChunkCorruption(
                description: "codec chain \(chain) cannot be stored in format 1 (a shuffle needs zstd)")
        }
        self.chain = chain
        self.dtype = dtype
        self.extent = extent
        self.contexts = contexts
        rawSize = extent.count * dtype.byteCount
        headerCode = code
        shuffleWidth = chain.shuffle && dtype.byteCount > 1 ? dtype.byteCount : nil
    }

    /// Encodes a chunk's raw voxel bytes (exactly `rawSize`) stored under `key` into `out`.
    public func encode(_ raw: UnsafeRawBufferPointer, key: [UInt8], into out: ScratchBuffer) throws {
        precondition(raw.count == rawSize, "chunk of \(raw.count) bytes for a \(rawSize)-byte codec")
        var header = ChunkHeader(
            codec: headerCode, dtype: dtype, level: UInt8(chain.level), extent: extent, rawSize: raw.count)
        guard chain.level > 0 else {
            out.reserve(ChunkHeader.size + raw.count)
            if raw.count > 0 {
                (out.pointer + ChunkHeader.size).copyMemory(from: raw.baseAddress!, byteCount: raw.count)
            }
            out.count = ChunkHeader.size + raw.count
            Self.seal(&header, stream: raw, key: key, in: out)
            return
        }
        try contexts.scratch.with { shuffled in
            var source = raw
            if let width = shuffleWidth {
                shuffled.reserve(raw.count)
                ByteShuffle.shuffle(raw.baseAddress!, shuffled.pointer, count: raw.count / width, width: width)
                source = UnsafeRawBufferPointer(start: shuffled.pointer, count: raw.count)
            }
            let bound = ZstdCompressor.bound(raw.count)
            out.reserve(ChunkHeader.size + bound)
            let n = try contexts.compressor(level: chain.level).with { compressor in
                try compressor.compress(source, into: out.pointer + ChunkHeader.size, capacity: bound)
            }
            out.count = ChunkHeader.size + n
            Self.seal(&header, stream: source, key: key, in: out)
        }
    }

    /// Encodes a chunk whose every voxel is `voxel` (one voxel's bytes) as a constant value: the
    /// header and the voxel (formats/store.md, codec 3).
    public func encodeConstant(_ voxel: UnsafeRawBufferPointer, key: [UInt8], into out: ScratchBuffer) {
        precondition(voxel.count == dtype.byteCount, "a constant chunk's payload is one voxel")
        var header = ChunkHeader(
            codec: ChunkHeader.constantCodec, dtype: dtype, level: 0, extent: extent, rawSize: rawSize)
        out.reserve(ChunkHeader.size + voxel.count)
        (out.pointer + ChunkHeader.size).copyMemory(from: voxel.baseAddress!, byteCount: voxel.count)
        out.count = ChunkHeader.size + voxel.count
        Self.seal(&header, stream: voxel, key: key, in: out)
    }

    /// Writes `header` into `out` with its version-2 checksum of `stream` (the payload as decoded).
    private static func seal(
        _ header: inout ChunkHeader, stream: UnsafeRawBufferPointer, key: [UInt8], in out: ScratchBuffer
    ) {
        header.write(to: out.pointer)
        header.checksum = XXHash64.hash(stream, seed: ChunkHeader.seed(header: out.pointer, key: key))
        header.write(to: out.pointer)
    }

    /// Decodes `value`, stored under `key`, into `dst` (exactly `rawSize` bytes). Version-2 values
    /// are always checked against their checksum (which binds them to the key).
    /// - Parameter checksum: for version-1 values, also recompute XXH64 of the decoded voxel bytes
    ///   (zstd checks its own frame checksum in any case).
    public func decode(
        _ value: UnsafeRawBufferPointer, key: [UInt8], into dst: UnsafeMutableRawBufferPointer, checksum: Bool
    ) throws {
        let header = try check(value)
        guard dst.count == header.rawSize else { throw ChunkCorruption(description: "destination size mismatch") }
        try withStream(value, header, key: key) { stream in
            if header.codec == ChunkHeader.constantCodec {
                Self.repeatVoxel(stream, into: dst.baseAddress!, count: header.rawSize / stream.count)
            } else if header.codec == 2 {
                let width = dtype.byteCount
                ByteShuffle.unshuffle(
                    stream.baseAddress!, dst.baseAddress!, count: header.rawSize / width, width: width)
            } else if header.rawSize > 0 {
                dst.baseAddress!.copyMemory(from: stream.baseAddress!, byteCount: header.rawSize)
            }
        }
        if checksum && header.version == 1 && header.codec != 0 {
            try Self.verifyChecksum(UnsafeRawBufferPointer(dst), header, seed: 0)
        }
    }

    /// Decodes only the part of a chunk (covering `chunkBox`, whose shape is `extent`) that overlaps
    /// `box`, into `out`, a volume covering `box` ([z][y][x], x fastest). Unshuffles only the voxels
    /// needed.
    public func decodeRegion(
        _ value: UnsafeRawBufferPointer, key: [UInt8], chunkBox: Box3, box: Box3, into out: UnsafeMutableRawPointer
    ) throws {
        guard let overlap = chunkBox.intersection(box) else { return }
        let header = try check(value)
        let width = dtype.byteCount
        let count = extent.count
        try withStream(value, header, key: key) { stream in
            let src = stream.baseAddress!
            overlap.forEachRow(within: chunkBox, into: box) { chunkRow, outRow, n in
                if header.codec == ChunkHeader.constantCodec {
                    Self.repeatVoxel(stream, into: out + outRow * width, count: n)
                } else if header.codec == 2 {
                    ByteShuffle.unshuffleRun(
                        src, count: count, width: width, from: chunkRow, length: n, into: out + outRow * width)
                } else {
                    (out + outRow * width).copyMemory(from: src + chunkRow * width, byteCount: n * width)
                }
            }
        }
    }

    /// `value` (stored under `from`, checked) as the value of the same chunk stored under `to`: the
    /// same payload, its header in version 2 with the checksum for the new key. Nothing is re-encoded
    /// (a version-1 value is checked against its raw checksum, then sealed anew).
    public func rekeyed(_ value: UnsafeRawBufferPointer, from: [UInt8], to: [UInt8], into out: ScratchBuffer) throws {
        var header = try check(value)
        if header.version == 1 {  // its checksum covers the raw voxels: check them by a full decode
            var raw = [UInt8](repeating: 0, count: rawSize)
            try raw.withUnsafeMutableBytes { try decode(value, key: from, into: $0, checksum: true) }
        }
        out.reserve(value.count)
        out.pointer.copyMemory(from: value.baseAddress!, byteCount: value.count)
        out.count = value.count
        // The payload as decoded, checked against the source key (version 2), sealed for the new one.
        try withStream(value, header, key: header.version == 2 ? from : nil) { stream in
            header.version = ChunkHeader.version
            Self.seal(&header, stream: stream, key: to, in: out)
        }
    }

    /// True when two stored values hold the same chunk content (same codec, dtype, extent and
    /// payload), whatever key their checksums are sealed for (e.g. a chunk and its copy in a shard).
    public static func sameContent(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
        guard a.count == b.count, a.count >= ChunkHeader.size else { return false }
        return a[3..<32].elementsEqual(b[3..<32]) && a[ChunkHeader.size...].elementsEqual(b[ChunkHeader.size...])
    }

    /// Parses the header and checks it against this codec's dtype and extent.
    private func check(_ value: UnsafeRawBufferPointer) throws -> ChunkHeader {
        let header = try ChunkHeader(parsing: value)
        guard header.dtype == dtype else {
            throw ChunkCorruption(description: "chunk is \(header.dtype), dataset is \(dtype)")
        }
        guard header.extent == extent else {
            throw ChunkCorruption(description: "chunk extent \(header.extent) differs from the grid's \(extent)")
        }
        return header
    }

    /// Calls `body` with the payload as decoded — the byte stream that was compressed (shuffled for
    /// codec 2), the raw payload itself, or a constant chunk's one voxel — after checking it: against
    /// the version-2 checksum seeded with `key` (nil: not checked), or for version 1 the raw payload's
    /// checksum and zstd's own.
    private func withStream(
        _ value: UnsafeRawBufferPointer, _ header: ChunkHeader, key: [UInt8]?,
        _ body: (UnsafeRawBufferPointer) throws -> Void
    ) throws {
        let payload = UnsafeRawBufferPointer(rebasing: value[ChunkHeader.size...])
        let seed = header.version == 2 ? key.map { ChunkHeader.seed(header: value.baseAddress!, key: $0) } : 0
        if header.codec == 0 || header.codec == ChunkHeader.constantCodec {
            if let seed { try Self.verifyChecksum(payload, header, seed: seed) }
            return try body(payload)
        }
        try contexts.decompressors.with { decompressor, scratch in
            scratch.reserve(header.rawSize)
            let dst = UnsafeMutableRawBufferPointer(start: scratch.pointer, count: header.rawSize)
            do {
                try decompressor.decompress(payload, into: dst)
            } catch let error as ZstdError {
                throw ChunkCorruption(description: error.description)
            }
            if header.version == 2, let seed {
                try Self.verifyChecksum(UnsafeRawBufferPointer(dst), header, seed: seed)
            }
            try body(UnsafeRawBufferPointer(dst))
        }
    }

    /// Writes `count` copies of one voxel's bytes to `out`.
    private static func repeatVoxel(_ voxel: UnsafeRawBufferPointer, into out: UnsafeMutableRawPointer, count: Int) {
        let width = voxel.count
        guard count > 0 else { return }
        out.copyMemory(from: voxel.baseAddress!, byteCount: width)
        var done = 1
        while done < count {  // doubling copies
            let n = min(done, count - done)
            (out + done * width).copyMemory(from: out, byteCount: n * width)
            done += n
        }
    }

    private static func verifyChecksum(_ raw: UnsafeRawBufferPointer, _ header: ChunkHeader, seed: UInt64) throws {
        let actual = XXHash64.hash(raw, seed: seed)
        guard actual == header.checksum else {
            let stored = String(header.checksum, radix: 16)
            let computed = String(actual, radix: 16)
            let what = header.version == 2 ? "checksum of the payload and its key" : "checksum"
            throw ChunkCorruption(
                description: "\(what) does not match (stored \(stored), computed \(computed)): the value is damaged, "
                    + "or belongs to another chunk")
        }
    }
}
