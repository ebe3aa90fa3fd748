/// A named table of a key-value store (an LMDB named database; a dictionary in memory). Keys sort
/// bytewise, as unsigned bytes.
public struct KVTable: Hashable, Sendable, CustomStringConvertible {
    /// The table's name.
    public let name: String

    public init(_ name: String) { self.name = name }

    public var description: String { name }
}

/// A transactional, ordered key-value store that moves bytes only (after tensorstore's kvstore
/// driver and zarr-python's Store): point reads, prefix scans in key order, puts and deletes, each
/// inside a transaction. Read transactions see one consistent snapshot; write transactions are
/// exclusive (across processes for LMDB) and either commit whole or leave nothing.
public protocol KeyValueStore: AnyObject, Sendable {
    /// The tables this store was opened with.
    var tables: [KVTable] { get }
    /// A number that changes whenever any writer (in any process) commits; caches use it to know
    /// they are still valid.
    var lastCommitID: Int { get }
    /// Runs `body` in a read-only snapshot. Values it hands out stay valid until `body` returns.
    func read<R>(_ body: (any KVReadTransaction) throws -> R) throws -> R
    /// Runs `body` in a write transaction and commits it durably when `body` returns; a thrown error
    /// abandons every change. `body` may run more than once (LMDB grows its map and retries), so it
    /// must not have effects outside the transaction that a second run would repeat wrongly.
    func write<R>(_ body: (any KVWriteTransaction) throws -> R) throws -> R
}

/// The read operations of a transaction. Not for use from several threads at once.
public protocol KVReadTransaction {
    /// The value under `key`, or nil. The bytes stay valid until the transaction ends or (in a write
    /// transaction) the next write.
    func get(_ table: KVTable, _ key: [UInt8]) throws -> UnsafeRawBufferPointer?
    /// Visits, in key order, every entry whose key starts with `prefix`; `body` returns false to
    /// stop. Keys and values are only valid during the call.
    func scan(
        _ table: KVTable, prefix: [UInt8], _ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) throws -> Bool
    ) throws
    /// The table's largest key in unsigned byte order, nil when the table is empty (one cursor step,
    /// whatever the table's size).
    func lastKey(_ table: KVTable) throws -> [UInt8]?
}

/// The write operations of a transaction.
public protocol KVWriteTransaction: KVReadTransaction {
    /// Stores `value` under `key`, replacing any old value.
    func put(_ table: KVTable, _ key: [UInt8], _ value: UnsafeRawBufferPointer) throws
    /// Reserves `count` bytes under `key` and lets `fill` write them in place.
    func putReserved(
        _ table: KVTable, _ key: [UInt8], count: Int, _ fill: (UnsafeMutableRawBufferPointer) throws -> Void
    ) throws
    /// Deletes `key`; returns false when it was absent.
    @discardableResult func delete(_ table: KVTable, _ key: [UInt8]) throws -> Bool
}

extension KVWriteTransaction {
    /// Stores a byte array under `key`.
    public func put(_ table: KVTable, _ key: [UInt8], _ value: [UInt8]) throws {
        try value.withUnsafeBytes { try put(table, key, $0) }
    }

    /// Deletes every entry whose key starts with `prefix`; returns how many.
    @discardableResult
    public func deleteAll(_ table: KVTable, prefix: [UInt8]) throws -> Int {
        var keys: [[UInt8]] = []
        try scan(table, prefix: prefix) { key, _ in
            keys.append(Array(key))
            return true
        }
        for key in keys { try delete(table, key) }
        return keys.count
    }
}

extension KVReadTransaction {
    /// The value under `key` copied out of the transaction, or nil.
    public func bytes(_ table: KVTable, _ key: [UInt8]) throws -> [UInt8]? {
        try get(table, key).map(Array.init)
    }
}

/// Why a key-value operation failed, for stores other than LMDB (which has `LMDBError`).
public struct KVError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
