import Codecs
import Foundation
import KV
import Voxels

/// One dataset of a store: a 3D array ([z][y][x], x fastest) cut into chunks on a regular grid.
/// Reads and writes any box; chunks are decoded and encoded on all cores. Safe to share between
/// threads: the catalog entry it holds changes only under its lock.
public final class Dataset: Sendable {
    /// The store holding the dataset.
    public let store: Store
    /// The chunk grid.
    public let grid: ChunkGrid
    /// The pyramid level this object reads and writes (0: full resolution).
    public let level: UInt8
    /// The fill value's bytes in the dataset's dtype.
    let fillBytes: [UInt8]
    /// The catalog id (never changes: a re-created dataset gets a new id).
    let id: UInt32
    /// Voxel type.
    public let dtype: DType
    /// The name.
    public let name: String
    private let chain: CodecChain
    private let state: Locked<DatasetInfo>
    /// Codecs prepared per chunk extent (interior chunks share one; edge chunks add a few).
    private let prepared = Locked<[Extent3: PreparedChunkCodec]>([:])

    init(store: Store, info: DatasetInfo, level: UInt8 = 0) throws {
        self.store = store
        self.level = level
        state = Locked(info)
        id = info.id
        dtype = info.dtype
        name = info.name
        grid = info.grid(level: Int(level))
        chain = try info.codecChain()
        fillBytes = VoxelScalarDispatch.bytes(of: info.fillValue, as: info.dtype)
    }

    /// The catalog entry as of opening, or of the last change made through this object.
    public var info: DatasetInfo { state.withLock { $0 } }

    /// The same dataset at pyramid level l (reduced 2^l times); `tomostore pyramid` fills it.
    public func atLevel(_ l: Int) throws -> Dataset {
        let info = self.info
        guard l >= 0 && l < max(1, info.levels ?? 1) else {
            throw StoreError.noSuchLevel(name: info.name, level: l, levels: info.levels ?? 1)
        }
        return l == 0 && level == 0 ? self : try Dataset(store: store, info: info, level: UInt8(l))
    }

    /// The chunks among `indices` that have no stored value.
    public func missingChunks(_ indices: [Extent3]) throws -> [Extent3] {
        try store.kv.read { txn in try indices.filter { try txn.get(.chunks, key($0).bytes) == nil } }
    }

    /// The key of a chunk.
    func key(_ index: Extent3) -> ChunkKey { ChunkKey(dataset: id, level: level, index: index) }

    /// True when a chunk without a stored value is damage rather than fill: the dataset stores every
    /// chunk (`allChunksStored`) and this level is complete.
    var missingIsDamage: Bool {
        let info = self.info
        return info.allChunksStored == true && info.complete && Int(level) < max(1, info.levels ?? 1)
    }

    /// The error for a chunk whose stored value is missing from a dataset that stores every chunk.
    func missingChunk(_ index: Extent3) -> StoreError {
        .corruptChunk(
            name: name, chunk: index,
            reason: "it is missing (this dataset stores every chunk); run `tomostore verify` and restore the store "
                + "from a copy, or ingest the dataset again")
    }

    /// Throws `StoreError.changed` unless the dataset's catalog entry is still in the store, seen from
    /// `txn`: reads that span several transactions call it in each, so a dataset removed (or removed
    /// and made again, which gives a new id) between two of them is never read as a mix.
    func checkStillStored(in txn: any KVReadTransaction) throws {
        guard try txn.get(.catalog, ChunkKey.bigEndian(id)) != nil else {
            throw StoreError.changed(name: name, reason: "it was removed while it was being read")
        }
    }

    /// The stored value of a chunk (header and payload, formats/store.md), nil when none is stored
    /// (the chunk reads as the fill value); valid until `txn` ends.
    public func storedValue(_ index: Extent3, in txn: any KVReadTransaction) throws -> UnsafeRawBufferPointer? {
        try txn.get(.chunks, key(index).bytes)
    }

    /// The codec prepared for a chunk of this extent (x, y, z voxels).
    public func codec(for extent: Extent3) throws -> PreparedChunkCodec {
        if let codec = prepared.withLock({ $0[extent] }) { return codec }
        let codec = try PreparedChunkCodec(chain, dtype: dtype, extent: extent, contexts: store.codecContexts)
        prepared.withLock { $0[extent] = codec }
        return codec
    }

    /// A volume of `extent` voxels filled with the fill value.
    public func filled(_ extent: Extent3) -> Volume {
        Volume(shape: extent, dtype: dtype, repeating: fillBytes)
    }

