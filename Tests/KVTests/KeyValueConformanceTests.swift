import Foundation
import TestSupport
import Testing
import Voxels

@testable import KV

/// The backends every conformance test runs on.
enum Backend: String, CaseIterable, CustomTestStringConvertible {
    case lmdb, memory
    var testDescription: String { rawValue }

    static let tables = [KVTable("a"), KVTable("b")]

    func make(_ directory: TemporaryDirectory) throws -> any KeyValueStore {
        switch self {
        case .lmdb: return try LMDBKeyValueStore(path: directory.path, tables: Self.tables)
        case .memory: return MemoryKeyValueStore(tables: Self.tables)
        }
    }
}

private struct Planned: Error {}

@Suite("Key-value stores: one conformance suite for LMDB and memory")
struct KeyValueConformanceTests {
    let a = KVTable("a"), b = KVTable("b")

    @Test("put, get, replace and delete; tables are separate", arguments: Backend.allCases)
    func pointOperations(backend: Backend) throws {
        let dir = try TemporaryDirectory()
        let kv = try backend.make(dir)
        try kv.write { txn in
            try txn.put(a, [1, 2], [9, 9, 9])
            try txn.put(b, [1, 2], [7])
            #expect(try txn.bytes(a, [1, 2]) == [9, 9, 9], "a write transaction reads its own writes")
        }
        #expect(try kv.read { try $0.bytes(a, [1, 2]) } == [9, 9, 9])
        #expect(try kv.read { try $0.bytes(b, [1, 2]) } == [7])
        #expect(try kv.read { try $0.bytes(a, [1]) } == nil)
        try kv.write { txn in try txn.put(a, [1, 2], [4]) }
        #expect(try kv.read { try $0.bytes(a, [1, 2]) } == [4])
        #expect(try kv.write { try $0.delete(a, [1, 2]) })
        #expect(try !kv.write { try $0.delete(a, [1, 2]) })
        #expect(try kv.read { try $0.bytes(a, [1, 2]) } == nil)
        try kv.write { txn in
            try txn.putReserved(a, [5], count: 3) { $0.copyBytes(from: [1, 2, 3]) }
            try txn.put(a, [6], [])
        }
        #expect(try kv.read { try $0.bytes(a, [5]) } == [1, 2, 3])
        #expect(try kv.read { try $0.bytes(a, [6]) } == [], "an empty value is not an absent one")
    }

    @Test("scans visit keys with a prefix in unsigned byte order and can stop", arguments: Backend.allCases)
    func scans(backend: Backend) throws {
        let dir = try TemporaryDirectory()
        let kv = try backend.make(dir)
        let keys: [[UInt8]] = [[2, 0], [1, 255], [1, 0, 1], [1], [0, 9], [1, 128], [3]]
        try kv.write { txn in for (i, k) in keys.enumerated() { try txn.put(a, k, [UInt8(i)]) } }
        var seen: [[UInt8]] = []
        try kv.read { txn in
            try txn.scan(a, prefix: [1]) { k, _ in
                seen.append(Array(k))
                return true
            }
        }
        #expect(seen == [[1], [1, 0, 1], [1, 128], [1, 255]])
        seen = []
        try kv.read { txn in
            try txn.scan(a, prefix: []) { k, _ in
                seen.append(Array(k))
                return seen.count < 3
            }
        }
        #expect(seen == [[0, 9], [1], [1, 0, 1]])
        #expect(try kv.write { try $0.deleteAll(a, prefix: [1]) } == 4)
        seen = []
        try kv.read { txn in
            try txn.scan(a, prefix: []) { k, _ in
                seen.append(Array(k))
                return true
            }
        }
        #expect(seen == [[0, 9], [2, 0], [3]])
        // The last key in unsigned byte order, seen by the writer itself and by readers after it.
        try kv.write { txn in
            try txn.put(a, [255, 0], [9])
            #expect(try txn.lastKey(a) == [255, 0])
            #expect(try txn.lastKey(b) == nil)
        }
        #expect(try kv.read { try $0.lastKey(a) } == [255, 0])
        #expect(try kv.read { try $0.lastKey(b) } == nil)
        try kv.read { txn in
            try txn.scan(b, prefix: []) { _, _ in
                Issue.record("table b is empty")
                return true
            }
        }
    }

