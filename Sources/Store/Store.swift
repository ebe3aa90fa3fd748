import Codecs
import Foundation
import KV
import Voxels

/// A TomoStore store: datasets (3D arrays cut into compressed chunks) and named records on a
/// key-value store — one LMDB environment (a directory) on disk, or memory for tests. Layout:
/// formats/store.md. Safe to use from many threads; many processes may read while one writes.
/// The store knows arrays only: what a dataset means (a tomogram, a derived volume, a model's
/// output) lives in the catalog entry's extensions, which other modules read and write.
public final class Store: Sendable {
    /// The store's directory ("" for a store in memory).
    public let path: String
    /// The key-value store underneath.
    public let kv: any KeyValueStore
    let cache: ChunkCache
    /// Per-thread zstd contexts and scratch buffers shared by every dataset's codecs.
    let codecContexts = CodecContexts()

    /// The layout version this build writes (formats/store.md). It reads this one and version 1.
    public static let formatVersion = 2
    /// Default bytes of decoded chunks kept in memory per open store.
    public static let defaultCacheBytes = 512 << 20

    /// The key-value tables of a store (formats/store.md).
    public static let tables: [KVTable] = [.meta, .catalog, .names, .chunks, .blobs]

    /// Creates a new, empty store at `path` (a directory that must not exist or be empty).
    public static func create(at path: String) throws -> Store {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
            if FileManager.default.fileExists(atPath: path + "/data.mdb") { throw StoreError.storeExists(path: path) }
            guard isDirectory.boolValue else { throw StoreError.notADirectory(path: path) }
        } else {
            do {
                try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
            } catch {
                throw StoreError.cannotCreate(path: path, reason: error.localizedDescription)
            }
        }
        return try create(in: try LMDBKeyValueStore(path: path, tables: tables, createTables: true), path: path)
    }

    /// Creates a new store in an empty key-value store (e.g. `MemoryKeyValueStore(tables: Store.tables)`).
    public static func create(in kv: any KeyValueStore, path: String = "", cacheBytes: Int = defaultCacheBytes) throws
        -> Store
    {
        try kv.write { txn in
            let record = FormatRecord(
                format: "tomostore", version: formatVersion, created: Store.now(),
                softwareVersion: TomoStoreVersion.string)
            try txn.put(.meta, Array("format".utf8), Array(try CatalogCoding.encoder.encode(record)))
            try txn.put(.meta, Array("next_id".utf8), ChunkKey.bigEndian(1))
        }
        return try Store(kv: kv, path: path, cacheBytes: cacheBytes)
    }

    /// Opens an existing store.
    /// - Parameter cacheBytes: bytes of decoded chunks to keep in memory (0: no cache).
    /// - Parameter readOnly: open the LMDB environment read-only (any write fails).
    public convenience init(path: String, cacheBytes: Int = Store.defaultCacheBytes, readOnly: Bool = false) throws {
        guard FileManager.default.fileExists(atPath: path + "/data.mdb") else { throw StoreError.notAStore(path: path) }
        try self.init(
            kv: try LMDBKeyValueStore(path: path, tables: Self.tables, readOnly: readOnly), path: path,
            cacheBytes: cacheBytes)
    }

    /// Opens the store held by a key-value store.
    public init(kv: any KeyValueStore, path: String = "", cacheBytes: Int = Store.defaultCacheBytes) throws {
        self.path = path
        self.kv = kv
        cache = ChunkCache(capacity: cacheBytes)
        let raw = try kv.read { txn in try txn.bytes(.meta, Array("format".utf8)) }
        guard let raw, let record = try? CatalogCoding.decoder.decode(FormatRecord.self, from: Data(raw)),
            record.format == "tomostore"
        else { throw StoreError.notAStore(path: path) }
        guard record.version == 1 || record.version == Self.formatVersion else {
            throw StoreError.unsupportedFormat(path: path, version: record.version)
        }
        // A version-1 store opened for writing is declared version 2 first: from now on it may hold
        // version-2 chunk values, which version-1 readers cannot check (its version-1 values stay
        // readable as they are).
        if record.version == 1, !((kv as? LMDBKeyValueStore)?.isReadOnly ?? false) {
            var upgraded = record
            upgraded.version = Self.formatVersion
            let bytes = Array(try CatalogCoding.encoder.encode(upgraded))
            try? kv.write { txn in try txn.put(.meta, Array("format".utf8), bytes) }
        }
    }

    /// The `format` record in the meta table.
    struct FormatRecord: Codable {
        var format: String
        var version: Int
        var created: String
        var softwareVersion: String
    }

    /// The current time as ISO 8601 UTC.
    static func now() -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime]
        return f.string(from: Date())
    }

    // MARK: Catalog

    /// Checks a dataset name: 1–200 bytes of letters, digits and `-_./`, made of `/`-separated
    /// components that are neither empty nor `.` or `..` (so names map one to one onto paths, as
    /// `tomostore serve` and the exports use them).
    public static func validate(name: String) throws {
        guard !name.isEmpty else { throw StoreError.invalidName(name: name, reason: "it is empty") }
        guard name.utf8.count <= 200 else { throw StoreError.invalidName(name: name, reason: "longer than 200 bytes") }
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./")
        if let bad = name.first(where: { !allowed.contains($0) }) {  // a whole character ("ó", not a byte of it)
            throw StoreError.invalidName(
                name: name, reason: "character \"\(bad)\" is not allowed (use ASCII letters, digits and -_./)")
        }
        if let bad = name.split(separator: "/", omittingEmptySubsequences: false).first(where: {
            $0.isEmpty || $0 == "." || $0 == ".."
        }) {
            let what = bad.isEmpty ? "an empty component (a leading, trailing or double /)" : "the component \"\(bad)\""
            throw StoreError.invalidName(name: name, reason: "\(what) is not allowed in a path-like name")
        }
    }

    /// Every dataset's catalog entry, in id order.
    public func datasets() throws -> [DatasetInfo] {
        try kv.read { txn in try catalogEntries(txn) }
    }

    /// A catalog entry that cannot be read: its id and why.
    public struct UnreadableEntry: Sendable {
        public var id: UInt32
        public var reason: String
    }

    /// Every readable catalog entry in id order, and the entries that cannot be read (damaged or
    /// invalid), so that one bad entry does not hide the others.
    public func catalog() throws -> (datasets: [DatasetInfo], unreadable: [UnreadableEntry]) {
        try kv.read { txn in try catalogEntries(txn, tolerant: true) }
    }

    func catalogEntries(_ txn: any KVReadTransaction) throws -> [DatasetInfo] {
        try catalogEntries(txn, tolerant: false).datasets
    }

    /// The catalog's entries in id order; an entry that cannot be read is listed in `unreadable` when
    /// `tolerant`, and thrown otherwise.
    private func catalogEntries(_ txn: any KVReadTransaction, tolerant: Bool) throws
        -> (datasets: [DatasetInfo], unreadable: [UnreadableEntry])
    {
        var good: [DatasetInfo] = []
        var bad: [UnreadableEntry] = []
        try txn.scan(.catalog, prefix: []) { key, value in
            do {
                good.append(try CatalogCoding.decodeEntry(value))
            } catch  where tolerant {
                bad.append(UnreadableEntry(id: ChunkKey.uint32(key), reason: "\(error)"))
            }
            return true
        }
        return (good, bad)
    }

    /// The catalog entry of a dataset, in a transaction.
    func info(named name: String, in txn: any KVReadTransaction) throws -> DatasetInfo? {
        guard let id = try txn.get(.names, Array(name.utf8)) else { return nil }
        guard id.count == 4, let raw = try txn.get(.catalog, Array(id)) else {
            throw StoreError.corruptCatalog(reason: "name \"\(name)\" points to a missing entry")
        }
        let info = try CatalogCoding.decodeEntry(raw)
        // The names index is not checksummed: a damaged value must not lead to another dataset.
        guard info.name == name, info.id == ChunkKey.uint32(id) else {
            throw StoreError.corruptCatalog(
                reason: "name \"\(name)\" points to entry \(ChunkKey.uint32(id)), which is dataset \"\(info.name)\"; "
                    + "run `tomostore verify`")
        }
        return info
    }

    /// The id the next dataset gets: `meta/next_id`, but never one at or below an existing entry's
    /// (a lost or damaged counter must not make a new dataset overwrite an old one).
    func nextID(in txn: any KVReadTransaction) throws -> UInt32 {
        let counter = try txn.bytes(.meta, Array("next_id".utf8)).map { $0.count == 4 ? ChunkKey.uint32($0) : 1 }
        let (next, full) = try highestID(in: txn).addingReportingOverflow(1)
        guard !full else { throw StoreError.corruptCatalog(reason: "a dataset id is 2³²−1; no id is left after it") }
        return max(counter ?? 1, next)
    }

    /// The largest dataset id in the catalog (0 when empty): its last key, as ids are 4-byte big-endian
    /// keys (one cursor step, however many datasets the store holds).
    func highestID(in txn: any KVReadTransaction) throws -> UInt32 {
        try txn.lastKey(.catalog).map { ChunkKey.uint32($0) } ?? 0
    }

    /// The encoded catalog entry of a dataset (nil when there is none), valid until `txn` ends: two
    /// reads of the same bytes mean the dataset is unchanged in between.
    public func catalogEntryBytes(named name: String, in txn: any KVReadTransaction) throws -> UnsafeRawBufferPointer? {
        guard let id = try txn.get(.names, Array(name.utf8)) else { return nil }
        return try txn.get(.catalog, Array(id))
    }

    /// The catalog entry of a dataset.
    public func info(named name: String) throws -> DatasetInfo {
        try kv.read { txn in
            guard let info = try info(named: name, in: txn) else { throw unknown(name, txn) }
            return info
        }
    }

    func unknown(_ name: String, _ txn: any KVReadTransaction) -> StoreError {
        .unknownDataset(name: name, available: ((try? catalogEntries(txn)) ?? []).map(\.name))
    }

    /// Writes a catalog entry (and its name) inside a write transaction.
    func put(_ info: DatasetInfo, in txn: any KVWriteTransaction) throws {
        try txn.put(.catalog, ChunkKey.bigEndian(info.id), try CatalogCoding.encodeEntry(info))
        try txn.put(.names, Array(info.name.utf8), ChunkKey.bigEndian(info.id))
    }

    /// Opens a dataset for reading and writing its stored chunks. A derived dataset read this way
    /// gives what is stored (absent chunks as fill): read it through `Operators.Workspace.open`,
    /// which computes what is missing.
    /// - Parameter allowIncomplete: also open a dataset whose ingest or write has not finished.
    public func dataset(named name: String, allowIncomplete: Bool = false) throws -> Dataset {
        let info = try info(named: name)
        if !info.complete && !allowIncomplete { throw StoreError.incomplete(name: name) }
        return try Dataset(store: self, info: info)
    }

    /// Describes a new dataset; see `createDataset`.
    public struct NewDataset: Sendable {
        public var name: String
        public var dtype: DType
        /// Size in voxels (x, y, z).
        public var shape: Extent3
        /// Chunk size in voxels (x, y, z).
        public var chunk = Extent3(x: 64, y: 64, z: 64)
        /// Nil: zstd level 3, byte shuffle for multi-byte dtypes.
        public var codec: CodecChain? = nil
        public var fillValue: Double = 0
        /// Voxel size in Å along x, y, z.
        public var voxelSize: [Double] = [1, 1, 1]
        /// Origin in Å along x, y, z.
        public var origin: [Double] = [0, 0, 0]
        public var attributes: [String: JSONValue] = [:]
        /// Catalog fields of other modules (the dataset's kind, provenance, …), by top-level key.
        public var extensions: [String: JSONValue] = [:]

        public init(name: String, dtype: DType, shape: Extent3) {
            self.name = name
            self.dtype = dtype
            self.shape = shape
        }
    }

    /// Creates a dataset: all voxels read as the fill value until written. It is `complete` at once
    /// unless `complete` is false (ingests set it when their last chunk is committed); a dataset made
    /// incomplete stores every chunk (`allChunksStored`: constant chunks as constant values, and
    /// `markComplete` stores those never written), so once complete a missing chunk is damage.
    public func createDataset(_ spec: NewDataset, complete: Bool = true) throws -> Dataset {
        try Store.validate(name: spec.name)
        let created: DatasetInfo = try kv.write { txn in
            if let existing = try info(named: spec.name, in: txn) {
                throw StoreError.datasetExists(name: spec.name, complete: existing.complete)
            }
            let info = try newEntry(spec, complete: complete, in: txn)
            try put(info, in: txn)
            return info
        }
        return try Dataset(store: self, info: created)
    }

    /// The catalog entry of a new dataset, with the next id (taken: `meta/next_id` is advanced in
    /// `txn`); not written yet. Callers have validated the name (before their transaction).
    func newEntry(_ spec: NewDataset, complete: Bool, in txn: any KVWriteTransaction) throws -> DatasetInfo {
        guard spec.shape.isNonEmpty else { throw StoreError.emptyShape(spec.shape) }
        guard spec.chunk.isNonEmpty, spec.chunk.count * spec.dtype.byteCount <= CatalogCoding.maxChunkBytes else {
            throw StoreError.badChunkShape(spec.chunk)
        }
        try CatalogCoding.validate(
            name: spec.name, id: 0, dtype: spec.dtype, shape: spec.shape.array, chunk: spec.chunk.array,
            voxelSize: spec.voxelSize, origin: spec.origin, levels: nil)
        let codec = spec.codec ?? CodecChain(level: 3, shuffle: spec.dtype.byteCount > 1)
        let id = try nextID(in: txn)
        try txn.put(.meta, Array("next_id".utf8), ChunkKey.bigEndian(id + 1))
        let progress =
            complete ? nil : IngestProgress(chunksDone: 0, partialStats: VoxelStatistics(), partialHistogram: nil)
        return DatasetInfo(
            id: id, name: spec.name, dtype: spec.dtype, shape: spec.shape.array, chunk: spec.chunk.array,
            codec: codec.description, shuffle: codec.shuffle, fillValue: spec.fillValue, voxelSize: spec.voxelSize,
            origin: spec.origin, stats: nil, attributes: spec.attributes, created: Store.now(),
            softwareVersion: TomoStoreVersion.string, complete: complete, progress: progress, levels: nil,
            extensions: spec.extensions, allChunksStored: complete ? nil : true)
    }

    /// Removes a dataset, its chunks and blobs, in one transaction.
    public func remove(named name: String) throws {
        try kv.write { txn in
            guard let info = try info(named: name, in: txn) else { throw unknown(name, txn) }
            try remove(info, in: txn)
        }
    }

    func remove(_ info: DatasetInfo, in txn: any KVWriteTransaction) throws {
        try txn.deleteAll(.chunks, prefix: ChunkKey.prefix(dataset: info.id))
        try txn.deleteAll(.blobs, prefix: ChunkKey.prefix(dataset: info.id))
        try txn.delete(.catalog, ChunkKey.bigEndian(info.id))
        try txn.delete(.names, Array(info.name.utf8))
    }

    /// An in-memory volume ([z][y][x]) to store as a complete dataset, with named blobs.
    public struct NewVolume: Sendable {
        public var spec: NewDataset
        public var volume: Volume
        public var blobs: [(name: String, bytes: [UInt8])]

        public init(spec: NewDataset, volume: Volume, blobs: [(name: String, bytes: [UInt8])] = []) {
            self.spec = spec
            self.volume = volume
            self.blobs = blobs
        }
    }

    /// Stores volumes as complete datasets (every chunk stored, statistics recorded) in one durable
    /// transaction: all of them or none, so readers and a crash never see some without the others.
    /// An incomplete dataset of the same name (left by an interrupted older writer) is replaced.
    /// - Parameter keepExisting: when every name already holds a complete dataset, store nothing and
    ///   return those (another process stored the same volumes first); otherwise such a name is an
    ///   error (`StoreError.datasetExists`).
    /// Encodes inside the transaction: meant for volumes of a few hundred MiB at most.
    @discardableResult
    public func storeVolumes(_ items: [NewVolume], keepExisting: Bool = false) throws -> [Dataset] {
        for item in items { try Store.validate(name: item.spec.name) }
        let infos: [DatasetInfo] = try kv.write { txn in
            let existing = try items.map { try info(named: $0.spec.name, in: txn) }
            if keepExisting, existing.allSatisfy({ $0?.complete == true }) { return existing.map { $0! } }
            for old in existing.compactMap({ $0 }) {
                guard !old.complete || keepExisting else {
                    throw StoreError.datasetExists(name: old.name, complete: true)
                }
                try remove(old, in: txn)
            }
            var made: [DatasetInfo] = []
            for item in items {
                var info = try newEntry(item.spec, complete: true, in: txn)
                info.allChunksStored = true
                info.stats = DatasetStatistics(VoxelStatistics.of(item.volume))
                let dataset = try Dataset(store: self, info: info)
                let grid = dataset.grid
                guard item.volume.shape == grid.shape, item.volume.dtype == info.dtype else {
                    throw StoreError.chunkMismatch(
                        name: info.name, chunk: .zero, shape: item.volume.shape, dtype: item.volume.dtype)
                }
                let chunks = grid.allChunks.map { ($0, item.volume.extracting(grid.box(of: $0))) }
                try dataset.put(try dataset.prepare(chunks), in: txn)
                for blob in item.blobs { try putBlob(dataset: info.id, name: blob.name, blob.bytes, in: txn) }
                try put(info, in: txn)
                made.append(info)
            }
            return made
        }
        return try infos.map { try Dataset(store: self, info: $0) }
    }

    // MARK: Free space

    /// Leaves a contiguous run of at least `bytes` free pages in LMDB's freelist, by writing and then
    /// deleting a reserve record in two transactions. Other LMDB clients that open the store with a
    /// small map size (python-lmdb defaults to 10 MiB) can then rewrite a value as large as a chunk
    /// in place; TomoStore itself grows its map as needed.
    public func reserveFreeSpace(bytes: Int) throws {
        let key = Array("free_space_reserve".utf8)
        try kv.write { txn in
            try txn.putReserved(.meta, key, count: bytes) { $0.initializeMemory(as: UInt8.self, repeating: 0) }
        }
        try kv.write { txn in _ = try txn.delete(.meta, key) }
    }

    /// Deletes chunks and blobs whose dataset id has no catalog entry, and chunks of pyramid levels
    /// that are not complete (an interrupted `pyramid`: at or above the entry's `levels`); returns how
    /// many. Entries that cannot be read keep their chunks.
    public func removeOrphans() throws -> Int {
        try kv.write { txn in
            var levels: [UInt32: Int] = [:]
            try txn.scan(.catalog, prefix: []) { key, value in
                levels[ChunkKey.uint32(key)] =
                    (try? CatalogCoding.decodeEntry(value)).map { max(1, $0.levels ?? 1) } ?? 256
                return true
            }
            var removed = 0
            for table in [KVTable.chunks, .blobs] {
                var orphans: [[UInt8]] = []
                try txn.scan(table, prefix: []) { key, _ in
                    guard key.count >= 4, let complete = levels[ChunkKey.uint32(key)] else {
                        orphans.append(Array(key))
                        return true
                    }
                    if table == .chunks, let chunk = ChunkKey(key), Int(chunk.level) >= complete {
                        orphans.append(Array(key))
                    }
                    return true
                }
                for k in orphans { try txn.delete(table, k) }
                removed += orphans.count
            }
            return removed
        }
    }

    // MARK: Named records

    /// A named record of the meta table (corpus recipes, model registry entries, …), or nil.
    public func metaValue(_ key: String) throws -> [UInt8]? {
        try kv.read { txn in try txn.bytes(.meta, Array(key.utf8)) }
    }

    /// Writes named records of the meta table, all in one transaction.
    public func putMetaValues(_ records: [(key: String, value: [UInt8])]) throws {
        try kv.write { txn in for (key, value) in records { try txn.put(.meta, Array(key.utf8), value) } }
    }

    /// Writes a named record of the meta table.
    public func putMetaValue(_ key: String, _ bytes: [UInt8]) throws {
        try putMetaValues([(key, bytes)])
    }

    /// Every meta record whose key starts with `prefix`, as (key without the prefix, value), in key
    /// order.
    public func metaValues(prefix: String) throws -> [(key: String, value: [UInt8])] {
        let p = Array(prefix.utf8)
        var out: [(key: String, value: [UInt8])] = []
        try kv.read { txn in
            try txn.scan(.meta, prefix: p) { key, value in
                out.append((String(decoding: key.dropFirst(p.count), as: UTF8.self), Array(value)))
                return true
            }
        }
        return out
    }

    // MARK: Blobs

    /// Stores a named blob of a dataset (e.g. its MRC extended header) inside a write transaction.
    func putBlob(dataset: UInt32, name: String, _ bytes: [UInt8], in txn: any KVWriteTransaction) throws {
        try txn.put(.blobs, ChunkKey.prefix(dataset: dataset) + Array(name.utf8), bytes)
    }

    /// A named blob of a dataset, or nil.
    public func blob(dataset: UInt32, name: String) throws -> [UInt8]? {
        try kv.read { txn in try txn.bytes(.blobs, ChunkKey.prefix(dataset: dataset) + Array(name.utf8)) }
    }
}

extension KVTable {
    /// Format record, id counter and named records.
    public static let meta = KVTable("meta")
    /// Dataset id (u32 big-endian) → catalog entry.
    public static let catalog = KVTable("catalog")
    /// Dataset name → id.
    public static let names = KVTable("names")
    /// `ChunkKey` → encoded chunk.
    public static let chunks = KVTable("chunks")
    /// Dataset id + name → bytes.
    public static let blobs = KVTable("blobs")
}
