import ArgumentParser
import MRC
import Voxels

/// `tomostore inspect FILE [--json]`: the header of an MRC file and statistics of its data.
struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show an MRC file's header and the statistics of its data.",
        discussion: """
            Shape, voxel size and start are given in canonical x, y, z terms whatever the file's axis
            order; statistics (min, max, mean, rms) are computed from the data, streamed in bounded
            memory, next to the values the header records.

            Examples:
              tomostore inspect tomo.mrc
              tomostore inspect tomo.mrc --json | jq .voxel_size
            """
    )

    @Argument(help: "The MRC file (.mrc, .map, .rec, .st, .ali, .mrcs).")
    var file: String

    @Flag(help: "Print a JSON object instead of text.")
    var json = false

    @Flag(name: .customLong("no-stats"), help: "Skip reading the data (header only).")
    var noStats = false

    func run() throws {
        let reader = try MRCReader(path: file)
        let stats = noStats ? nil : try reader.statistics()
        let report = InspectReport(reader: reader, stats: stats)
        if json {
            print(try jsonText(report))
        } else {
            print(report.text)
        }
    }
}

/// What `inspect` prints, shaped for JSON (snake_case keys) and text.
struct InspectReport: Encodable {
    struct Stats: Encodable {
        let min, max, mean, rms: Double?
        let nanCount: Int?

        enum CodingKeys: String, CodingKey {
            case min, max, mean, rms
            case nanCount = "nan_count"
        }
    }
    struct Cell: Encodable {
        let a: [Float]
        let b: [Float]
    }
    let path: String
    let shape: [Int]
    let fileShape: [Int]
    let mode: Int32
    let dtype: String
    let voxelSize: [Double]
    let origin: [Double]
    let start: [Int]
    let axisOrder: [Int]
    let endianness: String
    let nsymbt: Int32
    let exttyp: String
    let nversion: Int32
    let ispg: Int32
    let imageStack: Bool
    let cell: Cell
    let sampling: [Int32]
    let headerStats: Stats
    let stats: Stats?
    let labels: [String]
    let imodStamp: Bool
    let imodFlags: Int32
    let fileSize: Int
    let quirks: [String]

    enum CodingKeys: String, CodingKey {
        case path, shape, mode, dtype, origin, start, endianness, nsymbt, exttyp, nversion, ispg, cell, sampling
        case stats, labels, quirks
        case fileShape = "file_shape"
        case voxelSize = "voxel_size"
        case axisOrder = "axis_order"
        case imageStack = "image_stack"
        case headerStats = "header_stats"
        case imodStamp = "imod_stamp"
        case imodFlags = "imod_flags"
        case fileSize = "file_size"
    }

    init(reader: MRCReader, stats s: VoxelStatistics?) {
        let h = reader.header
        path = reader.path
        shape = reader.shape.array
        fileShape = [Int(h.nx), Int(h.ny), Int(h.nz)]
        mode = h.mode
        dtype = reader.dtype.rawValue
        voxelSize = reader.voxelSize.array
        origin = reader.origin.array
        start = reader.start.array
        axisOrder = reader.axisOrder
        endianness = reader.byteOrder.rawValue
        nsymbt = h.nsymbt
        exttyp = h.exttyp
        nversion = h.nversion
        ispg = h.ispg
        imageStack = reader.isImageStack
        cell = Cell(a: h.cella.array, b: h.cellb.array)
        sampling = [h.mx, h.my, h.mz]
        func finite(_ v: Float) -> Double? { v.isFinite ? Double(v) : nil }
        headerStats = Stats(
            min: finite(h.dmin), max: finite(h.dmax), mean: finite(h.dmean), rms: finite(h.rms), nanCount: nil)
        if let s {
            let empty = s.count == 0
            stats = Stats(
                min: empty ? nil : s.min, max: empty ? nil : s.max, mean: empty ? nil : s.mean,
                rms: empty ? nil : s.rms, nanCount: s.nanCount)
        } else {
            stats = nil
        }
        labels = reader.labels
        imodStamp = h.hasIMODStamp
        imodFlags = h.imodFlags
        fileSize = reader.fileSize
        quirks = reader.quirks
    }

    var text: String {
        func f(_ v: Double?) -> String { v.map { String(format: "%.6g", $0) } ?? "n/a" }
        var lines = [
            "file:        \(path) (\(fileSize) bytes)",
            "shape:       \(shape[0]) × \(shape[1]) × \(shape[2]) voxels (x, y, "
                + "z)\(imageStack ? ", image stack" : "")",
            "mode:        \(mode) (\(MRCMode.name(of: mode)), read as \(dtype))",
            "voxel size:  \(voxelSize.map { f($0) }.joined(separator: " × ")) Å",
            "origin:      \(origin.map { f($0) }.joined(separator: ", ")) Å; start "
                + "\(start.map(String.init).joined(separator: ", "))",
            "axis order:  \(axisOrder.map(String.init).joined(separator: ",")) (mapc, mapr, maps)",
            "byte order:  \(endianness)-endian; MRC version \(nversion); space group \(ispg)",
            "ext header:  \(nsymbt) bytes\(exttyp.isEmpty ? "" : " (\(exttyp))")",
            "header:      min \(f(headerStats.min)) max \(f(headerStats.max)) mean \(f(headerStats.mean)) rms "
                + "\(f(headerStats.rms))",
        ]
        if let s = stats {
            lines.append(
                "data:        min \(f(s.min)) max \(f(s.max)) mean \(f(s.mean)) rms "
                    + "\(f(s.rms))\((s.nanCount ?? 0) > 0 ? " (\(s.nanCount!) NaN)" : "")"
            )
        }
        for (i, label) in labels.enumerated() { lines.append("label \(i):     \(label)") }
        for q in quirks { lines.append("note:        \(q)") }
        return lines.joined(separator: "\n")
    }
}
