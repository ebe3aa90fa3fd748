import CLMDB

/// An error returned by LMDB, with LMDB's own text.
public struct LMDBError: Error, CustomStringConvertible, Sendable {
    /// LMDB's (or the OS's) return code.
    public let code: Int32
    /// What TomoStore was doing.
    public let operation: String

    public init(_ code: Int32, _ operation: String) {
        self.code = code
        self.operation = operation
    }

    public var isMapFull: Bool { code == MDB_MAP_FULL }
    public var isNotFound: Bool { code == MDB_NOTFOUND }

    public var description: String {
        let text = String(cString: mdb_strerror(code))
        if code == 28 /* ENOSPC */ {
            return "\(operation): the disk is full (\(text)); free space and retry — nothing was committed by this step"
        }
        return "\(operation): \(text)"
    }

    /// Throws unless `code` is MDB_SUCCESS.
    @inline(__always)
    static func check(_ code: Int32, _ operation: @autoclosure () -> String) throws {
        if code != 0 { throw LMDBError(code, operation()) }
    }
}
