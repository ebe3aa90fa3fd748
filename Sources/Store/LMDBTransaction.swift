import CLMDB
#if canImport(Glibc)
import Glibc
#endif

/// An LMDB transaction. Read-only ones see a consistent snapshot; write ones are exclusive across
/// processes. Ends with `commit()` or `abort()` (also on deinit); LMDB frees a transaction even
/// when commit fails, so it is never aborted after a commit attempt.
public final class LMDBTransaction: @unchecked Sendable {
    let handle: OpaquePointer
    /// The environment the transaction belongs to.
    public let environment: LMDBEnvironment
    /// True for read-only transactions.
    public let readOnly: Bool
    private var open = true

    init(environment: LMDBEnvironment, readOnly: Bool) throws {
        self.environment = environment
        self.readOnly = readOnly
        var txn: OpaquePointer?
        var rc = mdb_txn_begin(environment.handle, nil, readOnly ? UInt32(MDB_RDONLY) : 0, &txn)
        if rc == MDB_MAP_RESIZED {
            try environment.adoptMapSize()
            rc = mdb_txn_begin(environment.handle, nil, readOnly ? UInt32(MDB_RDONLY) : 0, &txn)
        }
        try LMDBError.check(rc, readOnly ? "begin read transaction" : "begin write transaction")
        handle = txn!
    }

    deinit { abort() }

    /// Commits (durably: LMDB fsyncs before returning).
    public func commit() throws {
        guard open else { return }
        open = false
        let rc = mdb_txn_commit(handle)
        if rc != 0 {
            var error = LMDBError(rc, "commit transaction")
            var fs = statvfs()
            if statvfs(environment.path, &fs) == 0 { error.freeBytes = Int(fs.f_bavail) * Int(fs.f_frsize) }
            throw error
        }
    }

    /// Abandons the transaction's changes (no-op when already ended).
    public func abort() {
        guard open else { return }
        open = false
        mdb_txn_abort(handle)
    }

    /// The named database's handle (created in write transactions when missing).
    public func database(_ name: String) throws -> MDB_dbi {
        try environment.database(name, in: self, create: !readOnly)
    }

    /// The value stored under `key`, or nil. The bytes point into the map and stay valid only until
    /// the transaction ends or (in a write transaction) the next write.
    public func get(_ db: MDB_dbi, _ key: [UInt8]) throws -> UnsafeRawBufferPointer? {
        try key.withUnsafeBytes { k in
            var kv = MDB_val(mv_size: k.count, mv_data: UnsafeMutableRawPointer(mutating: k.baseAddress))
            var v = MDB_val()
            let rc = mdb_get(handle, db, &kv, &v)
            if rc == MDB_NOTFOUND { return nil }
            try LMDBError.check(rc, "read key")
            return UnsafeRawBufferPointer(start: v.mv_data, count: v.mv_size)
        }
    }

    /// Stores `value` under `key`, replacing any old value.
    public func put(_ db: MDB_dbi, _ key: [UInt8], _ value: UnsafeRawBufferPointer) throws {
        try key.withUnsafeBytes { k in
            var kv = MDB_val(mv_size: k.count, mv_data: UnsafeMutableRawPointer(mutating: k.baseAddress))
            var v = MDB_val(mv_size: value.count, mv_data: UnsafeMutableRawPointer(mutating: value.baseAddress))
            try LMDBError.check(mdb_put(handle, db, &kv, &v, 0), "write key")
        }
    }

    /// Reserves `count` bytes under `key` and lets `fill` write them in place (no extra copy).
    public func putReserved(_ db: MDB_dbi, _ key: [UInt8], count: Int, _ fill: (UnsafeMutableRawBufferPointer) throws -> Void) throws {
        try key.withUnsafeBytes { k in
            var kv = MDB_val(mv_size: k.count, mv_data: UnsafeMutableRawPointer(mutating: k.baseAddress))
            var v = MDB_val(mv_size: count, mv_data: nil)
            try LMDBError.check(mdb_put(handle, db, &kv, &v, UInt32(MDB_RESERVE)), "reserve key")
            try fill(UnsafeMutableRawBufferPointer(start: v.mv_data, count: count))
        }
    }

    /// Stores a byte array under `key`.
    public func put(_ db: MDB_dbi, _ key: [UInt8], _ value: [UInt8]) throws {
        try value.withUnsafeBytes { try put(db, key, $0) }
    }

    /// Deletes `key`; returns false when it was absent.
    @discardableResult
    public func delete(_ db: MDB_dbi, _ key: [UInt8]) throws -> Bool {
        try key.withUnsafeBytes { k in
            var kv = MDB_val(mv_size: k.count, mv_data: UnsafeMutableRawPointer(mutating: k.baseAddress))
            let rc = mdb_del(handle, db, &kv, nil)
            if rc == MDB_NOTFOUND { return false }
            try LMDBError.check(rc, "delete key")
            return true
        }
    }

    /// Visits, in key order, every entry whose key starts with `prefix`; `body` returns false to stop.
    /// Keys and values are only valid during the call.
    public func scan(_ db: MDB_dbi, prefix: [UInt8], _ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) throws -> Bool) throws {
        var cursor: OpaquePointer?
        try LMDBError.check(mdb_cursor_open(handle, db, &cursor), "open cursor")
        defer { mdb_cursor_close(cursor) }
        try prefix.withUnsafeBytes { p in
            var k = MDB_val(mv_size: p.count, mv_data: UnsafeMutableRawPointer(mutating: p.baseAddress))
            var v = MDB_val()
            var rc = prefix.isEmpty ? mdb_cursor_get(cursor, &k, &v, MDB_FIRST) : mdb_cursor_get(cursor, &k, &v, MDB_SET_RANGE)
            while rc == 0 {
                let key = UnsafeRawBufferPointer(start: k.mv_data, count: k.mv_size)
                if key.count < prefix.count || !zip(key, prefix).allSatisfy({ $0 == $1 }) { return }
                if try !body(key, UnsafeRawBufferPointer(start: v.mv_data, count: v.mv_size)) { return }
                rc = mdb_cursor_get(cursor, &k, &v, MDB_NEXT)
            }
            if rc != MDB_NOTFOUND { try LMDBError.check(rc, "iterate keys") }
        }
    }

    /// Deletes every entry whose key starts with `prefix`; returns how many.
    @discardableResult
    public func deleteAll(_ db: MDB_dbi, prefix: [UInt8]) throws -> Int {
        var keys: [[UInt8]] = []
        try scan(db, prefix: prefix) { k, _ in keys.append(Array(k)); return true }
        for k in keys { try delete(db, k) }
        return keys.count
    }
}
