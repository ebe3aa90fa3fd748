import Engine
import Foundation
import Testing
import Voxels

@testable import Segmentation

/// A tile of Gaussian noise (σ 0.5) with a bright ball of radius 3 voxels, labelled 1 inside
/// (`k` picks the noise and the ball's centre).
func ballTile(_ k: Int, edge p: Int = 16) -> SegmentTile {
    let rng = CounterRNG(seed: 77)
    let c = (0..<3).map { 4 + Int(rng.uniform(stream: 1, counter: UInt64(k * 3 + $0)) * Double(p - 8)) }
    var values = [Float](repeating: 0, count: p * p * p)
    var labels = [Int32](repeating: 0, count: p * p * p)
    for z in 0..<p {
        for y in 0..<p {
            for x in 0..<p {
                let i = (z * p + y) * p + x
                let d2 = (x - c[0]) * (x - c[0]) + (y - c[1]) * (y - c[1]) + (z - c[2]) * (z - c[2])
                let inside = d2 <= 9
                values[i] = (inside ? 1 : 0) + 0.5 * Float(rng.normal(stream: UInt64(2 + k), counter: UInt64(i)))
                labels[i] = inside ? 1 : 0
            }
        }
    }
    return SegmentTile(values: values, labels: labels, edge: p)
}

func smallConfig() -> SegmenterConfig {
    var c = SegmenterConfig(classes: ["background", "ball"])
    (c.base, c.depth, c.patch, c.batch, c.learningRate) = (4, 2, 16, 2, 3e-3)
    return c
}

/// `config` with class weights set (a trainer needs them).
func weighted(_ config: SegmenterConfig) -> SegmenterConfig {
    var c = config
    c.classWeights = [1, 1]
    return c
}

