/// A volume outside memory (a file, an array on disk) that can be read one box at a time.
public protocol BoxReadable: AnyObject {
    /// Volume size along x, y, z, in voxels.
    var shape: Extent3 { get }
    /// The dtype boxes are read as.
    var dtype: DType { get }
    /// Reads a box (half-open voxel ranges in x, y, z) as a [z][y][x] volume, x fastest.
    func read(box: Box3) throws -> Volume
}
