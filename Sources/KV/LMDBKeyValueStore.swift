import CLMDB
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A key-value store in one LMDB environment (a directory holding `data.mdb` and `lock.mdb`), with
/// one named LMDB database per table. LMDB's handles never leave this file.
///
/// Opened with MDB_NOTLS so read transactions may move between threads, and a large virtual map
/// (doubled on MDB_MAP_FULL), so a store fills only when the disk does. Commits are durable (fsync).
/// Many processes may read while one writes.
public final class LMDBKeyValueStore: KeyValueStore, @unchecked Sendable {
    // @unchecked: `environment` is an MDB_env, which LMDB allows to be shared by threads; the
    // mutable table handles and the transaction count are guarded by `gate`.
    let environment: OpaquePointer
    /// The directory holding the environment.
    public let path: String
    public let tables: [KVTable]
    /// True when the environment is open read-only (asked for, or the store's directory cannot be
    /// written, e.g. on a read-only filesystem): every write fails with a clear error.
    public let isReadOnly: Bool
    /// Guards `handles`, `openTransactions` and `resizing`.
    private let gate = NSCondition()
    private var handles: [KVTable: MDB_dbi] = [:]
    /// Transactions of this process now open (the map may be resized only when none is).
    private var openTransactions = 0
    private var resizing = false

    /// Initial map size: 1 TiB of address space (the file grows only as data is written).
    public static let initialMapSize = 1 << 40
    /// Where address space is short (`ulimit -v`, ThreadSanitizer's fixed layout, many stores open in
    /// one process), opening retries with these smaller maps in turn; the map then grows by doubling
    /// as data is written (`growMap`), and never below the data already in the file (LMDB keeps it).
    static let fallbackMapSizes = [1 << 38, 1 << 36, 1 << 34, 1 << 32, 1 << 30]

    /// Opens (creating files when missing) the environment in an existing directory. Tables that do
    /// not exist yet read as empty and are created by the first write to them, or all at once when
    /// `createTables` (in one write transaction).
    public init(path: String, tables: [KVTable], readOnly: Bool = false, createTables: Bool = false) throws {
        self.path = path
        self.tables = tables
        try Self.checkDataFile(path: path)
        var openedReadOnly = readOnly
        do {
            environment = try Self.openEnvironment(path: path, readOnly: readOnly)
        } catch let error as LMDBError where !readOnly && !createTables && error.isPermissionDenied {
            // A store on a read-only filesystem (or in a directory this user cannot write) is still
            // readable: LMDB then runs without its lock file, which is safe only because nobody can
            // write there either.
            environment = try Self.openEnvironment(path: path, readOnly: true)
            openedReadOnly = true
        }
        isReadOnly = openedReadOnly
        try Self.checkMappedSize(environment, path: path)  // on a throw, deinit closes the environment
        try withTransaction(readOnly: !createTables) { txn in
            for table in tables { _ = try txn.handle(table, create: createTables) }
        }
    }

    /// Creates and opens an MDB_env with the largest map the address space allows (`initialMapSize`,
    /// else `fallbackMapSizes`); on failure each half-made environment is closed exactly once.
    private static func openEnvironment(path: String, readOnly: Bool) throws -> OpaquePointer {
        let outOfMemory: Int32 = 12  // ENOMEM: the map does not fit the address space
        let sizes = [initialMapSize] + fallbackMapSizes
        for (i, size) in sizes.enumerated() {
            do {
                return try openEnvironment(path: path, readOnly: readOnly, mapSize: size)
            } catch let error as LMDBError where error.code == outOfMemory && i + 1 < sizes.count {
                continue
            }
        }
        preconditionFailure("the last map size rethrows")
    }

    /// Creates and opens an MDB_env with a map of `mapSize` bytes; on failure the half-made environment
    /// is closed exactly once.
    private static func openEnvironment(path: String, readOnly: Bool, mapSize: Int) throws -> OpaquePointer {
        var env: OpaquePointer?
        try LMDBError.check(mdb_env_create(&env), "create LMDB environment")
        guard let handle = env else { throw LMDBError(MDB_PANIC, "create LMDB environment") }
        do {
            try LMDBError.check(mdb_env_set_maxdbs(handle, 16), "set LMDB max databases")
            try LMDBError.check(mdb_env_set_maxreaders(handle, 510), "set LMDB max readers")
            try LMDBError.check(mdb_env_set_mapsize(handle, mapSize), "set LMDB map size")
            var flags = UInt32(MDB_NOTLS)
            if readOnly { flags |= UInt32(MDB_RDONLY) }
            try LMDBError.check(mdb_env_open(handle, path, flags, 0o644), "open store \(path)")
        } catch {
            mdb_env_close(handle)  // must be called even when open failed
            throw error
        }
        return handle
    }

