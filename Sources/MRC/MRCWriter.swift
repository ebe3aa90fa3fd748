import Voxels

#if canImport(Glibc)
    import Glibc
#endif

/// What to record in a written MRC file besides the voxels.
public struct MRCWriteOptions: Sendable {
    /// Voxel size in Å along x, y, z (written as cella = size × m, with m = n).
    public var voxelSize = Triple<Double>(1, 1, 1)
    /// Origin in Å along x, y, z.
    public var origin = Triple<Float>(0, 0, 0)
    /// Index of the first voxel along x, y, z (nxstart, nystart, nzstart).
    public var start = Triple<Int32>(0, 0, 0)
    /// Labels to carry over (at most 9 are kept); TomoStore adds its own label after them.
    public var labels: [String] = []
    /// What TomoStore did, for its label (e.g. "converted from a.mrc").
    public var action = "written"
    /// Extended header bytes to write after the main header (nsymbt = their count).
    public var extendedHeader: [UInt8] = []
    /// Extended header type (exttyp), e.g. "FEI1"; required by MRC2014 when there is an extended header.
    public var extendedHeaderType = ""
    /// IMOD/SerialEM nint and nreal, which describe a SERI or AGAR extended header.
    public var nint: Int16 = 0, nreal: Int16 = 0
    /// Write as an image stack (ispg 0, mz 1) rather than a volume (ispg 1, mz = nz).
    public var isImageStack = false

    public init() {}
}

/// Writes a canonical MRC2014 file (axis order 1,2,3, little-endian, "MAP ", stamp 0x44 0x44)
/// slab by slab along z, so memory is bounded by one slab. dmin, dmax, dmean and rms are computed
/// from the data as it is written. The file appears at `path` only when `finish()` succeeds: until
/// then it is a hidden temporary beside it, removed if the writer is dropped unfinished.
public final class MRCWriter {
    /// Destination path.
    public let path: String
    /// Volume size along x, y, z.
    public let shape: Extent3
    /// The mode written.
    public let mode: MRCMode
    /// The dtype voxels are stored as (mode 0: int8, or uint8 as IMOD-style unsigned bytes).
    public let storedDType: DType
    /// Voxels changed by conversion to `storedDType` because they were out of its range (or NaN).
    public private(set) var clampedCount = 0
    /// Statistics of the stored values so far.
    public private(set) var statistics = VoxelStatistics()

    private let temporaryPath: String
    private let file: PosixFile
    private var header: MRCHeader
    private var planesWritten = 0
    private var voxelsWritten = 0
    private var finished = false

    /// Starts a file. `mode` defaults to `MRCMode.defaultMode(for: dtype)`; mode 0 with uint8 input
    /// writes unsigned bytes flagged for IMOD.
    /// - Throws: `MRCError` when the dtype or mode cannot be written; `FileError` when the file cannot be created.
    public init(
        path: String, shape: Extent3, dtype: DType, mode requested: MRCMode? = nil,
        options: MRCWriteOptions = MRCWriteOptions()
    ) throws {
        guard let mode = requested ?? MRCMode.defaultMode(for: dtype) else {
            throw MRCError.unwritableDType(path: path, dtype: dtype)
        }
        guard MRCMode.writable.contains(mode) else { throw MRCError.unwritableMode(path: path, mode: mode.rawValue) }
        guard shape.isNonEmpty, shape.x <= Int(Int32.max), shape.y <= Int(Int32.max), shape.z <= Int(Int32.max) else {
            throw MRCError.badDimensions(
                path: path, nx: Int32(clamping: shape.x), ny: Int32(clamping: shape.y), nz: Int32(clamping: shape.z))
        }
        self.path = path
        self.shape = shape
        self.mode = mode
        storedDType = mode.dtype(bytesUnsigned: mode == .bytes && dtype == .uint8)

        var h = MRCHeader()
        h.nx = Int32(shape.x)
        h.ny = Int32(shape.y)
        h.nz = Int32(shape.z)
        h.mode = mode.rawValue
        h.nxstart = options.start.x
        h.nystart = options.start.y
        h.nzstart = options.start.z
        let stack = options.isImageStack || shape.z == 1
        h.mx = h.nx
        h.my = h.ny
        h.mz = stack ? 1 : h.nz
        h.cella = Triple(
            Float(options.voxelSize.x * Double(h.mx)), Float(options.voxelSize.y * Double(h.my)),
            Float(options.voxelSize.z * Double(h.mz)))
        h.ispg = stack ? 0 : 1
        h.nsymbt = Int32(options.extendedHeader.count)
        h.exttyp = options.extendedHeader.isEmpty ? "" : options.extendedHeaderType
        h.nversion = 20140
        h.nint = options.nint
        h.nreal = options.nreal
        if mode == .bytes {
            // IMOD reads mode 0 as unsigned unless its stamp and flag say signed: state it either way.
            h.imodStamp = MRCHeader.imodStampValue
            h.imodFlags = storedDType == .int8 ? 1 : 0
        }
        h.origin = options.origin
        let software = "TomoStore \(TomoStoreVersion.string): \(options.action)"
        let labels = options.labels.filter { !$0.isEmpty }.prefix(9) + [software]
        h.labels = Array(labels) + Array(repeating: "", count: 10 - labels.count)
        h.nlabl = Int32(labels.count)
        header = h

        try PosixFile.checkOutput(path)
        temporaryPath = PosixFile.temporaryPath(for: path)
        file = try PosixFile(creating: temporaryPath)
        do {
            try h.encoded().withUnsafeBytes { try file.write($0, at: 0) }
            try options.extendedHeader.withUnsafeBytes { try file.write($0, at: MRCHeader.size) }
        } catch {
            PosixFile.removeIfPresent(temporaryPath)
            throw error
        }
    }

