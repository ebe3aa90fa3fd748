import Engine
import Foundation
import Voxels

/// One segmenter training run to a model file: a fresh segmenter (or the state of
/// `output`.checkpoint when resuming) trained on tiles from `tiles` until `iterations` or the time
/// budget, a checkpoint every `checkpointEvery` iterations and at the end, then the model written
/// to `output` with `metadata` (plus iterations and seed). Same tiles, settings and seed → same
/// weights.
public struct SegmentTrainingRun: Sendable {
    public var config: SegmenterConfig
    public var seed: UInt64
    /// Iterations, time budget, checkpoints, output file, resume.
    public var schedule: TrainingSchedule
    /// Tiles whose label frequencies set the class weights (`SegmentTrainer.classWeights`).
    public static let weightingTiles = 32

    public init(config: SegmenterConfig, seed: UInt64, schedule: TrainingSchedule) {
        self.config = config
        self.seed = seed
        self.schedule = schedule
    }

    /// Progress after an iteration: the iteration reached, its loss and the estimated seconds left.
    public typealias Progress = (_ iteration: Int, _ loss: Float, _ secondsLeft: Double) -> Void

    /// What a finished run made.
    public struct Result: Sendable {
        public let model: Segmenter
        /// The model file's bytes (as written to `output`).
        public let bytes: [UInt8]
        public let iterationsRun: Int
        public let seconds: Double
        /// Mean loss over the last 10% of the iterations run (at least one).
        public let finalLoss: Float
    }

    /// Trains and writes the model. `tiles(k)` is training tile k (k counts from 0 over the whole
    /// run, resumed or not: iteration i takes tiles i·batch ..< (i+1)·batch; the class weights come
    /// from tiles 0 ..< 32 of a fresh run).
    public func run(
        metadata: [String: String], tiles: (Int) throws -> SegmentTile, progress: Progress? = nil
    ) throws -> Result {
        if let problem = schedule.problem { throw SegmentationError(problem) }
        var config = self.config
        let checkpoint = schedule.checkpoint
        if schedule.resume {
            let saved = try SegmenterFile.checkpointConfig(checkpoint)
            guard saved.classes == config.classes, saved.patch == config.patch, saved.base == config.base,
                saved.depth == config.depth
            else {
                throw SegmentationError(
                    "\(checkpoint) was written for classes \(saved.classes), patch \(saved.patch); resume with the "
                        + "same settings")
            }
            config = saved
        } else {
            let sample = try (0..<Self.weightingTiles).map { try tiles($0) }
            config.classWeights = SegmentTrainer.classWeights(sample, classes: config.classes.count)
        }
        try config.validate()
        let model = Segmenter(config: config, seed: seed)
        let trainer = SegmentTrainer(model: model, seed: seed)
        if schedule.resume { try SegmenterFile.restore(trainer, from: checkpoint) }
        let clock = schedule.startClock(at: trainer.iteration)
        var recent: [Float] = []
        while trainer.iteration < schedule.iterations {
            let k = trainer.iteration * config.batch
            let batch = try (k..<(k + config.batch)).map { try tiles($0) }
            let loss = trainer.step(batch)
            recent.append(loss)
            progress?(trainer.iteration, loss, clock.secondsLeft(at: trainer.iteration))
            let last = trainer.iteration == schedule.iterations || clock.budgetSpent
            if trainer.iteration % schedule.checkpointEvery == 0 || last {
                try SegmenterFile.checkpoint(trainer, metadata: metadata, to: checkpoint)
            }
            if last { break }
        }
        let tail = recent.suffix(max(1, recent.count / 10))
        let extra = metadata.merging(["iterations": "\(trainer.iteration)", "seed": "\(seed)"]) { own, _ in own }
        let bytes = try SegmenterFile.save(model, to: schedule.output, extra: extra)
        return Result(
            model: model, bytes: bytes, iterationsRun: trainer.iteration - clock.first, seconds: clock.elapsed,
            finalLoss: tail.isEmpty ? .nan : tail.reduce(0, +) / Float(tail.count))
    }
}
