import ArgumentParser
import Catalog
import Foundation
import Operators
import Store
import Voxels

/// `tomostore derive STORE NAME --op OP --input IN[,IN2] [--param k=v …]`: a lazy derived dataset.
struct Derive: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Define a derived dataset lazily: nothing is computed until a box of it is read.",
        discussion: """
            Operators: gaussian (sigma), dog (sigma[, sigma2]), nad (kappa[, lambda, iterations]),
            bandpass (low, high[, rolloff] in cycles/voxel), wedge-mask (tilt_min, tilt_max[, beam z|x, transition °]),
            ctf (defocus µm[, voltage kV, cs mm, amplitude, bfactor, mode multiply|flip]); the network
            operators denoise (model[, tile, overlap]), simulate (model[, seed]) and compensate (model[,
            tilt_min, tilt_max, transition, tile, gain match|none]) take a model digest, and all three the
            input adaptation invert (true|false) and voxel with working_voxel (Å: resampled from the one to
            the other and back); they are easier to define with their own commands, which store the model,
            check its task and decide the adaptation from the dataset and the model. Reading a box
            computes only the chunks it touches (inputs grown by the operator's halo) and stores them;
            `info` shows how many are materialized, `materialize` fills the rest.

            Examples:
              tomostore derive s.store t1/g2 --op gaussian --input t1 --param sigma=2
              tomostore derive s.store t1/g2dog --op dog --input t1/g2 --param sigma=3
            """
    )

    @Argument(help: "The store directory.") var store: String
    @Argument(help: "Name of the derived dataset.") var name: String
    @Option(help: "Operator.") var op: String
    @Option(help: "Input dataset(s), comma-separated.") var input: String
    @Option(help: "Seed of a random operator (simulate): the same as --param seed=S.") var seed: UInt64?
    @Option(name: .customLong("param"), help: "Operator parameter key=value (repeatable).") var params: [String] = []
    @Flag(help: "Print the new dataset's info as JSON.") var json = false

    func run() throws {
        var parameters = try parseAttributes(params, option: "--param")
        if let seed {
            // The operators read their seed from the parameters: --seed is parameter seed.
            if let given = parameters["seed"], given != .number(Double(seed)) {
                throw CommandError("--seed \(seed) and --param seed=\(given) disagree; give the seed once")
            }
            parameters["seed"] = .number(Double(seed))
        }
        let view = try Workspace(path: store).define(
            name: name, op: op, inputs: input.split(separator: ",").map(String.init), params: parameters, seed: seed)
        let ds = view.dataset!
        if json {
            print(try jsonText(any: try infoDictionary(ds)))
        } else {
            print(
                "defined \"\(name)\" = \(op)(\(input)) lazily: \(ds.grid.counts.count) chunks to compute on demand "
                    + "(digest \(ds.info.derivation?.digest ?? ""))"
            )
        }
    }
}

/// `tomostore materialize STORE NAME [--box …]`: computes a derived dataset's missing chunks.
struct Materialize: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compute and store every (or a box's) missing chunk of a derived dataset.",
        discussion:
            "Interrupting loses nothing: committed batches stay, and running it again continues.\n\nExample:\n  "
            + "tomostore materialize s.store t1/g2"
    )

    @OptionGroup var dataset: DatasetArguments
    @Option(help: "x0:x1,y0:y1,z0:z1 (default: the whole volume).") var box: String?
    @Flag(help: "No progress bar.") var quiet = false

    func run() throws {
        let workspace = try Workspace(path: dataset.store)
        let ds = try workspace.store.dataset(named: dataset.name)
        guard ds.info.kind == .derived else {
            throw CommandError("\"\(ds.name)\" is not a derived dataset; nothing to materialize")
        }
        let view = try workspace.derived(dataset.name)
        let region = try box.map { try parseBox($0, shape: ds.shape) } ?? Box3(shape: ds.shape)
        guard region.isInside(ds.shape) else {
            throw StoreError.boxOutOfBounds(name: ds.name, box: region, shape: ds.shape)
        }
        let bar = ProgressBar("materialize \(ds.name)", unit: "chunks", quiet: quiet)
        let start = Date()
        let before = try view.storedChunkCount()
        try view.materialize(region) { bar.update($0, $1) }
        let after = try view.storedChunkCount()
        print(
            String(
                format: "materialized %d chunks of \"%@\" in %.2f s (%d of %d stored)", after - before, ds.name,
                Date().timeIntervalSince(start), after, ds.grid.counts.count))
    }
}

/// `tomostore gc STORE`: removes chunks and blobs that no dataset uses.
struct GarbageCollect: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gc",
        abstract: "Delete stored chunks and blobs that belong to no dataset, and unfinished pyramid levels.",
        discussion: "Example:\n  tomostore gc s.store"
    )

    @Argument(help: "The store directory.") var store: String

    func run() throws {
        let removed = try Workspace(path: store).collectGarbage()
        print("removed \(removed) unused entries")
    }
}
