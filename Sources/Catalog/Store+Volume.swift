import Store
import Voxels

extension Store {
    /// Stores an in-memory volume ([z][y][x]) as a complete dataset of `kind` (64³ chunks, zstd with
    /// shuffle), with its statistics; `voxelSize` in Å. Nothing is left behind when it fails.
    @discardableResult
    public func storeVolume(
        _ volume: Volume, name: String, kind: DatasetKind, voxelSize: Double, attributes: [String: JSONValue] = [:],
        classes: [String: String]? = nil
    ) throws -> Dataset {
        var spec = Store.NewDataset(name: name, kind: kind, dtype: volume.dtype, shape: volume.shape)
        spec.voxelSize = [voxelSize, voxelSize, voxelSize]
        spec.attributes = attributes
        spec.classes = classes
        let ds = try createDataset(spec, complete: false)
        do {
            try ds.write(volume, at: .zero)
            try ds.markComplete(statistics: VoxelStatistics.of(volume))
        } catch {
            try? remove(named: name)
            throw error
        }
        return ds
    }
}