    /// True when every voxel of `raw` equals its first (period-`width` bytes: memcmp of the buffer
    /// with itself shifted by one voxel).
    func isConstant(_ raw: UnsafeRawBufferPointer) -> Bool {
        let width = dtype.byteCount
        guard raw.count > width else { return true }
        return memcmp(raw.baseAddress!, raw.baseAddress! + width, raw.count - width) == 0
    }

    /// True when every voxel of `raw` equals the fill value (such chunks are not stored).
    func isFill(_ raw: UnsafeRawBufferPointer) -> Bool {
        let pattern = fillBytes
        if pattern.allSatisfy({ $0 == 0 }) {
            // Word-at-a-time scan for the common zero fill.
            let words = raw.count / 8
            let w = raw.baseAddress!.assumingMemoryBound(to: UInt64.self)
            var acc: UInt64 = 0
            for i in 0..<words { acc |= w[i] }
            if acc != 0 { return false }
            for i in (words * 8)..<raw.count where raw[i] != 0 { return false }
            return true
        }
        let width = pattern.count
        for i in 0..<raw.count where raw[i] != pattern[i % width] { return false }
        return true
    }

    // MARK: Reading

    /// Reads a box (half-open voxel ranges in x, y, z) as a volume of the dataset's dtype. Chunks
    /// not stored read as the fill value. All chunks come from one snapshot of the store.
    /// - Parameter cached: use (and fill) the store's decoded-chunk cache.
    /// - Throws: `StoreError.boxOutOfBounds`, `StoreError.corruptChunk` (checksum, header or codec
    ///   failure, naming the chunk), key-value store errors.
    public func read(_ box: Box3, cached: Bool) throws -> Volume {
        guard box.isInside(shape) else { throw StoreError.boxOutOfBounds(name: name, box: box, shape: shape) }
        var out = Volume(shape: box.shape, dtype: dtype)
        if box.isEmpty { return out }
        let outPointer = out.withUnsafeMutableBytes { $0.baseAddress! }  // regions are disjoint
        try read(box, into: outPointer, cached: cached)
        return out
    }

    /// Reads the parts of `chunks` (indices) that overlap `box` into `volume`, which covers `box` in
    /// the dataset's dtype; the rest of `volume` is left as it is. All from one snapshot.
    public func read(_ box: Box3, chunks: [Extent3], into volume: inout Volume, cached: Bool = true) throws {
        precondition(volume.shape == box.shape && volume.dtype == dtype, "volume does not cover the box")
        guard box.isInside(shape) else { throw StoreError.boxOutOfBounds(name: name, box: box, shape: shape) }
        let outPointer = volume.withUnsafeMutableBytes { $0.baseAddress! }
        try read(box, chunks: chunks, into: outPointer, cached: cached)
    }

    /// Reads `box` into `out`, a volume covering `box` in the dataset's dtype.
    func read(_ box: Box3, into outPointer: UnsafeMutableRawPointer, cached: Bool) throws {
        try read(box, chunks: grid.chunks(intersecting: box), into: outPointer, cached: cached)
    }

    private func read(_ box: Box3, chunks: [Extent3], into outPointer: UnsafeMutableRawPointer, cached: Bool) throws {
        let useCache = cached && store.cache.capacity > 0
        if useCache { store.cache.validate(transaction: store.kv.lastCommitID) }
        let width = dtype.byteCount
        var pending: [Extent3] = []
        for index in chunks {
            if useCache, let chunk = store.cache.get(key(index)) {
                Self.copyRegion(chunk, chunkBox: grid.box(of: index), into: outPointer, box: box, width: width)
            } else {
                pending.append(index)
            }
        }
        if pending.isEmpty { return }
        let damage = missingIsDamage
        try store.kv.read { txn in
            try checkStillStored(in: txn)
            // Look values up on this thread (a transaction is single-threaded); decode in parallel
            // straight from the map, which stays valid while the transaction is open.
            let values = try pending.map { try txn.get(.chunks, key($0).bytes) }
            if damage, let i = values.firstIndex(where: { $0 == nil }) { throw missingChunk(pending[i]) }
            let fillPattern = fillBytes
            try Parallel.forEach(pending.count) { i in
                let index = pending[i]
                let chunkBox = grid.box(of: index)
                guard let value = values[i] else {
                    Self.fillRegion(chunkBox.intersection(box)!, of: box, with: fillPattern, into: outPointer)
                    return
                }
                if useCache {
                    let chunk = try decode(value, index: index)
                    Self.copyRegion(chunk, chunkBox: chunkBox, into: outPointer, box: box, width: width)
                    store.cache.put(key(index), chunk)
                } else {
                    do {
                        try codec(for: chunkBox.shape).decodeRegion(
                            value, key: key(index).bytes, chunkBox: chunkBox, box: box, into: outPointer)
                    } catch let error as ChunkCorruption {
                        throw StoreError.corruptChunk(name: name, chunk: index, reason: error.description)
                    }
                }
            }
        }
    }

