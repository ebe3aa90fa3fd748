import Foundation
import KV
import TestSupport
import Testing
import Voxels

@testable import Store

/// A fresh store in a temporary directory.
func temporaryStore(cacheBytes: Int = Store.defaultCacheBytes) throws -> Store {
    try TemporaryStore.make("store-tests", cacheBytes: cacheBytes)
}

/// The key-value stores the store tests run on.
enum StoreBackend: String, CaseIterable, CustomTestStringConvertible {
    case lmdb, memory
    var testDescription: String { rawValue }

    /// A fresh, empty store on this backend.
    func store(cacheBytes: Int = Store.defaultCacheBytes) throws -> Store {
        switch self {
        case .lmdb: return try temporaryStore(cacheBytes: cacheBytes)
        case .memory: return try TemporaryStore.inMemory(cacheBytes: cacheBytes)
        }
    }
}

/// A deterministic float32 reference volume.
/// Creates a dataset with the given chunk shape and otherwise default settings.
func createDataset(in store: Store, name: String, dtype: DType, shape: Extent3, chunk: Extent3) throws -> Dataset {
    var spec = Store.NewDataset(name: name, dtype: dtype, shape: shape)
    spec.chunk = chunk
    return try store.createDataset(spec)
}

func referenceVolume(_ shape: Extent3, seed: UInt64 = 1) -> Volume {
    let rng = CounterRNG(seed: seed)
    return Volume(shape: shape, values: (0..<shape.count).map { Float(rng.normal(counter: UInt64($0))) })
}

@Suite("Store and datasets")
struct StoreTests {
    @Test("random unaligned boxes read back exactly what was written, cached or not", arguments: StoreBackend.allCases)
    func boxesRoundTrip(backend: StoreBackend) throws {
        for cache in [0, 64 << 20] {
            let store = try backend.store(cacheBytes: cache)
            let shape = Extent3(x: 45, y: 38, z: 29)
            let ds = try createDataset(
                in: store, name: "t", dtype: .float32, shape: shape, chunk: Extent3(x: 16, y: 12, z: 10))
            let v = referenceVolume(shape)
            try ds.write(v, at: Extent3(x: 0, y: 0, z: 0))
            let rng = CounterRNG(seed: 9)
            for i in 0..<60 {
                func range(_ axis: UInt64, _ n: Int) -> Range<Int> {
                    let a = Int(rng.uniform(stream: axis, counter: UInt64(i)) * Double(n))
                    let b = a + 1 + Int(rng.uniform(stream: axis + 3, counter: UInt64(i)) * Double(n - a))
                    return a..<min(n, b)
                }
                let box = Box3(x: range(0, shape.x), y: range(1, shape.y), z: range(2, shape.z))
                #expect(try ds.read(box) == v.extracting(box), "box \(box) cache \(cache)")
                #expect(try ds.read(box, cached: false) == v.extracting(box))
            }
            #expect(try ds.read(Box3(shape: shape)) == v)
        }
    }

