import Catalog
import Codecs
import Corpus
import Foundation
import KV
import NIOCore
import Operators
import Store
import Transfer
import Voxels

/// An answer to a request: HTTP status, content type and body.
public struct Reply: Sendable {
    public var status: Int
    public var contentType: String
    public var body: ByteBuffer

    /// A chunk's bytes.
    static func chunk(_ bytes: ByteBuffer) -> Reply {
        Reply(status: 200, contentType: "application/octet-stream", body: bytes)
    }

    /// A JSON document.
    static func json(_ object: Any, status: Int = 200) -> Reply {
        do {
            return Reply(
                status: status, contentType: "application/json",
                body: ByteBuffer(bytes: try ZarrMetadata.encode(object)))
        } catch {
            return .error(500, "could not encode the answer: \(error)")
        }
    }

    /// An error: `{"error": message, "status": status}`.
    public static func error(_ status: Int, _ message: String) -> Reply {
        let text = (try? ZarrMetadata.encode(["error": message, "status": status], pretty: false)) ?? []
        return Reply(status: status, contentType: "application/json", body: ByteBuffer(bytes: text))
    }
}

/// Why a request cannot be answered: the HTTP status and a message for the client.
struct ServeError: TomoStoreError {
    let status: Int
    let description: String
    init(_ status: Int, _ description: String) {
        self.status = status
        self.description = description
    }
}

/// A store as a Zarr v3 hierarchy (formats/zarr.md, "Served stores"): the root group lists the
/// datasets and corpora; each dataset is an OME-Zarr 0.5 image at its name (`/` in names nest
/// groups) with arrays "0" … for its pyramid levels; chunks are sent as stored when the stored
/// value already is a Zarr chunk, else padded and encoded once and kept (`ServedChunkCache`).
/// Chunks of derived datasets are computed when first asked for (once, however many ask at the
/// same moment) and stored; samples of corpora are generated when first asked for and stored as
/// the datasets `CORPUS/NNNNNN/tomogram`, `/grand-model` and `/labels`. Never writes anything else.
public final class ZarrService: Sendable {
    /// The store served.
    public let store: Store
    let workspace: Workspace
    let chunks: ServedChunkCache
    private let computing = SingleFlight<ServedChunkCache.Key>()
    private let generating = SingleFlight<String>()
    private let resolved = Locked<[String: ResolvedDataset]>([:])

    /// - Parameter cacheBytes: the budget for chunks kept as sent.
    public init(workspace: Workspace, cacheBytes: Int) {
        self.workspace = workspace
        store = workspace.store
        chunks = ServedChunkCache(capacity: cacheBytes)
    }

    /// A dataset opened for serving, with the catalog entries it was opened from (its own and those
    /// of every dataset it is derived from): while the store holds the same entries, it is current.
    final class ResolvedDataset: Sendable {
        let fingerprint: [(name: String, entry: [UInt8])]
        let info: DatasetInfo
        /// The stored dataset at each served level.
        let levels: [Dataset]
        /// The read-through view of a derived dataset (level 0 only).
        let derived: DerivedDataset?

        init(
            fingerprint: [(name: String, entry: [UInt8])], info: DatasetInfo, levels: [Dataset],
            derived: DerivedDataset?
        ) {
            self.fingerprint = fingerprint
            self.info = info
            self.levels = levels
            self.derived = derived
        }
    }

    // MARK: Answers

    /// The answer to a request for `path`: metadata, a chunk, or an error. May compute (derived
    /// chunks, corpus samples): call it off the event loop.
    public func reply(to path: ZarrPath) -> Reply {
        do {
            switch path {
            case .metadata(let parts): return try metadata(parts)
            case .chunk(let name, let level, let index): return try chunk(name, level: level, index: index)
            }
        } catch let error as ServeError {
            return .error(error.status, error.description)
        } catch StoreError.incomplete(let name) {
            return .error(404, "dataset \"\(name)\" is still being written")
        } catch {
            return .error(500, "\(error)")
        }
    }