@Suite struct SegmentationTests {
    @Test func classWeightsFollowTheFormula() {
        // 3 of 4 voxels background, 1 class 1: weights ∝ 1/√f, averaging 1 over the voxels.
        let tile = SegmentTile(values: [0, 0, 0, 0, 0, 0, 0, 0], labels: [0, 0, 0, 0, 0, 0, 1, 1], edge: 2)
        let w = SegmentTrainer.classWeights([tile], classes: 3)
        let raw = [1 / 0.75.squareRoot(), 1 / 0.25.squareRoot(), 1 / 1e-4.squareRoot()]
        let mean = 0.75 * raw[0] + 0.25 * raw[1]
        for (a, b) in zip(w, raw.map { $0 / mean }) { #expect(abs(a - b) < 1e-12) }
    }

    @Test func flipsMirrorValuesAndLabelsTogether() {
        let t = ballTile(3, edge: 8)
        let f = t.flipped((x: true, y: false, z: true))
        #expect(f.values[(1 * 8 + 2) * 8 + 3] == t.values[(6 * 8 + 2) * 8 + 4])
        #expect(f.labels == t.flipped((x: true, y: false, z: true)).labels)
        let back = f.flipped((x: true, y: false, z: true))
        #expect(back.values == t.values && back.labels == t.labels)
    }

    /// Noise augmentation: off by default (tiles untouched); on, about half the tiles are changed, the
    /// labels never, each changed tile is the original plus noise rescaled by 1/√(1 + s²) with s within
    /// the configured range, and the same (seed, iteration, index) draws the same tile.
    @Test func noiseAugmentationAddsBoundedNoiseToHalfTheTiles() {
        let tile = ballTile(5, edge: 32)  // 32³ voxels: the regression below is good to ~0.01
        let off = SegmentTrainer(model: Segmenter(config: weighted(smallConfig()), seed: 1), seed: 2)
        #expect(off.noised(tile, index: 0).values == tile.values)
        var config = weighted(smallConfig())
        config.noiseAugmentation = 0.8
        let trainer = SegmentTrainer(model: Segmenter(config: config, seed: 1), seed: 2)
        var changed = 0
        for iteration in 0..<40 {
            trainer.resume(at: iteration)
            let a = trainer.noised(tile, index: 1)
            #expect(a.labels == tile.labels)
            #expect(a.values == trainer.noised(tile, index: 1).values)
            guard a.values != tile.values else { continue }
            changed += 1
            // a = (t + s·n)/√(1 + s²): regress a on t to get the scale, the residual's sd is s × scale.
            let n = Double(tile.values.count)
            let (t, v) = (tile.values.map(Double.init), a.values.map(Double.init))
            let scale = zip(t, v).map { $0 * $1 }.reduce(0, +) / t.map { $0 * $0 }.reduce(0, +)
            let residual = (zip(t, v).map { ($1 - scale * $0) * ($1 - scale * $0) }.reduce(0, +) / n).squareRoot()
            let s = residual / scale
            #expect(scale > 0 && scale <= 1.01 && s <= 0.8 * 1.05, "scale \(scale), s \(s)")
            #expect(abs(scale - 1 / (1 + s * s).squareRoot()) < 0.02, "scale \(scale), s \(s)")
        }
        #expect((10...30).contains(changed), "\(changed) of 40 tiles changed")
    }

    @Test func classMapGathersTemplatesIntoParticle() {
        let table = [0: "background", 1: "membrane", 2: "fiducial", 3: "ribosome", 4: "proteasome"]
        let m = SegmentClassMap(classes: ["background", "membrane", "particle"], table: table)
        #expect(Array(m.channel[0..<5]) == [0, 1, 0, 2, 2])
        let own = SegmentClassMap(classes: ["background", "ribosome"], table: table)
        #expect(Array(own.channel[0..<5]) == [0, 0, 0, 1, 0])
        let labels = Volume(shape: Extent3(x: 5, y: 1, z: 1), values: [UInt8(0), 1, 2, 3, 4])
        #expect(m.map(labels) == [0, 1, 0, 2, 2])
    }

    /// The segmenter learns to find bright balls in noise: after training, more than 90% of ball
    /// voxels and of background voxels of held-out tiles are classified right (a threshold the
    /// untrained network misses).
    @Test func learnsBallsInNoise() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("seg-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let run = SegmentTrainingRun(
            config: smallConfig(), seed: 3,
            schedule: TrainingSchedule(iterations: 120, checkpointEvery: 1000, output: dir + "/m.safetensors"))
        let result = try run.run(metadata: ["voxel_size": "10"]) { ballTile($0) }
        func recall(_ model: Segmenter) -> (ball: Double, background: Double) {
            var (hit, balls, right, backgrounds) = (0, 0, 0, 0)
            for k in 1000..<1004 {
                let t = ballTile(k)
                let p = model.probabilities(Tensor(shape: [1, 1, 16, 16, 16], values: t.values)).scalars
                for i in t.labels.indices {
                    let predicted = p[4096 + i] > p[i] ? 1 : 0
                    if t.labels[i] == 1 {
                        balls += 1
                        hit += predicted
                    } else {
                        backgrounds += 1
                        right += 1 - predicted
                    }
                }
            }
            return (Double(hit) / Double(balls), Double(right) / Double(backgrounds))
        }
        let trained = recall(result.model)
        #expect(trained.ball > 0.9 && trained.background > 0.9, "\(trained)")
        var untrained = smallConfig()
        untrained.classWeights = [1, 1]
        let before = recall(Segmenter(config: untrained, seed: 3))
        #expect(min(before.ball, before.background) < 0.9, "\(before)")
        // The file holds the same model.
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: dir + "/m.safetensors")))
        let (loaded, metadata) = try SegmenterFile.decode(bytes: bytes, source: "m")
        #expect(loaded.digest == result.model.digest && metadata["task"] == "segment")
        #expect(metadata["voxel_size"] == "10" && metadata["iterations"] == "120")
        #expect(loaded.config.classWeights == result.model.config.classWeights)
    }

    /// Stopping and resuming from the checkpoint gives the same weights as an uninterrupted run.
    @Test func resumeGivesTheSameWeights() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("seg-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        func schedule(_ iterations: Int, _ file: String) -> TrainingSchedule {
            TrainingSchedule(iterations: iterations, checkpointEvery: 3, output: dir + "/" + file)
        }
        let straight = try SegmentTrainingRun(config: smallConfig(), seed: 5, schedule: schedule(6, "a.safetensors"))
            .run(metadata: [:]) { ballTile($0) }
        _ = try SegmentTrainingRun(config: smallConfig(), seed: 5, schedule: schedule(3, "b.safetensors"))
            .run(metadata: [:]) { ballTile($0) }
        var resumed = SegmentTrainingRun(config: smallConfig(), seed: 5, schedule: schedule(6, "b.safetensors"))
        resumed.schedule.resume = true
        let result = try resumed.run(metadata: [:]) { ballTile($0) }
        #expect(result.iterationsRun == 3)
        #expect(result.model.digest == straight.model.digest)
    }

    @Test func badModelFilesAreRefused() throws {
        let bytes = try Safetensors.encode([("x", Tensor(zeros: [2]))], metadata: ["format": "other"])
        #expect(throws: SegmentationError.self) { _ = try SegmenterFile.decode(bytes: bytes, source: "x.safetensors") }
        var c = smallConfig()
        c.classes = ["membrane", "background"]
        #expect(throws: SegmentationError.self) { try c.validate() }
        c = smallConfig()
        c.patch = 18
        c.depth = 3
        #expect(throws: SegmentationError.self) { try c.validate() }
        c = smallConfig()
        c.noiseAugmentation = 10.5
        #expect(throws: SegmentationError.self) { try c.validate() }
        c.noiseAugmentation = 10
        try c.validate()
    }
}
