import CZstd

/// An error from zstd, with zstd's own text.
public struct ZstdError: Error, CustomStringConvertible, Sendable {
    public let description: String
    init(_ code: Int, _ operation: String) {
        description = "\(operation): \(String(cString: ZSTD_getErrorName(code)))"
    }
    init(message: String) { description = message }
}

/// A reusable zstd compression context (one per thread), writing frames with a content checksum
/// and the content size.
final class ZstdCompressor {
    private let context: OpaquePointer
    let level: Int32

    init(level: Int32) {
        context = ZSTD_createCCtx()!
        self.level = level
        ZSTD_CCtx_setParameter(context, ZSTD_c_compressionLevel, level)
        ZSTD_CCtx_setParameter(context, ZSTD_c_checksumFlag, 1)
        ZSTD_CCtx_setParameter(context, ZSTD_c_contentSizeFlag, 1)
    }

    deinit { ZSTD_freeCCtx(context) }

    /// The largest compressed size of `count` bytes.
    static func bound(_ count: Int) -> Int { ZSTD_compressBound(count) }

    /// Compresses `src` into `dst` (capacity at least `bound(src.count)`); returns the frame size.
    func compress(_ src: UnsafeRawBufferPointer, into dst: UnsafeMutableRawPointer, capacity: Int) throws -> Int {
        let n = ZSTD_compress2(context, dst, capacity, src.baseAddress, src.count)
        if ZSTD_isError(n) != 0 { throw ZstdError(n, "zstd compress") }
        return n
    }
}

/// A reusable zstd decompression context (one per thread).
final class ZstdDecompressor {
    private let context: OpaquePointer

    init() { context = ZSTD_createDCtx()! }
    deinit { ZSTD_freeDCtx(context) }

    /// Decompresses a whole frame into exactly `dst.count` bytes; throws on a corrupt frame, a
    /// checksum mismatch or a size mismatch.
    func decompress(_ src: UnsafeRawBufferPointer, into dst: UnsafeMutableRawBufferPointer) throws {
        let n = ZSTD_decompressDCtx(context, dst.baseAddress, dst.count, src.baseAddress, src.count)
        if ZSTD_isError(n) != 0 { throw ZstdError(n, "zstd decompress") }
        if n != dst.count { throw ZstdError(message: "zstd decompress: \(n) bytes instead of \(dst.count)") }
    }
}
