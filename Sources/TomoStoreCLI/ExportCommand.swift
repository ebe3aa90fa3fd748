import ArgumentParser
import Catalog
import MRC
import Operators
import Store
import Transfer

/// `tomostore export STORE NAME -o OUT.mrc`: a whole dataset as canonical MRC2014.
struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write a whole dataset as a canonical MRC2014 file.",
        discussion: """
            Streams band by band (bounded memory). Keeps voxel size, origin, start and labels; with
            --keep-extended-header, also the extended header of the ingested file.

            Example:
              tomostore export s.store tomo1 -o tomo1.mrc --keep-extended-header
            """
    )

    @OptionGroup var dataset: DatasetArguments
    @Option(name: .shortAndLong, help: "Output MRC file.") var output: String
    @Option(help: "Output mode 0, 1, 2, 6 or 12 (default: the dataset's dtype).") var mode: Int32?
    @Flag(help: "Write the source file's extended header too.") var keepExtendedHeader = false
    @Flag(help: "No progress bar.") var quiet = false

    func run() throws {
        let target: MRCMode?
        if let mode {
            guard let m = MRCMode(rawValue: mode), MRCMode.writable.contains(m) else {
                throw CommandError("--mode \(mode) cannot be written; choose 0, 1, 2, 6 or 12")
            }
            target = m
        } else {
            target = nil
        }
        let ds = try Workspace(path: dataset.store).open(dataset.name)
        let bar = ProgressBar("export \(ds.name)", unit: "bands", quiet: quiet)
        let writer = try Export.mrc(
            ds, to: output, mode: target ?? (ds.dtype == .uint32 ? .float32 : nil),
            keepExtendedHeader: keepExtendedHeader
        ) { bar.update($0, $1) }
        if writer.clampedCount > 0 {
            printError("tomostore: warning: \(writer.clampedCount) voxels were clamped to \(writer.storedDType)")
        }
        print("wrote \(output): \"\(ds.name)\" \(ds.shape) as MRC mode \(writer.mode.rawValue)")
    }
}