    deinit { mdb_env_close(environment) }

    /// Refuses a `data.mdb` that is empty or shorter than LMDB's two meta pages, before LMDB sees it
    /// (it would take an empty file for a new environment).
    private static func checkDataFile(path: String) throws {
        var info = stat()
        guard stat(path + "/data.mdb", &info) == 0 else { return }  // LMDB creates it, or says why not
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            throw LMDBError(EINVAL, "open store \(path)", detail: "data.mdb is not a regular file")
        }
        if info.st_size == 0 {
            throw LMDBError(
                MDB_INVALID, "open store \(path)",
                detail: "data.mdb is empty (0 bytes): the store was never written or was truncated; restore it "
                    + "from a copy, or remove the directory and run `tomostore init`")
        }
        if info.st_size < 2 * 4096 {
            throw LMDBError(
                MDB_INVALID, "open store \(path)",
                detail: "data.mdb has \(info.st_size) bytes, less than LMDB's two meta pages: it is truncated or "
                    + "not an LMDB file; restore it from a copy")
        }
    }

    /// Refuses an environment whose last committed page lies beyond the end of `data.mdb` (a truncated
    /// file): LMDB maps the file and any read of a page past its end would kill the process with SIGBUS.
    private static func checkMappedSize(_ environment: OpaquePointer, path: String) throws {
        var info = MDB_envinfo()
        var stats = MDB_stat()
        guard mdb_env_info(environment, &info) == 0, mdb_env_stat(environment, &stats) == 0 else { return }
        var file = stat()
        guard stat(path + "/data.mdb", &file) == 0 else { return }
        let needed = (Int(info.me_last_pgno) + 1) * Int(stats.ms_psize)
        if Int(file.st_size) < needed {
            throw LMDBError(
                MDB_CORRUPTED, "open store \(path)",
                detail: "data.mdb is truncated: \(file.st_size) bytes, but its last committed page ends at byte "
                    + "\(needed); restore the store from a copy (nothing was read or written)")
        }
    }

    /// The current map size in bytes.
    public var mapSize: Int {
        var info = MDB_envinfo()
        mdb_env_info(environment, &info)
        return info.me_mapsize
    }

    public var lastCommitID: Int {
        var info = MDB_envinfo()
        mdb_env_info(environment, &info)
        return info.me_last_txnid
    }

    public func read<R>(_ body: (any KVReadTransaction) throws -> R) throws -> R {
        try withTransaction(readOnly: true, body)
    }

    public func write<R>(_ body: (any KVWriteTransaction) throws -> R) throws -> R {
        while true {
            do {
                return try withTransaction(readOnly: false, body)
            } catch let error as LMDBError where error.isMapFull {
                try growMap()
            }
        }
    }

    /// Begins a transaction, runs `body`, and commits (read-only ones too: committing keeps the
    /// table handles they opened) or aborts when `body` throws.
    private func withTransaction<R>(readOnly: Bool, _ body: (LMDBTransaction) throws -> R) throws -> R {
        enter()
        defer { leave() }
        let txn = try LMDBTransaction(store: self, readOnly: readOnly)
        let result: R
        do {
            result = try body(txn)
        } catch {
            txn.abort()
            throw error
        }
        try txn.commit()
        return result
    }

    private func enter() {
        gate.lock()
        while resizing { gate.wait() }
        openTransactions += 1
        gate.unlock()
    }

    private func leave() {
        gate.lock()
        openTransactions -= 1
        if openTransactions == 0 { gate.broadcast() }
        gate.unlock()
    }

    /// Doubles the map size once no transaction of this process is open (LMDB allows
    /// `mdb_env_set_mapsize` only then: readers hold pointers into the old map). New transactions
    /// wait meanwhile. The calling thread must hold no transaction itself.
    func growMap() throws {
        gate.lock()
        while resizing { gate.wait() }
        resizing = true
        while openTransactions > 0 { gate.wait() }
        let size = mapSize * 2
        let rc = mdb_env_set_mapsize(environment, size)
        resizing = false
        gate.broadcast()
        gate.unlock()
        try LMDBError.check(rc, "grow LMDB map to \(size) bytes")
    }

    /// Adopts a map size grown by another process (after MDB_MAP_RESIZED); called while beginning a
    /// transaction, when this process has no other one open on the calling thread's behalf.
    func adoptMapSize() throws {
        try LMDBError.check(mdb_env_set_mapsize(environment, 0), "adopt LMDB map size")
    }

    /// The handle of a table's database, opened (and created when `create`) once per environment.
    /// Nil when the table does not exist and `create` is false.
    func handle(_ table: KVTable, in txn: OpaquePointer, create: Bool) throws -> MDB_dbi? {
        gate.lock()
        defer { gate.unlock() }
        if let dbi = handles[table] { return dbi }
        var dbi = MDB_dbi()
        let rc = mdb_dbi_open(txn, table.name, create ? UInt32(MDB_CREATE) : 0, &dbi)
        if rc == MDB_NOTFOUND && !create { return nil }
        try LMDBError.check(rc, "open table \(table.name)")
        handles[table] = dbi
        return dbi
    }
}

