import Voxels

/// Reads an MRC file (MRC2014 and the older variants IMOD, RELION, Warp, EMDB, CCP4 and FEI
/// software write) into canonical volumes: [z][y][x], x fastest, native byte order, whatever the
/// file's axis order and byte order. Reads any box without loading the file; memory is bounded by
/// the box plus one section's rows. Thread-safe: reads use positional I/O.
public final class MRCReader: Sendable {
    /// The file's path.
    public let path: String
    /// The header as stored (file axis order for nx/ny/nz and starts).
    public let header: MRCHeader
    /// Byte order of the file's numbers.
    public let byteOrder: ByteOrder
    /// The data mode.
    public let mode: MRCMode
    /// The dtype voxels are read as (mode 0: int8, or uint8 when IMOD flags say unsigned; mode 101: uint8).
    public let dtype: DType
    /// Canonical volume size in voxels along x, y, z.
    public let shape: Extent3
    /// Effective axis order [mapc, mapr, maps] (1 = x, 2 = y, 3 = z).
    public let axisOrder: [Int]
    /// Voxel size in Å along x, y, z (cella / mx, my, mz; 0 where mx, my or mz is not positive).
    public let voxelSize: Triple<Double>
    /// Index of the first voxel along x, y, z (the header's starts, mapped to spatial axes).
    public let start: Triple<Int>
    /// Origin in Å along x, y, z as the header gives it.
    public let origin: Triple<Double>
    /// True for an image stack (space group 0 with more than one section).
    public let isImageStack: Bool
    /// Size of the file in bytes.
    public let fileSize: Int
    /// Departures from MRC2014 that were tolerated, one sentence each (empty for a clean file).
    public let quirks: [String]

    private let file: PosixFile
    /// Byte offset of the first voxel.
    private let dataOffset: Int
    /// File dimensions: columns, rows, sections.
    private let fileShape: [Int]
    /// Bytes per file row (columns × bytes per voxel, or ⌈columns/2⌉ for mode 101).
    private let rowBytes: Int
    /// spatialOfFile[i]: the spatial axis (0 = x, 1 = y, 2 = z) along file axis i (0 = columns).
    private let spatialOfFile: [Int]

