import Store
import Voxels

extension Contrast {
    /// How simulated tomograms' contrast is recorded: phase contrast as reconstructed.
    public static let simulated: (contrast: Contrast, source: String) = (.dark, "simulated (phase contrast)")
}

extension Store {
    /// Stores an in-memory volume ([z][y][x]) as a complete dataset of `kind` (64³ chunks, zstd with
    /// shuffle), with its statistics; `voxelSize` in Å. `contrast` is recorded with how it was
    /// decided; grand models default to bright (density). Nothing is left behind when it fails.
    @discardableResult
    public func storeVolume(
        _ volume: Volume, name: String, kind: DatasetKind, voxelSize: Double, attributes: [String: JSONValue] = [:],
        classes: [String: String]? = nil, contrast: (contrast: Contrast, source: String)? = nil
    ) throws -> Dataset {
        var spec = Store.NewDataset(name: name, kind: kind, dtype: volume.dtype, shape: volume.shape)
        if let decided = contrast ?? (kind == .grandModel ? (.bright, "density (grand model)") : nil) {
            spec.contrast = decided.contrast
            spec.contrastSource = decided.source
        }
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