/// One LMDB transaction (read-only: a snapshot; write: exclusive across processes). LMDB frees a
/// transaction even when commit fails, so it is never aborted after a commit attempt.
final class LMDBTransaction: KVWriteTransaction {
    let handle: OpaquePointer
    let store: LMDBKeyValueStore
    let readOnly: Bool
    private var open = true
    /// Large values this read transaction returned, whose pages are released when it ends.
    private var touched: [UnsafeRawBufferPointer] = []

    /// Values at least this large live in overflow pages of their own; a read-only transaction
    /// drops their pages from the process's resident set when it ends (MADV_DONTNEED on LMDB's
    /// shared, read-only file mapping: the pages stay in the page cache, and a later read faults
    /// them back in without I/O). Otherwise every chunk a long scan read would stay resident, and
    /// memory would grow with the bytes read instead of staying bounded by the work.
    static let releasedValueSize = 64 << 10

    init(store: LMDBKeyValueStore, readOnly: Bool) throws {
        self.store = store
        self.readOnly = readOnly
        if !readOnly && store.isReadOnly {
            throw LMDBError(
                13, "write to store \(store.path)",
                detail: "the store is read-only here (its directory is on a read-only filesystem or not writable "
                    + "by this user); copy it somewhere writable to change it")
        }
        var txn: OpaquePointer?
        let flags = readOnly ? UInt32(MDB_RDONLY) : 0
        var rc = mdb_txn_begin(store.environment, nil, flags, &txn)
        if rc == MDB_MAP_RESIZED {
            try store.adoptMapSize()
            rc = mdb_txn_begin(store.environment, nil, flags, &txn)
        }
        try LMDBError.check(rc, readOnly ? "begin read transaction" : "begin write transaction")
        handle = txn!
    }

    deinit { abort() }

    /// Drops the pages of the large values read (read-only transactions only: a write
    /// transaction's values may be its own dirty pages in anonymous memory).
    private func releaseTouchedPages() {
        guard readOnly, !touched.isEmpty else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        for value in touched {
            guard let base = value.baseAddress else { continue }
            let start = Int(bitPattern: base) & ~(page - 1)
            let end = (Int(bitPattern: base) + value.count + page - 1) & ~(page - 1)
            // Advice only: a failure leaves the pages resident, nothing else.
            _ = madvise(UnsafeMutableRawPointer(bitPattern: start), end - start, MADV_DONTNEED)
        }
        touched.removeAll()
    }

    /// Commits (durably: LMDB fsyncs before returning).
    func commit() throws {
        guard open else { return }
        open = false
        defer { releaseTouchedPages() }
        let rc = mdb_txn_commit(handle)
        if rc != 0 {
            var error = LMDBError(rc, "commit transaction")
            var fs = statvfs()
            if statvfs(store.path, &fs) == 0 { error.freeBytes = Int(fs.f_bavail) * Int(fs.f_frsize) }
            throw error
        }
    }

    /// Abandons the transaction's changes (no-op when already ended).
    func abort() {
        guard open else { return }
        open = false
        mdb_txn_abort(handle)
        releaseTouchedPages()
    }

    func handle(_ table: KVTable, create: Bool) throws -> MDB_dbi? {
        try store.handle(table, in: handle, create: create && !readOnly)
    }

