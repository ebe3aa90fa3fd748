/// A regular grid of chunks over a volume: chunk (cx, cy, cz) covers voxels
/// [cx·chunk.x, min((cx+1)·chunk.x, shape.x)) and likewise in y and z (edge chunks are cut).
public struct ChunkGrid: Hashable, Sendable {
    /// Volume size in voxels (x, y, z).
    public let shape: Extent3
    /// Full chunk size in voxels (x, y, z).
    public let chunk: Extent3

    public init(shape: Extent3, chunk: Extent3) {
        precondition(chunk.isNonEmpty, "chunk shape must be positive")
        self.shape = shape
        self.chunk = chunk
    }

    /// Number of chunks along x, y, z.
    public var counts: Extent3 {
        Extent3(
            x: (shape.x + chunk.x - 1) / chunk.x, y: (shape.y + chunk.y - 1) / chunk.y,
            z: (shape.z + chunk.z - 1) / chunk.z)
    }

    /// The voxels of chunk `index` (chunk coordinates), cut to the volume.
    public func box(of index: Extent3) -> Box3 {
        Box3(
            x: index.x * chunk.x..<min((index.x + 1) * chunk.x, shape.x),
            y: index.y * chunk.y..<min((index.y + 1) * chunk.y, shape.y),
            z: index.z * chunk.z..<min((index.z + 1) * chunk.z, shape.z))
    }

    /// True when `index` names a chunk of this grid.
    public func contains(_ index: Extent3) -> Bool {
        let c = counts
        return index.x >= 0 && index.y >= 0 && index.z >= 0 && index.x < c.x && index.y < c.y && index.z < c.z
    }

    /// Chunk indices of the chunks that intersect `box`, in z, y, x order.
    public func chunks(intersecting box: Box3) -> [Extent3] {
        guard !box.isEmpty else { return [] }
        let lo = Extent3(x: box.lower.x / chunk.x, y: box.lower.y / chunk.y, z: box.lower.z / chunk.z)
        let hi = Extent3(x: (box.upper.x - 1) / chunk.x, y: (box.upper.y - 1) / chunk.y, z: (box.upper.z - 1) / chunk.z)
        var out: [Extent3] = []
        out.reserveCapacity((hi.x - lo.x + 1) * (hi.y - lo.y + 1) * (hi.z - lo.z + 1))
        for z in lo.z...hi.z { for y in lo.y...hi.y { for x in lo.x...hi.x { out.append(Extent3(x: x, y: y, z: z)) } } }
        return out
    }

    /// Every chunk index in z, y, x order.
    public var allChunks: [Extent3] { chunks(intersecting: Box3(shape: shape)) }
}
