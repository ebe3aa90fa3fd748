import ArgumentParser
import Catalog
import DUAL
import Engine
import Foundation
import MRC
import Operators
import Store
import Transfer
import Voxels

/// The model `reference` names (a .safetensors file, default, or a stored name or digest): the
/// model, its file bytes and its file metadata.
func resolveModel(_ reference: String, store: Store?) throws -> (DUALModel, [UInt8], [String: String]) {
    let resolved = try ModelResolver(store: store).resolve(reference)
    return (resolved.model, resolved.bytes, resolved.metadata)
}

/// `tomostore models STORE`: the named DUAL models stored in a store.
struct Models: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "List the DUAL models stored in a store by name, with their task (train and train-compensate store each "
            + "model they write).",
        discussion:
            "Any name or digest listed works as --model for denoise, simulate and corpus recipes.\n\nExamples:\n  "
            + "tomostore models s.store\n  tomostore models s.store --json"
    )

    @Argument(help: "The store directory.") var store: String
    @Flag(
        help:
            ArgumentHelp(
                "Print a JSON array of {name, digest, bytes, task}; task is denoise (train) or compensate "
                    + "(train-compensate).")
    ) var json = false

    func run() throws {
        let registry = ModelRegistry(store: try Store(path: store))
        let entries = try registry.names().map { entry -> (String, String, Int, String) in
            let bytes = try registry.bytes(digest: entry.digest) ?? []
            let task = (try? Safetensors.metadata(bytes, source: entry.name)["task"]) ?? nil
            return (entry.name, entry.digest, bytes.count, task ?? "denoise")
        }
        if json {
            print(
                try jsonText(
                    any: entries.map { ["name": $0.0, "digest": $0.1, "bytes": $0.2, "task": $0.3] as [String: Any] }))
            return
        }
        if entries.isEmpty {
            print("(no named models)")
            return
        }
        for (name, digest, bytes, task) in entries { print("\(name)  \(digest)  \(bytes) bytes  \(task)") }
    }
}

/// Options shared by the DUAL training commands (train, train-compensate).
struct DUALTrainingOptions: ParsableArguments {
    @Option(name: .shortAndLong, help: "Output model (.safetensors); it is also stored in the store.") var output:
        String
    @Option(
        name: .customLong("model-name"),
        help: "Name of the model inside the store (default: the output file's name without its extension).")
    var modelName: String?
    @Option(help: "Iterations.") var iterations = 200
    @Option(help: "Patches per batch (default: the config's).") var batch: Int?
    @Option(help: "Seed.") var seed: UInt64 = 1
    @Option(name: .customLong("config"), help: "key=value overrides (repeatable).") var overrides: [String] = []
    @Option(help: "Checkpoint interval in iterations.") var checkpointEvery = 50
    @Flag(help: "Continue from OUTPUT.checkpoint.") var resume = false
    @Flag(help: "No progress on stderr.") var quiet = false

    func validate() throws {
        guard iterations > 0 else { throw ValidationError("--iterations must be positive") }
        guard checkpointEvery > 0 else { throw ValidationError("--checkpoint-every must be positive") }
    }

    /// `base` with the --config overrides and --batch applied.
    func config(from base: DUALConfig) throws -> DUALConfig {
        var config = base
        for item in overrides {
            let (key, value) = try splitKeyValue(item, option: "--config")
            try config.apply(key, value)
        }
        if let batch { try config.apply("batch", "\(batch)") }
        return config
    }

    /// Trains a model between two domains with progress on stderr and checkpoints beside the
    /// output, then writes the model (with `metadata`) and stores it under its name.
    func train(
        store s: Store, config: DUALConfig, clean: [PatchVolume], noisy: [PatchVolume], metadata: [String: String]
    ) throws {
        let storedName = modelName ?? URL(fileURLWithPath: output).deletingPathExtension().lastPathComponent
        try ModelRegistry.validate(name: storedName)
        var run = DUALTrainingRun(
            config: config, seed: seed, iterations: iterations, checkpointEvery: checkpointEvery, output: output)
        run.resume = resume
        let (total, quiet) = (iterations, quiet)
        let result = try run.run(clean: clean, noisy: noisy, metadata: metadata) { iteration, losses, eta in
            guard !quiet && (isatty(2) != 0 || iteration % max(1, total / 20) == 0 || iteration == total) else {
                return
            }
            printError(
                String(
                    format: "iteration %d/%d  rec %.4f  adv %.4f  kl %.4f  disc %.4f  ETA %.0f s", iteration, total,
                    losses.reconstruction, losses.adversarial, losses.kl, losses.discriminator, eta))
        }
        try ModelRegistry(store: s).put(digest: result.model.digest, result.bytes, name: storedName)
        print(
            String(
                format: "trained %@ (stored as \"%@\"): %d iterations in %.1f s, digest %@", output, storedName,
                result.iterationsRun, result.seconds, result.model.digest))
    }
}

