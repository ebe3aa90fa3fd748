import CLMDB
import Foundation

/// An open LMDB environment (one store directory): `data.mdb` and `lock.mdb`.
///
/// Opened with MDB_NOTLS so read transactions may move between threads, and a large virtual map
/// (grown on MDB_MAP_FULL), so a store fills only when the disk does. Commits are durable (fsync).
public final class LMDBEnvironment: @unchecked Sendable {
    let handle: OpaquePointer
    /// The directory holding the environment.
    public let path: String
    private let lock = NSLock()
    /// Named databases opened so far.
    private var databases: [String: MDB_dbi] = [:]

    /// Initial map size: 1 TiB of address space (the file grows only as data is written).
    public static let initialMapSize = 1 << 40

    /// Opens (creating files if needed) the environment in an existing directory.
    public init(path: String, readOnly: Bool = false) throws {
        var env: OpaquePointer?
        try LMDBError.check(mdb_env_create(&env), "create LMDB environment")
        handle = env!
        self.path = path
        do {
            try LMDBError.check(mdb_env_set_maxdbs(handle, 16), "set LMDB max databases")
            try LMDBError.check(mdb_env_set_maxreaders(handle, 510), "set LMDB max readers")
            try LMDBError.check(mdb_env_set_mapsize(handle, Self.initialMapSize), "set LMDB map size")
            var flags = UInt32(MDB_NOTLS)
            if readOnly { flags |= UInt32(MDB_RDONLY) }
            try LMDBError.check(mdb_env_open(handle, path, flags, 0o644), "open store \(path)")
        } catch {
            mdb_env_close(handle)  // must be called even when open failed
            throw error
        }
    }

    deinit { mdb_env_close(handle) }

    /// The current map size in bytes.
    public var mapSize: Int {
        var info = MDB_envinfo()
        mdb_env_info(handle, &info)
        return info.me_mapsize
    }

    /// The id of the last committed transaction (changes whenever any process commits).
    public var lastTransactionID: Int {
        var info = MDB_envinfo()
        mdb_env_info(handle, &info)
        return info.me_last_txnid
    }

    /// Doubles the map size; call only when no transaction of this process is open.
    func growMap() throws {
        let size = mapSize * 2
        try LMDBError.check(mdb_env_set_mapsize(handle, size), "grow LMDB map to \(size) bytes")
    }

    /// Adopts a map size grown by another process (after MDB_MAP_RESIZED).
    func adoptMapSize() throws {
        try LMDBError.check(mdb_env_set_mapsize(handle, 0), "adopt LMDB map size")
    }

    /// The handle of a named database, opened (and created when `create`) once per environment.
    func database(_ name: String, in txn: LMDBTransaction, create: Bool) throws -> MDB_dbi {
        lock.lock(); defer { lock.unlock() }
        if let dbi = databases[name] { return dbi }
        var dbi = MDB_dbi()
        let flags = create ? UInt32(MDB_CREATE) : 0
        try LMDBError.check(mdb_dbi_open(txn.handle, name, flags, &dbi), "open database \(name)")
        databases[name] = dbi
        return dbi
    }

    /// Runs `body` in a write transaction and commits it durably. On MDB_MAP_FULL the map is grown
    /// and `body` runs again from the start; any other error aborts the transaction.
    public func write<R>(_ body: (LMDBTransaction) throws -> R) throws -> R {
        while true {
            let txn = try LMDBTransaction(environment: self, readOnly: false)
            do {
                let result = try body(txn)
                try txn.commit()
                return result
            } catch let error as LMDBError where error.isMapFull {
                txn.abort()
                try growMap()
            } catch {
                txn.abort()
                throw error
            }
        }
    }

    /// Runs `body` in a read-only snapshot transaction.
    public func read<R>(_ body: (LMDBTransaction) throws -> R) throws -> R {
        let txn = try LMDBTransaction(environment: self, readOnly: true)
        do {
            let result = try body(txn)
            // Committing (not aborting) a read-only transaction keeps database handles it opened.
            try txn.commit()
            return result
        } catch {
            txn.abort()
            throw error
        }
    }
}
