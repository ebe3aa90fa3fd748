import ArgumentParser
import Catalog
import DUAL
import Engine
import Foundation
import Imaging
import MRC
import Operators
import Simulation
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
            "List the models stored in a store by name, with their task (train, train-compensate and segment train "
            + "store each model they write).",
        discussion:
            "Any name or digest listed works as --model for the commands of its task (segmenters: segment apply).\n\nExamples:\n  "
            + "tomostore models s.store\n  tomostore models s.store --json"
    )

    @Argument(help: "The store directory.") var store: String
    @Flag(
        help:
            ArgumentHelp(
                "Print a JSON array of {name, digest, bytes, task}; task is denoise (train), compensate "
                    + "(train-compensate) or segment (segment train).")
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
    @Option(help: "Iterations (default 200; with --time, the most to run).") var iterations: Int?
    @Option(
        help: ArgumentHelp(
            "Time budget, e.g. 30m, 90s, 1h: training stops after the iteration that reaches it.",
            valueName: "duration")) var time: String?
    @Option(help: "Patches per batch (default: the config's).") var batch: Int?
    @Option(help: "Seed.") var seed: UInt64 = 1
    @Option(name: .customLong("config"), help: "key=value overrides (repeatable).") var overrides: [String] = []
    @Option(help: "Checkpoint interval in iterations.") var checkpointEvery = 50
    @Flag(help: "Continue from OUTPUT.checkpoint.") var resume = false
    @Flag(help: "No progress on stderr.") var quiet = false

    func validate() throws {
        if let iterations, iterations <= 0 { throw ValidationError("--iterations must be positive") }
        guard checkpointEvery > 0 else { throw ValidationError("--checkpoint-every must be positive") }
        _ = try timeLimit()
    }

    /// --time in seconds (nil when not given).
    func timeLimit() throws -> Double? { try parseDuration(time) }

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
    /// output, then writes the model (with `metadata`) and stores it under its name. `initial`:
    /// weights to start from instead of the seed's; `calibrate`: fit the simulation's calibration
    /// unless the configuration says none.
    func train(
        store s: Store, config: DUALConfig, clean: [PatchVolume], noisy: [PatchVolume], metadata: [String: String],
        initial: (bytes: [UInt8], source: String)? = nil, averageDecay: Double? = nil, calibrate: Bool = true
    ) throws {
        let storedName = modelName ?? URL(fileURLWithPath: output).deletingPathExtension().lastPathComponent
        try ModelRegistry.validate(name: storedName)
        let limit = try timeLimit()
        let schedule = TrainingSchedule(
            iterations: iterations, defaultIterations: 200, timeLimit: limit, checkpointEvery: checkpointEvery,
            output: output, resume: resume)
        var run = DUALTrainingRun(config: config, seed: seed, schedule: schedule)
        run.initialWeights = initial
        run.averageDecay = averageDecay
        run.calibrateSimulation = calibrate && config.simulationCalibration != "none"
        let bar = TrainingProgress(label: "train", limit: limit, total: schedule.iterations, quiet: quiet)
        let result = try run.run(clean: clean, noisy: noisy, metadata: metadata) { iteration, losses, eta in
            let matching =
                (losses.spectrum.map { String(format: "  spec %.4f", $0) } ?? "")
                + (losses.histogram.map { String(format: "  hist %.4f", $0) } ?? "")
                + (losses.latent.map { String(format: "  latent %.4f", $0) } ?? "")
                + (losses.diversity.map { String(format: "  div %.4f", $0) } ?? "")
            bar.report(iteration: iteration, secondsLeft: eta) {
                String(
                    format: "rec %.4f  adv %.4f  kl %.4f%@  disc %.4f", losses.reconstruction, losses.adversarial,
                    losses.kl, matching, losses.discriminator)
            }
        }
        bar.finish()
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

/// `tomostore train STORE [--clean …] --noisy … -o MODEL`: trains DUAL on unpaired patches from the store.
struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a DUAL model (paper, Methods) on unpaired random patches of clean and noisy datasets.",
        discussion: """
            Patches are read straight from the store and standardized with each dataset's statistics.
            Progress (iteration, losses, ETA) goes to stderr; a checkpoint MODEL.checkpoint is written
            every --checkpoint-every iterations and --resume continues from it. --config key=value
            overrides sizes and losses (depth, base, code_length, discriminator_base, patch,
            lambda_reconstruction, lambda_adversarial, lambda_kl, lambda_spectrum, lambda_histogram,
            lambda_latent, lambda_diversity, noise_diversity=difference|bandpass, noisy_cycle=full|lowpass,
            simulation_calibration=spectrum|snr|none, reconstruction=paper|plain,
            denoiser_output=linear|relu, cycle_flips=true|false, learning_rate, denoiser_learning_rate,
            weight_decay, batch).
            Same data, settings, seed and iterations → same weights (a --time budget makes the count
            depend on the machine; the model records it). Training ends by fitting the simulation's
            calibration to the noisy data (its power spectrum and histogram; ~2 s; snr: also its share of
            structure against noise per frequency, measured through Dn, at the cost of two passes of Gs
            per simulated tile).

            Without --clean (training on your own data): starts from --from (the shipped model by
            default) and fine-tunes it on the noisy datasets as the operators will show them to it —
            inverted to its noisy domain's contrast and resampled to the working voxel size chosen for
            the first of them — against a clean domain built here: 4 grand models at that voxel size
            with structures at their physical sizes (vesicles of 30–150 nm, the built-in particles of
            10–40 nm, and --templates), low-passed to the data's resolution. The simulation branch's
            terms are on (noisy_cycle=lowpass, noise_diversity=bandpass, lambda_diversity=1,
            lambda_spectrum=10, lambda_histogram=10) at learning rate 1e-4, the denoiser at 2e-5
            (denoiser_learning_rate). The model records its voxel
            size, noise grain, contrasts and clean-domain resolution.

            Examples:
              tomostore train s.store --noisy hiv --time 30m -o hiv.safetensors
              tomostore train s.store --clean a/grand-model,b/grand-model --noisy c/tomogram,d/tomogram -o \
              dual.safetensors --iterations 500
            """
    )

    @Argument(help: "The store directory.") var store: String
    @Option(help: "Clean-domain datasets (grand models), comma-separated (default: built here, see above).")
    var clean: String?
    @Option(help: "Noisy-domain datasets (tomograms), comma-separated.") var noisy: String
    @Option(
        help: ArgumentHelp(
            "Templates for the built clean domain: built-in names (or all) and .mrc/.pdb/.cif files.",
            valueName: "list")) var templates = "all"
    @Option(
        help: ArgumentHelp(
            "Start from this model (file, default, stored name or digest) or none (from the seed); default: "
                + "default without --clean, none with it.", valueName: "model")) var from: String?
    @OptionGroup var training: DUALTrainingOptions

    /// Grand models built for the clean domain, and their edge limits in voxels.
    static let builtCleanCount = 4
    static let builtCleanShape = Extent3(x: 128, y: 128, z: 64)
    /// The weights written are their moving average over ~500 iterations (`DUALTrainingRun.averageDecay`).
    static let averageDecay = 0.998
    /// Vesicles per µm³ and particle crowding of the built clean domain.
    static let (builtVesicles, builtCrowding) = (10.0, 0.1)

    func run() throws {
        let s = try Store(path: store)
        let start = (from ?? (clean == nil ? "default" : "none")) == "none" ? nil : (from ?? "default")
        let base = try start.map { try resolveModel($0, store: s) }
        // On one's own data the simulation branch's terms come on by default (`ownDataSimulation`).
        let startConfig = base?.0.config ?? DUALConfig()
        let config = try training.config(from: clean == nil ? startConfig.ownDataSimulation : startConfig)
        if let base,
            base.0.config.patch != config.patch || base.0.config.base != config.base
                || base.0.config.depth != config.depth
        {
            throw CommandError("--config changes the sizes of \(start!)'s networks; give --from none to start afresh")
        }
        let noisyData = try datasets(noisy, in: s)
        let initial = base.map { (bytes: $0.1, source: start!) }
        if let clean {
            // The domains as given, recorded from the first of each (the operators adapt to them).
            let cleanData = try datasets(clean, in: s)
            let first = noisyData[0]
            let contrasts = Set(noisyData.map { $0.info.contrast ?? .dark })
            if contrasts.count > 1 && !training.quiet {
                printError("warning: the noisy datasets differ in contrast; the model records \(first.name)'s")
            }
            var metadata = ModelDomain(
                voxelSize: first.info.voxelSize[0] > 1 ? first.info.voxelSize[0] : 10,  // 0/1 Å: unknown
                noiseGrain: try NoiseGrain.measure(shape: first.shape) { try first.read($0) },
                noisyContrast: first.info.contrast ?? .dark, cleanContrast: cleanData[0].info.contrast ?? .bright
            ).metadata
            metadata["clean"] = clean
            metadata["noisy"] = noisy
            try training.train(
                store: s, config: config, clean: cleanData.map(\.patchVolume), noisy: noisyData.map(\.patchVolume),
                metadata: metadata, initial: initial)
            return
        }
        // The noisy domain as the operators will show it to the model.
        let domain = ModelDomain(metadata: base?.2 ?? [:])
        var working: Double?
        var noisyVolumes: [PatchVolume] = []
        var grain = 0.0
        for ds in noisyData {
            var (adaptation, notes) = try NetworkInputAdaptation.decide(
                input: ds, model: domain, domain: .noisy, voxelOverride: nil)
            if let working { adaptation.workingVoxel = working } else { working = adaptation.workingVoxel }
            let view = adaptation.workingView(of: ds)
            if noisyVolumes.isEmpty { grain = try NoiseGrain.measure(shape: view.shape, read: view.read) }
            noisyVolumes.append(
                PatchVolume(name: "dataset \(ds.name)", shape: view.shape, mean: 0, std: 1, read: view.read))
            if !training.quiet { for line in notes { printError(line) } }
        }
        let voxel = working ?? 10
        // The clean domain: grand models at the working voxel size, structures at physical sizes,
        // membranes prominent, and no detail finer than the data can show: low-passed to the first
        // noisy dataset's Nyquist resolution (2 voxels; a Gaussian of that FWHM).
        let resolution = 2 * (noisyData.first?.info.voxelSize[0] ?? voxel)
        let blur = ModelDomain.lowpassSigma(resolution: resolution, voxel: voxel)
        let chosen = try resolveTemplates(templates, voxelSize: voxel)
        let cleanVolumes = (0..<Self.builtCleanCount).map { k -> PatchVolume in
            var gp = GrandModelParameters(shape: Self.builtCleanShape)
            gp.voxelSize = voxel
            gp.seed = training.seed &* 1000 &+ UInt64(k + 1)
            gp.templates = chosen
            gp.vesicleRadii = 150...750
            gp.vesiclesPerCubicMicron = Self.builtVesicles
            gp.crowding = Self.builtCrowding
            gp.voxelIntegrated = true
            var density = GrandModel.make(gp).density
            if let blur { density = GaussianFilter.apply(density, sigma: blur) }
            let stats = VoxelStatistics.of(density)
            return PatchVolume(name: "grand model \(k + 1)", shape: density.shape, mean: stats.mean, std: stats.rms) {
                density.extracting($0)
            }
        }
        if !training.quiet {
            printError(
                String(
                    format:
                        "clean domain: %d grand models of %@ at %.2f Å (vesicles 30–150 nm, templates %@, low-passed "
                        + "to %.0f Å)%@", Self.builtCleanCount, Self.builtCleanShape.description, voxel, templates,
                    resolution,
                    base == nil
                        ? ""
                        : "; fine-tuning \(start!) at learning rate \(config.learningRate)"
                            + (config.denoiserLearningRate.map { " (the denoiser at \($0))" } ?? ""))
                    + "; simulation terms: noisy_cycle=\(config.noisyCycle ?? "full") "
                    + "noise_diversity=\(config.noiseDiversity ?? "difference")")
        }
        var trained = ModelDomain(
            voxelSize: voxel, noiseGrain: grain, noisyContrast: domain.noisyContrast, cleanContrast: .bright,
            dataContrast: noisyData[0].info.contrast ?? .dark)
        if blur != nil { trained.cleanResolution = resolution }
        var metadata = trained.metadata
        metadata["noisy"] = noisy
        metadata["clean"] =
            "built: \(Self.builtCleanCount) grand models at \(String(format: "%.2f", voxel)) Å, templates \(templates)"
        if let base { metadata["from"] = base.0.digest }
        try training.train(
            store: s, config: config, clean: cleanVolumes, noisy: noisyVolumes, metadata: metadata, initial: initial,
            averageDecay: Self.averageDecay)
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
                "Fraction of a tile shared with each neighbour, 0.05…0.5 (default: denoise and simulate 0.125 on "
                    + "64³ tiles; compensate 0.5 on the model's patch, the paper's).")
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
        "simulate": "a tomogram on the grand model's grid, standardized, in the contrast of the model's training data",
        "compensate": "the input's units and contrast on its grid",
    ]

    /// The model must have been trained for `task` (see `requireTask`); `parameters` gives the
    /// operator's parameters besides model, seed and overlap from the input dataset and the model
    /// file's metadata.
    static func run(
        store: String, input: String, modelReference: String, task: String?, destination: NetworkOutputOptions,
        op: String, seed: UInt64?, resolution: Double? = nil,
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
            domain: op == "simulate" ? .clean : .noisy, voxelOverride: destination.voxel,
            resolutionOverride: resolution)
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

