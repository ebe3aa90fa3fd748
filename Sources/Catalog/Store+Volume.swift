import Store
import Voxels

extension Contrast {
    /// How simulated tomograms' contrast is recorded: phase contrast as reconstructed.
    public static let simulated: (contrast: Contrast, source: String) = (.dark, "simulated (phase contrast)")
}

extension Store {
    /// Stores an in-memory volume ([z][y][x]) as a complete dataset of `kind` (64³ chunks, zstd with
    /// shuffle), with its statistics, in one transaction; `voxelSize` in Å. `contrast` is recorded with
    /// how it was decided; grand models default to bright (density).
    @discardableResult
    public func storeVolume(
        _ volume: Volume, name: String, kind: DatasetKind, voxelSize: Double, attributes: [String: JSONValue] = [:],
        classes: [String: String]? = nil, contrast: (contrast: Contrast, source: String)? = nil
    ) throws -> Dataset {
        let item = Self.newVolume(
            volume, name: name, kind: kind, voxelSize: voxelSize, attributes: attributes, classes: classes,
            contrast: contrast)
        return try storeVolumes([item])[0]
    }

    /// The description `storeVolume` stores (see there), for `storeVolumes`, which stores several in
    /// one transaction.
    public static func newVolume(
        _ volume: Volume, name: String, kind: DatasetKind, voxelSize: Double, attributes: [String: JSONValue] = [:],
        classes: [String: String]? = nil, contrast: (contrast: Contrast, source: String)? = nil,
        blobs: [(name: String, bytes: [UInt8])] = []
    ) -> NewVolume {
        var spec = Store.NewDataset(name: name, kind: kind, dtype: volume.dtype, shape: volume.shape)
        if let decided = contrast ?? (kind == .grandModel ? (.bright, "density (grand model)") : nil) {
            spec.contrast = decided.contrast
            spec.contrastSource = decided.source
        }
        spec.voxelSize = [voxelSize, voxelSize, voxelSize]
        spec.attributes = attributes
        spec.classes = classes
        return NewVolume(spec: spec, volume: volume, blobs: blobs)
    }
}
