import ArgumentParser
import Catalog
import Store

/// `tomostore pyramid STORE NAME [--levels L]`: multiscale levels inside the store.
struct PyramidCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pyramid",
        abstract:
            "Store reduced-resolution levels of a dataset (2×2×2 mean; mode for labels), read with `get --level`.",
        discussion:
            "Example:\n  tomostore pyramid s.store t1 --levels 4\n  tomostore get s.store t1 --level 2 -o overview.mrc"
    )
    @OptionGroup var dataset: DatasetArguments
    @Option(help: "Total levels, including full resolution.") var levels = 4
    @Flag(help: "No progress bar.") var quiet = false

    func run() throws {
        let store = try Store(path: dataset.store)
        let ds = try store.dataset(named: dataset.name)
        let bar = ProgressBar("pyramid \(ds.name)", unit: "chunks", quiet: quiet)
        try ds.buildPyramid(levels: levels, reduction: ds.info.kind == .labels ? .mode : .mean) { bar.update($0, $1) }
        let sizes = (0..<levels).map { ds.info.grid(level: $0).shape.description }
        print("stored \(levels) levels of \"\(ds.name)\": \(sizes.joined(separator: ", "))")
    }
}
