import Foundation
import Voxels

/// A key-value store in memory, with LMDB's semantics (snapshot reads, one writer at a time, commits
/// that apply whole or not at all): the backend tests run on, and the reference for the shared
/// conformance suite.
public final class MemoryKeyValueStore: KeyValueStore, Sendable {
    public let tables: [KVTable]
    /// The committed tables and the number of commits.
    private let state = Locked<(tables: [KVTable: [Bytes: Value]], commits: Int)>(([:], 0))
    /// Held for the whole of a write transaction: one writer at a time.
    private let writer = NSLock()

    public init(tables: [KVTable]) { self.tables = tables }

    public var lastCommitID: Int { state.withLock { $0.commits } }

    public func read<R>(_ body: (any KVReadTransaction) throws -> R) throws -> R {
        try body(MemoryTransaction(tables: state.withLock { $0.tables }))
    }

    public func write<R>(_ body: (any KVWriteTransaction) throws -> R) throws -> R {
        writer.lock()
        defer { writer.unlock() }
        let txn = MemoryTransaction(tables: state.withLock { $0.tables })
        let result = try body(txn)
        let tables = txn.tables
        state.withLock { $0 = (tables, $0.commits + 1) }
        return result
    }

    /// A key (compared bytewise as unsigned bytes).
    struct Bytes: Hashable, Comparable {
        let bytes: [UInt8]
        static func < (a: Bytes, b: Bytes) -> Bool { a.bytes.lexicographicallyPrecedes(b.bytes) }
    }

    /// An immutable value in its own allocation, so pointers handed out stay valid while any
    /// snapshot holds it.
    final class Value: @unchecked Sendable {
        // @unchecked: raw memory written once, before the value is stored, and only read after.
        let buffer: UnsafeMutableRawBufferPointer
        init(count: Int) { buffer = .allocate(byteCount: max(count, 1), alignment: 16).prefix(count).rebased }
        deinit { buffer.deallocate() }
    }
}

extension Slice where Base == UnsafeMutableRawBufferPointer {
    fileprivate var rebased: UnsafeMutableRawBufferPointer { UnsafeMutableRawBufferPointer(rebasing: self) }
}

/// A transaction of a `MemoryKeyValueStore`: reads see `tables` as they were when it began plus its
/// own writes. Values replaced during the transaction are kept alive until it ends.
final class MemoryTransaction: KVWriteTransaction {
    typealias Bytes = MemoryKeyValueStore.Bytes
    typealias Value = MemoryKeyValueStore.Value
    var tables: [KVTable: [Bytes: Value]]
    private var retired: [Value] = []

    init(tables: [KVTable: [Bytes: Value]]) { self.tables = tables }

    func get(_ table: KVTable, _ key: [UInt8]) throws -> UnsafeRawBufferPointer? {
        tables[table]?[Bytes(bytes: key)].map { UnsafeRawBufferPointer($0.buffer) }
    }

    func scan(
        _ table: KVTable, prefix: [UInt8], _ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) throws -> Bool
    ) throws {
        guard let entries = tables[table] else { return }
        let keys = entries.keys.filter { $0.bytes.starts(with: prefix) }.sorted()
        for key in keys {
            let value = entries[key]!
            let goOn = try key.bytes.withUnsafeBytes { try body($0, UnsafeRawBufferPointer(value.buffer)) }
            if !goOn { return }
        }
    }

    func lastKey(_ table: KVTable) throws -> [UInt8]? {
        tables[table]?.keys.max()?.bytes
    }

    func put(_ table: KVTable, _ key: [UInt8], _ value: UnsafeRawBufferPointer) throws {
        try putReserved(table, key, count: value.count) { dst in
            if let base = value.baseAddress, value.count > 0 {
                dst.baseAddress!.copyMemory(from: base, byteCount: value.count)
            }
        }
    }

    func putReserved(
        _ table: KVTable, _ key: [UInt8], count: Int, _ fill: (UnsafeMutableRawBufferPointer) throws -> Void
    ) throws {
        let value = Value(count: count)
        try fill(value.buffer)
        if let old = tables[table, default: [:]].updateValue(value, forKey: Bytes(bytes: key)) { retired.append(old) }
    }

    @discardableResult
    func delete(_ table: KVTable, _ key: [UInt8]) throws -> Bool {
        guard let old = tables[table]?.removeValue(forKey: Bytes(bytes: key)) else { return false }
        retired.append(old)
        return true
    }
}