    /// Convenience: writes a whole volume to `path` in one call.
    public static func write(
        _ volume: Volume, to path: String, mode: MRCMode? = nil, options: MRCWriteOptions = MRCWriteOptions()
    ) throws {
        let writer = try MRCWriter(path: path, shape: volume.shape, dtype: volume.dtype, mode: mode, options: options)
        try writer.append(volume)
        try writer.finish()
    }

    deinit {
        if !finished { PosixFile.removeIfPresent(temporaryPath) }
    }

    /// Appends the next z-planes; the slab's x and y sizes must match the file's. Values are converted
    /// to the stored dtype (integers rounded to nearest and clamped; see `clampedCount`).
    public func append(_ slab: Volume) throws {
        guard slab.shape.y == shape.y else {
            throw MRCError.writeOrder(
                path: path, detail: "slab of \(slab.shape) does not match the file's \(shape.x)×\(shape.y) planes")
        }
        try write(band: slab, at: Extent3(x: 0, y: 0, z: planesWritten))
        planesWritten += slab.shape.z
    }

    /// Writes a band spanning the whole x extent with its first voxel at row `y`, plane `z`. Bands may
    /// come in any order; together they must cover every voxel exactly once before `finish()`.
    public func write(band: Volume, y: Int, z: Int) throws {
        try write(band: band, at: Extent3(x: 0, y: y, z: z))
    }

    /// Writes a band whose first voxel is at `lower` (x, y, z): either full rows (the band spans the whole
    /// x extent) or a piece of one row (one row, one plane). Bands may come in any order; together they
    /// must cover every voxel exactly once before `finish()`.
    public func write(band: Volume, at lower: Extent3) throws {
        guard !finished else { throw MRCError.writeOrder(path: path, detail: "cannot write after finish()") }
        let b = band.shape
        let (x, y, z) = (lower.x, lower.y, lower.z)
        let fullRows = x == 0 && b.x == shape.x
        let rowPiece = b.y == 1 && b.z == 1
        guard fullRows || rowPiece, x >= 0, y >= 0, z >= 0, x + b.x <= shape.x, y + b.y <= shape.y,
            z + b.z <= shape.z
        else {
            throw MRCError.writeOrder(
                path: path,
                detail: "band of \(b) at x \(x), y \(y), z \(z) does not fit the file's \(shape) (full rows or one "
                    + "piece of a row)")
        }
        let stored: Volume
        if band.dtype == storedDType {
            stored = band
        } else {
            clampedCount += band.withUnsafeBytes {
                VoxelScalarDispatch.countOutOfRange(band.dtype, $0.baseAddress!, count: band.count, target: storedDType)
            }
            stored = band.converted(to: storedDType)
        }
        statistics.merge(VoxelStatistics.of(stored))
        let width = storedDType.byteCount
        let planeBytes = shape.x * shape.y * width
        let bandPlaneBytes = b.x * b.y * width
        let dataStart = MRCHeader.size + Int(header.nsymbt)
        try stored.withUnsafeBytes { bytes in
            var source = bytes
            var swapped: [UInt8] = []
            if ByteOrder.native != .little {
                swapped = Array(bytes)
                swapped.withUnsafeMutableBytes { swapBytes($0.baseAddress!, count: stored.count, width: width) }
            }
            try swapped.withUnsafeBytes { swappedBytes in
                if !swapped.isEmpty { source = swappedBytes }
                if fullRows && b.y == shape.y {
                    // Whole planes: one contiguous write.
                    try file.write(source, at: dataStart + z * planeBytes)
                } else {
                    for plane in 0..<b.z {
                        let part = UnsafeRawBufferPointer(
                            rebasing: source[(plane * bandPlaneBytes)..<((plane + 1) * bandPlaneBytes)])
                        try file.write(
                            part, at: dataStart + (z + plane) * planeBytes + (y * shape.x + x) * width)
                    }
                }
            }
        }
        voxelsWritten += b.count
    }

    /// Writes the final header (with the statistics), flushes, and moves the file into place.
    /// - Throws: `MRCError.writeOrder` when fewer planes than the shape's z were appended.
    public func finish() throws {
        guard !finished else { return }
        guard voxelsWritten == shape.count else {
            throw MRCError.writeOrder(path: path, detail: "only \(voxelsWritten) of \(shape.count) voxels were written")
        }
        let s = statistics
        if s.count > 0 && s.nanCount == 0 {
            header.dmin = Float(s.min)
            header.dmax = Float(s.max)
            header.dmean = Float(s.mean)
            // Mode 12 records rms as "not determined": mrcfile's validator recomputes it in float16,
            // which overflows to infinity, and would reject any true value (formats/mrc.md).
            header.rms = mode == .float16 ? -1 : Float(s.rms)
        } else {
            // MRC2014's "not determined": dmax < dmin, dmean < both, rms < 0.
            header.dmin = 0
            header.dmax = -1
            header.dmean = -2
            header.rms = -1
        }
        try header.encoded().withUnsafeBytes { try file.write($0, at: 0) }
        try file.sync()
        try PosixFile.rename(temporaryPath, to: path)
        finished = true
    }
}