/// `--resolution Å|none|model`: the Gaussian low-pass (FWHM in Å) a grand model gets before DUAL simulates it.
struct GrandModelResolutionOption: ParsableArguments {
    @Option(
        name: .customLong("resolution"),
        help: ArgumentHelp(
            "Low-pass of the grand model before simulation: a Gaussian's FWHM in Å, none, or model (the "
                + "resolution of the model's clean domain in training).", valueName: "Å|none|model"))
    var text: String?

    /// The FWHM in Å (0: none), or nil for the model's own; `fallback` when the option is not given.
    func resolution(fallback: Double?) -> Double? {
        guard let text else { return fallback }
        switch text {
        case "none": return 0
        case "model": return nil
        default: return Double(text)
        }
    }

    func validate() throws {
        guard let text, text != "none", text != "model" else { return }
        guard let r = Double(text), r > 0, r <= 10_000 else {
            throw ValidationError("--resolution must be a FWHM in Å (0 < Å ≤ 10000), none or model, not \(text)")
        }
    }
}

/// `tomostore simulate STORE GRAND_MODEL --model M --seed S (-o OUT | --name OUT)`.
struct Simulate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Simulate a realistic tomogram from a grand model with DUAL's Gs(v + P·Gn(z)).",
        discussion:
            "The noise P·Gn(z) is one field over the volume: blocks of the model's patch size, each with its "
            + "code z and permutation P drawn from (seed, block position). The tomogram is written at the "
            + "grand model's grid in the contrast of the model's training data (protein dark for the shipped "
            + "model). The grand model is low-passed to the resolution of the model's clean domain in training "
            + "(--resolution sets another, or none), and the model's calibration (if it has one) gives each tile the training data's spectrum and "
            + "histogram.\n\nExample:\n  tomostore "
            + "simulate s.store s1/grand-model --model dual.safetensors --seed 3 -o sim.mrc"
    )
    @Argument(help: "The store directory.") var store: String
    @Argument(help: "The grand-model dataset.") var input: String
    @Option(help: "Model: .safetensors file, default, or a stored name or digest.") var model = "default"
    @Option(help: "Seed.") var seed: UInt64 = 1
    @OptionGroup var grandModelResolution: GrandModelResolutionOption
    @OptionGroup var destination: NetworkOutputOptions

    func run() throws {
        try NetworkOperatorCommand.run(
            store: store, input: input, modelReference: model, task: nil, destination: destination, op: "simulate",
            seed: seed, resolution: grandModelResolution.resolution(fallback: nil)
        ) { _, metadata in
            [
                "output_contrast": .string(ModelDomain(metadata: metadata).dataContrast.rawValue),
                "tile": .number(Double(Denoise.defaultTile)), "overlap": .number(Denoise.defaultOverlap),
            ]
        }
    }
}