    /// The answer for a chunk that is already sent as stored or kept: nil when answering needs more
    /// (computing, padding, a catalog change) — then `reply(to:)` answers. Cheap: one snapshot read.
    public func quickChunk(_ name: String, level: Int, index: Extent3) -> Reply? {
        guard let r = resolved.withLock({ $0[name] }), level < r.levels.count, r.derived?.isStale != true else {
            return nil
        }
        let dataset = r.levels[level]
        guard Self.isInside(index, dataset.grid) else { return nil }
        let key = ServedChunkCache.Key(dataset: name, level: level, index: index)
        return try? store.kv.read { txn -> Reply? in
            guard try isCurrent(r, txn), let value = try dataset.storedValue(index, in: txn) else { return nil }
            let identity = ZarrChunk.Identity(value)
            if let bytes = chunks.get(key, identity: identity) { return .chunk(bytes) }
            guard dataset.grid.box(of: index).shape == dataset.grid.chunk, let framing = try ZarrChunk.framing(value)
            else { return nil }
            let bytes = Self.buffer(framing)
            chunks.put(key, identity: identity, bytes: bytes)
            return .chunk(bytes)
        }
    }

    static func isInside(_ index: Extent3, _ grid: ChunkGrid) -> Bool {
        let c = grid.counts
        return index.x < c.x && index.y < c.y && index.z < c.z
    }

    static func buffer(_ framing: ZarrChunk.Framing) -> ByteBuffer {
        var bytes = ByteBufferAllocator().buffer(capacity: framing.prefix.count + framing.payload.count)
        bytes.writeBytes(framing.prefix)
        bytes.writeBytes(framing.payload)
        return bytes
    }

    private func chunk(_ name: String, level: Int, index: Extent3) throws -> Reply {
        guard let r = try resolveOrGenerate(name) else { throw ServeError(404, "no dataset \"\(name)\"") }
        guard level < r.levels.count else {
            throw ServeError(404, "dataset \"\(name)\" has \(r.levels.count) level(s); level \(level) is not served")
        }
        let dataset = r.levels[level]
        guard Self.isInside(index, dataset.grid) else {
            throw ServeError(404, "chunk \(index.z)/\(index.y)/\(index.x) is outside \"\(name)\" level \(level)")
        }
        let key = ServedChunkCache.Key(dataset: name, level: level, index: index)
        guard let derived = r.derived else {
            // Not stored: the chunk is all fill value, which Zarr reads from a missing key.
            guard let reply = try storedChunk(dataset, index, key) else {
                throw ServeError(404, "chunk not stored (all fill value)")
            }
            return reply
        }
        for _ in 0..<3 {
            if !derived.isStale, let reply = try storedChunk(dataset, index, key) { return reply }
            try computing.run(key) { try derived.materialize(dataset.grid.box(of: index)) }
        }
        throw ServeError(503, "chunk of \"\(name)\" was replaced while it was computed; ask again")
    }

    /// The stored chunk as sent, made (framed, or padded and encoded) and kept when it is not kept
    /// yet; nil when it is not stored. Reads one snapshot.
    private func storedChunk(_ dataset: Dataset, _ index: Extent3, _ key: ServedChunkCache.Key) throws -> Reply? {
        try store.kv.read { txn -> Reply? in
            guard let value = try dataset.storedValue(index, in: txn) else { return nil }
            let identity = ZarrChunk.Identity(value)
            if let bytes = chunks.get(key, identity: identity) { return .chunk(bytes) }
            let bytes = try zarrChunk(value, dataset: dataset, index: index)
            chunks.put(key, identity: identity, bytes: bytes)
            return .chunk(bytes)
        }
    }

    /// A stored value as a Zarr chunk: framed as it is when it covers a whole chunk, else decoded,
    /// padded with the fill value to the chunk shape and encoded with the dataset's chain.
    func zarrChunk(_ value: UnsafeRawBufferPointer, dataset: Dataset, index: Extent3) throws -> ByteBuffer {
        let grid = dataset.grid
        let extent = grid.box(of: index).shape
        do {
            if extent == grid.chunk, let framing = try ZarrChunk.framing(value) { return Self.buffer(framing) }
            let cut = try dataset.decode(value, index: index)
            var full = dataset.filled(grid.chunk)
            full.copyRegion(from: cut, sourceBox: Box3(shape: extent), destinationOrigin: Extent3(x: 0, y: 0, z: 0))
            let encoded = ScratchBuffer()
            try full.withUnsafeBytes { try dataset.codec(for: grid.chunk).encode($0, key: [], into: encoded) }
            if let framing = try ZarrChunk.framing(encoded.bytes) { return Self.buffer(framing) }
            let raw = full.withUnsafeBytes { ZarrChunk.uncompressedBlosc($0, typesize: dataset.dtype.byteCount) }
            return ByteBuffer(bytes: raw)
        } catch let error as ChunkCorruption {
            throw StoreError.corruptChunk(name: dataset.name, chunk: index, reason: error.description)
        }
    }

