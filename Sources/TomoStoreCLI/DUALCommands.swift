import ArgumentParser
import DUAL
import Engine
import Foundation
import MRC
import Operators
import Store
import Voxels

/// Finds a DUAL model: a safetensors file, `default` (shipped with TomoStore), or the name or digest
/// of a model stored in the store. Returns the model and its file bytes.
func resolveModel(_ reference: String, store: Store?) throws -> (DUALModel, [UInt8]) {
    var path = reference
    if reference == "default" {
        guard let url = DefaultModel.url else { throw CommandError("this build ships no default DUAL model; train one with `tomostore train` and pass --model FILE") }
        path = url.path
    } else if !FileManager.default.fileExists(atPath: reference), let store,
              let bytes = try store.model(digest: store.modelDigest(named: reference) ?? reference) {
        return (try DUALModelFile.load(bytes: bytes, source: "stored model \(reference)"), bytes)
    }
    guard FileManager.default.fileExists(atPath: path) else {
        throw CommandError("no model \(reference): give a .safetensors file, default, or the name or digest of a model stored in the store (tomostore models STORE)")
    }
    let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: path)))
    return (try DUALModelFile.load(bytes: bytes, source: path), bytes)
}

/// `tomostore models STORE`: the named DUAL models stored in a store.
struct Models: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the DUAL models stored in a store by name (train stores each model it writes).",
        discussion: "Any name or digest listed works as --model for denoise, simulate and corpus recipes.\n\nExamples:\n  tomostore models s.store\n  tomostore models s.store --json"
    )

    @Argument(help: "The store directory.") var store: String
    @Flag(help: "Print a JSON array of {name, digest, bytes}.") var json = false

    func run() throws {
        let s = try Store(path: store)
        let entries = try s.modelNames().map { entry -> (String, String, Int) in (entry.name, entry.digest, try s.model(digest: entry.digest)?.count ?? 0) }
        if json {
            print(try jsonText(any: entries.map { ["name": $0.0, "digest": $0.1, "bytes": $0.2] as [String: Any] }))
            return
        }
        if entries.isEmpty { print("(no named models)"); return }
        for (name, digest, bytes) in entries { print("\(name)  \(digest)  \(bytes) bytes") }
    }
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
            learning_rate, weight_decay, batch). Same data, settings and seed → same weights.

            Example:
              tomostore train s.store --clean a/grand-model,b/grand-model --noisy c/tomogram,d/tomogram -o dual.safetensors --iterations 500
            """
    )

    @Argument(help: "The store directory.") var store: String
    @Option(help: "Clean-domain datasets (grand models), comma-separated.") var clean: String
    @Option(help: "Noisy-domain datasets (tomograms), comma-separated.") var noisy: String
    @Option(name: .shortAndLong, help: "Output model (.safetensors).") var output: String
    @Option(name: .customLong("model-name"), help: "Name of the model inside the store (default: the output file's name without .safetensors).") var modelName: String?
    @Option(help: "Iterations.") var iterations = 200
    @Option(help: "Patches per batch (default: the config's).") var batch: Int?
    @Option(help: "Seed.") var seed: UInt64 = 1
    @Option(name: .customLong("config"), help: "key=value overrides (repeatable).") var overrides: [String] = []
    @Option(help: "Checkpoint interval in iterations.") var checkpointEvery = 50
    @Flag(help: "Continue from OUTPUT.checkpoint.") var resume = false
    @Flag(help: "No progress on stderr.") var quiet = false

    func run() throws {
        var config = DUALConfig()
        for item in overrides {
            let kv = item.split(separator: "=", maxSplits: 1).map(String.init)
            guard kv.count == 2 else { throw CommandError("malformed --config \(item): write key=value") }
            try config.apply(kv[0], kv[1])
        }
        if let batch { try config.apply("batch", "\(batch)") }
        guard iterations > 0 else { throw CommandError("--iterations must be positive") }
        let s = try Store(path: store)
        let storedName = modelName ?? URL(fileURLWithPath: output).deletingPathExtension().lastPathComponent
        try Store.validateModelName(storedName)
        let cleanSets = try clean.split(separator: ",").map { try s.dataset(named: String($0)) }
        let noisySets = try noisy.split(separator: ",").map { try s.dataset(named: String($0)) }
        for d in cleanSets + noisySets where min(d.shape.x, d.shape.y, d.shape.z) < config.patch {
            throw CommandError("dataset \(d.name) (\(d.shape)) is smaller than the \(config.patch)³ training patch")
        }
        let model = DUALModel(config: config, seed: seed)
        let trainer = DUALTrainer(model: model, seed: seed)
        let checkpoint = output + ".checkpoint"
        if resume {
            guard FileManager.default.fileExists(atPath: checkpoint) else { throw CommandError("no checkpoint \(checkpoint) to resume from") }
            try DUALModelFile.restore(trainer, from: checkpoint)
        }
        let start = Date(), first = trainer.iteration
        let rng = CounterRNG(seed: seed ^ 0xda7a)
        func patches(_ sets: [Dataset], domain: UInt64) throws -> Tensor {
            let p = config.patch
            var values: [Float] = []
            for b in 0..<config.batch {
                let counter = UInt64(trainer.iteration * config.batch + b)
                let d = sets[Int(rng.uniform(stream: domain, counter: 4 * counter) * Double(sets.count)) % sets.count]
                func at(_ k: UInt64, _ n: Int) -> Int { Int(rng.uniform(stream: domain, counter: 4 * counter + k) * Double(n - p + 1)) }
                let x = at(1, d.shape.x), y = at(2, d.shape.y), z = at(3, d.shape.z)
                let v = try d.read(Box3(x: x..<x + p, y: y..<y + p, z: z..<z + p)).converted(to: .float32)
                let mean = Float(d.info.stats?.mean ?? 0), sd = Float(max(d.info.stats?.rms ?? 1, 1e-12))
                values += v.values(as: Float.self).map { ($0 - mean) / sd }
            }
            return Tensor(shape: [config.batch, 1, p, p, p], values: values)
        }
        while trainer.iteration < iterations {
            let losses = trainer.step(DUALBatch(clean: try patches(cleanSets, domain: 1), noisy: try patches(noisySets, domain: 2)))
            let done = trainer.iteration - first, left = iterations - trainer.iteration
            let eta = Date().timeIntervalSince(start) / Double(done) * Double(left)
            if !quiet && (isatty(2) != 0 || trainer.iteration % max(1, iterations / 20) == 0 || left == 0) {
                printError(String(format: "iteration %d/%d  rec %.4f  adv %.4f  kl %.4f  disc %.4f  ETA %.0f s", trainer.iteration, iterations,
                                  losses.reconstruction, losses.adversarial, losses.kl, losses.discriminator, eta))
            }
            if trainer.iteration % checkpointEvery == 0 || left == 0 { try DUALModelFile.checkpoint(trainer, to: checkpoint) }
        }
        let bytes = try DUALModelFile.save(model, to: output, extra: ["iterations": "\(iterations)", "seed": "\(seed)", "clean": clean, "noisy": noisy])
        try s.putModel(digest: model.digest, bytes, name: storedName)
        print(String(format: "trained %@ (stored as \"%@\"): %d iterations in %.1f s, digest %@", output, storedName, iterations - first, Date().timeIntervalSince(start), model.digest))
    }
}

/// Shared by denoise and simulate: whole-volume inference to a file, or a lazy dataset.
enum NetworkOperatorCommand {
    static func run(store: String, input: String, modelReference: String, output: String?, name: String?, op: String, seed: UInt64?, quiet: Bool = false) throws {
        guard (output == nil) != (name == nil) else { throw CommandError("give either -o FILE (compute now) or --name DATASET (define lazily)") }
        let s = try Store(path: store)
        let source = try s.dataset(named: input)
        let (model, bytes) = try resolveModel(modelReference, store: s)
        let digest = model.digest
        if try s.model(digest: digest) == nil { try s.putModel(digest: digest, bytes) }
        var params: [String: JSONValue] = ["model": .string(digest)]
        if let seed { params["seed"] = .number(Double(seed)) }
        if let name {
            let ds = try Derivations.define(in: s, name: name, op: op, inputs: [input], params: params, modelDigest: digest, seed: seed)
            print("defined \"\(name)\" = \(op)(\(input)) lazily with model \(digest): \(ds.grid.counts.count) chunks on demand")
            return
        }
        let operation = try OperatorRegistry.type(named: op).init(parameters: params)
        let shape = source.shape
        var options = MRCWriteOptions()
        options.voxelSize = Triple(source.info.voxelSize[0], source.info.voxelSize[1], source.info.voxelSize[2])
        options.action = "\(op) of \(input) with DUAL model \(digest)"
        let writer = try MRCWriter(path: output!, shape: shape, dtype: .float32, options: options)
        let start = Date()
        let slab = max(1, min(shape.z, 32))
        let bar = ProgressBar("\(op) \(input)", unit: "slabs", quiet: quiet)
        for z in stride(from: 0, to: shape.z, by: slab) {
            defer { bar.update(z / slab + 1, (shape.z + slab - 1) / slab) }
            let box = Box3(x: 0..<shape.x, y: 0..<shape.y, z: z..<min(shape.z, z + slab))
            try writer.write(band: try operation.computeChunk(box, shape: shape, voxelSize: source.info.voxelSize[0], inputs: [source]), y: 0, z: z)
        }
        try writer.finish()
        let seconds = Date().timeIntervalSince(start)
        print(String(format: "wrote %@: %@ of \"%@\" (%.1f s, %.2f Mvoxel/s)", output!, op, input, seconds, Double(shape.count) / seconds / 1e6))
    }
}

/// `tomostore denoise STORE IN --model M (-o OUT | --name OUT)`.
struct Denoise: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Denoise a tomogram with DUAL's Dn: now into an MRC file (-o) or lazily as a derived dataset (--name).",
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
    @Option(name: .shortAndLong, help: "Output MRC file.") var output: String?
    @Option(help: "Name of a lazy derived dataset instead of a file.") var name: String?
    @Flag(help: "No progress bar.") var quiet = false

    func run() throws { try NetworkOperatorCommand.run(store: store, input: input, modelReference: model, output: output, name: name, op: "denoise", seed: nil, quiet: quiet) }
}

/// `tomostore simulate STORE GRAND_MODEL --model M --seed S (-o OUT | --name OUT)`.
struct Simulate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Simulate a realistic tomogram from a grand model with DUAL's Gs(v + P·Gn(z)).",
        discussion: "The code z and permutation P of each tile come from (seed, tile origin).\n\nExample:\n  tomostore simulate s.store s1/grand-model --model dual.safetensors --seed 3 -o sim.mrc"
    )
    @Argument(help: "The store directory.") var store: String
    @Argument(help: "The grand-model dataset.") var input: String
    @Option(help: "Model: .safetensors file, default, or a stored name or digest.") var model = "default"
    @Option(help: "Seed.") var seed: UInt64 = 1
    @Option(name: .shortAndLong, help: "Output MRC file.") var output: String?
    @Option(help: "Name of a lazy derived dataset instead of a file.") var name: String?
    @Flag(help: "No progress bar.") var quiet = false

    func run() throws { try NetworkOperatorCommand.run(store: store, input: input, modelReference: model, output: output, name: name, op: "simulate", seed: seed, quiet: quiet) }
}