    /// Reads one whole chunk (edge-cut), fill where not stored.
    public func readChunk(_ index: Extent3) throws -> Volume {
        try read(grid.box(of: index))
    }

    /// Decodes the stored value of chunk `index` (as `storedValue` gives it; nil: a filled chunk, or
    /// `StoreError.corruptChunk` when the dataset stores every chunk), checked against its checksum.
    /// - Parameter checksum: for values written before format version 2, also recompute the XXH64 of
    ///   the voxel bytes (zstd checks its own).
    public func decode(_ value: UnsafeRawBufferPointer?, index: Extent3, checksum: Bool = false) throws -> Volume {
        let extent = grid.box(of: index).shape
        guard let value else {
            if missingIsDamage { throw missingChunk(index) }
            return filled(extent)
        }
        var chunk = Volume(shape: extent, dtype: dtype)
        do {
            let codec = try codec(for: extent)
            let k = key(index).bytes
            try chunk.withUnsafeMutableBytes { dst in try codec.decode(value, key: k, into: dst, checksum: checksum) }
        } catch let error as ChunkCorruption {
            throw StoreError.corruptChunk(name: name, chunk: index, reason: error.description)
        }
        return chunk
    }

    /// Fills the part `region` of an output volume covering `box` with a repeated byte pattern.
    static func fillRegion(_ region: Box3, of box: Box3, with pattern: [UInt8], into out: UnsafeMutableRawPointer) {
        let width = pattern.count
        let zero = pattern.allSatisfy { $0 == 0 }
        region.forEachRow(within: region, into: box) { _, start, count in
            if zero {
                (out + start * width).initializeMemory(as: UInt8.self, repeating: 0, count: count * width)
            } else {
                for i in 0..<(count * width) {
                    out.storeBytes(of: pattern[i % width], toByteOffset: start * width + i, as: UInt8.self)
                }
            }
        }
    }

    /// Copies the overlap of a chunk (covering `chunkBox`) into an output volume covering `box`.
    public static func copyRegion(
        _ chunk: Volume, chunkBox: Box3, into out: UnsafeMutableRawPointer, box: Box3, width: Int
    ) {
        guard let overlap = chunkBox.intersection(box) else { return }
        chunk.withUnsafeBytes { src in
            overlap.forEachRow(within: chunkBox, into: box) { from, to, count in
                (out + to * width).copyMemory(from: src.baseAddress! + from * width, byteCount: count * width)
            }
        }
    }

    // MARK: Writing

    /// Chunks encoded and ready to commit (see `prepare` and `commit`).
    public struct PreparedChunks: Sendable {
        fileprivate var items: [(index: Extent3, value: ScratchBuffer?)]
        /// Number of chunks.
        public var count: Int { items.count }
        /// Total encoded bytes.
        public var encodedBytes: Int { items.reduce(0) { $0 + ($1.value?.count ?? 0) } }
        /// No chunks (a commit that only updates the catalog entry).
        public static let none = PreparedChunks(items: [])
    }

    /// Encodes whole chunks (each volume exactly its chunk's extent, in the dataset's dtype) on all
    /// cores, then stores them — chunks equal to the fill value are deleted instead — together with
    /// an update of the catalog entry, in one durable transaction.
    public func storeChunks(
        _ chunks: [(index: Extent3, volume: Volume)], update: ((inout DatasetInfo) throws -> Void)? = nil
    ) throws {
        try commit(try prepare(chunks), update: update)
    }

    /// Encodes whole chunks on all cores (no transaction is open meanwhile); chunks of one repeated
    /// voxel become 40-byte constant values. Chunks equal to the fill value are marked for deletion
    /// unless `keepFill` or the dataset stores every chunk.
    public func prepare(_ chunks: [(index: Extent3, volume: Volume)], keepFill: Bool = false) throws -> PreparedChunks {
        let dropFill = !keepFill && info.allChunksStored != true
        for (index, volume) in chunks {
            guard grid.contains(index), volume.shape == grid.box(of: index).shape, volume.dtype == dtype else {
                throw StoreError.chunkMismatch(name: name, chunk: index, shape: volume.shape, dtype: volume.dtype)
            }
        }
        let values = try Parallel.map(chunks.count) { i -> ScratchBuffer? in
            let v = chunks[i].volume
            let out = ScratchBuffer()
            let codec = try codec(for: v.shape)
            let k = key(chunks[i].index).bytes
            try v.withUnsafeBytes { raw in
                if isConstant(raw) {
                    if dropFill && isFill(raw) { return }
                    codec.encodeConstant(
                        UnsafeRawBufferPointer(rebasing: raw.prefix(dtype.byteCount)), key: k, into: out)
                } else {
                    try codec.encode(raw, key: k, into: out)
                }
            }
            return out.count == 0 ? nil : out
        }
        return PreparedChunks(items: zip(chunks, values).map { ($0.index, $1) })
    }

