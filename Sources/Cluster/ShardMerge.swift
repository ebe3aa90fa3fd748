import Catalog
import Codecs
import Foundation
import KV
import Operators
import Store
import Voxels

/// Folds shard stores into the store: every chunk a shard holds for a dataset the store defines the
/// same way (same derivation digest) is copied as it is stored — checked by decoding with its checksum,
/// never re-encoded — in transactions of up to 64 chunks that also check that the definition and its
/// inputs are unchanged. Chunks the store already holds with the same bytes are skipped, so a merge
/// killed at any moment loses nothing, duplicates nothing, and a rerun finishes it.
public enum ShardMerge {
    public struct Summary: Sendable {
        public var shards = 0
        public var chunksCopied = 0
        public var chunksPresent = 0
        public var bytesCopied = 0
        public var skippedDatasets: [String] = []
    }

    /// Merges every shard of the store's work folder (or only `shards`, paths).
    public static func run(store path: String, shards: [String]? = nil, log: (String) -> Void) throws -> Summary {
        let folder = WorkFolder(store: path)
        let paths =
            try shards
            ?? (FileManager.default.fileExists(atPath: folder.shards)
                ? FileManager.default.contentsOfDirectory(atPath: folder.shards).filter { $0.hasSuffix(".store") }
                    .sorted()
                    .map { "\(folder.shards)/\($0)" } : [])
        let store = try Store(path: path, cacheBytes: 0)
        var summary = Summary()
        for shardPath in paths where FileManager.default.fileExists(atPath: shardPath + "/data.mdb") {
            let shard = try Store(path: shardPath, cacheBytes: 0)
            summary.shards += 1
            for info in try shard.datasets() {
                let source = try shard.dataset(named: info.name, allowIncomplete: true)
                guard let derivation = info.derivation else {
                    // A stored dataset (ingest): copied whole, complete only in its last transaction.
                    guard info.complete else {
                        log(
                            "\(shardPath): \"\(info.name)\" is incomplete in the shard (its task did not finish); skipped"
                        )
                        summary.skippedDatasets.append(info.name)
                        continue
                    }
                    guard let target = try whole(info, into: store, log: { log("\(shardPath): \($0)") }) else {
                        summary.skippedDatasets.append(info.name)
                        continue
                    }
                    try copy(source, shard: shard, into: target, store: store, summary: &summary) { _, _ in }
                    if !target.info.complete {
                        try target.commit(try target.constantFillForMissingChunks()) { entry in
                            entry.complete = true
                            entry.progress = nil
                            entry.stats = info.stats
                        }
                    }
                    continue
                }
                let target: Dataset
                do {
                    target = try store.dataset(named: info.name)
                } catch StoreError.unknownDataset {
                    summary.skippedDatasets.append(info.name)
                    log("\(shardPath): \"\(info.name)\" is not in the store; skipped")
                    continue
                }
                guard target.info.derivation?.digest == derivation.digest, target.grid == source.grid,
                    target.dtype == source.dtype, (try target.info.codecChain()) == (try info.codecChain())
                else {
                    summary.skippedDatasets.append(info.name)
                    log("\(shardPath): \"\(info.name)\" is defined differently in the store now (stale shard); skipped")
                    continue
                }
                let name = info.name
                try copy(source, shard: shard, into: target, store: store, summary: &summary) { current, catalog in
                    guard current.derivation?.digest == derivation.digest else {
                        throw StoreError.changed(name: name, reason: "it was redefined during the merge")
                    }
                    try derivation.checkInputs(of: name, in: catalog)
                }
            }
            log("\(shardPath): merged")
        }
        return summary
    }

    /// Copies every chunk `source` (in `shard`) stores that `target` does not hold with the same bytes,
    /// 64 chunks a transaction, each checked by `check` inside it.
    static func copy(
        _ source: Dataset, shard: Store, into target: Dataset, store: Store, summary: inout Summary,
        check: @escaping (inout DatasetInfo, CatalogView) throws -> Void
    ) throws {
        let indices = try source.storedChunks().map(\.index)
        for start in stride(from: 0, to: indices.count, by: 64) {
            let part = Array(indices[start..<min(indices.count, start + 64)])
            let values: [(index: Extent3, value: [UInt8])] = try shard.kv.read { txn in
                try part.compactMap { index in
                    try source.storedValue(index, in: txn).map { (index, Array($0)) }
                }
            }
            let new = try store.kv.read { txn in
                try values.filter { index, value in
                    guard let have = try target.storedValue(index, in: txn) else { return true }
                    return !value.withUnsafeBytes { PreparedChunkCodec.sameContent(have, $0) }
                }
            }
            summary.chunksPresent += values.count - new.count
            guard !new.isEmpty else { continue }
            let prepared = try target.prepareStored(new, from: source)
            try target.commit(prepared, checking: check)
            summary.chunksCopied += new.count
            summary.bytesCopied += prepared.encodedBytes
        }
    }

    /// The store's dataset to copy a shard's stored dataset into: created (incomplete) with the shard's
    /// entry when absent, or the one an earlier, interrupted or finished merge made (same grid, dtype,
    /// codec and extensions); nil when the store holds another dataset of that name.
    static func whole(_ info: DatasetInfo, into store: Store, log: (String) -> Void) throws -> Dataset? {
        if let existing = try? store.dataset(named: info.name, allowIncomplete: true) {
            let e = existing.info
            guard e.extent == info.extent, e.chunkExtent == info.chunkExtent, e.dtype == info.dtype,
                e.codec == info.codec, e.shuffle == info.shuffle, e.extensions == info.extensions
            else {
                log("\"\(info.name)\" exists in the store with other contents; not replaced (remove it first)")
                return nil
            }
            return existing
        }
        return try store.createDataset(try Store.NewDataset(like: info), complete: false)
    }
}
