import Catalog
import Foundation
import Imaging
import Store
import Voxels

/// A derived dataset as a read-through view: reading a box returns its stored chunks and computes
/// the missing ones with the prepared operator, commits them, and returns the computed voxels as
/// they are (they are not decoded again). Chunks stored for an older definition or older inputs
/// (an input was re-ingested) are never returned: they are recomputed, and the first commit replaces
/// them all, in one transaction that also checks the inputs are still the ones computed from.
/// A transient view (no catalog entry: `denoise -o`) computes every box and stores nothing.
public final class DerivedDataset: VolumeSource {
    /// The stored dataset behind the view; nil for transient views.
    public let dataset: Dataset?
    public let info: DatasetInfo
    public let grid: ChunkGrid
    public let store: Store
    /// The operator, prepared once for this dataset.
    public let prepared: any PreparedOperator
    /// The inputs (stored datasets or derived views).
    public let inputs: [any VolumeSource]
    /// The definition as computed from the current inputs.
    public let derivation: Derivation
    /// The definition the catalog holds for the chunks now stored (older than `derivation` when an
    /// input changed since they were computed).
    private let storedDefinition: Locked<Derivation?>

    init(
        dataset: Dataset?, info: DatasetInfo, store: Store, prepared: any PreparedOperator, inputs: [any VolumeSource],
        derivation: Derivation
    ) {
        self.dataset = dataset
        // The view's entry carries the definition from the current inputs, so that a derived dataset
        // reading this one sees its content digest change as soon as an input of this one changed
        // (stale chains are recomputed all the way up).
        var current = info
        current.derivation = derivation
        self.info = current
        grid = info.grid
        self.store = store
        self.prepared = prepared
        self.inputs = inputs
        self.derivation = derivation
        storedDefinition = Locked(info.derivation)
    }

    /// Voxel size along x in Å (operators take one isotropic value).
    var voxelSize: Double { info.voxelSize[0] }

    /// True when stored chunks were computed from other inputs or another definition.
    public var isStale: Bool { storedDefinition.withLock { $0 } != derivation }

    /// Reads a box (half-open voxel ranges in x, y, z), computing and storing the chunks it touches
    /// that are not stored yet.
    public func read(_ box: Box3) throws -> Volume {
        guard box.isInside(shape) else { throw StoreError.boxOutOfBounds(name: name, box: box, shape: shape) }
        var out = Volume(shape: box.shape, dtype: dtype)
        if box.isEmpty { return out }
        guard let dataset else {
            return try computeWhole(box)
        }
        let indices = grid.chunks(intersecting: box)
        let missing = isStale ? indices : try dataset.missingChunks(indices)
        let missingSet = Set(missing)
        let present = indices.filter { !missingSet.contains($0) }
        if !present.isEmpty { try dataset.read(box, chunks: present, into: &out) }
        let width = dtype.byteCount
        let pointer = out.withUnsafeMutableBytes { $0.baseAddress! }
        try compute(missing, progress: nil) { computed, region in
            Dataset.copyRegion(computed, chunkBox: region, into: pointer, box: box, width: width)
        }
        return out
    }

    /// Computes and stores every chunk intersecting `box` that is not stored yet (or is stale),
    /// reporting `progress(done, total)` in chunks. Interrupting loses only the block under way.
    public func materialize(_ box: Box3, progress: ((Int, Int) -> Void)? = nil) throws {
        guard let dataset else { return }
        let indices = grid.chunks(intersecting: box.clamped(to: shape))
        let missing = isStale ? indices : try dataset.missingChunks(indices)
        try compute(missing, progress: progress) { _, _ in }
    }

    /// The number of stored chunks (0 for transient views and stale ones).
    public func storedChunkCount() throws -> Int {
        guard let dataset, !isStale else { return 0 }
        return try dataset.storedChunks().count
    }

    /// The operator's result on `box` without storing anything (global operators compute the whole
    /// volume).
    private func computeWhole(_ box: Box3) throws -> Volume {
        if prepared.footprint == .global {
            var out = Volume(shape: box.shape, dtype: dtype)
            let pointer = out.withUnsafeMutableBytes { $0.baseAddress! }
            try computeBlocks(grid.allChunks) { _, result, resultBox in
                Dataset.copyRegion(result, chunkBox: resultBox, into: pointer, box: box, width: dtype.byteCount)
            }
            return out
        }
        return try prepared.compute(box, inputs: inputs, voxelSize: voxelSize).converted(to: dtype)
    }

    /// Computes the given chunks in blocks, commits each block, and hands each computed volume and the
    /// box it covers to `deliver`.
    private func compute(
        _ chunks: [Extent3], progress: ((Int, Int) -> Void)?, deliver: (Volume, Box3) throws -> Void
    ) throws {
        guard let dataset, !chunks.isEmpty else { return }
        var done = 0
        try computeBlocks(chunks) { pieces, result, box in
            try commit(pieces, to: dataset)
            try deliver(result, box)
            done += pieces.count
            progress?(done, prepared.footprint == .global ? grid.allChunks.count : chunks.count)
        }
    }

