import Foundation
import Voxels

/// One dataset of a store: a 3D array ([z][y][x], x fastest) cut into chunks on a regular grid.
/// Reads and writes any box; chunks are decoded and encoded on all cores.
public final class Dataset: @unchecked Sendable {
    /// The store holding the dataset.
    public let store: Store
    /// The catalog entry as of opening (or the last change made through this object).
    public internal(set) var info: DatasetInfo
    /// The chunk grid.
    public let grid: ChunkGrid

    /// The pyramid level this object reads and writes (0: full resolution).
    public let level: UInt8

    init(store: Store, info: DatasetInfo, level: UInt8 = 0) {
        self.store = store
        self.info = info
        self.level = level
        grid = info.grid(level: Int(level))
    }

    /// The same dataset at pyramid level l (reduced 2^l times); `tomostore pyramid` fills it.
    public func atLevel(_ l: Int) throws -> Dataset {
        guard l >= 0 && l < max(1, info.levels ?? 1) else {
            throw StoreError.invalidArgument("dataset \"\(name)\" has \(info.levels ?? 1) level(s); level \(l) does not exist (build them with `tomostore pyramid`)")
        }
        return l == 0 && level == 0 ? self : Dataset(store: store, info: info, level: UInt8(l))
    }

    /// Computes missing chunks of a derived dataset (nil for stored datasets).
    private lazy var materializer: Result<ChunkMaterializer?, Error> = {
        guard info.kind == .derived, info.derivation != nil else { return .success(nil) }
        guard let factory = Store.materializerFactory else {
            return .failure(StoreError.invalidArgument("dataset \"\(name)\" is derived; reading it needs the Operators module to compute its chunks"))
        }
        return Result { try factory(self) }
    }()

    /// For derived datasets: computes and stores every chunk intersecting `box` that is not stored yet.
    public func materialize(_ box: Box3, progress: ((Int, Int) -> Void)? = nil) throws {
        guard let m = try materializer.get() else { return }
        let missing = try missingChunks(grid.chunks(intersecting: box))
        if !missing.isEmpty { try m.materialize(self, chunks: missing, progress: progress) }
    }

    /// The chunks among `indices` that have no stored value.
    public func missingChunks(_ indices: [Extent3]) throws -> [Extent3] {
        try store.environment.read { txn in
            let db = try txn.database(Store.DB.chunks)
            return try indices.filter { try txn.get(db, key($0).bytes) == nil }
        }
    }

    /// Deletes every stored chunk (derived datasets whose inputs or definition changed) and applies
    /// `update` to the catalog entry, in one transaction.
    public func dropChunks(update: @escaping (inout DatasetInfo) -> Void) throws {
        var updated = info
        try store.environment.write { txn in
            try txn.deleteAll(try txn.database(Store.DB.chunks), prefix: ChunkKey.prefix(dataset: info.id))
            guard let current = try store.info(named: name, in: txn) else { throw StoreError.unknownDataset(name: name, available: []) }
            updated = current
            update(&updated)
            try store.put(updated, in: txn)
        }
        info = updated
    }

    /// Volume size along x, y, z.
    public var shape: Extent3 { grid.shape }
    /// Voxel type.
    public var dtype: DType { info.dtype }
    /// The name.
    public var name: String { info.name }

    /// The key of a chunk.
    func key(_ index: Extent3) -> ChunkKey { ChunkKey(dataset: info.id, level: level, index: index) }

    /// A chunk-sized volume (edge-cut) filled with the fill value.
    func filled(_ extent: Extent3) -> Volume {
        var v = Volume(shape: extent, dtype: dtype)
        fill(&v)
        return v
    }

    /// The fill value's bytes in the dataset's dtype.
    lazy var fillBytes: [UInt8] = {
        VoxelScalarDispatch.bytes(of: info.fillValue, as: dtype)
    }()

