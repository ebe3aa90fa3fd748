import ArgumentParser
import Catalog
import Corpus
import DUAL
import Engine
import Foundation
import Imaging
import Operators
import Segmentation
import Store
import Transfer
import Voxels

/// `tomostore segment train|apply`: a segmenter trained on corpora in the store, applied lazily.
struct SegmentCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "segment",
        abstract: "Train a 3D U-Net segmenter on labelled corpora in the store, and apply it to tomograms.",
        subcommands: [SegmentTrain.self, SegmentApply.self])
}

/// `tomostore segment train STORE --corpus C[,C2…] -o seg.safetensors`.
struct SegmentTrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train a multi-class 3D U-Net segmenter on labelled tiles streamed from corpora.",
        discussion:
            "Tiles are cut from corpus samples made on demand (never exported first): "
            + "--tiles-per-sample tiles from each sample in turn, alternating between the corpora, each "
            + "standardized with its sample's statistics and mirrored along axes drawn per tile (flips "
            + "keep the missing wedge where it is; 180° about the tilt axis y is the flip of x and z); with "
            + "--noise-augmentation SD half the tiles also get white noise of an sd drawn from 0…SD and are "
            + "divided by √(1 + sd²) (structures fainter against noise than the corpus has them). "
            + "Loss: softmax cross-entropy, class weights 1/√frequency from the first 32 tiles. "
            + "Progress (loss, ETA) goes to stderr; a checkpoint MODEL.checkpoint is written every "
            + "--checkpoint-every iterations and --resume continues from it. The model is stored in the "
            + "store (tomostore models), recording its classes, the corpora's voxel size and tomogram "
            + "contrast, so that segment apply adapts any tomogram to it.\n\nClasses: background "
            + "(always channel 0), then --classes: class names of the corpus (membrane, fiducial, a "
            + "template's name) or particle, every template class together.\n\nExamples:\n  tomostore "
            + "segment train s.store --corpus c1 -o seg.safetensors --time 30m\n  tomostore segment "
            + "train s.store --corpus c1,c2 --classes membrane -o seg.safetensors --iterations 500")

    @Argument(help: "The store directory.") var store: String
    @Option(help: "Corpora to train on, comma-separated (same voxel size).") var corpus: String
    @Option(name: .shortAndLong, help: "Output model (.safetensors); it is also stored in the store.") var output:
        String
    @Option(help: "Classes besides background, comma-separated.") var classes = "membrane,particle"
    @Option(
        name: .customLong("model-name"),
        help: "Name of the model inside the store (default: the output file's name without its extension).")
    var modelName: String?
    @Option(help: "Iterations (default 1000; with --time, the most to run).") var iterations: Int?
    @Option(help: ArgumentHelp("Time budget, e.g. 30m, 90s, 1h.", valueName: "duration")) var time: String?
    @Option(help: "Seed (weights, tile positions, flips).") var seed: UInt64 = 1
    @Option(help: "Training tile edge in voxels (a multiple of 4).") var patch = 48
    @Option(help: "Tiles per batch.") var batch = 2
    @Option(help: "U-Net channels of the first level.") var base = 16
    @Option(name: .customLong("learning-rate"), help: "AdamW learning rate.") var learningRate = 5e-4
    @Option(help: "Tiles cut from each sample before the next is made.") var tilesPerSample = 32
    @Option(
        name: .customLong("noise-augmentation"),
        help: ArgumentHelp(
            "Most white-noise sd added to half the tiles (standardized units), then rescaled; 0 = off.",
            valueName: "sd")) var noiseAugmentation = 0.0
    @Option(help: "Checkpoint interval in iterations.") var checkpointEvery = 50
    @Flag(help: "Continue from OUTPUT.checkpoint.") var resume = false
    @Flag(help: "No progress on stderr.") var quiet = false

    func validate() throws {
        if let iterations, iterations <= 0 { throw ValidationError("--iterations must be positive") }
        guard checkpointEvery > 0, tilesPerSample > 0 else {
            throw ValidationError("--checkpoint-every and --tiles-per-sample must be positive")
        }
        _ = try parseDuration(time)
        let range = SegmenterConfig.noiseAugmentationRange
        guard range.contains(noiseAugmentation) else {
            throw ValidationError(
                "--noise-augmentation \(noiseAugmentation) must be \(range.lowerBound)…\(range.upperBound) "
                    + "(sd in standardized units)")
        }
    }

    func run() throws {
        let s = try Store(path: store)
        let names = corpus.split(separator: ",").map(String.init)
        guard !names.isEmpty else { throw CommandError("no corpus named in \"\(corpus)\": give NAME[,NAME…]") }
        let recipes = try names.map { try Corpus.recipe($0, in: s) }
        let first = recipes[0]
        for r in recipes {
            guard abs(r.voxelSize / first.voxelSize - 1) < 1e-6 else {
                throw CommandError(
                    "corpus \(r.name) is at \(r.voxelSize) Å and \(first.name) at \(first.voxelSize) Å: train on "
                        + "corpora of one voxel size")
            }
            guard r.size.allSatisfy({ $0 >= patch }) else {
                throw CommandError(
                    "corpus \(r.name) has samples of \(r.size.map(String.init).joined(separator: "×")) voxels, "
                        + "smaller than the \(patch)³ training tile; give a smaller --patch")
            }
        }
        let chosen = ["background"] + classes.split(separator: ",").map(String.init).filter { $0 != "background" }
        var config = SegmenterConfig(classes: chosen)
        (config.patch, config.batch, config.base, config.learningRate) = (patch, batch, base, learningRate)
        config.noiseAugmentation = noiseAugmentation > 0 ? noiseAugmentation : nil
        do { try config.validate() } catch { throw CommandError("\(error)") }
        let storedName = modelName ?? URL(fileURLWithPath: output).deletingPathExtension().lastPathComponent
        try ModelRegistry.validate(name: storedName)

        // Training tile k: from corpus k mod n, its tile k / n, standardized with its sample's
        // statistics and inverted when that corpus's contrast differs from the first's. Each corpus's
        // next sample is made on another thread while the current one's tiles train.
        let limit = try parseDuration(time)
        let schedule = TrainingSchedule(
            iterations: iterations, defaultIterations: 1000, timeLimit: limit, checkpointEvery: checkpointEvery,
            output: output, resume: resume)
        let contrast = first.contrast ?? .dark
        // Corpus j is asked for its tiles 0 ..< ceil(iterations · batch / corpora) at most (no overflow for
        // a huge --iterations: the count saturates).
        let (tiles, overflow) = schedule.iterations.multipliedReportingOverflow(by: batch)
        let allTiles = overflow ? Int.max : tiles
        let tilesPerCorpus = allTiles / recipes.count + (allTiles % recipes.count > 0 ? 1 : 0)
        var iterators = recipes.map {
            CorpusTileIterator(
                recipe: $0, store: s, tile: patch, tilesPerSample: tilesPerSample, positionSeed: CounterRNG.mix(seed),
                prefetch: true)
        }
        for j in iterators.indices { iterators[j].tileCount = max(tilesPerCorpus, SegmentTrainingRun.weightingTiles) }
        // No sample may still be in the making when the command returns and the process exits.
        defer { for j in iterators.indices { iterators[j].finish() } }
        var maps: [Int: SegmentClassMap] = [:]
        func tile(_ k: Int) throws -> SegmentTile {
            let j = k % recipes.count
            iterators[j].k = k / recipes.count
            let t = try iterators[j].next()
            let sign: Double = (recipes[j].contrast ?? .dark) == contrast ? 1 : -1
            let (mean, scale) = (t.mean, sign / max(t.rms, 1e-12))
            let values = t.tomogram.converted(to: .float32).values(as: Float.self).map {
                Float((Double($0) - mean) * scale)
            }
            let map = maps[j] ?? SegmentClassMap(classes: chosen, table: t.classes)
            maps[j] = map
            return SegmentTile(values: values, labels: map.map(t.labels), edge: patch)
        }
        let sample = try Corpus.sample(0, of: first, store: s)
        let known = Set(sample.classes.values).union(["particle"])
        if let unknown = chosen.dropFirst().first(where: { !known.contains($0) }) {
            throw CommandError(
                "class \(unknown) is not in corpus \(first.name); its classes: \(known.sorted().joined(separator: ", "))"
            )
        }
        let tomogram = sample.tomogram
        let domain = ModelDomain(
            voxelSize: first.voxelSize,
            noiseGrain: try NoiseGrain.measure(shape: tomogram.shape) { tomogram.extracting($0) },
            noisyContrast: contrast, cleanContrast: .bright)
        var metadata = domain.metadata
        metadata["corpora"] = names.joined(separator: ",")
        metadata["tiles_per_sample"] = "\(tilesPerSample)"

        let run = SegmentTrainingRun(config: config, seed: seed, schedule: schedule)
        if !quiet {
            printError(
                "segment train: classes \(chosen.joined(separator: ", ")) from \(names.joined(separator: ", ")) at "
                    + "\(first.voxelSize.formatted()) Å (\(contrast.rawValue)), \(patch)³ tiles × \(batch)")
        }
        let bar = TrainingProgress(
            label: "segment train", limit: limit, total: schedule.iterations, quiet: quiet)
        var smoothed: Float?
        let result = try run.run(metadata: metadata, tiles: tile) { iteration, loss, eta in
            smoothed = smoothed.map { 0.98 * $0 + 0.02 * loss } ?? loss
            bar.report(iteration: iteration, secondsLeft: eta) {
                String(format: "loss %.4f (mean %.4f)", loss, smoothed ?? loss)
            }
        }
        bar.finish()
        try ModelRegistry(store: s).put(digest: result.model.digest, result.bytes, name: storedName)
        print(
            String(
                format:
                    "trained %@ (stored as \"%@\"): %d iterations in %.1f s, final loss %.4f, classes %@, digest %@",
                output, storedName, result.iterationsRun, result.seconds, result.finalLoss,
                chosen.joined(separator: ","), result.model.digest))
    }
}