    /// Stored values of the same chunks of `source` (a dataset of the same grid and dtype, e.g. in
    /// another store; values as `storedValue` gives them) ready to commit here without re-encoding:
    /// each is checked first — its header against the grid and dtype, its checksum against the
    /// source's key — and its checksum sealed anew for this dataset's key, so a corrupt value is
    /// refused (`StoreError.corruptChunk`).
    public func prepareStored(_ values: [(index: Extent3, value: [UInt8])], from source: Dataset) throws
        -> PreparedChunks
    {
        for (index, _) in values where !grid.contains(index) {
            throw StoreError.corruptChunk(name: name, chunk: index, reason: "index outside the grid")
        }
        let items = try Parallel.map(values.count) { i -> (index: Extent3, value: ScratchBuffer?) in
            let (index, value) = values[i]
            let out = ScratchBuffer(capacity: value.count)
            do {
                try value.withUnsafeBytes { raw in
                    try codec(for: grid.box(of: index).shape).rekeyed(
                        raw, from: source.key(index).bytes, to: key(index).bytes, into: out)
                }
            } catch let error as ChunkCorruption {
                throw StoreError.corruptChunk(name: name, chunk: index, reason: error.description)
            }
            return (index, out)
        }
        return PreparedChunks(items: items)
    }

    /// Stores prepared chunks (deleting fill chunks) and applies `update` to the catalog entry, in one
    /// durable transaction. The entry is re-read inside the transaction, so concurrent catalog
    /// changes are kept; `update` may throw to abandon the whole transaction (e.g. when the entry
    /// no longer is what the chunks were computed for).
    /// - Parameter replacingAll: first delete every stored chunk of this level.
    public func commit(
        _ prepared: PreparedChunks, replacingAll: Bool = false, update: ((inout DatasetInfo) throws -> Void)? = nil
    ) throws {
        if let update {
            try commit(prepared, replacingAll: replacingAll) { info, _ in try update(&info) }
        } else {
            try commit(prepared, replacingAll: replacingAll, checking: nil)
        }
    }

    /// Like `commit(_:replacingAll:update:)`, with `checking` also given the catalog as it is inside
    /// the transaction (e.g. to check that the entries the chunks were computed from are unchanged).
    public func commit(
        _ prepared: PreparedChunks, replacingAll: Bool = false,
        checking: ((inout DatasetInfo, CatalogView) throws -> Void)?
    ) throws {
        let update = checking
        let id = info.id
        let name = self.name
        let updated: DatasetInfo? = try store.kv.write { txn in
            if replacingAll { try txn.deleteAll(.chunks, prefix: ChunkKey.prefix(dataset: id, level: level)) }
            try put(prepared, in: txn)
            guard let update else { return nil }
            guard var current = try store.info(named: name, in: txn), current.id == id else {
                throw StoreError.changed(name: name, reason: "it was removed while it was being written")
            }
            try update(&current, CatalogView(store: store, txn: txn))
            try store.put(current, in: txn)
            return current
        }
        if let updated { state.withLock { $0 = updated } }
    }

    /// Writes prepared chunks (deleting those marked for deletion) inside a write transaction.
    func put(_ prepared: PreparedChunks, in txn: any KVWriteTransaction) throws {
        for (index, value) in prepared.items {
            let k = key(index).bytes
            if let value {
                try txn.putReserved(.chunks, k, count: value.count) {
                    $0.baseAddress!.copyMemory(from: value.pointer, byteCount: value.count)
                }
            } else {
                try txn.delete(.chunks, k)
            }
        }
    }

    /// Marks a dataset being written as complete, recording its statistics (computed from the stored
    /// chunks when not given), in one transaction.
    public func markComplete(statistics: VoxelStatistics? = nil) throws {
        var stats = statistics ?? VoxelStatistics()
        if statistics == nil { try forEachChunk { _, chunk in stats.add(chunk) } }
        let final = stats
        try commit(try constantFillForMissingChunks()) { info in
            info.complete = true
            info.progress = nil
            info.stats = DatasetStatistics(final)
        }
    }