    /// Computes the given chunks (indices) without storing anything, in the blocks `materialize` uses,
    /// handing each block's chunk volumes (each its chunk's extent, the dataset's dtype), the block's
    /// result and its box to `body`: the voxels `materialize` would store, byte for byte. Global
    /// operators compute the whole volume once and hand every chunk, in parts of 64.
    public func computeBlocks(
        _ chunks: [Extent3], _ body: ([(index: Extent3, volume: Volume)], Volume, Box3) throws -> Void
    ) throws {
        guard !chunks.isEmpty else { return }
        if let spectral = prepared as? any SpectralMaskFilter {
            // Out of core, in bounded memory; handed on a row of chunks (all x) at a time.
            let input = inputs[0]
            let shape = self.shape
            let grid = self.grid
            try OutOfCoreFourierFilter(shape: shape).apply(
                read: { z in try input.read(Box3(x: 0..<shape.x, y: 0..<shape.y, z: z)) },
                mask: spectral.mask(voxelSize: voxelSize), rows: grid.chunk.y, planes: grid.chunk.z,
                deliver: { box, band in
                    let result = band.converted(to: dtype)
                    let (cy, cz) = (box.lower.y / grid.chunk.y, box.lower.z / grid.chunk.z)
                    let row = (0..<grid.counts.x).map { Extent3(x: $0, y: cy, z: cz) }
                    try body(
                        row.map { ($0, result.extracting(grid.box(of: $0).relative(to: box.lower))) }, result, box)
                })
            return
        }
        if prepared.footprint == .global {
            let whole = Box3(shape: shape)
            let result = try prepared.compute(whole, inputs: inputs, voxelSize: voxelSize).converted(to: dtype)
            let all = grid.allChunks
            for start in stride(from: 0, to: all.count, by: 64) {
                let part = Array(all[start..<min(all.count, start + 64)])
                try body(part.map { ($0, result.extracting(grid.box(of: $0))) }, result, whole)
            }
            return
        }
        // Blocks of up to 4×4×4 neighbouring chunks (at most about 16 Mvoxel), each computed once from
        // its union box and split. A voxel's value does not depend on the grouping: the operators are
        // exact on any box.
        let side = Self.blockSide(grid)
        var blocks: [Extent3: [Extent3]] = [:]
        for c in chunks { blocks[Extent3(x: c.x / side, y: c.y / side, z: c.z / side), default: []].append(c) }
        let order = blocks.keys.sorted { ($0.z, $0.y, $0.x) < ($1.z, $1.y, $1.x) }
        for key in order {
            let part = blocks[key]!
            let boxes = part.map { grid.box(of: $0) }
            let union = boxes.dropFirst().reduce(boxes[0]) { $0.union($1) }
            let result = try prepared.compute(union, inputs: inputs, voxelSize: voxelSize).converted(to: dtype)
            try body(part.map { ($0, result.extracting(grid.box(of: $0).relative(to: union))) }, result, union)
        }
    }

    /// Chunks per block side: up to 4, at most about 16 Mvoxel a block.
    public static func blockSide(_ grid: ChunkGrid) -> Int {
        max(1, min(4, Int(cbrt(Double(16 << 20) / Double(grid.chunk.count)))))
    }

    /// Commits computed chunks, checking in the same transaction that the dataset still has the
    /// definition they were computed for and that its inputs are unchanged; the first commit after
    /// an input changed replaces every stored chunk and records the new definition.
    private func commit(_ pieces: [(index: Extent3, volume: Volume)], to dataset: Dataset) throws {
        let prepared = try dataset.prepare(pieces, keepFill: true)
        let expected = storedDefinition.withLock { $0 }
        let replacing = expected != derivation
        let (name, target) = (self.name, derivation)
        try dataset.commit(prepared, replacingAll: replacing) { current, catalog in
            guard current.derivation == expected else {
                throw StoreError.changed(name: name, reason: "it was redefined")
            }
            try target.checkInputs(of: name, in: catalog)
            current.derivation = target
        }
        storedDefinition.withLock { $0 = target }
    }
}

extension Derivation {
    /// Checks, inside a transaction, that every input still has the content digest this definition
    /// was computed from.
    /// - Throws: `StoreError.changed` naming `dataset` and the input removed or replaced.
    public func checkInputs(of dataset: String, in catalog: CatalogView) throws {
        for (input, digest) in zip(inputs, inputDigests) {
            guard let now = try catalog.info(named: input), now.contentDigest == digest else {
                throw StoreError.changed(name: dataset, reason: "its input \"\(input)\" was removed or replaced")
            }
        }
    }
}