/// --time as seconds (nil when not given).
func parseDuration(_ text: String?) throws -> Double? {
    guard let text else { return nil }
    let units: [Character: Double] = ["s": 1, "m": 60, "h": 3600]
    let unit = text.last.flatMap { units[$0] }
    guard let value = Double(unit == nil ? text : String(text.dropLast())), value > 0, value.isFinite else {
        throw ValidationError("--time \(text) is not a duration; give e.g. 30m, 90s or 1h")
    }
    return value * (unit ?? 1)
}

/// `tomostore segment apply STORE DATASET --model M (--name OUT | -o DIR) [--labels]`.
struct SegmentApply: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "apply",
        abstract: "Segment a tomogram: one class-probability volume per class, lazily (--name) or as MRC files (-o).",
        discussion:
            "--name OUT defines lazy derived datasets OUT/CLASS, one per class besides background, "
            + "each holding that class's probability p: float32 (0…1) by default, or uint8 round(255·p) with "
            + "--dtype uint8 (a quarter of the bytes; probabilities under 1/510 all become 0, which loses their "
            + "ranking); --labels adds OUT/labels, "
            + "the index of the most probable class per voxel, with the class table. Chunks are "
            + "computed when read, the same bytes however they are read. -o DIR writes the same volumes "
            + "as DIR/CLASS.mrc (and DIR/labels.mrc). The tomogram is inverted to the segmenter's "
            + "training contrast and resampled to its voxel size and back, as denoise "
            + "does.\n\nExamples:\n  tomostore segment apply s.store hiv --model seg --name hiv/seg "
            + "--labels\n  tomostore segment apply s.store hiv --model seg.safetensors -o hiv-seg")

    @Argument(help: "The store directory.") var store: String
    @Argument(help: "The tomogram dataset.") var input: String
    @Option(help: "Segmenter: .safetensors file, or a stored name or digest.") var model: String
    @Option(help: "Name prefix of the lazy derived datasets (OUT/CLASS).") var name: String?
    @Option(name: .shortAndLong, help: "Directory for MRC files (CLASS.mrc, labels.mrc).") var output: String?
    @Flag(help: "Also the label volume (argmax over classes).") var labels = false
    @Option(help: ArgumentHelp("How probabilities are stored: float32 (p) or uint8 (round(255·p)).", valueName: "type"))
    var dtype = "float32"
    @Option(help: "Inference tile edge in voxels.") var tile = 64
    @Option(help: "Fraction of a tile shared with each neighbour, 0.05…0.5.") var overlap = 0.125
    @Option(help: ArgumentHelp("The input's voxel size in Å, replacing the recorded one.", valueName: "Å"))
    var voxel: Double?
    @Flag(help: "No progress bar and no notes.") var quiet = false

    func validate() throws {
        guard (output == nil) != (name == nil) else {
            throw ValidationError("give either -o DIR (compute now) or --name OUT (define lazily)")
        }
        if let voxel, !(voxel > 0 && voxel.isFinite) { throw ValidationError("--voxel \(voxel) must be positive (Å)") }
        guard SegmentOperator.probabilityTypes[dtype] != nil else {
            throw ValidationError(
                "--dtype \(dtype): give " + SegmentOperator.probabilityTypes.keys.sorted().joined(separator: " or "))
        }
    }

    func run() throws {
        let workspace = try Workspace(path: store, cacheBytes: 128 << 20)
        Tensor.bufferPoolLimit = 128 << 20
        let located = try ModelResolver(store: workspace.store).locate(model)
        let (segmenter, metadata) = try SegmenterFile.decode(bytes: located.bytes, source: located.source)
        let digest = segmenter.digest
        let registry = ModelRegistry(store: workspace.store)
        if try registry.bytes(digest: digest) == nil { try registry.put(digest: digest, located.bytes) }
        let (adaptation, notes) = try NetworkInputAdaptation.decide(
            input: try workspace.open(input), model: ModelDomain(metadata: metadata), domain: .noisy,
            voxelOverride: voxel)
        var base: [String: JSONValue] = [
            "model": .string(digest), "tile": .number(Double(tile)), "overlap": .number(overlap),
        ]
        base.merge(adaptation.parameters) { _, new in new }
        let classNames = segmenter.config.classes
        let stored = dtype == "uint8" ? "uint8: probability × 255" : "float32: probability"
        var outputs: [(String, [String: JSONValue])] = classNames.enumerated().dropFirst().map { c, className in
            let probability: [String: JSONValue] = [
                "output": .string("probability"), "class": .number(Double(c)), "dtype": .string(dtype),
            ]
            return (className, base.merging(probability) { _, n in n })
        }
        if labels { outputs.append(("labels", base.merging(["output": .string("labels")]) { _, n in n })) }
        if let name {
            // All or nothing: a name already taken is found before any dataset is defined.
            let taken = Set(try workspace.store.datasets().map(\.name))
            if let clash = outputs.map({ "\(name)/\($0.0)" }).first(where: taken.contains) {
                throw CommandError(
                    "a dataset named \"\(clash)\" exists; choose another --name or remove it (tomostore rm)")
            }
            for (part, params) in outputs {
                _ = try workspace.define(
                    name: "\(name)/\(part)", op: "segment", inputs: [input], params: params, modelDigest: digest)
            }
            print(
                "defined \(outputs.map { "\"\(name)/\($0.0)\"" }.joined(separator: ", ")) = segment(\(input)) lazily "
                    + "with model \(digest) (\(stored)\(labels ? "; labels: class index" : ""))")
        } else {
            let directory = output!
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            let start = Date()
            for (part, params) in outputs {
                let view = try workspace.view(op: "segment", inputs: [input], params: params, modelDigest: digest)
                let shape = view.shape
                let planes = min(shape.z, 64)
                let rows = min(shape.y, max(64, (16 << 20) / max(1, shape.x * planes) / 16 * 16))
                let bar = ProgressBar("segment \(input) → \(part)", unit: "bands", quiet: quiet)
                let path = directory + "/\(part).mrc"
                try Export.mrc(
                    view, to: path, band: (rows, planes), action: "segment \(part) of \(input) with model \(digest)",
                    progress: { bar.update($0, $1) })
                print("wrote \(path)")
            }
            print(String(format: "segmented \"%@\" in %.1f s", input, Date().timeIntervalSince(start)))
        }
        guard !quiet else { return }
        for line in notes { printError(line) }
        printError(
            "output: per class \(stored) (classes \(classNames.joined(separator: ", ")))"
                + (labels ? "; labels: the most probable class's index" : ""))
    }
}