    @Test("partial writes merge into existing chunks; every dtype round-trips", arguments: DType.allCases)
    func partialWrites(dtype: DType) throws {
        let store = try temporaryStore()
        let shape = Extent3(x: 20, y: 17, z: 9)
        let ds = try createDataset(in: store, name: "d", dtype: dtype, shape: shape, chunk: Extent3(x: 8, y: 8, z: 8))
        var reference = Volume(shape: shape, dtype: dtype)
        let patches = [
            Box3(x: 0..<20, y: 0..<17, z: 0..<9), Box3(x: 3..<11, y: 5..<6, z: 2..<9),
            Box3(x: 19..<20, y: 16..<17, z: 8..<9),
        ]
        for (n, patch) in patches.enumerated() {
            let values = Volume(
                shape: patch.shape, values: (0..<patch.shape.count).map { Float(($0 * 7 + n * 13) % 100) }
            ).converted(to: dtype)
            try ds.write(values, at: patch.lower)
            reference.copyRegion(from: values, sourceBox: Box3(shape: patch.shape), destinationOrigin: patch.lower)
            #expect(try ds.read(Box3(shape: shape)) == reference, "after patch \(n)")
        }
        #expect(throws: StoreError.self) {
            try ds.write(Volume(shape: Extent3(x: 2, y: 2, z: 2), dtype: dtype), at: Extent3(x: 19, y: 0, z: 0))
        }
    }

    @Test("iterating chunks visits the grid in (z, y, x) order with the right voxels", arguments: StoreBackend.allCases)
    func iterateChunks(backend: StoreBackend) throws {
        let store = try backend.store()
        let shape = Extent3(x: 30, y: 20, z: 12)
        let ds = try createDataset(
            in: store, name: "t", dtype: .float32, shape: shape, chunk: Extent3(x: 16, y: 16, z: 8))
        var v = referenceVolume(shape)
        // The first chunk plane is all fill.
        v.withUnsafeMutableValues(as: Float.self) { p in for i in 0..<(30 * 20 * 8) { p[i] = 0 } }
        try ds.write(v, at: Extent3(x: 0, y: 0, z: 0))
        var seen: [Extent3] = []
        try ds.forEachChunk(batch: 3) { index, chunk in
            seen.append(index)
            #expect(chunk == v.extracting(ds.grid.box(of: index)))
        }
        #expect(seen == ds.grid.allChunks)
        var stored: [Extent3] = []
        try ds.forEachChunk(storedOnly: true) { index, _ in stored.append(index) }
        #expect(stored == ds.grid.allChunks.filter { $0.z == 1 })
    }

    @Test("chunks equal to the fill value are not stored and read as fill", arguments: StoreBackend.allCases)
    func fillChunksNotStored(backend: StoreBackend) throws {
        let store = try backend.store()
        let shape = Extent3(x: 32, y: 32, z: 32)
        var spec = Store.NewDataset(name: "labels", dtype: .uint16, shape: shape)
        spec.chunk = Extent3(x: 16, y: 16, z: 16)
        spec.fillValue = 3
        let ds = try store.createDataset(spec)
        #expect(try ds.read(Box3(x: 0..<2, y: 0..<1, z: 0..<1)).values(as: UInt16.self) == [3, 3])
        var v = Volume(shape: shape, values: [UInt16](repeating: 3, count: shape.count))
        v.withUnsafeMutableValues(as: UInt16.self) { $0[0] = 7 }  // only chunk (0,0,0) differs from fill
        try ds.write(v, at: Extent3(x: 0, y: 0, z: 0))
        #expect(try ds.storedChunks().map(\.index) == [Extent3(x: 0, y: 0, z: 0)])
        #expect(try ds.read(Box3(shape: shape)) == v)
        try ds.write(Volume(shape: Extent3(x: 1, y: 1, z: 1), values: [UInt16(3)]), at: Extent3(x: 0, y: 0, z: 0))
        #expect(try ds.storedChunks().isEmpty, "a chunk rewritten to all-fill is deleted")
    }

    @Test(
        "names are validated, duplicates and unknown names refused with clear errors", arguments: StoreBackend.allCases)
    func names(backend: StoreBackend) throws {
        let store = try backend.store()
        for bad in [
            "", "a b", "x:y", String(repeating: "n", count: 201), "é", "..", "a/../b", "/abs", "a/", "a//b", "./a",
        ] {
            #expect(throws: StoreError.self) {
                try store.createDataset(.init(name: bad, dtype: .uint8, shape: Extent3(x: 1, y: 1, z: 1)))
            }
        }
        let long = String(repeating: "n", count: 200)
        _ = try store.createDataset(.init(name: "tomo/2024-01_a.b", dtype: .uint8, shape: Extent3(x: 1, y: 1, z: 1)))
        _ = try store.createDataset(.init(name: long, dtype: .uint8, shape: Extent3(x: 1, y: 1, z: 1)))
        #expect(throws: StoreError.self) {
            try store.createDataset(.init(name: long, dtype: .uint8, shape: Extent3(x: 1, y: 1, z: 1)))
        }
        do {
            _ = try store.dataset(named: "missing")
            Issue.record("unknown dataset opened")
        } catch let error as StoreError {
            #expect(error.description.contains("missing") && error.description.contains("tomo/2024-01_a.b"))
        }
        #expect(Set(try store.datasets().map(\.name)) == ["tomo/2024-01_a.b", long])
    }

    @Test("opening something that is not a store fails clearly; a store cannot be created twice")
    func notAStore() throws {
        #expect(throws: StoreError.self) { try Store(path: NSTemporaryDirectory() + "no-such-store-\(UUID())") }
        let store = try temporaryStore()
        #expect(throws: StoreError.self) { try Store.create(at: store.path) }
    }

    @Test(
        "remove deletes the catalog entry, name, chunks and blobs; verify stays clean", arguments: StoreBackend.allCases
    )
    func remove(backend: StoreBackend) throws {
        let store = try backend.store()
        let a = try store.createDataset(.init(name: "a", dtype: .float32, shape: Extent3(x: 70, y: 10, z: 10)))
        try a.write(referenceVolume(Extent3(x: 70, y: 10, z: 10)), at: Extent3(x: 0, y: 0, z: 0))
        try a.putBlob("mrc.extended_header", [1, 2, 3])
        let b = try store.createDataset(.init(name: "b", dtype: .float32, shape: Extent3(x: 5, y: 5, z: 5)))
        try b.write(referenceVolume(Extent3(x: 5, y: 5, z: 5), seed: 2), at: Extent3(x: 0, y: 0, z: 0))
        try store.remove(named: "a")
        #expect(try store.datasets().map(\.name) == ["b"])
        let report = try store.verify()
        #expect(report.ok, "\(report.problems)")
        #expect(report.chunksChecked == 1)
        #expect(
            try store.dataset(named: "b").read(Box3(shape: Extent3(x: 5, y: 5, z: 5)))
                == referenceVolume(Extent3(x: 5, y: 5, z: 5), seed: 2))
        #expect(throws: StoreError.self) { try store.remove(named: "a") }
    }

    /// Flips one bit of a stored value through the key-value store directly.
    func flip(_ store: Store, table: KVTable, key: [UInt8], at offset: Int) throws {
        try store.kv.write { txn in
            var value = try #require(try txn.bytes(table, key))
            value[offset] ^= 0x04
            try txn.put(table, key, value)
        }
    }

    @Test(
        "a flipped bit in a stored chunk is caught on read and by verify, naming dataset and chunk",
        arguments: StoreBackend.allCases)
    func flippedChunk(backend: StoreBackend) throws {
        let store = try backend.store(cacheBytes: 0)
        let shape = Extent3(x: 40, y: 40, z: 40)
        let ds = try createDataset(
            in: store, name: "tomo", dtype: .float32, shape: shape, chunk: Extent3(x: 20, y: 20, z: 20))
        try ds.write(referenceVolume(shape), at: Extent3(x: 0, y: 0, z: 0))
        let index = Extent3(x: 1, y: 0, z: 1)
        let key = ChunkKey(dataset: ds.info.id, index: index).bytes
        let size = try store.kv.read { try $0.get(.chunks, key)!.count }
        try flip(store, table: .chunks, key: key, at: size / 2)
        do {
            _ = try ds.read(Box3(x: 25..<26, y: 3..<4, z: 30..<31))
            Issue.record("corrupt chunk read without error")
        } catch let error as StoreError {
            #expect(error.description.contains("\"tomo\"") && error.description.contains("x 1, y 0, z 1"), "\(error)")
        }
        #expect(
            try ds.read(Box3(x: 0..<20, y: 0..<20, z: 0..<20))
                == referenceVolume(shape).extracting(Box3(x: 0..<20, y: 0..<20, z: 0..<20)))
        let report = try store.verify()
        #expect(!report.ok)
        #expect(
            report.problems.count == 1 && report.problems[0].dataset == "tomo" && report.problems[0].chunk == [1, 0, 1])
    }

    @Test("a flipped bit in a catalog entry is caught", arguments: StoreBackend.allCases)
    func flippedCatalog(backend: StoreBackend) throws {
        let store = try backend.store()
        let ds = try store.createDataset(.init(name: "tomo", dtype: .float32, shape: Extent3(x: 4, y: 4, z: 4)))
        let key = ChunkKey.bigEndian(ds.info.id)
        try flip(store, table: .catalog, key: key, at: 30)
        #expect(throws: StoreError.self) { try store.info(named: "tomo") }
        #expect(!(try store.verify().ok))
    }

    @Test("orphan chunks are reported by verify", arguments: StoreBackend.allCases)
    func orphans(backend: StoreBackend) throws {
        let store = try backend.store()
        try store.kv.write { txn in
            try txn.put(.chunks, ChunkKey(dataset: 99, index: Extent3(x: 0, y: 0, z: 0)).bytes, [1, 2, 3])
        }
        let report = try store.verify()
        #expect(report.problems.contains { $0.problem.contains("orphan") })
    }

    @Test("a reader's snapshot stays consistent while another handle writes")
    func snapshotIsolation() throws {
        let store = try temporaryStore(cacheBytes: 0)
        let shape = Extent3(x: 16, y: 16, z: 16)
        let ds = try store.createDataset(.init(name: "t", dtype: .float32, shape: shape))
        let before = referenceVolume(shape, seed: 1)
        let after = referenceVolume(shape, seed: 2)
        try ds.write(before, at: Extent3(x: 0, y: 0, z: 0))
        let writer = try Store(path: store.path).dataset(named: "t")
        try store.kv.read { txn in
            let key = ChunkKey(dataset: ds.info.id, index: Extent3(x: 0, y: 0, z: 0)).bytes
            let old = try txn.bytes(.chunks, key)
            try writer.write(after, at: Extent3(x: 0, y: 0, z: 0))
            #expect(try txn.bytes(.chunks, key) == old, "snapshot changed under a reader")
        }
        #expect(try ds.read(Box3(shape: shape)) == after)
    }

    @Test("the cache never serves voxels another handle has overwritten")
    func cacheInvalidation() throws {
        let store = try temporaryStore()
        let shape = Extent3(x: 8, y: 8, z: 8)
        let ds = try store.createDataset(.init(name: "t", dtype: .float32, shape: shape))
        try ds.write(referenceVolume(shape, seed: 1), at: Extent3(x: 0, y: 0, z: 0))
        _ = try ds.read(Box3(shape: shape))  // fills the cache
        try Store(path: store.path).dataset(named: "t").write(
            referenceVolume(shape, seed: 5), at: Extent3(x: 0, y: 0, z: 0))
        #expect(try ds.read(Box3(shape: shape)) == referenceVolume(shape, seed: 5))
    }

    @Test("a store in memory behaves like one on disk")
    func memoryStore() throws {
        let store = try TemporaryStore.inMemory()
        let ds = try store.createDataset(.init(name: "t", dtype: .float32, shape: Extent3(x: 4, y: 4, z: 4)))
        try ds.write(referenceVolume(Extent3(x: 4, y: 4, z: 4)), at: Extent3(x: 0, y: 0, z: 0))
        #expect(try store.verify().ok)
    }

    @Test(
        "pyramid levels: means for densities, modes for labels, stored under their level and verified",
        arguments: StoreBackend.allCases)
    func pyramid(backend: StoreBackend) throws {
        let store = try backend.store()
        let shape = Extent3(x: 20, y: 12, z: 9)
        let ds = try createDataset(
            in: store, name: "t", dtype: .float32, shape: shape, chunk: Extent3(x: 8, y: 8, z: 8))
        let v = referenceVolume(shape)
        try ds.write(v, at: Extent3(x: 0, y: 0, z: 0))
        try ds.buildPyramid(levels: 3, reduction: .mean)
        let l1 = try ds.atLevel(1)
        #expect(l1.shape == Extent3(x: 10, y: 6, z: 5))
        let cell = (0..<8).map { v.value(x: 2 * 3 + $0 % 2, y: 2 * 1 + ($0 / 2) % 2, z: 2 * 3 + $0 / 4) }
        let expected = cell.reduce(0, +) / 8
        #expect(abs(try l1.read(Box3(x: 3..<4, y: 1..<2, z: 3..<4)).value(x: 0, y: 0, z: 0) - expected) < 1e-6)
        // The last level-1 plane holds the partial cells of the odd z edge: the mean of 4 values.
        let edge = (0..<4).map { v.value(x: 2 * 3 + $0 % 2, y: 2 * 1 + $0 / 2, z: 8) }.reduce(0, +) / 4
        #expect(abs(try l1.read(Box3(x: 3..<4, y: 1..<2, z: 4..<5)).value(x: 0, y: 0, z: 0) - edge) < 1e-6)
        #expect(try ds.atLevel(2).shape == Extent3(x: 5, y: 3, z: 3))
        #expect(throws: StoreError.self) { try ds.atLevel(3) }
        #expect(try store.verify().ok)
        var labels = Store.NewDataset(name: "l", dtype: .uint8, shape: Extent3(x: 4, y: 2, z: 2))
        labels.chunk = Extent3(x: 4, y: 4, z: 4)
        let l = try store.createDataset(labels)
        try l.write(
            Volume(
                shape: Extent3(x: 4, y: 2, z: 2),
                values: [UInt8](arrayLiteral: 1, 1, 2, 2, 1, 3, 2, 2, 1, 3, 5, 5, 3, 3, 5, 6)),
            at: Extent3(x: 0, y: 0, z: 0))
        try l.buildPyramid(levels: 2, reduction: .mode)
        #expect(try l.atLevel(1).read(Box3(x: 0..<2, y: 0..<1, z: 0..<1)).values(as: UInt8.self) == [1, 2])
    }

    @Test("chunk keys are 17 bytes that sort by (dataset, level, z, y, x)")
    func keyOrder() {
        let keys = [
            ChunkKey(dataset: 2, index: Extent3(x: 0, y: 0, z: 0)),
            ChunkKey(dataset: 1, index: Extent3(x: 300, y: 0, z: 1)),
            ChunkKey(dataset: 1, index: Extent3(x: 5, y: 1, z: 0)),
            ChunkKey(dataset: 1, index: Extent3(x: 256, y: 0, z: 0)),
            ChunkKey(dataset: 1, level: 1, index: Extent3(x: 0, y: 0, z: 0)),
        ]
        let byBytes = keys.sorted { $0.bytes.lexicographicallyPrecedes($1.bytes) }
        let byTuple = keys.sorted {
            ($0.dataset, $0.level, $0.index.z, $0.index.y, $0.index.x) < (
                $1.dataset, $1.level, $1.index.z, $1.index.y, $1.index.x
            )
        }
        #expect(byBytes == byTuple)
        for k in keys {
            #expect(k.bytes.count == 17)
            #expect(k.bytes.withUnsafeBytes { ChunkKey($0) } == k)
        }
    }

}
