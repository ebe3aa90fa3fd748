import Codecs
import Foundation
import KV
import Voxels

/// What `Store.verify()` found.
public struct VerifyReport: Codable, Sendable {
    /// One problem: the dataset (or "" for store-level), the chunk when it concerns one, and what is wrong.
    public struct Problem: Codable, Sendable {
        public var dataset: String
        public var chunk: [Int]?
        public var problem: String

        public init(dataset: String, chunk: [Int]?, problem: String) {
            self.dataset = dataset
            self.chunk = chunk
            self.problem = problem
        }
    }
    public var ok: Bool { problems.isEmpty }
    public var datasets = 0
    public var incompleteDatasets: [String] = []
    public var chunksChecked = 0
    public var bytesChecked = 0
    public var problems: [Problem] = []
    /// Work left visibly unfinished, which is not damage (e.g. chunks of a pyramid level that an
    /// interrupted `tomostore pyramid` did not complete): what it is and what to do.
    public var unfinished: [String] = []
}

extension Store {
    /// Checks the whole store in one snapshot: the format record, that catalog entries decode and
    /// agree with the names index, that every chunk key belongs to a dataset and lies in its grid,
    /// and that every chunk decodes with a matching header and checksum. Chunks are decoded on all
    /// cores, a batch at a time (memory bounded by the batch).
    public func verify(progress: ((Int) -> Void)? = nil) throws -> VerifyReport {
        var report = VerifyReport()
        try kv.read { txn in
            var byID: [UInt32: DatasetInfo] = [:]
            try txn.scan(.catalog, prefix: []) { key, value in
                let id = ChunkKey.uint32(key)
                do {
                    let info = try CatalogCoding.decodeEntry(value)
                    if key.count != 4 || info.id != id {
                        report.problems.append(
                            .init(
                                dataset: info.name, chunk: nil,
                                problem: "catalog key does not match dataset id \(info.id)"))
                    }
                    byID[info.id] = info
                } catch {
                    report.problems.append(
                        .init(dataset: "", chunk: nil, problem: "catalog entry \(id) cannot be decoded: \(error)"))
                }
                return true
            }
            report.datasets = byID.count
            report.incompleteDatasets = byID.values.filter { !$0.complete }.map(\.name).sorted()
            var named: Set<UInt32> = []
            try txn.scan(.names, prefix: []) { key, value in
                let name = String(decoding: key, as: UTF8.self)
                let id = ChunkKey.uint32(value)
                if let info = byID[id], info.name == name {
                    named.insert(id)
                } else {
                    report.problems.append(
                        .init(
                            dataset: name, chunk: nil,
                            problem: "name points to missing or different catalog entry \(id)"))
                }
                return true
            }
            for (id, info) in byID where !named.contains(id) {
                report.problems.append(
                    .init(dataset: info.name, chunk: nil, problem: "catalog entry has no name index entry"))
            }

            let highest = byID.keys.max() ?? 0
            let counter = try txn.bytes(.meta, Array("next_id".utf8))
            if counter?.count != 4 || ChunkKey.uint32(counter!) <= highest {
                report.problems.append(
                    .init(
                        dataset: "", chunk: nil,
                        problem: counter == nil
                            ? "meta/next_id is missing (new datasets take ids above \(highest))"
                            : "meta/next_id is \(ChunkKey.uint32(counter!)), not above the highest id \(highest)"))
            }
            // Chunks stored per (dataset, level), to find missing ones of datasets storing every chunk.
            var storedCount: [ChunkKey: Int] = [:]
            var unfinishedLevels: [ChunkKey: Int] = [:]
            var orphans: [UInt32: (count: Int, first: Extent3)] = [:]

            // Chunks, decoded in parallel batches straight from the map.
            var batch: [(ChunkKey, UnsafeRawBufferPointer)] = []
            func flush() {
                let items = batch
                batch.removeAll(keepingCapacity: true)
                // One dataset object per (dataset, level) in the batch: its codecs are prepared once per
                // chunk shape, and its decode is the one reads use.
                var levels: [ChunkKey: Result<Dataset, any Error>] = [:]
                for (key, _) in items {
                    let level = ChunkKey(dataset: key.dataset, level: key.level, index: .zero)
                    guard levels[level] == nil, let info = byID[key.dataset] else { continue }
                    levels[level] = Result { try Dataset(store: self, info: info, level: key.level) }
                }
                var found = [VerifyReport.Problem?](repeating: nil, count: items.count)
                found.withUnsafeMutableBufferPointer { slots in
                    let slots = slots
                    Parallel.forEach(items.count) { i in
                        let (key, value) = items[i]
                        guard let info = byID[key.dataset],
                            let dataset = levels[ChunkKey(dataset: key.dataset, level: key.level, index: .zero)]
                        else { return }
                        do {
                            _ = try dataset.get().decode(value, index: key.index, checksum: true)
                        } catch StoreError.corruptChunk(_, _, let reason) {
                            slots[i] = .init(dataset: info.name, chunk: key.index.array, problem: reason)
                        } catch {
                            slots[i] = .init(dataset: info.name, chunk: key.index.array, problem: "\(error)")
                        }
                    }
                }
                report.problems += found.compactMap { $0 }
                report.chunksChecked += items.count
                report.bytesChecked += items.reduce(0) { $0 + $1.1.count }
                progress?(report.chunksChecked)
            }
            try txn.scan(.chunks, prefix: []) { rawKey, value in
                guard let key = ChunkKey(rawKey) else {
                    report.problems.append(
                        .init(dataset: "", chunk: nil, problem: "chunk key of \(rawKey.count) bytes is malformed"))
                    return true
                }
                guard let info = byID[key.dataset] else {
                    orphans[key.dataset, default: (0, key.index)].count += 1
                    return true
                }
                if Int(key.level) >= max(1, info.levels ?? 1), Int(key.level) < 32,
                    info.grid(level: Int(key.level)).contains(key.index)
                {
                    unfinishedLevels[ChunkKey(dataset: key.dataset, level: key.level, index: .zero), default: 0] += 1
                    return true
                }
                guard Int(key.level) < max(1, info.levels ?? 1), info.grid(level: Int(key.level)).contains(key.index)
                else {
                    report.problems.append(
                        .init(
                            dataset: info.name, chunk: key.index.array,
                            problem: "chunk lies outside the dataset's grid (level \(key.level))"))
                    return true
                }
                storedCount[ChunkKey(dataset: key.dataset, level: key.level, index: .zero), default: 0] += 1
                batch.append((key, value))
                if batch.count >= 64 { flush() }
                return true
            }
            flush()
            for (id, orphan) in orphans.sorted(by: { $0.key < $1.key }) {
                report.problems.append(
                    .init(
                        dataset: "id \(id)", chunk: orphan.first.array,
                        problem: "\(orphan.count) orphan chunk(s): no readable catalog entry for their dataset "
                            + "(`tomostore gc` deletes them)"))
            }
            for (id, info) in byID.sorted(by: { $0.key < $1.key }) where info.allChunksStored == true && info.complete {
                for level in 0..<max(1, info.levels ?? 1) {
                    let grid = info.grid(level: level)
                    let levelKey = ChunkKey(dataset: id, level: UInt8(level), index: .zero)
                    let missing = grid.counts.count - storedCount[levelKey, default: 0]
                    guard missing > 0 else { continue }
                    let first = try grid.allChunks.first { index in
                        try txn.get(.chunks, ChunkKey(dataset: id, level: UInt8(level), index: index).bytes) == nil
                    }
                    report.problems.append(
                        .init(
                            dataset: info.name, chunk: first?.array,
                            problem: "\(missing) chunk(s) of level \(level) are missing (this dataset stores every "
                                + "chunk)"))
                }
            }
            for (levelKey, count) in unfinishedLevels.sorted(by: {
                $0.key.bytes.lexicographicallyPrecedes($1.key.bytes)
            }) {
                guard let info = byID[levelKey.dataset] else { continue }
                report.unfinished.append(
                    "dataset \"\(info.name)\": \(count) chunk(s) of pyramid level \(levelKey.level), which an "
                        + "interrupted `tomostore pyramid` left unfinished; run `tomostore pyramid` again to finish "
                        + "it or `tomostore gc` to remove it")
            }
            try txn.scan(.blobs, prefix: []) { key, _ in
                let id = ChunkKey.uint32(key)
                if byID[id] == nil {
                    report.problems.append(
                        .init(
                            dataset: "id \(id)", chunk: nil,
                            problem: "orphan blob \(String(decoding: key.dropFirst(4), as: UTF8.self))"))
                }
                return true
            }
        }
        return report
    }
}
