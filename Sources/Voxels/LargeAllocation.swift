#if canImport(Glibc)
    import Glibc
#endif

/// Allocation of large, 64-byte-aligned buffers. Buffers of 4 MiB or more are aligned to 2 MiB and
/// advised for transparent huge pages (MADV_HUGEPAGE), so that first touching them costs one page
/// fault per 2 MiB instead of one per 4 KiB — on virtual machines those faults dominated filter and
/// convolution passes over fresh volumes.
public enum LargeAllocation {
    static let hugePage = 2 << 20

    /// Allocates `byteCount` bytes (at least 1), aligned to 64 bytes or, when large, to 2 MiB.
    public static func allocate(byteCount: Int) -> UnsafeMutableRawPointer {
        let n = max(byteCount, 1)
        guard n >= 2 * hugePage else { return UnsafeMutableRawPointer.allocate(byteCount: n, alignment: 64) }
        let p = UnsafeMutableRawPointer.allocate(byteCount: n, alignment: hugePage)
        #if canImport(Glibc)
            let madvHugePage: Int32 = 14  // MADV_HUGEPAGE
            _ = madvise(p, (n / hugePage) * hugePage, madvHugePage)
        #endif
        return p
    }
}