    /// Opens and validates an MRC file; reads only the header.
    /// - Throws: `FileError` when the file cannot be opened, `MRCError` when it is not a usable MRC file.
    public init(path: String) throws {
        self.path = path
        file = try PosixFile(readingFrom: path)
        fileSize = try file.size()
        guard fileSize >= MRCHeader.size else { throw MRCError.tooShort(path: path, size: fileSize) }
        let raw = try file.read(count: MRCHeader.size, at: 0)
        var notes: [String] = []

        // Byte order: the machine stamp when it is valid and agrees with a known mode, else whichever
        // order yields a known mode.
        let little = MRCHeader(parsing: raw, order: .little)
        let big = MRCHeader(parsing: raw, order: .big)
        func plausible(_ h: MRCHeader) -> Bool { MRCMode.known.contains(h.mode) }
        var order: ByteOrder
        if let stamped = little.stampedByteOrder {
            order = stamped
            let chosen = stamped == .little ? little : big
            let other = stamped == .little ? big : little
            if !plausible(chosen) && plausible(other) {
                order = stamped == .little ? .big : .little
                notes.append(
                    "machine stamp says \(stamped)-endian but the header reads as \(order)-endian; read as "
                        + "\(order)-endian"
                )
            }
        } else if plausible(little) {
            order = .little
            if little.hasMapIdentifier {
                notes.append("machine stamp is not a standard one; byte order inferred as little-endian")
            }
        } else if plausible(big) {
            order = .big
            notes.append("machine stamp is not a standard one; byte order inferred as big-endian")
        } else if little.hasMapIdentifier || little.stampedByteOrder != nil {
            order = .little
        } else {
            throw MRCError.notMRC(
                path: path,
                detail:
                    "the mode field reads \(little.mode) (little-endian) or \(big.mode) (big-endian), neither an "
                    + "MRC mode, and there is no \"MAP \" identifier"
            )
        }
        let h = order == .little ? little : big
        header = h
        byteOrder = order
        if !h.hasMapIdentifier { notes.append("no \"MAP \" identifier at byte 208 (pre-MRC2000 header)") }

        guard h.mode != 3 && h.mode != 4 else { throw MRCError.complexMode(path: path, mode: h.mode) }
        guard let mode = MRCMode(rawValue: h.mode) else { throw MRCError.unsupportedMode(path: path, mode: h.mode) }
        self.mode = mode
        guard h.nx >= 1, h.ny >= 1, h.nz >= 1 else {
            throw MRCError.badDimensions(path: path, nx: h.nx, ny: h.ny, nz: h.nz)
        }

        var axes = [Int(h.mapc), Int(h.mapr), Int(h.maps)]
        if axes == [0, 0, 0] {
            axes = [1, 2, 3]
            notes.append("axis order mapc/mapr/maps is 0,0,0; read as 1,2,3")
        }
        guard axes.sorted() == [1, 2, 3] else {
            throw MRCError.badAxisOrder(path: path, mapc: h.mapc, mapr: h.mapr, maps: h.maps)
        }
        axisOrder = axes
        spatialOfFile = axes.map { $0 - 1 }
        fileShape = [Int(h.nx), Int(h.ny), Int(h.nz)]
        var sizeByAxis = [0, 0, 0]
        for i in 0..<3 { sizeByAxis[spatialOfFile[i]] = fileShape[i] }
        shape = Extent3(x: sizeByAxis[0], y: sizeByAxis[1], z: sizeByAxis[2])

        guard h.nsymbt >= 0, MRCHeader.size + Int(h.nsymbt) <= fileSize else {
            throw MRCError.badExtendedHeader(path: path, nsymbt: h.nsymbt, fileSize: fileSize)
        }
        dataOffset = MRCHeader.size + Int(h.nsymbt)

        // Data size, checked for overflow before any arithmetic can trap.
        let bytesUnsigned = mode == .bytes && h.hasIMODStamp && (h.imodFlags & 1) == 0
        dtype = mode.dtype(bytesUnsigned: bytesUnsigned)
        rowBytes = mode == .packed4 ? (fileShape[0] + 1) / 2 : fileShape[0] * dtype.byteCount
        let (plane, o1) = rowBytes.multipliedReportingOverflow(by: fileShape[1])
        let (total, o2) = plane.multipliedReportingOverflow(by: fileShape[2])
        let (expected, o3) = total.addingReportingOverflow(dataOffset)
        guard !o1, !o2, !o3 else {
            throw MRCError.notMRC(
                path: path, detail: "dimensions \(h.nx)×\(h.ny)×\(h.nz) describe more data than any file can hold")
        }
        guard expected <= fileSize else { throw MRCError.truncated(path: path, expected: expected, actual: fileSize) }
        if expected < fileSize { notes.append("\(fileSize - expected) bytes after the data are ignored") }
        if bytesUnsigned { notes.append("mode 0 read as unsigned bytes (IMOD flags)") }

        func cellSize(_ length: Float, _ m: Int32) -> Double { m > 0 ? Double(length) / Double(m) : 0 }
        voxelSize = Triple(cellSize(h.cella.x, h.mx), cellSize(h.cella.y, h.my), cellSize(h.cella.z, h.mz))
        if h.mx <= 0 || h.my <= 0 || h.mz <= 0 {
            notes.append("mx, my or mz is not positive; voxel size along that axis reported as 0")
        }
        let fileStart = [Int(h.nxstart), Int(h.nystart), Int(h.nzstart)]
        var startByAxis = [0, 0, 0]
        for i in 0..<3 { startByAxis[spatialOfFile[i]] = fileStart[i] }
        start = Triple(startByAxis[0], startByAxis[1], startByAxis[2])
        origin = Triple(Double(h.origin.x), Double(h.origin.y), Double(h.origin.z))
        isImageStack = h.ispg == 0 && h.nz > 1
        quirks = notes
    }

