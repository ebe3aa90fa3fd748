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
                    report.problems.append(
                        .init(
                            dataset: "id \(key.dataset)", chunk: key.index.array,
                            problem: "orphan chunk: no catalog entry for its dataset"))
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
                batch.append((key, value))
                if batch.count >= 64 { flush() }
                return true
            }
            flush()
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