    // MARK: Datasets

    /// True when the store still holds the catalog entries `r` was opened from.
    private func isCurrent(_ r: ResolvedDataset, _ txn: any KVReadTransaction) throws -> Bool {
        for (name, entry) in r.fingerprint {
            guard let now = try store.catalogEntryBytes(named: name, in: txn), now.elementsEqual(entry) else {
                return false
            }
        }
        return true
    }

    /// The dataset `name` opened for serving (reopened when its entry or an input's changed); nil
    /// when the store has no such dataset.
    func resolve(_ name: String) throws -> ResolvedDataset? {
        if let r = resolved.withLock({ $0[name] }), try store.kv.read({ try isCurrent(r, $0) }) { return r }
        // The entries are read before the dataset is opened: a change in between makes the next
        // request open it again, never serve a newer dataset as if it were the older one.
        guard let names = try lineage(name) else { return nil }
        let fingerprint = try store.kv.read { txn in
            try names.map { n in
                (name: n, entry: Array(try store.catalogEntryBytes(named: n, in: txn) ?? .init(start: nil, count: 0)))
            }
        }
        let source = try workspace.open(name)
        let r: ResolvedDataset
        if let derived = source as? DerivedDataset, let dataset = derived.dataset {
            r = ResolvedDataset(fingerprint: fingerprint, info: dataset.info, levels: [dataset], derived: derived)
        } else if let dataset = source as? Dataset {
            let levels = try (0..<max(1, dataset.info.levels ?? 1)).map { try dataset.atLevel($0) }
            r = ResolvedDataset(fingerprint: fingerprint, info: dataset.info, levels: levels, derived: nil)
        } else {
            return nil
        }
        resolved.withLock { $0[name] = r }
        return r
    }

    /// `name` and every dataset it is derived from, directly or not; nil when `name` is not stored.
    private func lineage(_ name: String) throws -> [String]? {
        var names: [String] = []
        var queue = [name]
        while let next = queue.popLast() {
            guard !names.contains(next) else { continue }
            let info: DatasetInfo
            do {
                info = try store.info(named: next)
            } catch StoreError.unknownDataset {
                if next == name { return nil }
                throw ServeError(404, "\"\(name)\" is derived from \"\(next)\", which is not in the store")
            }
            names.append(next)
            queue += info.derivation?.inputs ?? []
        }
        return names
    }

    /// Like `resolve`, but a missing corpus sample dataset (`CORPUS/NNNNNN/tomogram` …) is generated
    /// and stored first.
    private func resolveOrGenerate(_ name: String) throws -> ResolvedDataset? {
        if let r = try resolve(name) { return r }
        guard let (recipe, index) = try corpusSample(of: name) else { return nil }
        let prefix = Corpus.samplePrefix(recipe, index)
        try generating.run(prefix) {
            if try resolve(name) == nil { _ = try Corpus.cachedSample(index, of: recipe, store: store, cache: true) }
        }
        return try resolve(name)
    }

    /// The corpus and sample index a name `CORPUS/NNNNNN/ARRAY` stands for.
    private func corpusSample(of name: String) throws -> (CorpusRecipe, Int)? {
        var parts = name.split(separator: "/").map(String.init)
        guard parts.count >= 3, Self.sampleArrays.contains(parts.removeLast()),
            let (recipe, i) = try corpusSamplePrefix(parts)
        else { return nil }
        return (recipe, i)
    }

    /// The arrays of a corpus sample.
    static let sampleArrays = ["tomogram", "grand-model", "labels"]

