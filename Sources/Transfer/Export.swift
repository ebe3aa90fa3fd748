import MRC
import Store
import Voxels

/// Writes datasets and boxes out as MRC2014 or .npy.
public enum Export {
    /// MRC write options carrying a dataset's voxel size, origin, labels and (optionally) the
    /// extended header of the file it came from; `start` is the source's start plus `offset`.
    public static func mrcOptions(_ dataset: Dataset, offset: Extent3 = Extent3(x: 0, y: 0, z: 0), keepExtendedHeader: Bool, action: String) throws -> MRCWriteOptions {
        let info = dataset.info
        var o = MRCWriteOptions()
        o.voxelSize = Triple(info.voxelSize[0], info.voxelSize[1], info.voxelSize[2])
        o.origin = Triple(Float(info.origin[0]), Float(info.origin[1]), Float(info.origin[2]))
        let start = info.mrc?.start ?? [0, 0, 0]
        o.start = Triple(Int32(clamping: start[0] + offset.x), Int32(clamping: start[1] + offset.y), Int32(clamping: start[2] + offset.z))
        o.labels = info.mrc?.labels ?? []
        o.action = action
        o.isImageStack = info.mrc.map { $0.ispg == 0 && $0.fileShape[2] > 1 } ?? false
        if keepExtendedHeader, let mrc = info.mrc, mrc.nsymbt > 0,
           let bytes = try dataset.store.blob(dataset: info.id, name: "mrc.extended_header") {
            o.extendedHeader = bytes
            var h = MRCHeader()
            h.exttyp = mrc.exttyp; h.ispg = mrc.ispg; h.nint = mrc.nint; h.nreal = mrc.nreal
            h.nsymbt = mrc.nsymbt; h.nz = Int32(clamping: mrc.fileShape[2])
            o.extendedHeaderType = ExtendedHeaderType.infer(h)
            o.nint = mrc.nint
            o.nreal = mrc.nreal
        }
        return o
    }

    /// Writes a whole dataset as canonical MRC2014, one band of chunks at a time (memory: one band).
    /// - Parameter mode: output mode (default: the dataset dtype's).
    public static func mrc(_ dataset: Dataset, to path: String, mode: MRCMode? = nil, keepExtendedHeader: Bool = false, progress: ((Int, Int) -> Void)? = nil) throws -> MRCWriter {
        let options = try mrcOptions(dataset, keepExtendedHeader: keepExtendedHeader, action: "exported from dataset \(dataset.name)")
        let writer = try MRCWriter(path: path, shape: dataset.shape, dtype: dataset.dtype, mode: mode, options: options)
        let grid = dataset.grid, counts = grid.counts
        let total = counts.y * counts.z
        for band in 0..<total {
            let cz = band / counts.y, cy = band % counts.y
            let first = grid.box(of: Extent3(x: 0, y: cy, z: cz))
            let box = Box3(x: 0..<grid.shape.x, y: first.yRange, z: first.zRange)
            try writer.write(band: try dataset.read(box, cached: false), y: box.lower.y, z: box.lower.z)
            progress?(band + 1, total)
        }
        try writer.finish()
        return writer
    }

    /// Writes a box of a dataset to `path`: `.mrc` (MRC2014, start = the box's corner) or `.npy`.
    public static func box(_ dataset: Dataset, _ box: Box3, to path: String) throws {
        let volume = try dataset.read(box)
        if path.lowercased().hasSuffix(".npy") {
            try NPYWriter.write(volume, to: path)
        } else {
            let options = try mrcOptions(dataset, offset: box.lower, keepExtendedHeader: false, action: "box \(box) of dataset \(dataset.name)")
            let mode: MRCMode? = volume.dtype == .uint32 ? .float32 : nil
            try MRCWriter.write(volume, to: path, mode: mode, options: options)
        }
    }
}
