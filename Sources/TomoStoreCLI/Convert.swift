import ArgumentParser
import MRC
import Voxels

/// `tomostore convert IN OUT [--mode N]`: rewrites an MRC file in canonical form.
struct Convert: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Rewrite an MRC file canonically: axis order 1,2,3, little-endian, MRC2014 header.",
        discussion: """
            Streams the data slab by slab (bounded memory: a slab is whole planes, rows of a plane, or pieces
            of a row). Keeps voxel size, origin, start, labels and the extended header; recomputes dmin, dmax, dmean and rms. With --mode, converts the data:
            integers are rounded to nearest and clamped to the mode's range (a warning counts them).
            uint8 data (IMOD unsigned bytes, mode 101) is written as mode 6 unless --mode 0 is asked
            for, which keeps IMOD-style unsigned bytes.

            Examples:
              tomostore convert emd_1234.map canonical.mrc
              tomostore convert tomo.rec tomo16.mrc --mode 12
            """
    )

    @Argument(help: "The MRC file to read.")
    var input: String

    @Argument(help: "The MRC file to write (replaced atomically when complete).")
    var output: String

    @Option(help: "Output mode: 0 (int8), 1 (int16), 2 (float32), 6 (uint16), 12 (float16). Default: the input's.")
    var mode: Int32?

    @Option(help: "Memory budget for one slab, in MiB.")
    var slabMiB = 64

    func validate() throws {
        if let mode, !MRCMode.writable.map(\.rawValue).contains(mode) {
            throw ValidationError("--mode \(mode) cannot be written; choose 0, 1, 2, 6 or 12")
        }
        if slabMiB < 1 { throw ValidationError("--slab-mi-b must be at least 1") }
    }

    func run() throws {
        let reader = try MRCReader(path: input)
        let target = mode.flatMap(MRCMode.init(rawValue:))
        var options = MRCWriteOptions()
        options.voxelSize = reader.voxelSize
        options.origin = Triple(Float(reader.origin.x), Float(reader.origin.y), Float(reader.origin.z))
        options.start = Triple(Int32(reader.start.x), Int32(reader.start.y), Int32(reader.start.z))
        options.labels = reader.labels
        options.action = "converted from \(input.split(separator: "/").last.map(String.init) ?? input)"
        options.isImageStack = reader.isImageStack
        if reader.header.nsymbt > 0 {
            options.extendedHeader = try reader.extendedHeader()
            options.extendedHeaderType = ExtendedHeaderType.infer(reader.header)
            options.nint = reader.header.nint
            options.nreal = reader.header.nreal
            if reader.byteOrder == .big {
                printError(
                    "tomostore: warning: the \(reader.header.nsymbt)-byte extended header is copied as is; its "
                        + "numbers stay big-endian"
                )
            }
        }
        let writer = try MRCWriter(
            path: output, shape: reader.shape, dtype: reader.dtype, mode: target, options: options)
        // Whole planes, rows or pieces of a row, whichever keeps one read near --slab-mi-b.
        for run in reader.shape.storageOrderRuns(maxVoxels: (slabMiB << 20) / reader.dtype.byteCount) {
            try writer.write(band: try reader.read(box: run), at: run.lower)
        }
        try writer.finish()
        if writer.clampedCount > 0 {
            printError(
                "tomostore: warning: \(writer.clampedCount) voxels were outside the range of \(writer.storedDType) "
                    + "and were clamped"
            )
        }
        let s = reader.shape
        print(
            "wrote \(output): \(s.x)×\(s.y)×\(s.z) mode \(writer.mode.rawValue) (\(writer.storedDType)) from "
                + "\(input) (mode \(reader.header.mode), \(reader.byteOrder)-endian, axes "
                + "\(reader.axisOrder.map(String.init).joined(separator: ",")))"
        )
    }
}