extension VolumeSource {
    /// This dataset as a training volume, standardized with its statistics.
    var patchVolume: PatchVolume {
        PatchVolume(name: "dataset \(name)", shape: shape, mean: info.stats?.mean ?? 0, std: info.stats?.rms ?? 1) {
            try self.read($0)
        }
    }
}

/// Datasets named in a comma-separated list.
func datasets(_ list: String, in s: Store) throws -> [any VolumeSource] {
    let names = list.split(separator: ",").map(String.init)
    guard !names.isEmpty else { throw CommandError("no dataset named in \"\(list)\": give NAME[,NAME…]") }
    let workspace = Workspace(store: s)
    return try names.map { try workspace.open($0) }
}

/// `tomostore train STORE --clean … --noisy … -o MODEL`: trains DUAL on unpaired patches from the store.
struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a DUAL model (paper, Methods) on unpaired random patches of clean and noisy datasets.",
        discussion: """
            Patches are read straight from the store and standardized with each dataset's statistics.
            Progress (iteration, losses, ETA) goes to stderr; a checkpoint MODEL.checkpoint is written
            every --checkpoint-every iterations and --resume continues from it. --config key=value
            overrides sizes and losses (depth, base, code_length, discriminator_base, patch,
            lambda_reconstruction, lambda_adversarial, lambda_kl, reconstruction=paper|plain,
            denoiser_output=linear|relu, cycle_flips=true|false, learning_rate, weight_decay, batch).
            Same data, settings and seed → same weights.

            Example:
              tomostore train s.store --clean a/grand-model,b/grand-model --noisy c/tomogram,d/tomogram -o \
              dual.safetensors --iterations 500
            """
    )

    @Argument(help: "The store directory.") var store: String
    @Option(help: "Clean-domain datasets (grand models), comma-separated.") var clean: String
    @Option(help: "Noisy-domain datasets (tomograms), comma-separated.") var noisy: String
    @OptionGroup var training: DUALTrainingOptions

    func run() throws {
        let config = try training.config(from: DUALConfig())
        let s = try Store(path: store)
        try training.train(
            store: s, config: config, clean: try datasets(clean, in: s).map(\.patchVolume),
            noisy: try datasets(noisy, in: s).map(\.patchVolume), metadata: ["clean": clean, "noisy": noisy])
    }
}

/// Where a network operator's result goes (a file now, or a lazy dataset) and how its overlap
/// tiles are laid out: shared by denoise, simulate and compensate.
struct NetworkOutputOptions: ParsableArguments {
    @Option(name: .shortAndLong, help: "Output MRC file.") var output: String?
    @Option(help: "Name of a lazy derived dataset instead of a file.") var name: String?
    @Option(
        help:
            ArgumentHelp(
                "Fraction of a tile shared with each neighbour, 0.05…0.5 (default: denoise 0.125 on 64³ tiles; "
                    + "simulate and compensate 0.5, the paper's).")
    ) var overlap: Double?
    @Option(
        help: ArgumentHelp(
            "The input's voxel size in Å, replacing the recorded one (needed when it is a 0 or 1 Å placeholder).",
            valueName: "Å")) var voxel: Double?
    @Flag(help: "No progress bar.") var quiet = false

    func validate() throws {
        if let voxel, !(voxel > 0 && voxel.isFinite) { throw ValidationError("--voxel \(voxel) must be positive (Å)") }
        guard (output == nil) != (name == nil) else {
            throw ValidationError("give either -o FILE (compute now) or --name DATASET (define lazily)")
        }
    }
}

/// Shared by denoise, simulate and compensate: whole-volume inference to a file, or a lazy dataset.
enum NetworkOperatorCommand {
    /// What each operator's output is (README, Contrast).
    static let convention = [
        "denoise": "density on the input's grid, standardized, protein bright",
        "simulate": "a tomogram on the grand model's grid, protein dark (as reconstructed)",
        "compensate": "the input's units and contrast on its grid",
    ]

