import Codecs
import Foundation
import KV
import TestSupport
import Testing
import Voxels

@testable import Store

/// Regression tests for the audit of issue 22: each damage the audit made by hand is made here and
/// must be caught (before the fixes, every one of these read wrong voxels, trapped or said "ok").
@Suite("Hardening: damage is caught, crafted entries refused, reads never mix datasets")
struct HardeningTests {
    /// A store with two complete datasets written the way ingests write them (created incomplete,
    /// every chunk stored, then marked complete), of the same grid.
    static func twoDatasets() throws -> (Store, Dataset, Dataset, Volume) {
        let store = try temporaryStore()
        let shape = Extent3(x: 40, y: 30, z: 20)
        var made: [Dataset] = []
        for (i, name) in ["A", "B"].enumerated() {
            var spec = Store.NewDataset(name: name, dtype: .float32, shape: shape)
            spec.chunk = Extent3(x: 16, y: 16, z: 16)
            let ds = try store.createDataset(spec, complete: false)
            try ds.write(referenceVolume(shape, seed: UInt64(i + 1)), at: .zero)
            try ds.markComplete()
            made.append(try store.dataset(named: name))
        }
        return (store, made[0], made[1], referenceVolume(shape, seed: 1))
    }

    @Test("a deleted chunk of a complete dataset fails reads and verify (defect 6)")
    func deletedChunk() throws {
        let (store, a, _, _) = try Self.twoDatasets()
        #expect(a.info.allChunksStored == true)
        try store.kv.write { txn in _ = try txn.delete(.chunks, a.key(Extent3(x: 1, y: 1, z: 0)).bytes) }
        #expect(throws: StoreError.self) { _ = try a.read(Box3(shape: a.shape), cached: false) }
        let report = try store.verify()
        #expect(!report.ok && report.problems.contains { $0.dataset == "A" && $0.problem.contains("missing") })
    }

    @Test("a chunk copied from another dataset or re-labelled with another codec fails reads and verify (defect 6)")
    func swappedAndRecodedChunks() throws {
        let (store, a, b, _) = try Self.twoDatasets()
        let index = Extent3(x: 1, y: 0, z: 1)
        try store.kv.write { txn in
            let other = Array(try txn.get(.chunks, b.key(index).bytes)!)
            try txn.put(.chunks, a.key(index).bytes, other)
            var recoded = Array(try txn.get(.chunks, b.key(.zero).bytes)!)
            recoded[3] = recoded[3] == 2 ? 1 : 2
            try txn.put(.chunks, b.key(.zero).bytes, recoded)
        }
        #expect(throws: StoreError.self) { _ = try a.read(Box3(shape: a.shape), cached: false) }
        #expect(throws: StoreError.self) { _ = try b.read(Box3(x: 0..<4, y: 0..<4, z: 0..<4), cached: false) }
        let problems = try store.verify().problems
        #expect(problems.contains { $0.dataset == "A" && $0.chunk == index.array })
        #expect(problems.contains { $0.dataset == "B" && $0.chunk == [0, 0, 0] })
    }

    @Test("a damaged names value never leads to another dataset's voxels (defect 6)")
    func damagedName() throws {
        let (store, _, b, _) = try Self.twoDatasets()
        try store.kv.write { txn in try txn.put(.names, Array("A".utf8), ChunkKey.bigEndian(b.id)) }
        #expect(throws: StoreError.self) { _ = try store.dataset(named: "A") }
        #expect(!(try store.verify().ok))
    }