    func get(_ table: KVTable, _ key: [UInt8]) throws -> UnsafeRawBufferPointer? {
        guard let db = try handle(table, create: false) else { return nil }
        return try key.withUnsafeBytes { k in
            var kv = MDB_val(mv_size: k.count, mv_data: UnsafeMutableRawPointer(mutating: k.baseAddress))
            var v = MDB_val()
            let rc = mdb_get(handle, db, &kv, &v)
            if rc == MDB_NOTFOUND { return nil }
            try LMDBError.check(rc, "read key in \(table)")
            let value = UnsafeRawBufferPointer(start: v.mv_data, count: v.mv_size)
            if readOnly && v.mv_size >= Self.releasedValueSize { touched.append(value) }
            return value
        }
    }

    func put(_ table: KVTable, _ key: [UInt8], _ value: UnsafeRawBufferPointer) throws {
        let db = try handle(table, create: true)!
        try key.withUnsafeBytes { k in
            var kv = MDB_val(mv_size: k.count, mv_data: UnsafeMutableRawPointer(mutating: k.baseAddress))
            var v = MDB_val(mv_size: value.count, mv_data: UnsafeMutableRawPointer(mutating: value.baseAddress))
            try LMDBError.check(mdb_put(handle, db, &kv, &v, 0), "write key in \(table)")
        }
    }

    func putReserved(
        _ table: KVTable, _ key: [UInt8], count: Int, _ fill: (UnsafeMutableRawBufferPointer) throws -> Void
    ) throws {
        let db = try handle(table, create: true)!
        try key.withUnsafeBytes { k in
            var kv = MDB_val(mv_size: k.count, mv_data: UnsafeMutableRawPointer(mutating: k.baseAddress))
            var v = MDB_val(mv_size: count, mv_data: nil)
            try LMDBError.check(mdb_put(handle, db, &kv, &v, UInt32(MDB_RESERVE)), "reserve key in \(table)")
            try fill(UnsafeMutableRawBufferPointer(start: v.mv_data, count: count))
        }
    }

    @discardableResult
    func delete(_ table: KVTable, _ key: [UInt8]) throws -> Bool {
        guard let db = try handle(table, create: false) else { return false }
        return try key.withUnsafeBytes { k in
            var kv = MDB_val(mv_size: k.count, mv_data: UnsafeMutableRawPointer(mutating: k.baseAddress))
            let rc = mdb_del(handle, db, &kv, nil)
            if rc == MDB_NOTFOUND { return false }
            try LMDBError.check(rc, "delete key in \(table)")
            return true
        }
    }

    func scan(
        _ table: KVTable, prefix: [UInt8], _ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) throws -> Bool
    ) throws {
        guard let db = try handle(table, create: false) else { return }
        var cursor: OpaquePointer?
        try LMDBError.check(mdb_cursor_open(handle, db, &cursor), "open cursor on \(table)")
        defer { mdb_cursor_close(cursor) }
        try prefix.withUnsafeBytes { p in
            var k = MDB_val(mv_size: p.count, mv_data: UnsafeMutableRawPointer(mutating: p.baseAddress))
            var v = MDB_val()
            var rc = mdb_cursor_get(cursor, &k, &v, prefix.isEmpty ? MDB_FIRST : MDB_SET_RANGE)
            while rc == 0 {
                let key = UnsafeRawBufferPointer(start: k.mv_data, count: k.mv_size)
                if key.count < prefix.count || !zip(key, prefix).allSatisfy({ $0 == $1 }) { return }
                if try !body(key, UnsafeRawBufferPointer(start: v.mv_data, count: v.mv_size)) { return }
                rc = mdb_cursor_get(cursor, &k, &v, MDB_NEXT)
            }
            if rc != MDB_NOTFOUND { try LMDBError.check(rc, "iterate keys of \(table)") }
        }
    }

    func lastKey(_ table: KVTable) throws -> [UInt8]? {
        guard let db = try handle(table, create: false) else { return nil }
        var cursor: OpaquePointer?
        try LMDBError.check(mdb_cursor_open(handle, db, &cursor), "open cursor on \(table)")
        defer { mdb_cursor_close(cursor) }
        var k = MDB_val()
        var v = MDB_val()
        let rc = mdb_cursor_get(cursor, &k, &v, MDB_LAST)
        if rc == MDB_NOTFOUND { return nil }
        try LMDBError.check(rc, "find the last key of \(table)")
        return Array(UnsafeRawBufferPointer(start: k.mv_data, count: k.mv_size))
    }
}