    private func fill(_ v: inout Volume) {
        let pattern = fillBytes
        if pattern.allSatisfy({ $0 == 0 }) { return }  // new volumes are zeroed
        let width = pattern.count
        v.withUnsafeMutableBytes { raw in
            for i in 0..<(raw.count / width) { for j in 0..<width { raw[i * width + j] = pattern[j] } }
        }
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
    /// not stored read as the fill value.
    /// - Parameter cached: use (and fill) the store's decoded-chunk cache.
    /// - Throws: `StoreError.boxOutOfBounds`, `StoreError.corruptChunk` (checksum, header or codec
    ///   failure, naming the chunk), LMDB errors.
    public func read(_ box: Box3, cached: Bool = true) throws -> Volume {
        guard box.isInside(shape) else { throw StoreError.boxOutOfBounds(name: name, box: box, shape: shape) }
        var out = Volume(shape: box.shape, dtype: dtype)
        if box.isEmpty { return out }
        if info.kind == .derived && level == 0 { try materialize(box) }
        let useCache = cached && store.cache.capacity > 0
        if useCache { store.cache.validate(transaction: store.environment.lastTransactionID) }
        let indices = grid.chunks(intersecting: box)
        var pending: [Extent3] = []
        for index in indices {
            if useCache, let chunk = store.cache.get(key(index)) {
                copy(chunk, chunkIndex: index, into: &out, box: box)
            } else {
                pending.append(index)
            }
        }
        if pending.isEmpty { return out }
        try store.environment.read { txn in
            let db = try txn.database(Store.DB.chunks)
            // Look values up on this thread (a transaction is single-threaded); decode in parallel
            // straight from the map, which stays valid while the transaction is open.
            let values = try pending.map { try txn.get(db, key($0).bytes) }
            let outPointer = out.withUnsafeMutableBytes { $0.baseAddress! }  // regions are disjoint
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
                    Self.copyRegion(chunk, chunkBox: chunkBox, into: outPointer, box: box, width: dtype.byteCount)
                    store.cache.put(key(index), chunk)
                } else {
                    do {
                        try store.decoders.with { try $0.decodeRegion(value, dtype: dtype, chunkBox: chunkBox, box: box, into: outPointer) }
                    } catch let error as ChunkCorruption {
                        throw StoreError.corruptChunk(name: name, chunk: index, reason: error.description)
                    }
                }
            }
        }
        return out
    }

    /// Reads one whole chunk (edge-cut), fill where not stored.
    public func readChunk(_ index: Extent3) throws -> Volume {
        try read(grid.box(of: index))
    }

    /// Decodes a stored value (or makes a filled chunk when absent).
    /// - Parameter checksum: also recompute the XXH64 of the voxel bytes (zstd checks its own).
    func decode(_ value: UnsafeRawBufferPointer?, index: Extent3, checksum: Bool = false) throws -> Volume {
        let extent = grid.box(of: index).shape
        guard let value else { return filled(extent) }
        var chunk = Volume(shape: extent, dtype: dtype)
        do {
            try chunk.withUnsafeMutableBytes { dst in
                try store.decoders.with { try $0.decode(value, dtype: dtype, extent: extent, into: dst, checksum: checksum) }
            }
        } catch let error as ChunkCorruption {
            throw StoreError.corruptChunk(name: name, chunk: index, reason: error.description)
        }
        return chunk
    }

    /// Fills the part `region` of an output volume covering `box` with a repeated byte pattern.
    static func fillRegion(_ region: Box3, of box: Box3, with pattern: [UInt8], into out: UnsafeMutableRawPointer) {
        let width = pattern.count, bs = box.shape
        let zero = pattern.allSatisfy { $0 == 0 }
        for z in region.zRange {
            for y in region.yRange {
                let start = (((z - box.lower.z) * bs.y + (y - box.lower.y)) * bs.x + (region.lower.x - box.lower.x)) * width
                if zero {
                    (out + start).initializeMemory(as: UInt8.self, repeating: 0, count: region.shape.x * width)
                } else {
                    for i in 0..<(region.shape.x * width) { out.storeBytes(of: pattern[i % width], toByteOffset: start + i, as: UInt8.self) }
                }
            }
        }
    }

    private func copy(_ chunk: Volume, chunkIndex: Extent3, into out: inout Volume, box: Box3) {
        let p = out.withUnsafeMutableBytes { $0.baseAddress! }
        Self.copyRegion(chunk, chunkBox: grid.box(of: chunkIndex), into: p, box: box, width: dtype.byteCount)
    }

    /// Copies the overlap of a chunk (covering `chunkBox`) into an output volume covering `box`.
    static func copyRegion(_ chunk: Volume, chunkBox: Box3, into out: UnsafeMutableRawPointer, box: Box3, width: Int) {
        guard let overlap = chunkBox.intersection(box) else { return }
        let cs = chunkBox.shape, bs = box.shape
        let rowBytes = overlap.shape.x * width
        chunk.withUnsafeBytes { src in
            for z in overlap.zRange {
                for y in overlap.yRange {
                    let s = (((z - chunkBox.lower.z) * cs.y + (y - chunkBox.lower.y)) * cs.x + (overlap.lower.x - chunkBox.lower.x)) * width
                    let d = (((z - box.lower.z) * bs.y + (y - box.lower.y)) * bs.x + (overlap.lower.x - box.lower.x)) * width
                    (out + d).copyMemory(from: src.baseAddress! + s, byteCount: rowBytes)
                }
            }
        }
    }

    // MARK: Writing

    /// Chunks encoded and ready to commit (see `prepare` and `commit`).
    public struct PreparedChunks: @unchecked Sendable {
        fileprivate var items: [(index: Extent3, value: ScratchBuffer?)]
        /// Number of chunks.
        public var count: Int { items.count }
        /// Total encoded bytes.
        public var encodedBytes: Int { items.reduce(0) { $0 + ($1.value?.count ?? 0) } }
    }

    /// Encodes whole chunks (each volume exactly its chunk's extent, in the dataset's dtype) on all
    /// cores, then stores them — chunks equal to the fill value are deleted instead — together with
    /// an update of the catalog entry, in one durable transaction.
    public func storeChunks(_ chunks: [(index: Extent3, volume: Volume)], update: ((inout DatasetInfo) -> Void)? = nil) throws {
        try commit(try prepare(chunks), update: update)
    }

    /// Encodes whole chunks on all cores (no transaction is open meanwhile). Chunks equal to the
    /// fill value are marked for deletion.
    public func prepare(_ chunks: [(index: Extent3, volume: Volume)], keepFill: Bool = false) throws -> PreparedChunks {
        for (index, volume) in chunks {
            guard grid.contains(index), volume.shape == grid.box(of: index).shape, volume.dtype == dtype else {
                throw StoreError.invalidArgument("chunk \(index) of \(volume.shape) \(volume.dtype) does not fit dataset \"\(name)\"")
            }
        }
        let encoders = store.encoders(for: info.codecValue)
        let values = try Parallel.map(chunks.count) { i -> ScratchBuffer? in
            let v = chunks[i].volume
            if !keepFill && v.withUnsafeBytes({ isFill($0) }) { return nil }
            let out = ScratchBuffer()
            try encoders.with { encoder in
                try v.withUnsafeBytes { try encoder.encode($0, dtype: dtype, extent: v.shape, into: out) }
            }
            return out
        }
        return PreparedChunks(items: zip(chunks, values).map { ($0.index, $1) })
    }

    /// Stores prepared chunks (deleting fill chunks) and applies `update` to the catalog entry, in one
    /// durable transaction. The entry is re-read inside the transaction, so concurrent catalog
    /// changes are kept.
    public func commit(_ prepared: PreparedChunks, update: ((inout DatasetInfo) -> Void)? = nil) throws {
        var updated = info
        try store.environment.write { txn in
            let db = try txn.database(Store.DB.chunks)
            for (index, value) in prepared.items {
                let k = key(index).bytes
                if let value {
                    try txn.putReserved(db, k, count: value.count) { $0.baseAddress!.copyMemory(from: value.pointer, byteCount: value.count) }
                } else {
                    try txn.delete(db, k)
                }
            }
            if let update {
                guard let current = try store.info(named: name, in: txn), current.id == info.id else {
                    throw StoreError.unknownDataset(name: name, available: [])
                }
                updated = current
                update(&updated)
                try store.put(updated, in: txn)
            }
        }
        info = updated
    }

    /// Marks a dataset being written as complete, recording its statistics (computed from the stored
    /// chunks when not given), in one transaction.
    public func markComplete(statistics: VoxelStatistics? = nil) throws {
        var stats = statistics ?? VoxelStatistics()
        if statistics == nil { try forEachChunk { _, chunk in stats.add(chunk) } }
        let final = stats
        try commit(PreparedChunks(items: [])) { info in
            info.complete = true
            info.progress = nil
            info.stats = DatasetStatistics(final)
        }
    }

    /// Writes a volume into the dataset with its (0, 0, 0) voxel at `origin`; chunks the box covers
    /// partly are read, merged and re-encoded. One durable transaction.
    public func write(_ volume: Volume, at origin: Extent3) throws {
        guard volume.dtype == dtype else { throw StoreError.wrongDType(name: name, expected: dtype, got: volume.dtype) }
        let box = Box3(lower: origin, upper: Extent3(x: origin.x + volume.shape.x, y: origin.y + volume.shape.y, z: origin.z + volume.shape.z))
        guard box.isInside(shape) else { throw StoreError.boxOutOfBounds(name: name, box: box, shape: shape) }
        if box.isEmpty { return }
        var chunks: [(index: Extent3, volume: Volume)] = []
        for index in grid.chunks(intersecting: box) {
            let chunkBox = grid.box(of: index)
            let overlap = chunkBox.intersection(box)!
            var chunk = overlap == chunkBox ? Volume(shape: chunkBox.shape, dtype: dtype) : try read(chunkBox, cached: false)
            chunk.copyRegion(from: volume, sourceBox: Box3(lower: Extent3(x: overlap.lower.x - origin.x, y: overlap.lower.y - origin.y, z: overlap.lower.z - origin.z),
                                                           upper: Extent3(x: overlap.upper.x - origin.x, y: overlap.upper.y - origin.y, z: overlap.upper.z - origin.z)),
                             destinationOrigin: Extent3(x: overlap.lower.x - chunkBox.lower.x, y: overlap.lower.y - chunkBox.lower.y, z: overlap.lower.z - chunkBox.lower.z))
            chunks.append((index, chunk))
        }
        try storeChunks(chunks)
    }

    /// Stores a named blob (e.g. "mrc.extended_header") with the dataset, in its own transaction.
    public func putBlob(_ blobName: String, _ bytes: [UInt8]) throws {
        try store.environment.write { txn in try store.putBlob(dataset: info.id, name: blobName, bytes, in: txn) }
    }

    // MARK: Iteration

    /// Calls `body` with every chunk in (z, y, x) order, decoded: all chunks of the grid (absent ones
    /// as fill), or only the stored ones. Decodes a batch of chunks at a time on all cores, so memory
    /// stays bounded by the batch.
    public func forEachChunk(storedOnly: Bool = false, batch: Int = 16, _ body: (Extent3, Volume) throws -> Void) throws {
        let indices = storedOnly ? try storedChunks().map(\.index) : grid.allChunks
        var start = 0
        while start < indices.count {
            let part = Array(indices[start..<min(indices.count, start + batch)])
            let chunks: [Volume] = try store.environment.read { txn in
                let db = try txn.database(Store.DB.chunks)
                let values = try part.map { try txn.get(db, key($0).bytes) }
                return try Parallel.map(part.count) { i in try decode(values[i], index: part[i]) }
            }
            for (index, chunk) in zip(part, chunks) { try body(index, chunk) }
            start += batch
        }
    }

    // MARK: Inventory

    /// Stored chunks and their encoded sizes, in key order.
    public func storedChunks() throws -> [(index: Extent3, bytes: Int)] {
        try store.environment.read { txn in
            var out: [(Extent3, Int)] = []
            try txn.scan(try txn.database(Store.DB.chunks), prefix: ChunkKey.prefix(dataset: info.id, level: level)) { k, v in
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