    @Test(
        "a failing write leaves nothing; readers keep their snapshot; commits are counted", arguments: Backend.allCases)
    func atomicityAndSnapshots(backend: Backend) throws {
        let dir = try TemporaryDirectory()
        let kv = try backend.make(dir)
        try kv.write { try $0.put(a, [1], [1]) }
        #expect(throws: Planned.self) {
            try kv.write { txn in
                try txn.put(a, [1], [2])
                try txn.put(a, [2], [2])
                throw Planned()
            }
        }
        #expect(try kv.read { try $0.bytes(a, [1]) } == [1])
        #expect(try kv.read { try $0.bytes(a, [2]) } == nil)
        let before = kv.lastCommitID
        try kv.read { txn in
            let old = try txn.bytes(a, [1])
            let pointer = try #require(try txn.get(a, [1]))
            // Another thread commits while this snapshot is open.
            let done = DispatchSemaphore(value: 0)
            DispatchQueue.global().async {
                try? kv.write { try $0.put(a, [1], [5, 5]) }
                done.signal()
            }
            done.wait()
            #expect(try txn.bytes(a, [1]) == old, "snapshot changed under a reader")
            #expect(Array(pointer) == [1], "bytes handed out stay valid during the transaction")
        }
        #expect(kv.lastCommitID != before)
        #expect(try kv.read { try $0.bytes(a, [1]) } == [5, 5])
    }

    @Test("many threads writing and reading at once see whole transactions", arguments: Backend.allCases)
    func concurrentTransactions(backend: Backend) throws {
        let dir = try TemporaryDirectory()
        let kv = try backend.make(dir)
        DispatchQueue.concurrentPerform(iterations: 8) { t in
            for i in 0..<20 {
                try? kv.write { txn in
                    // Two keys always written together: a reader must never see them differ.
                    try txn.put(a, [0], [UInt8(t), UInt8(i)])
                    try txn.put(a, [1], [UInt8(t), UInt8(i)])
                }
                let pair = try? kv.read { txn in (try txn.bytes(a, [0]), try txn.bytes(a, [1])) }
                #expect(pair?.0 == pair?.1)
            }
        }
        #expect(try kv.read { try $0.bytes(a, [0]) }?.count == 2)
    }
}

@Suite("LMDB specifics")
struct LMDBSpecificTests {
    @Test("large values read and released stay readable and unchanged, while other threads read and write")
    func releasedPages() throws {
        let dir = try TemporaryDirectory()
        let a = KVTable("a")
        let kv = try LMDBKeyValueStore(path: dir.path, tables: [a])
        let size = 3 * LMDBTransaction.releasedValueSize + 123
        let value: @Sendable (Int) -> [UInt8] = { k in
            (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ k &* 7) }
        }
        try kv.write { txn in for k in 0..<16 { try txn.put(a, [UInt8(k)], value(k)) } }
        let done = DispatchGroup()
        let mismatches = Locked(0)
        for thread in 0..<3 {
            DispatchQueue.global().async(group: done) {
                for round in 0..<20 {
                    let k = (thread * 5 + round) % 16
                    // A read transaction that ends drops its values' pages; the next one faults them back.
                    let read = try? kv.read { txn -> [UInt8]? in
                        let first = try txn.bytes(a, [UInt8(k)])
                        let again = try txn.bytes(a, [UInt8((k + 1) % 16)])
                        return first == nil || again == nil ? nil : first
                    }
                    if read != value(k) { mismatches.withLock { $0 += 1 } }
                }
            }
        }
        for round in 0..<5 { try kv.write { try $0.put(a, [UInt8(100 + round)], value(round)) } }
        done.wait()
        #expect(mismatches.withLock { $0 } == 0)
        for k in 0..<16 { #expect(try kv.read { try $0.bytes(a, [UInt8(k)]) } == value(k)) }
    }

    @Test("the map grows while other threads read, and what they read stays valid")
    func mapGrowth() throws {
        let dir = try TemporaryDirectory()
        let kv = try LMDBKeyValueStore(path: dir.path, tables: [KVTable("a")])
        let before = kv.mapSize
        try kv.write { try $0.put(KVTable("a"), [1], [1]) }
        let stop = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            for _ in 0..<200 { _ = try? kv.read { try $0.bytes(KVTable("a"), [1]) } }
            stop.signal()
        }
        try kv.growMap()
        stop.wait()
        #expect(kv.mapSize == 2 * before)
        #expect(try kv.read { try $0.bytes(KVTable("a"), [1]) } == [1])
    }

    @Test("opening something that is not an LMDB environment fails with LMDB's reason, without crashing")
    func garbageEnvironment() throws {
        let dir = try TemporaryDirectory()
        try Data(repeating: 0x5a, count: 3000).write(to: URL(fileURLWithPath: dir.path + "/data.mdb"))
        #expect(throws: LMDBError.self) { try LMDBKeyValueStore(path: dir.path, tables: [KVTable("a")]) }
    }
}
