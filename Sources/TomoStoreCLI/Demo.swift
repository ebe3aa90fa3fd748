import ArgumentParser
import Catalog
import Corpus
import DUAL
import Foundation
import Imaging
import MRC
import Operators
import Simulation
import Store
import Transfer
import Voxels

/// `tomostore demo [--dir D]`: the main job on built-in data, showing each capability end to end.
struct Demo: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run TomoStore end to end on a small built-in volume and report each step.",
        discussion: """
            Makes a synthetic 128×96×64 tomogram (dense particles in noise, 10 Å voxels), writes it as
            MRC2014, reads it back whole and as a subvolume, converts it to other modes, then creates a
            store, ingests the MRC into it, reads unaligned boxes back and verifies every chunk — checking
            every result against the original. Then it synthesizes a sample (grand model, tilt series,
            tomogram), picks particles, denoises and simulates lazily with the shipped DUAL model, trains a
            toy missing-wedge compensation model and compensates lazily, and draws corpus tiles. It writes PNG
            previews (the sample's tomogram, denoised view and grand model, and the three side by side in xz
            with the tomogram's power spectrum) and prints their paths. Files go
            to --dir (created if needed) or a new temporary directory, which is kept so you can look at them.

            Example:
              tomostore demo --dir /tmp/tomostore-demo
            """
    )

    @Option(help: "Directory for the demo's files (default: a new temporary directory).")
    var dir: String?

    @Option(help: "Seed of the synthetic volume.")
    var seed: UInt64 = 1

    func run() throws {
        let directory = try dir ?? makeTemporaryDirectory()
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        print("TomoStore \(TomoStoreVersion.string) demo in \(directory)")

        let shape = Extent3(x: 128, y: 96, z: 64)
        let volume = SyntheticTomogram.make(shape: shape, seed: seed)
        let stats = VoxelStatistics.of(volume)
        print(
            String(
                format: "1. synthesized a %@ float32 tomogram: mean %.4f, rms %.4f, min %.3f, max %.3f",
                shape.description, stats.mean, stats.rms, stats.min, stats.max))

        let path = directory + "/tomogram.mrc"
        var options = MRCWriteOptions()
        options.voxelSize = Triple(10, 10, 10)
        options.action = "demo tomogram (seed \(seed))"
        try MRCWriter.write(volume, to: path, options: options)
        let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
        print("2. wrote \(path) (\(size) bytes, MRC2014 mode 2, voxel 10 Å)")

        let reader = try MRCReader(path: path)
        let whole = try reader.readAll()
        try check(whole == volume, "the whole volume read back differs from what was written")
        print("3. read it back: \(reader.shape), \(reader.dtype), voxel \(reader.voxelSize.x) Å, identical bytes")

        let box = Box3(x: 20..<84, y: 10..<74, z: 8..<40)
        let sub = try reader.read(box: box)
        try check(sub == volume.extracting(box), "subvolume \(box) differs from the same box of the original")
        print("4. read subvolume \(box) (\(sub.shape)) straight from the file: matches the original box")

        for (mode, name) in [(MRCMode.float16, "float16"), (MRCMode.int16, "int16")] {
            let out = directory + "/tomogram-\(name).mrc"
            let scaled = mode == .int16 ? scaledForInt16(volume, stats: stats) : volume
            try MRCWriter.write(scaled, to: out, mode: mode, options: options)
            let back = try MRCReader(path: out).readAll()
            let error = maxAbsoluteDifference(back, scaled)
            print(
                String(
                    format: "5. converted to %@ (mode %d): %@, largest difference %.3g", name, mode.rawValue, out, error
                ))
        }
        let storePath = directory + "/demo.store"
        if FileManager.default.fileExists(atPath: storePath) { try FileManager.default.removeItem(atPath: storePath) }
        let store = try Store.create(at: storePath)
        var ingest = IngestOptions(name: "tomogram")
        ingest.chunk = Extent3(x: 32, y: 32, z: 32)
        ingest.attributes = ["tilt_min": .number(-60), "tilt_max": .number(60)]
        try Ingest.mrc(path, into: store, options: ingest)
        let dataset = try store.dataset(named: "tomogram")
        let summary = try dataset.storageSummary()
        print(
            String(
                format:
                    "6. created store %@ and ingested the MRC as \"tomogram\": %d chunks of 32³, %.2f MB stored "
                    + "(ratio %.2f)",
                storePath, summary.storedChunks, Double(summary.storedBytes) / 1e6,
                Double(summary.rawBytes) / Double(summary.storedBytes)))
        for query in [
            Box3(x: 5..<69, y: 17..<81, z: 3..<35), Box3(x: 127..<128, y: 0..<96, z: 63..<64), Box3(shape: shape),
        ] {
            try check(
                try dataset.read(query) == volume.extracting(query), "store box \(query) differs from the original")
        }
        print(
            "7. read boxes 5:69,17:81,3:35 (unaligned), 127:128,0:96,63:64 and the whole volume from the store: all "
                + "identical"
        )
        let report = try store.verify()
        try check(report.ok, "store verification found problems: \(report.problems.map(\.problem))")
        print("8. verified \(report.chunksChecked) chunks (checksums, catalog): ok")

        var gp = GrandModelParameters(shape: Extent3(x: 128, y: 128, z: 64))
        gp.seed = seed
        let model = GrandModel.make(gp)
        var tp = TiltSeriesParameters()
        tp.seed = seed
        let (tomogram, _) = TiltSeriesSimulator.simulate(model.density, voxelSize: 10, parameters: tp)
        print(
            "9. synthesized a 128×128×64 sample at 10 Å: \(model.particles.count) objects in "
                + "\(model.classes.count - 1) classes, tilt series ±60° step 3°, SNR 0.1, weighted back-projection"
        )
        let truths = model.particles.map { Imaging.Pick(x: $0.x, y: $0.y, z: $0.z) }
        let smoothed = GaussianFilter.apply(tomogram, sigma: 1.5)
        for (label, volume) in [("raw", tomogram), ("Gaussian σ 1.5", smoothed)] {
            let picks = ParticlePicker.pick(volume, sigma: 3, top: 300, minDistance: 8, polarity: .dark)
            let score = PickingScore.match(picks: picks, truths: truths, distance: 3)
            let quality = String(
                format: "PSNR %.2f dB, SSIM %.4f", Metrics.psnr(truth: model.density, test: volume),
                Metrics.ssim(truth: model.density, test: volume))
            print(
                String(
                    format:
                        "10. DoG picking on the %@ tomogram (σ 3, top 300): precision %.3f, recall %.3f, F1 %.3f; %@",
                    label, score.precision, score.recall, score.f1, quality))
        }
        try store.storeVolume(
            model.density, name: "sample/grand-model", kind: .grandModel, voxelSize: 10, attributes: [:])
        try store.storeVolume(
            tomogram, name: "sample/tomogram", kind: .synthetic, voxelSize: 10, attributes: [:],
            contrast: Contrast.simulated)
        if DefaultModel.url != nil {
            let (dual, bytes, _) = try resolveModel("default", store: store)
            try ModelRegistry(store: store).put(digest: dual.digest, bytes)
            let box = Box3(x: 32..<96, y: 32..<96, z: 0..<64)
            for (op, input) in [("denoise", "sample/tomogram"), ("simulate", "sample/grand-model")] {
                var params: [String: JSONValue] = ["model": .string(dual.digest)]
                if op == "simulate" { params["seed"] = .number(Double(seed)) }
                let lazy = try Workspace(store: store).define(
                    name: "sample/\(op)", op: op, inputs: [input], params: params, modelDigest: dual.digest)
                let t = Date()
                let values = try lazy.read(box)
                let stats = VoxelStatistics.of(values)
                let stored = try lazy.storedChunkCount()
                print(
                    String(
                        format:
                            "11. defined %@(%@) lazily with the shipped DUAL model; read box %@ in %.2f s (%d of %d "
                            + "chunks computed; mean %.3f, rms %.3f)",
                        op, input, box.description, Date().timeIntervalSince(t), stored, lazy.grid.counts.count,
                        stats.mean, stats.rms))
            }
        }
        try previewStep(store, directory: directory)
        try compensateStep(store, directory: directory)
        var recipe = CorpusRecipe(name: "corpus", samples: 100, size: [64, 64, 48], seed: seed)
        recipe.crowding = 0.25
        try Corpus.create(recipe, in: store)
        var tiles = CorpusTileIterator(recipe: recipe, store: store, tile: 32)
        for k in 0..<2 {
            let tile = try tiles.next()
            let path = directory + "/corpus-tile-\(k)-tomogram.npy"
            try NPYWriter.write(tile.tomogram, to: path)
            try NPYWriter.write(tile.labels, to: directory + "/corpus-tile-\(k)-labels.npy")
            let classes = Set(tile.labels.values(as: UInt8.self)).subtracting([0]).count
            print(
                "13. corpus \"corpus\" (100 samples on demand): tile \(k) of sample \(tile.sample) at "
                    + "\(tile.origin.array) written to \(path) with its labels (\(classes) classes)"
            )
        }
        print("demo complete")
    }

    /// Step 11b: PNG previews of the sample — its tomogram, its denoised view (when the default model
    /// ships), its grand model, and the three side by side through an xz slice with the tomogram's
    /// log power spectrum, where the missing wedge shows as the dark sector about the z axis.
    private func previewStep(_ store: Store, directory: String) throws {
        let workspace = Workspace(store: store)
        var sets = [("tomogram", "sample/tomogram")]
        if (try? store.dataset(named: "sample/denoise")) != nil { sets.append(("denoised", "sample/denoise")) }
        sets.append(("grand-model", "sample/grand-model"))
        var paths: [String] = []
        for (label, name) in sets {
            let image = try Preview.render([try workspace.open(name)], axis: .z)
            let path = directory + "/preview-\(label).png"
            try PNGWriter.write(width: image.width, height: image.height, pixels: image.pixels, to: path)
            paths.append(path)
        }
        let compare = try Preview.render(try sets.map { try workspace.open($0.1) }, axis: .y, spectrum: true)
        let path = directory + "/preview-compare-xz.png"
        try PNGWriter.write(width: compare.width, height: compare.height, pixels: compare.pixels, to: path)
        paths.append(path)
        print(
            "11b. previews (middle slices; \(sets.map(\.0).joined(separator: ", ")); xz slices with the "
                + "tomogram's power spectrum): " + paths.joined(separator: ", "))
    }

    /// Step 12: a toy missing-wedge compensation model (a few iterations of train-compensate's
    /// trainer on the sample itself), compensate defined lazily, and the share of a box's power that
    /// lies in the missing wedge before and after. Real runs and their scores: README.
    private func compensateStep(_ store: Store, directory: String) throws {
        let sample = try store.dataset(named: "sample/tomogram").patchVolume
        var config = DUALConfig.compensation
        config.batch = 2
        let toy = DUALModel(config: config, seed: seed)
        let trainer = DUALTrainer(model: toy, seed: seed)
        let started = Date()
        try trainer.train(
            until: 20, clean: [sample.transposedXZ()], noisy: [sample], checkpointEvery: 20, checkpoint: {},
            progress: { _ in })
        let bytes = try DUALModelFile.save(
            toy, to: directory + "/compensate-toy.safetensors",
            extra: ["task": "compensate", "tilt_min": "-60", "tilt_max": "60"])
        try ModelRegistry(store: store).put(digest: toy.digest, bytes, name: "compensate-toy")
        let params: [String: JSONValue] = [
            "model": .string(toy.digest), "tilt_min": .number(-60), "tilt_max": .number(60),
        ]
        let lazy = try Workspace(store: store).define(
            name: "sample/compensate", op: "compensate", inputs: ["sample/tomogram"], params: params,
            modelDigest: toy.digest)
        let box = Box3(x: 32..<96, y: 32..<96, z: 0..<64)
        let wedge = MissingWedge(minDegrees: -60, maxDegrees: 60)
        func wedgeShare(_ v: Volume) -> Double {
            let mean = Float(VoxelStatistics.of(v).mean)
            let centred = Volume(
                shape: v.shape, values: v.converted(to: .float32).values(as: Float.self).map { $0 - mean })
            let all = centred.values(as: Float.self)
            let measured = wedge.apply(to: centred).values(as: Float.self)
            let total = all.reduce(0.0) { $0 + Double($1 * $1) }
            return zip(all, measured).reduce(0.0) {
                let d = Double($1.0 - $1.1)
                return $0 + d * d
            } / Swift.max(total, 1e-30)
        }
        let before = wedgeShare(try store.dataset(named: "sample/tomogram").read(box))
        let after = wedgeShare(try lazy.read(box))
        print(
            String(
                format:
                    "12. trained a toy compensation model (20 iterations, %.0f s; real runs: README) and defined "
                    + "compensate(sample/tomogram) lazily: share of box %@'s power in the ±60° missing wedge "
                    + "%.1f%% → %.1f%%",
                Date().timeIntervalSince(started), box.description, 100 * before, 100 * after))
    }

    private func check(_ condition: Bool, _ message: String) throws {
        if !condition { throw CommandError("demo check failed: \(message)") }
    }

    /// Scales a volume so its values span ±30000 (int16 keeps 4–5 significant digits).
    private func scaledForInt16(_ v: Volume, stats: VoxelStatistics) -> Volume {
        let scale = 30000 / Swift.max(abs(stats.min), abs(stats.max), 1e-12)
        var out = v
        out.withUnsafeMutableValues(as: Float.self) { p in for i in p.indices { p[i] = (p[i] * Float(scale)).rounded() }
        }
        return out
    }

    private func maxAbsoluteDifference(_ a: Volume, _ b: Volume) -> Double {
        let x = a.converted(to: .float32).values(as: Float.self)
        let y = b.converted(to: .float32).values(as: Float.self)
        return zip(x, y).reduce(0) { Swift.max($0, Double(abs($1.0 - $1.1))) }
    }

    private func makeTemporaryDirectory() throws -> String {
        let base = NSTemporaryDirectory() + "tomostore-demo-\(getpid())-\(Int(Date().timeIntervalSince1970))"
        try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
        return base
    }
}