    @Test("a lost meta/next_id never makes a new dataset reuse an id (defect 6)")
    func lostCounter() throws {
        let (store, a, b, truth) = try Self.twoDatasets()
        try store.kv.write { txn in _ = try txn.delete(.meta, Array("next_id".utf8)) }
        #expect(!(try store.verify().ok))
        let c = try store.createDataset(Store.NewDataset(name: "C", dtype: .uint8, shape: Extent3(x: 4, y: 4, z: 4)))
        #expect(c.id > max(a.id, b.id))
        #expect(try store.dataset(named: "A").read(Box3(shape: truth.shape), cached: false) == truth)
        // A catalog key at the largest id leaves none to give: an error, not an overflow trap.
        try store.kv.write { txn in try txn.put(.catalog, [255, 255, 255, 255], [0]) }
        #expect(throws: StoreError.self) {
            try store.createDataset(Store.NewDataset(name: "D", dtype: .uint8, shape: Extent3(x: 4, y: 4, z: 4)))
        }
    }

    @Test(
        "crafted catalog entries with valid checksums are refused with a message, and others stay listed (defect 9, 12)"
    )
    func craftedEntries() throws {
        for (field, value) in [
            ("shape", JSONValue.array([.number(70), .number(45)])),
            ("chunk", .array([.number(0), .number(16), .number(16)])),
            ("shape", .array([.number(2_147_483_648), .number(2_147_483_648), .number(2_147_483_648)])),
            ("voxel_size", .array([.number(1)])),
        ] {
            let (store, a, _, _) = try Self.twoDatasets()
            try store.kv.write { txn in
                let json = try CatalogCoding.entryJSON(a.info)
                guard case .object(var all) = try JSONDecoder().decode(JSONValue.self, from: Data(json)) else { return }
                all[field] = value
                let crafted = Array(try JSONEncoder().encode(JSONValue.object(all)))
                let sealed =
                    withUnsafeBytes(of: crafted.withUnsafeBytes { XXHash64.hash($0) }.littleEndian) { Array($0) }
                    + crafted
                try txn.put(.catalog, ChunkKey.bigEndian(a.id), sealed)
            }
            #expect(throws: StoreError.self) { _ = try store.info(named: "A") }
            let (good, bad) = try store.catalog()
            #expect(good.map(\.name) == ["B"] && bad.count == 1, "\(field)")
            #expect(!(try store.verify().ok), "\(field)")
        }
    }

    @Test("a dataset removed between two reads of a multi-transaction read fails the second (defect 2)")
    func removedWhileRead() throws {
        let (store, a, _, truth) = try Self.twoDatasets()
        let band = Box3(x: 0..<40, y: 0..<30, z: 0..<8)
        #expect(try a.read(band, cached: false) == truth.extracting(band))
        try store.remove(named: "A")
        #expect(throws: StoreError.self) { _ = try a.read(Box3(x: 0..<40, y: 0..<30, z: 8..<16), cached: false) }
    }

    @Test("chunks of an unfinished pyramid level are a note, not damage; gc removes them (defect 4)")
    func unfinishedPyramid() throws {
        let (store, a, _, _) = try Self.twoDatasets()
        let level1 = try Dataset(store: store, info: a.info, level: 1)
        try level1.commit(try level1.prepare([(Extent3.zero, level1.filled(level1.grid.box(of: .zero).shape))]))
        let report = try store.verify()
        #expect(report.ok && report.unfinished.count == 1)
        #expect(try store.removeOrphans() == 1)
        #expect(try store.verify().unfinished.isEmpty)
    }

    @Test("volumes stored together appear together; a second writer of the same names keeps the first (defect 5)")
    func storeVolumesTogether() throws {
        let store = try temporaryStore()
        let v = referenceVolume(Extent3(x: 9, y: 8, z: 7))
        let items = ["s/0/a", "s/0/b"].map {
            Store.NewVolume(
                spec: Store.NewDataset(name: $0, dtype: .float32, shape: v.shape), volume: v,
                blobs: [("t.csv", Array("x\n".utf8))])
        }
        let first = try store.storeVolumes(items, keepExisting: true)
        let second = try store.storeVolumes(items, keepExisting: true)
        #expect(first.map(\.id) == second.map(\.id))
        #expect(try store.dataset(named: "s/0/b").read(Box3(shape: v.shape), cached: false) == v)
        #expect(try store.blob(dataset: first[1].id, name: "t.csv") == Array("x\n".utf8))
        #expect(throws: StoreError.self) { try store.storeVolumes(items) }
        #expect(try store.verify().ok)
    }

    @Test("a truncated, empty or tiny data.mdb is refused on open, never mapped (defect 8)")
    func truncatedFile() throws {
        let dir = try TemporaryDirectory("trunc")
        let path = dir.appending("s.store")
        do {
            let store = try Store.create(at: path)
            let ds = try store.createDataset(
                Store.NewDataset(name: "A", dtype: .float32, shape: Extent3(x: 64, y: 64, z: 64)))
            try ds.write(referenceVolume(ds.shape), at: .zero)
        }
        let file = path + "/data.mdb"
        let size = try FileManager.default.attributesOfItem(atPath: file)[.size] as! Int
        for cut in [size / 3, 5000, 0] {
            #expect(truncate(file, off_t(cut)) == 0)
            #expect(throws: LMDBError.self) { _ = try Store(path: path) }
        }
    }
}
