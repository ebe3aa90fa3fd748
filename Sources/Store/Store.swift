import CLMDB
import Foundation
import Voxels

/// A TomoStore store: one LMDB environment (a directory) holding many datasets, each a 3D array
/// cut into compressed chunks. Layout: formats/store.md. Safe to use from many threads; many
/// processes may read while one writes (LMDB snapshots).
public final class Store: @unchecked Sendable {
    /// The store's directory.
    public let path: String
    let environment: LMDBEnvironment
    let cache: ChunkCache
    let decoders = Pool { ChunkDecoder() }
    private var encoderPools: [Codec: Pool<ChunkEncoder>] = [:]
    private let encoderLock = NSLock()

    /// The pool of encoders for a codec.
    func encoders(for codec: Codec) -> Pool<ChunkEncoder> {
        encoderLock.lock(); defer { encoderLock.unlock() }
        if let pool = encoderPools[codec] { return pool }
        let pool = Pool { ChunkEncoder(codec: codec) }
        encoderPools[codec] = pool
        return pool
    }

    /// The layout version this build reads and writes.
    public static let formatVersion = 1
    /// Default bytes of decoded chunks kept in memory per open store.
    public static let defaultCacheBytes = 512 << 20

    enum DB {
        static let meta = "meta", catalog = "catalog", names = "names", chunks = "chunks", blobs = "blobs"
    }