    /// The model must have been trained for `task` (see `requireTask`); `parameters` gives the
    /// operator's parameters besides model, seed and overlap from the input dataset and the model
    /// file's metadata.
    static func run(
        store: String, input: String, modelReference: String, task: String?, destination: NetworkOutputOptions,
        op: String, seed: UInt64?,
        parameters: (Dataset, [String: String]) throws -> [String: JSONValue] = { _, _ in [:] }
    ) throws {
        let (output, name, quiet) = (destination.output, destination.name, destination.quiet)
        // A modest chunk cache: tiles re-read their neighbours' input chunks within a band, and a
        // larger cache would only grow the process with the volume.
        let workspace = try Workspace(path: store, cacheBytes: 128 << 20)
        // One 64³ tile's activations at a time: a small buffer pool is enough (README, Real data).
        Tensor.bufferPoolLimit = 128 << 20
        let source = try workspace.store.dataset(named: input)
        let resolved = try ModelResolver(store: workspace.store).resolve(modelReference)
        try ModelResolver.require(task, of: resolved, reference: modelReference)
        var params = try parameters(source, resolved.metadata)
        if let overlap = destination.overlap { params["overlap"] = .number(overlap) }
        let (adaptation, notes) = try NetworkInputAdaptation.decide(
            input: try workspace.open(input), model: ModelDomain(metadata: resolved.metadata),
            domain: op == "simulate" ? .clean : .noisy, voxelOverride: destination.voxel)
        params.merge(adaptation.parameters) { _, new in new }
        // What was adapted, said once the result is there (an error stays the only line).
        func report() {
            guard !quiet else { return }
            for line in notes { printError(line) }
            printError("output: \(NetworkOperatorCommand.convention[op] ?? "")")
        }
        let digest = resolved.model.digest
        let registry = ModelRegistry(store: workspace.store)
        if try registry.bytes(digest: digest) == nil { try registry.put(digest: digest, resolved.bytes) }
        params["model"] = .string(digest)
        if let seed { params["seed"] = .number(Double(seed)) }
        if let name {
            let ds = try workspace.define(
                name: name, op: op, inputs: [input], params: params, modelDigest: digest, seed: seed)
            print(
                "defined \"\(name)\" = \(op)(\(input)) lazily with model \(digest): \(ds.grid.counts.count) chunks "
                    + "on demand"
            )
            report()
            return
        }
        // The same view as a defined dataset's, storing nothing, streamed into the file in bands of full
        // x and about 16 Mvoxel (y rows × z planes, at least 64 of each where the volume has them):
        // memory stays bounded for any volume size, and overlap tiles on a band's border are computed
        // for both bands, so thicker bands waste less.
        let view = try workspace.view(op: op, inputs: [input], params: params, modelDigest: digest, seed: seed)
        let shape = view.shape
        let planes = min(shape.z, 64)
        let rows = min(shape.y, max(64, (16 << 20) / max(1, shape.x * planes) / 16 * 16))
        let start = Date()
        let bar = ProgressBar("\(op) \(input)", unit: "bands", quiet: quiet)
        try Export.mrc(
            view, to: output!, band: (rows, planes), action: "\(op) of \(input) with DUAL model \(digest)",
            progress: { bar.update($0, $1) })
        let seconds = Date().timeIntervalSince(start)
        print(
            String(
                format: "wrote %@: %@ of \"%@\" (%.1f s, %.2f Mvoxel/s)", output!, op, input, seconds,
                Double(shape.count) / seconds / 1e6))
        report()
    }
}

/// `tomostore denoise STORE IN --model M (-o OUT | --name OUT)`.
struct Denoise: ParsableCommand {
    /// 64³ tiles sharing 1/8 of their edge: (64/56)³ ≈ 1.5 network voxels per output voxel, against 8
    /// for 32³ tiles at one half, with the same scores on the denoising benchmark and real data
    /// (README, Real data).
    static let defaultTile = 64
    static let defaultOverlap = 0.125

    static let configuration = CommandConfiguration(
        abstract:
            "Denoise a tomogram with DUAL's Dn: now into an MRC file (-o) or lazily as a derived dataset (--name).",
        discussion: """
            Overlap tiles anchored to the volume origin, blended with a sin² window that sums to one, so
            a voxel's value does not depend on how the volume was split. --model: a .safetensors file,
            default, or the name or digest of a model stored in the store (tomostore models STORE).

            Examples:
              tomostore denoise s.store t1 --model dual.safetensors -o t1-denoised.mrc
              tomostore denoise s.store t1 --model dual.safetensors --name t1/dual
            """
    )
    @Argument(help: "The store directory.") var store: String
    @Argument(help: "The tomogram dataset.") var input: String
    @Option(help: "Model: .safetensors file, default, or a stored name or digest.") var model = "default"
    @Option(help: "Inference tile edge in voxels (default 64; the U-Net is fully convolutional).") var tile: Int?
    @OptionGroup var destination: NetworkOutputOptions

    func run() throws {
        let edge = tile
        try NetworkOperatorCommand.run(
            store: store, input: input, modelReference: model, task: nil, destination: destination, op: "denoise",
            seed: nil
        ) { _, _ in ["tile": .number(Double(edge ?? Self.defaultTile)), "overlap": .number(Self.defaultOverlap)] }
    }
}

/// `tomostore simulate STORE GRAND_MODEL --model M --seed S (-o OUT | --name OUT)`.
struct Simulate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Simulate a realistic tomogram from a grand model with DUAL's Gs(v + P·Gn(z)).",
        discussion:
            "The code z and permutation P of each tile come from (seed, tile origin).\n\nExample:\n  tomostore "
            + "simulate s.store s1/grand-model --model dual.safetensors --seed 3 -o sim.mrc"
    )
    @Argument(help: "The store directory.") var store: String
    @Argument(help: "The grand-model dataset.") var input: String
    @Option(help: "Model: .safetensors file, default, or a stored name or digest.") var model = "default"
    @Option(help: "Seed.") var seed: UInt64 = 1
    @OptionGroup var destination: NetworkOutputOptions

    func run() throws {
        try NetworkOperatorCommand.run(
            store: store, input: input, modelReference: model, task: nil, destination: destination, op: "simulate",
            seed: seed)
    }
}