    /// Constant fill values for every chunk of the grid not stored yet, when the dataset stores
    /// every chunk (so that, complete, a missing key is damage); none otherwise.
    public func constantFillForMissingChunks() throws -> PreparedChunks {
        guard info.allChunksStored == true else { return .none }
        let stored = Set(try storedChunks().map(\.index))
        var items: [(index: Extent3, value: ScratchBuffer?)] = []
        for index in grid.allChunks where !stored.contains(index) {
            let out = ScratchBuffer()
            try fillBytes.withUnsafeBytes { voxel in
                try codec(for: grid.box(of: index).shape).encodeConstant(voxel, key: key(index).bytes, into: out)
            }
            items.append((index, out))
        }
        return PreparedChunks(items: items)
    }

    /// Applies `update` to the catalog entry in one transaction.
    public func updateInfo(_ update: (inout DatasetInfo) throws -> Void) throws {
        try withoutActuallyEscaping(update) { try commit(.none, update: $0) }
    }

    /// Writes a volume into the dataset with its (0, 0, 0) voxel at `origin`; chunks the box covers
    /// partly are read, merged and re-encoded. One durable transaction.
    public func write(_ volume: Volume, at origin: Extent3) throws {
        guard volume.dtype == dtype else { throw StoreError.wrongDType(name: name, expected: dtype, got: volume.dtype) }
        let box = Box3(shape: volume.shape).translated(by: origin)
        guard box.isInside(shape) else { throw StoreError.boxOutOfBounds(name: name, box: box, shape: shape) }
        if box.isEmpty { return }
        var chunks: [(index: Extent3, volume: Volume)] = []
        for index in grid.chunks(intersecting: box) {
            let chunkBox = grid.box(of: index)
            let overlap = chunkBox.intersection(box)!
            var chunk =
                overlap == chunkBox ? Volume(shape: chunkBox.shape, dtype: dtype) : try read(chunkBox, cached: false)
            chunk.copyRegion(
                from: volume, sourceBox: overlap.relative(to: origin), destinationOrigin: overlap.lower - chunkBox.lower
            )
            chunks.append((index, chunk))
        }
        try storeChunks(chunks)
    }

    /// Stores a named blob (e.g. "mrc.extended_header") with the dataset, in its own transaction.
    public func putBlob(_ blobName: String, _ bytes: [UInt8]) throws {
        try store.kv.write { txn in try store.putBlob(dataset: id, name: blobName, bytes, in: txn) }
    }

    // MARK: Iteration

    /// Calls `body` with every chunk in (z, y, x) order, decoded: all chunks of the grid (absent ones
    /// as fill), or only the stored ones. Decodes a batch of chunks at a time on all cores, so memory
    /// stays bounded by the batch.
    public func forEachChunk(storedOnly: Bool = false, batch: Int = 16, _ body: (Extent3, Volume) throws -> Void) throws
    {
        let indices = storedOnly ? try storedChunks().map(\.index) : grid.allChunks
        var start = 0
        while start < indices.count {
            let part = Array(indices[start..<min(indices.count, start + batch)])
            let chunks: [Volume] = try store.kv.read { txn in
                try checkStillStored(in: txn)
                let values = try part.map { try txn.get(.chunks, key($0).bytes) }
                return try Parallel.map(part.count) { i in try decode(values[i], index: part[i]) }
            }
            for (index, chunk) in zip(part, chunks) { try body(index, chunk) }
            start += batch
        }
    }

    // MARK: Inventory

    /// Stored chunks and their encoded sizes, in key order.
    public func storedChunks() throws -> [(index: Extent3, bytes: Int)] {
        let prefix = ChunkKey.prefix(dataset: id, level: level)
        return try store.kv.read { txn in
            var out: [(Extent3, Int)] = []
            try txn.scan(.chunks, prefix: prefix) { k, v in
                if let key = ChunkKey(k) { out.append((key.index, v.count)) }
                return true
            }
            return out
        }
    }

    /// Number of stored chunks, their total encoded bytes, and the raw bytes of the whole volume.
    public func storageSummary() throws -> (storedChunks: Int, storedBytes: Int, rawBytes: Int) {
        let chunks = try storedChunks()
        return (chunks.count, chunks.reduce(0) { $0 + $1.bytes }, shape.count * dtype.byteCount)
    }
}

/// The catalog as a write transaction sees it, for checks made while committing.
public struct CatalogView {
    let store: Store
    let txn: any KVWriteTransaction

    /// The entry of a dataset, or nil when there is none.
    public func info(named name: String) throws -> DatasetInfo? { try store.info(named: name, in: txn) }
}