    /// True when the file's axis order is the canonical 1, 2, 3.
    public var isCanonicalAxisOrder: Bool { axisOrder == [1, 2, 3] }

    /// The extended header's bytes, exactly as stored (`nsymbt` bytes after the main header).
    public func extendedHeader() throws -> [UInt8] {
        try file.read(count: Int(header.nsymbt), at: MRCHeader.size)
    }

    /// The labels in use (the first `nlabl`, or every non-empty one when nlabl is wrong).
    public var labels: [String] {
        let n = Int(header.nlabl)
        let used = (0...10).contains(n) ? Array(header.labels.prefix(n)) : header.labels
        return used.filter { !$0.isEmpty }
    }

    /// Reads the whole volume.
    public func readAll() throws -> Volume { try read(box: Box3(shape: shape)) }

    /// Reads a box given in canonical x, y, z voxel coordinates.
    /// - Throws: `MRCError.boxOutOfBounds` when the box leaves the volume; `FileError` on I/O errors.
    public func read(box: Box3) throws -> Volume {
        guard box.isInside(shape) else { throw MRCError.boxOutOfBounds(path: path, box: box, shape: shape) }
        var out = Volume(shape: box.shape, dtype: dtype)
        if box.isEmpty { return out }
        let b = box.shape
        let canonicalStride = [1, b.x, b.x * b.y]
        let ranges = [box.xRange, box.yRange, box.zRange]
        let fileRanges = spatialOfFile.map { ranges[$0] }
        let outStrides = spatialOfFile.map { canonicalStride[$0] }
        try out.withUnsafeMutableBytes { dst in
            try readFileBox(fileRanges, into: dst.baseAddress!, strides: outStrides)
            swapToNative(dst.baseAddress!, count: b.count)
        }
        return out
    }

    /// Statistics of every voxel (min, max, mean, rms), streamed in file order through a buffer of
    /// about `budget` bytes (whole sections, rows of one section, or pieces of one row: a single row
    /// longer than the budget is read in pieces).
    public func statistics(budget: Int = 32 << 20) throws -> VoxelStatistics {
        var stats = VoxelStatistics()
        let file = Extent3(x: fileShape[0], y: fileShape[1], z: fileShape[2])
        for run in file.storageOrderRuns(maxVoxels: budget / dtype.byteCount) {
            var block = Volume(shape: run.shape, dtype: dtype)
            try block.withUnsafeMutableBytes { dst in
                let strides = [1, run.shape.x, run.shape.x * run.shape.y]
                try readFileBox([run.xRange, run.yRange, run.zRange], into: dst.baseAddress!, strides: strides)
                swapToNative(dst.baseAddress!, count: run.shape.count)
            }
            stats.merge(VoxelStatistics.of(block))
        }
        return stats
    }

    /// Byte-swaps `count` voxels read in the file's byte order to native order (nothing when they agree).
    private func swapToNative(_ voxels: UnsafeMutableRawPointer, count: Int) {
        if byteOrder != .native && dtype.byteCount > 1 { swapBytes(voxels, count: count, width: dtype.byteCount) }
    }

