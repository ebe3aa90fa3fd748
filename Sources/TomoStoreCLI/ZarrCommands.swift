import ArgumentParser
import Catalog
import Foundation
import Imaging
import Operators
import Store
import Transfer
import Voxels

/// `tomostore export-zarr STORE NAME -o OUT.zarr [--levels L] [--shard N]`.
struct ExportZarr: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export-zarr",
        abstract: "Write a dataset as a Zarr v3 array, or an OME-Zarr 0.5 multiscale group with --levels.",
        discussion: """
            dimension_names ["z", "y", "x"], zstd level 3, the dataset's chunks; --levels L adds L−1 levels
            downsampled by 2 (mean; mode for labels) and the voxel size in Å as OME scale; --shard N groups
            N³ chunks per shard (sharding_indexed, crc32c index). Labels carry their class table.

            Example:
              tomostore export-zarr s.store t1 -o t1.zarr --levels 3 --shard 2
            """
    )
    @OptionGroup var dataset: DatasetArguments
    @Option(name: .shortAndLong, help: "Output directory (.zarr).") var output: String
    @Option(help: "Pyramid levels (1: a plain array).") var levels = 1
    @Option(help: "Chunks per shard side.") var shard: Int?

    func validate() throws {
        guard levels >= 1 && levels <= 10 else { throw ValidationError("--levels must be 1…10") }
        if let shard, shard < 1 { throw ValidationError("--shard must be at least 1") }
    }

    func run() throws {
        let ds = try Workspace(path: dataset.store).open(dataset.name)
        try ZarrExport.write(ds, to: output, levels: levels, shard: shard)
        let layout = levels > 1 ? "OME-Zarr with \(levels) levels" : "a Zarr v3 array"
        let sharding = shard.map { ", \($0)³ chunks per shard" } ?? ""
        print("wrote \(output): \"\(ds.name)\" as \(layout)\(sharding)")
    }
}

/// `tomostore import-zarr STORE IN.zarr --name NAME`.
struct ImportZarr: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import-zarr",
        abstract: "Import a Zarr v3 (sharded or not) or v2 array, or an OME-Zarr's first level, as a dataset.",
        discussion: """
            Streams the array a run of chunks at a time (memory follows the chunks, not the array), reading
            only the chunk files (and of a shard, its index and the inner chunks) each run needs; missing
            chunks are the fill value. Commits in durable batches; the dataset is marked complete only in its
            last transaction, and an interrupted import continues with --resume.

            Examples:
              tomostore import-zarr s.store tomo.zarr --name t2 --kind tomogram
              tomostore import-zarr s.store tomo.ome.zarr --name t3 --resume
            """
    )
    @Argument(help: "The store directory.") var store: String
    @Argument(help: "The Zarr array or OME-Zarr group.") var input: String
    @Option(help: "Dataset name.") var name: String
    @Option(help: "tomogram, grand-model, labels or synthetic.") var kind = "tomogram"
    @Option(help: "Voxel size in Å (default: the OME scale, else 1).") var voxel: Double?
    @Flag(help: "Continue an interrupted import of the same array.") var resume = false
    @Flag(help: "No progress bar.") var quiet = false

    func validate() throws {
        guard let k = DatasetKind(rawValue: kind), k != .derived else {
            throw ValidationError("unknown --kind \(kind); use tomogram, grand-model, labels or synthetic")
        }
    }

    func run() throws {
        let k = DatasetKind(rawValue: kind)!
        let s = try Store(path: store)
        try Store.validate(name: name)
        let reader = try ZarrArrayReader(path: input)
        var options = IngestOptions(name: name)
        options.kind = k
        options.resume = resume
        options.voxelSize = voxel
        // Said once the dataset is in (a failing import prints its error alone).
        var notes: [String] = []
        if k == .tomogram && !resume {
            let v = try estimationVoxelSize(
                header: reader.voxelSize ?? [1, 1, 1], override: voxel, what: input, notes: &notes)
            let estimate = try ContrastEstimate.estimate(shape: reader.shape, voxelSize: v) {
                try reader.read(box: $0)
            }
            options.contrast = (estimate.contrast ?? .dark, estimate.explanation)
            notes.append("contrast of \(name): \(estimate.explanation)")
        } else if k == .grandModel {
            options.contrast = (.bright, "density (grand model)")
        }
        let bar = ProgressBar("import \(name)", unit: "chunks", quiet: quiet)
        try Ingest.zarr(input, into: s, options: options) { bar.update($0, $1) }
        for line in notes { printError(line) }
        let volume = try s.dataset(named: name)
        print("imported \(input) as \"\(name)\": \(volume.shape) \(volume.dtype.rawValue)")
    }
}
