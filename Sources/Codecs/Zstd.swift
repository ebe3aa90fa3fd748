import CZstd
import Voxels

/// An error from zstd, with zstd's own text.
public struct ZstdError: TomoStoreError {
    public let description: String
    init(_ code: Int, _ operation: String) {
        description = "\(operation): \(String(cString: ZSTD_getErrorName(code)))"
    }
    init(message: String) { description = message }
}

/// A reusable zstd compression context (one per thread), writing frames with a content checksum
/// and the content size.
public final class ZstdCompressor: @unchecked Sendable {
    // @unchecked: wraps a ZSTD_CCtx, used by one thread at a time (`Pool`).
    private let context: OpaquePointer
    public let level: Int32

    public init(level: Int32) {
        context = ZSTD_createCCtx()!
        self.level = level
        ZSTD_CCtx_setParameter(context, ZSTD_c_compressionLevel, level)
        ZSTD_CCtx_setParameter(context, ZSTD_c_checksumFlag, 1)
        ZSTD_CCtx_setParameter(context, ZSTD_c_contentSizeFlag, 1)
    }

    deinit { ZSTD_freeCCtx(context) }

    /// The largest compressed size of `count` bytes.
    public static func bound(_ count: Int) -> Int { ZSTD_compressBound(count) }

    /// Compresses `src` into `dst` (capacity at least `bound(src.count)`); returns the frame size.
    public func compress(_ src: UnsafeRawBufferPointer, into dst: UnsafeMutableRawPointer, capacity: Int) throws -> Int
    {
        let n = ZSTD_compress2(context, dst, capacity, src.baseAddress, src.count)
        if ZSTD_isError(n) != 0 { throw ZstdError(n, "zstd compress") }
        return n
    }
}

/// A reusable zstd decompression context (one per thread).
public final class ZstdDecompressor: @unchecked Sendable {
    // @unchecked: wraps a ZSTD_DCtx, used by one thread at a time (`Pool`).
    private let context: OpaquePointer

    public init() { context = ZSTD_createDCtx()! }
    deinit { ZSTD_freeDCtx(context) }

    /// Decompresses a whole frame into exactly `dst.count` bytes; throws on a corrupt frame, a
    /// checksum mismatch or a size mismatch.
    public func decompress(_ src: UnsafeRawBufferPointer, into dst: UnsafeMutableRawBufferPointer) throws {
        let n = ZSTD_decompressDCtx(context, dst.baseAddress, dst.count, src.baseAddress, src.count)
        if ZSTD_isError(n) != 0 { throw ZstdError(n, "zstd decompress") }
        if n != dst.count { throw ZstdError(message: "zstd decompress: \(n) bytes instead of \(dst.count)") }
    }
}

/// One-shot zstd compression and decompression of byte arrays, for exchange formats (Zarr).
public enum ZstdCodec {
    /// A zstd frame (with content size; checksum when asked) of `bytes` at `level`.
    public static func compress(_ bytes: UnsafeRawBufferPointer, level: Int, checksum: Bool = false) throws -> [UInt8] {
        let context = ZSTD_createCCtx()!
        defer { ZSTD_freeCCtx(context) }
        ZSTD_CCtx_setParameter(context, ZSTD_c_compressionLevel, Int32(level))
        ZSTD_CCtx_setParameter(context, ZSTD_c_checksumFlag, checksum ? 1 : 0)
        var out = [UInt8](repeating: 0, count: ZSTD_compressBound(bytes.count))
        let n = out.withUnsafeMutableBytes {
            ZSTD_compress2(context, $0.baseAddress, $0.count, bytes.baseAddress, bytes.count)
        }
        if ZSTD_isError(n) != 0 { throw ZstdError(n, "zstd compress") }
        return Array(out.prefix(n))
    }

    /// Decompresses one or more zstd frames into exactly `size` bytes.
    public static func decompress(_ frame: UnsafeRawBufferPointer, size: Int) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: size)
        let n = out.withUnsafeMutableBytes { ZSTD_decompress($0.baseAddress, $0.count, frame.baseAddress, frame.count) }
        if ZSTD_isError(n) != 0 { throw ZstdError(n, "zstd decompress") }
        guard n == size else { throw ZstdError(message: "zstd decompress: \(n) bytes instead of \(size)") }
        return out
    }
}
