import Voxels

/// Anything that reads boxes of a 3D volume ([z][y][x], x fastest): a stored dataset, or a derived
/// view that computes what is not stored yet (Operators). Exports, previews and network inputs
/// read through this, so they work on both.
public protocol VolumeSource: Sendable {
    /// The catalog entry (for views not in the catalog: the one they would have).
    var info: DatasetInfo { get }
    /// The chunk grid (shape and chunk size in voxels, x, y, z).
    var grid: ChunkGrid { get }
    /// The store the volume lives in.
    var store: Store { get }
    /// Reads a box (half-open voxel ranges in x, y, z) in the volume's dtype.
    func read(_ box: Box3) throws -> Volume
}

extension VolumeSource {
    /// Volume size along x, y, z, in voxels.
    public var shape: Extent3 { grid.shape }
    /// Voxel type.
    public var dtype: DType { info.dtype }
    /// The name.
    public var name: String { info.name }
}

extension Dataset {
    /// Volume size along x, y, z, in voxels.
    public var shape: Extent3 { grid.shape }
}

extension Dataset: VolumeSource {
    public func read(_ box: Box3) throws -> Volume { try read(box, cached: true) }
}