    /// Reads the file-order box (columns, rows, sections ranges) and scatters it into `dst` with the
    /// given element strides per file axis. Bytes stay in file byte order.
    private func readFileBox(_ r: [Range<Int>], into dst: UnsafeMutableRawPointer, strides: [Int]) throws {
        let bpv = dtype.byteCount
        let (cols, rows, secs) = (r[0], r[1], r[2])
        let sectionBytes = rowBytes * fileShape[1]
        // Bytes contiguous in the file (whole sections, whole rows of one section, or a piece of one row)
        // in canonical order: one read straight into the output.
        let fullRows = cols == 0..<fileShape[0]
        let contiguous =
            (fullRows || (rows.count == 1 && secs.count == 1)) && (rows == 0..<fileShape[1] || secs.count == 1)
        if mode != .packed4 && contiguous && strides == [1, cols.count, cols.count * rows.count] {
            let offset =
                dataOffset + secs.lowerBound * sectionBytes + rows.lowerBound * rowBytes + cols.lowerBound * bpv
            try file.read(into: dst, count: secs.count * rows.count * cols.count * bpv, at: offset)
            return
        }
        let spanBytes = cols.count * bpv
        // Read each section's rows as one span when the box is wide, row by row when it is narrow.
        let oneSpan = mode == .packed4 || spanBytes * 2 >= rowBytes || rows.count == 1
        let bufferBytes =
            mode == .packed4
            ? rows.count * rowBytes + rows.count * cols.count
            : (oneSpan ? (rows.count - 1) * rowBytes + spanBytes : rows.count * spanBytes)
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: max(1, bufferBytes), alignment: 64)
        defer { buffer.deallocate() }
        for (si, s) in secs.enumerated() {
            let sectionStart = dataOffset + s * sectionBytes
            var source: UnsafeRawPointer
            var sourceRowStride: Int
            if mode == .packed4 {
                try file.read(into: buffer, count: rows.count * rowBytes, at: sectionStart + rows.lowerBound * rowBytes)
                let unpacked = buffer + rows.count * rowBytes
                for row in 0..<rows.count {
                    Self.unpack4(buffer + row * rowBytes, columns: cols, into: unpacked + row * cols.count)
                }
                source = UnsafeRawPointer(unpacked)
                sourceRowStride = cols.count
            } else if oneSpan {
                try file.read(
                    into: buffer, count: bufferBytes,
                    at: sectionStart + rows.lowerBound * rowBytes + cols.lowerBound * bpv)
                source = UnsafeRawPointer(buffer)
                sourceRowStride = rowBytes
            } else {
                for row in 0..<rows.count {
                    try file.read(
                        into: buffer + row * spanBytes, count: spanBytes,
                        at: sectionStart + (rows.lowerBound + row) * rowBytes + cols.lowerBound * bpv)
                }
                source = UnsafeRawPointer(buffer)
                sourceRowStride = spanBytes
            }
            for row in 0..<rows.count {
                let from = source + row * sourceRowStride
                let to = si * strides[2] + row * strides[1]
                Self.scatter(from, count: cols.count, width: bpv, into: dst, at: to, stride: strides[0])
            }
        }
    }

    /// Copies `count` consecutive elements to `dst[at + i·stride]` (element units).
    private static func scatter(
        _ src: UnsafeRawPointer, count: Int, width: Int, into dst: UnsafeMutableRawPointer, at start: Int, stride: Int
    ) {
        if stride == 1 {
            (dst + start * width).copyMemory(from: src, byteCount: count * width)
            return
        }
        func typed<T>(_: T.Type) {
            let s = src.assumingMemoryBound(to: T.self)
            let d = dst.assumingMemoryBound(to: T.self)
            for i in 0..<count { d[start + i * stride] = s[i] }
        }
        switch width {
        case 1: typed(UInt8.self)
        case 2: typed(UInt16.self)
        default: typed(UInt32.self)
        }
    }

    /// Unpacks 4-bit voxels of one row (low nibble first) for the given columns, one byte each.
    private static func unpack4(_ row: UnsafeRawPointer, columns: Range<Int>, into dst: UnsafeMutableRawPointer) {
        let s = row.assumingMemoryBound(to: UInt8.self)
        let d = dst.assumingMemoryBound(to: UInt8.self)
        for (i, c) in columns.enumerated() {
            let byte = s[c >> 1]
            d[i] = (c & 1) == 0 ? byte & 0x0f : byte >> 4
        }
    }
}

extension MRCReader: BoxReadable {}