    /// Creates a new, empty store at `path` (a directory that must not exist or be empty).
    public static func create(at path: String) throws -> Store {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
            if FileManager.default.fileExists(atPath: path + "/data.mdb") { throw StoreError.storeExists(path: path) }
            guard isDirectory.boolValue else { throw StoreError.invalidArgument("\(path) exists and is not a directory; choose a new path for the store") }
        } else {
            do {
                try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
            } catch {
                throw StoreError.invalidArgument("cannot create directory \(path): \(error.localizedDescription)")
            }
        }
        let env = try LMDBEnvironment(path: path)
        try env.write { txn in
            let meta = try txn.database(DB.meta)
            let record = FormatRecord(format: "tomostore", version: formatVersion, created: Store.now(), softwareVersion: TomoStoreVersion.string)
            try txn.put(meta, Array("format".utf8), try Store.encoder.encode(record).map { $0 })
            try txn.put(meta, Array("next_id".utf8), ChunkKey.bigEndian(1))
            for name in [DB.catalog, DB.names, DB.chunks, DB.blobs] { _ = try txn.database(name) }
        }
        return try Store(path: path, environment: env)
    }

    /// Opens an existing store.
    /// - Parameter cacheBytes: bytes of decoded chunks to keep in memory (0: no cache).
    public convenience init(path: String, cacheBytes: Int = Store.defaultCacheBytes) throws {
        guard FileManager.default.fileExists(atPath: path + "/data.mdb") else { throw StoreError.notAStore(path: path) }
        try self.init(path: path, environment: try LMDBEnvironment(path: path), cacheBytes: cacheBytes)
    }

    private init(path: String, environment: LMDBEnvironment, cacheBytes: Int = Store.defaultCacheBytes) throws {
        self.path = path
        self.environment = environment
        cache = ChunkCache(capacity: cacheBytes)
        let record: FormatRecord? = try environment.read { txn in
            guard let meta = try? txn.database(DB.meta), let raw = try txn.get(meta, Array("format".utf8)) else { return nil }
            // Open every database once, in a transaction that commits, so the handles stay valid.
            for name in [DB.catalog, DB.names, DB.chunks, DB.blobs] { _ = try? txn.database(name) }
            return try? Store.decoder.decode(FormatRecord.self, from: Data(raw))
        }
        guard let record, record.format == "tomostore" else { throw StoreError.notAStore(path: path) }
        guard record.version == Self.formatVersion else { throw StoreError.unsupportedFormat(path: path, version: record.version) }
    }

    /// The `format` record in the meta database.
    struct FormatRecord: Codable {
        var format: String
        var version: Int
        var created: String
        var softwareVersion: String
    }

    static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        e.keyEncodingStrategy = .convertToSnakeCase
        e.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return e
    }()

    static let decoder: JSONDecoder = {
        let d = JSONDecoder()
        d.keyDecodingStrategy = .convertFromSnakeCase
        d.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return d
    }()

    /// The current time as ISO 8601 UTC.
    static func now() -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime]
        return f.string(from: Date())
    }

    // MARK: Catalog

    /// Checks a dataset name: 1–200 bytes of letters, digits and `-_./`.
    public static func validate(name: String) throws {
        guard !name.isEmpty else { throw StoreError.invalidName(name: name, reason: "it is empty") }
        guard name.utf8.count <= 200 else { throw StoreError.invalidName(name: name, reason: "longer than 200 bytes") }
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./".utf8)
        if let bad = name.utf8.first(where: { !allowed.contains($0) }) {
            throw StoreError.invalidName(name: name, reason: "character \"\(String(decoding: [bad], as: UTF8.self))\" is not allowed (use letters, digits and -_./)")
        }
    }

    /// Every dataset's catalog entry, in id order.
    public func datasets() throws -> [DatasetInfo] {
        try environment.read { txn in try catalogEntries(txn) }
    }

    func catalogEntries(_ txn: LMDBTransaction) throws -> [DatasetInfo] {
        var out: [DatasetInfo] = []
        try txn.scan(try txn.database(DB.catalog), prefix: []) { _, value in
            out.append(try decodeInfo(value))
            return true
        }
        return out
    }

    /// Decodes a catalog value: an 8-byte little-endian XXH64 of the JSON that follows, then the JSON.
    static func decodeInfo(_ raw: UnsafeRawBufferPointer) throws -> DatasetInfo {
        guard raw.count > 8 else { throw StoreError.corruptCatalog(reason: "an entry of \(raw.count) bytes is too short") }
        let stored = UInt64(littleEndian: raw.loadUnaligned(as: UInt64.self))
        let json = UnsafeRawBufferPointer(rebasing: raw[8...])
        guard XXHash64.hash(json) == stored else {
            throw StoreError.corruptCatalog(reason: "an entry's checksum does not match its contents (\(String(decoding: json.prefix(60), as: UTF8.self))…)")
        }
        do { return try Store.decoder.decode(DatasetInfo.self, from: Data(json)) } catch {
            throw StoreError.corruptCatalog(reason: "an entry cannot be decoded (\(error))")
        }
    }

    func decodeInfo(_ raw: UnsafeRawBufferPointer) throws -> DatasetInfo { try Store.decodeInfo(raw) }

    /// Encodes a catalog value (see `decodeInfo`).
    static func encodeInfo(_ info: DatasetInfo) throws -> [UInt8] {
        let json = Array(try Store.encoder.encode(info))
        return withUnsafeBytes(of: XXHash64.hash(json).littleEndian) { Array($0) } + json
    }

    /// The catalog entry of a dataset, in a transaction.
    func info(named name: String, in txn: LMDBTransaction) throws -> DatasetInfo? {
        guard let id = try txn.get(try txn.database(DB.names), Array(name.utf8)) else { return nil }
        guard let raw = try txn.get(try txn.database(DB.catalog), Array(id)) else {
            throw StoreError.corruptCatalog(reason: "name \"\(name)\" points to a missing entry")
        }
        return try decodeInfo(raw)
    }

    /// The catalog entry of a dataset.
    public func info(named name: String) throws -> DatasetInfo {
        try environment.read { txn in
            guard let info = try info(named: name, in: txn) else { throw unknown(name, txn) }
            return info
        }
    }

    func unknown(_ name: String, _ txn: LMDBTransaction) -> StoreError {
        .unknownDataset(name: name, available: ((try? catalogEntries(txn)) ?? []).map(\.name))
    }

    /// Writes a catalog entry (and its name) inside a write transaction.
    func put(_ info: DatasetInfo, in txn: LMDBTransaction) throws {
        try txn.put(try txn.database(DB.catalog), ChunkKey.bigEndian(info.id), try Store.encodeInfo(info))
        try txn.put(try txn.database(DB.names), Array(info.name.utf8), ChunkKey.bigEndian(info.id))
    }

    /// Installed by the module that computes derived datasets (Operators): makes the object that
    /// materializes a derived dataset's missing chunks before they are read.
    nonisolated(unsafe) public static var materializerFactory: ((Dataset) throws -> ChunkMaterializer)?

    /// Opens a dataset for reading and writing.
    /// - Parameter allowIncomplete: also open a dataset whose ingest or write has not finished.
    public func dataset(named name: String, allowIncomplete: Bool = false) throws -> Dataset {
        let info = try info(named: name)
        if !info.complete && !allowIncomplete { throw StoreError.incomplete(name: name) }
        return Dataset(store: self, info: info)
    }

    /// Describes a new dataset; see `createDataset`.
    public struct NewDataset: Sendable {
        public var name: String
        public var kind: DatasetKind
        public var dtype: DType
        public var shape: Extent3
        public var chunk = Extent3(x: 64, y: 64, z: 64)
        public var codec: Codec? = nil
        public var fillValue: Double = 0
        public var voxelSize: [Double] = [1, 1, 1]
        public var origin: [Double] = [0, 0, 0]
        public var attributes: [String: JSONValue] = [:]
        public var classes: [String: String]? = nil
        public var mrc: MRCSourceInfo? = nil
        public var derivation: Derivation? = nil

        public init(name: String, kind: DatasetKind, dtype: DType, shape: Extent3) {
            self.name = name; self.kind = kind; self.dtype = dtype; self.shape = shape
        }
    }

    /// Creates a dataset: all voxels read as the fill value until written. It is `complete` at once
    /// unless `complete` is false (ingests set it when their last chunk is committed).
    public func createDataset(_ spec: NewDataset, complete: Bool = true) throws -> Dataset {
        try Store.validate(name: spec.name)
        guard spec.shape.isNonEmpty else { throw StoreError.invalidArgument("dataset shape \(spec.shape) must be at least 1 voxel along each axis") }
        guard spec.chunk.isNonEmpty, spec.chunk.count * spec.dtype.byteCount <= 1 << 30 else {
            throw StoreError.invalidArgument("chunk shape \(spec.chunk) must be positive and hold at most 1 GiB")
        }
        let codec = spec.codec ?? Codec(level: 3, shuffle: spec.dtype.byteCount > 1)
        let created: DatasetInfo = try environment.write { txn in
            if let existing = try info(named: spec.name, in: txn) {
                throw StoreError.datasetExists(name: spec.name, complete: existing.complete)
            }
            let meta = try txn.database(DB.meta)
            let idBytes = try txn.get(meta, Array("next_id".utf8)).map(Array.init) ?? ChunkKey.bigEndian(1)
            let id = idBytes.reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
            try txn.put(meta, Array("next_id".utf8), ChunkKey.bigEndian(id + 1))
            let info = DatasetInfo(
                id: id, name: spec.name, kind: spec.kind, dtype: spec.dtype, shape: spec.shape.array,
                chunk: spec.chunk.array, codec: codec.description, shuffle: codec.shuffle, fillValue: spec.fillValue,
                voxelSize: spec.voxelSize, origin: spec.origin, stats: nil, classes: spec.classes, classVoxels: nil,
                mrc: spec.mrc, attributes: spec.attributes, created: Store.now(), softwareVersion: TomoStoreVersion.string,
                complete: complete, progress: complete ? nil : IngestProgress(chunksDone: 0, partialStats: VoxelStatistics(), partialHistogram: nil),
                derivation: spec.derivation)
            try put(info, in: txn)
            return info
        }
        return Dataset(store: self, info: created)
    }

    /// Removes a dataset, its chunks and blobs, in one transaction.
    public func remove(named name: String) throws {
        try environment.write { txn in
            guard let info = try info(named: name, in: txn) else { throw unknown(name, txn) }
            try txn.deleteAll(try txn.database(DB.chunks), prefix: ChunkKey.prefix(dataset: info.id))
            try txn.deleteAll(try txn.database(DB.blobs), prefix: ChunkKey.prefix(dataset: info.id))
            try txn.delete(try txn.database(DB.catalog), ChunkKey.bigEndian(info.id))
            try txn.delete(try txn.database(DB.names), Array(name.utf8))
        }
    }

    // MARK: Free space

    /// Leaves a contiguous run of at least `bytes` free pages in LMDB's freelist, by writing and then
    /// deleting a reserve record in two transactions. Other LMDB clients that open the store with a
    /// small map size (python-lmdb defaults to 10 MiB) can then rewrite a value as large as a chunk
    /// in place; TomoStore itself grows its map as needed.
    public func reserveFreeSpace(bytes: Int) throws {
        let key = Array("free_space_reserve".utf8)
        try environment.write { txn in
            try txn.putReserved(try txn.database(DB.meta), key, count: bytes) { $0.initializeMemory(as: UInt8.self, repeating: 0) }
        }
        try environment.write { txn in _ = try txn.delete(try txn.database(DB.meta), key) }
    }

    /// Deletes chunks and blobs whose dataset id has no catalog entry; returns how many.
    public func removeOrphans() throws -> Int {
        try environment.write { txn in
            var ids = Set<UInt32>()
            try txn.scan(try txn.database(DB.catalog), prefix: []) { key, _ in
                ids.insert(Array(key).reduce(UInt32(0)) { $0 << 8 | UInt32($1) }); return true
            }
            var removed = 0
            for db in [DB.chunks, DB.blobs] {
                var orphans: [[UInt8]] = []
                try txn.scan(try txn.database(db), prefix: []) { key, _ in
                    let id = Array(key.prefix(4)).reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
                    if key.count < 4 || !ids.contains(id) { orphans.append(Array(key)) }
                    return true
                }
                for k in orphans { try txn.delete(try txn.database(db), k) }
                removed += orphans.count
            }
            return removed
        }
    }

    // MARK: Meta records

    /// A named record of the meta database (corpus recipes, …), or nil.
    public func metaValue(_ key: String) throws -> [UInt8]? {
        try environment.read { txn in try txn.get(try txn.database(DB.meta), Array(key.utf8)).map(Array.init) }
    }

    /// Writes a named record of the meta database.
    public func putMetaValue(_ key: String, _ bytes: [UInt8]) throws {
        try environment.write { txn in try txn.put(try txn.database(DB.meta), Array(key.utf8), bytes) }
    }

    // MARK: Models

    /// Stores model bytes (a safetensors file) under its digest, so derived datasets can refer to it.
    public func putModel(digest: String, _ bytes: [UInt8]) throws {
        try environment.write { txn in try txn.put(try txn.database(DB.meta), Array("model/\(digest)".utf8), bytes) }
    }

    /// The bytes of a stored model, or nil.
    public func model(digest: String) throws -> [UInt8]? {
        try environment.read { txn in try txn.get(try txn.database(DB.meta), Array("model/\(digest)".utf8)).map(Array.init) }
    }

    /// Stores model bytes under their digest and points `name` at them, in one transaction
    /// (a later model of the same name replaces the pointer; the older bytes stay under their digest).
    public func putModel(digest: String, _ bytes: [UInt8], name: String) throws {
        try Store.validateModelName(name)
        try environment.write { txn in
            let meta = try txn.database(DB.meta)
            try txn.put(meta, Array("model/\(digest)".utf8), bytes)
            try txn.put(meta, Array("model-name/\(name)".utf8), Array(digest.utf8))
        }
    }

    /// Throws unless `name` can name a stored model: 1–200 UTF-8 bytes, no '/', not `default`
    /// (which always means the model shipped with TomoStore).
    public static func validateModelName(_ name: String) throws {
        guard !name.isEmpty, !name.contains("/"), name.utf8.count <= 200, name != "default" else {
            throw StoreError.invalidArgument("invalid model name \"\(name)\": a model name has 1–200 bytes, no '/', and is not \"default\"; choose another with --model-name")
        }
    }

    /// The digest a model name points at, or nil.
    public func modelDigest(named name: String) throws -> String? {
        try metaValue("model-name/\(name)").map { String(decoding: $0, as: UTF8.self) }
    }

    /// Every named model as (name, digest), sorted by name.
    public func modelNames() throws -> [(name: String, digest: String)] {
        let prefix = Array("model-name/".utf8)
        var names: [(name: String, digest: String)] = []
        try environment.read { txn in
            try txn.scan(try txn.database(DB.meta), prefix: prefix) { key, value in
                names.append((String(decoding: key.dropFirst(prefix.count), as: UTF8.self), String(decoding: value, as: UTF8.self)))
                return true
            }
        }
        return names
    }

    // MARK: Blobs

    /// Stores a named blob of a dataset (e.g. its MRC extended header) inside a write transaction.
    func putBlob(dataset: UInt32, name: String, _ bytes: [UInt8], in txn: LMDBTransaction) throws {
        try txn.put(try txn.database(DB.blobs), ChunkKey.prefix(dataset: dataset) + Array(name.utf8), bytes)
    }

    /// A named blob of a dataset, or nil.
    public func blob(dataset: UInt32, name: String) throws -> [UInt8]? {
        try environment.read { txn in
            try txn.get(try txn.database(DB.blobs), ChunkKey.prefix(dataset: dataset) + Array(name.utf8)).map(Array.init)
        }
    }
}
