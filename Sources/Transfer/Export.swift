import Catalog
import Codecs
import MRC
import Store
import Voxels

/// Writes datasets and boxes out as MRC2014 or .npy.
public enum Export {
    /// MRC write options carrying a dataset's voxel size, origin, labels and (optionally) the
    /// extended header of the file it came from; `start` is the source's start plus `offset`.
    public static func mrcOptions(
        _ dataset: any VolumeSource, offset: Extent3 = .zero, keepExtendedHeader: Bool, action: String
    ) throws -> MRCWriteOptions {
        let info = dataset.info
        var o = MRCWriteOptions()
        o.voxelSize = Triple(info.voxelSize[0], info.voxelSize[1], info.voxelSize[2])
        o.origin = Triple(Float(info.origin[0]), Float(info.origin[1]), Float(info.origin[2]))
        let start = info.mrc?.start ?? [0, 0, 0]
        o.start = Triple(
            Int32(clamping: start[0] + offset.x), Int32(clamping: start[1] + offset.y),
            Int32(clamping: start[2] + offset.z))
        o.labels = info.mrc?.labels ?? []
        o.action = action
        o.isImageStack = info.mrc.map { $0.ispg == 0 && $0.fileShape[2] > 1 } ?? false
        if keepExtendedHeader, let mrc = info.mrc, mrc.nsymbt > 0,
            let bytes = try dataset.store.blob(dataset: info.id, name: "mrc.extended_header")
        {
            o.extendedHeader = bytes
            var h = MRCHeader()
            h.exttyp = mrc.exttyp
            h.ispg = mrc.ispg
            h.nint = mrc.nint
            h.nreal = mrc.nreal
            h.nsymbt = mrc.nsymbt
            h.nz = Int32(clamping: mrc.fileShape[2])
            o.extendedHeaderType = ExtendedHeaderType.infer(h)
            o.nint = mrc.nint
            o.nreal = mrc.nreal
        }
        return o
    }

    /// Writes a whole dataset (stored or derived) as canonical MRC2014, streamed: by default one band
    /// of chunks (full x, one chunk row, one chunk layer) at a time, or bands of full x and
    /// `band.y` rows × `band.z` planes when given — what derived views computing overlap tiles
    /// prefer (thicker bands recompute fewer tiles on their borders). Memory: one band, whatever
    /// the volume's size.
    /// - Parameter mode: output mode (default: the dataset dtype's).
    @discardableResult
    public static func mrc(
        _ dataset: any VolumeSource, to path: String, mode: MRCMode? = nil, keepExtendedHeader: Bool = false,
        band: (y: Int, z: Int)? = nil, action: String? = nil, progress: ((Int, Int) -> Void)? = nil
    ) throws -> MRCWriter {
        let options = try mrcOptions(
            dataset, keepExtendedHeader: keepExtendedHeader, action: action ?? "exported from dataset \(dataset.name)")
        let writer = try MRCWriter(path: path, shape: dataset.shape, dtype: dataset.dtype, mode: mode, options: options)
        let grid = dataset.grid
        let counts = grid.counts
        let shape = grid.shape
        var bands: [Box3] = []
        if let band {
            let (dy, dz) = (max(1, band.y), max(1, band.z))
            for z in stride(from: 0, to: shape.z, by: dz) {
                for y in stride(from: 0, to: shape.y, by: dy) {
                    bands.append(Box3(x: 0..<shape.x, y: y..<min(shape.y, y + dy), z: z..<min(shape.z, z + dz)))
                }
            }
        } else {
            for band in 0..<(counts.y * counts.z) {
                let first = grid.box(of: Extent3(x: 0, y: band % counts.y, z: band / counts.y))
                bands.append(Box3(x: 0..<shape.x, y: first.yRange, z: first.zRange))
            }
        }
        for (i, box) in bands.enumerated() {
            let volume = try (dataset as? Dataset)?.read(box, cached: false) ?? dataset.read(box)
            try writer.write(band: volume, y: box.lower.y, z: box.lower.z)
            progress?(i + 1, bands.count)
        }
        try writer.finish()
        return writer
    }

    /// Writes a box of a dataset to `path`: `.mrc` (MRC2014, start = the box's corner) or `.npy`.
    public static func box(_ dataset: any VolumeSource, _ box: Box3, to path: String) throws {
        let volume = try dataset.read(box)
        if path.lowercased().hasSuffix(".npy") {
            try NPYWriter.write(volume, to: path)
        } else {
            let options = try mrcOptions(
                dataset, offset: box.lower, keepExtendedHeader: false, action: "box \(box) of dataset \(dataset.name)")
            let mode: MRCMode? = volume.dtype == .uint32 ? .float32 : nil
            try MRCWriter.write(volume, to: path, mode: mode, options: options)
        }
    }
}