    /// The corpus and sample index of path components `CORPUS… NNNNNN`.
    private func corpusSamplePrefix(_ parts: [String]) throws -> (CorpusRecipe, Int)? {
        guard parts.count >= 2, let last = parts.last, last.utf8.count == 6, let i = ZarrPath.number(last),
            let recipe = try corpus(parts.dropLast().joined(separator: "/")), i < recipe.samples
        else { return nil }
        return (recipe, i)
    }

    /// The recipe of a corpus, nil when there is none of that name.
    private func corpus(_ name: String) throws -> CorpusRecipe? { try Corpus.recipeIfPresent(name, in: store) }

    // MARK: Metadata

    private func metadata(_ parts: [String]) throws -> Reply {
        if parts.isEmpty { return .json(try root()) }
        let name = parts.joined(separator: "/")
        if let r = try resolveOrGenerate(name) {
            return .json(
                ZarrMetadata.group(attributes: [
                    "ome": ZarrMetadata.omeImage(r.info, levels: r.levels.count),
                    "tomostore": Self.summary(r.info, levels: r.levels.count),
                ]))
        }
        if parts.count > 1, let level = ZarrPath.number(parts.last!),
            let r = try resolveOrGenerate(parts.dropLast().joined(separator: "/")), level < r.levels.count
        {
            let dataset = r.levels[level]
            let chain = try r.info.codecChain()
            return .json(
                ZarrMetadata.array(
                    shape: dataset.grid.shape, chunk: dataset.grid.chunk, dtype: dataset.dtype,
                    fillValue: r.info.fillValue, codecs: chain.zarrCodecs(dtype: dataset.dtype)))
        }
        if let recipe = try corpus(name) {
            return .json(ZarrMetadata.group(attributes: ["tomostore": try Self.corpusSummary(recipe)]))
        }
        if let (recipe, i) = try corpusSamplePrefix(parts) {
            let sample: [String: Any] = ["corpus": recipe.name, "sample": i, "arrays": Self.sampleArrays]
            return .json(ZarrMetadata.group(attributes: ["tomostore": sample]))
        }
        if try hasDatasets(under: name) { return .json(ZarrMetadata.group()) }
        throw ServeError(404, "no dataset, corpus or group \"\(name)\" in the store")
    }

    /// True when some dataset's name starts with `prefix/`.
    private func hasDatasets(under prefix: String) throws -> Bool {
        var found = false
        try store.kv.read { txn in
            try txn.scan(.names, prefix: Array((prefix + "/").utf8)) { _, _ in
                found = true
                return false
            }
        }
        return found
    }

    /// The root group: `tomostore` attributes list the datasets and the corpora.
    private func root() throws -> [String: Any] {
        let datasets = try store.datasets().filter(\.complete).map { info -> [String: Any] in
            Self.summary(info, levels: info.kind == .derived ? 1 : max(1, info.levels ?? 1))
        }
        let corpora = try Corpus.recipes(in: store).map { try Self.corpusSummary($0) }
        return ZarrMetadata.group(attributes: [
            "tomostore": ["datasets": datasets, "corpora": corpora, "version": TomoStoreVersion.string]
        ])
    }

    /// What the root and image groups say of a dataset (shape z, y, x; voxel size in Å, z, y, x).
    static func summary(_ info: DatasetInfo, levels: Int) -> [String: Any] {
        let e = info.extent
        var s: [String: Any] = [
            "name": info.name, "kind": info.kind.rawValue, "dtype": info.dtype.rawValue, "shape": [e.z, e.y, e.x],
            "voxel_size": [info.voxelSize[2], info.voxelSize[1], info.voxelSize[0]], "levels": levels,
        ]
        if let c = info.contrast { s["contrast"] = c.rawValue }
        if let d = info.derivation { s["derivation"] = ["op": d.op, "inputs": d.inputs] }
        return s
    }

    /// A corpus's recipe (as `corpus info --json` prints it) with its name and sample count.
    static func corpusSummary(_ recipe: CorpusRecipe) throws -> [String: Any] {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        let object = try JSONSerialization.jsonObject(with: try encoder.encode(recipe))
        return ["corpus": object, "name": recipe.name, "samples": recipe.samples, "arrays": sampleArrays]
    }
}
