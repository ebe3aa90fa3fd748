import CLMDB

/// An error returned by LMDB, with LMDB's own text.
public struct LMDBError: Error, CustomStringConvertible, Sendable {
    /// LMDB's (or the OS's) return code.
    public let code: Int32
    /// What TomoStore was doing.
    public let operation: String
    /// Bytes free on the store's filesystem when the error happened (for ENOSPC/EIO on commit).
    public var freeBytes: Int?
    /// TomoStore's own explanation, shown instead of LMDB's text when set.
    public var detail: String?

    public init(_ code: Int32, _ operation: String, detail: String? = nil) {
        self.code = code
        self.operation = operation
        self.detail = detail
    }

    /// The OS refused access (EACCES, EROFS, EPERM): e.g. a store on a read-only filesystem.
    public var isPermissionDenied: Bool { code == 13 || code == 30 || code == 1 }

    public var isMapFull: Bool { code == MDB_MAP_FULL }
    public var isNotFound: Bool { code == MDB_NOTFOUND }

    public var description: String {
        if let detail { return "\(operation): \(detail)" }
        let text = String(cString: mdb_strerror(code))
        let noSpace: Int32 = 28
        let ioError: Int32 = 5  // ENOSPC, EIO
        if code == noSpace || (code == ioError && (freeBytes ?? Int.max) < 64 << 20) {
            let free = freeBytes.map { " (\($0 / 1024) KiB free)" } ?? ""
            return
                "\(operation): the disk holding the store is full\(free) (\(text)); free space and retry — this "
                + "transaction was not committed and the store is unchanged"
        }
        return "\(operation): \(text)"
    }

    /// Throws unless `code` is MDB_SUCCESS.
    @inline(__always)
    static func check(_ code: Int32, _ operation: @autoclosure () -> String) throws {
        if code != 0 { throw LMDBError(code, operation()) }
    }
}
