import Foundation
import Voxels

/// One training run to a model file: a fresh model (or the state of `output`.checkpoint when
/// resuming) trained to `iterations` between two domains, with a checkpoint every
/// `checkpointEvery` iterations beside the output, then the model written to `output` with
/// `metadata` (plus iterations and seed). Same data, settings and seed → same weights.
public struct DUALTrainingRun: Sendable {
    public var config: DUALConfig
    public var seed: UInt64
    /// Iterations to reach (counting those of a resumed checkpoint).
    public var iterations: Int
    public var checkpointEvery: Int
    /// The model file (.safetensors) to write.
    public var output: String
    /// Continue from `output`.checkpoint.
    public var resume = false

    public init(config: DUALConfig, seed: UInt64, iterations: Int, checkpointEvery: Int, output: String) {
        self.config = config
        self.seed = seed
        self.iterations = iterations
        self.checkpointEvery = checkpointEvery
        self.output = output
    }

    /// Where the checkpoint of this run lives.
    public var checkpoint: String { output + ".checkpoint" }

    /// Progress after an iteration: the iteration reached, the losses, and the estimated seconds left.
    public typealias Progress = (_ iteration: Int, _ losses: DUALLosses, _ secondsLeft: Double) -> Void

    /// What a finished run made.
    public struct Result: Sendable {
        public let model: DUALModel
        /// The model file's bytes (as written to `output`).
        public let bytes: [UInt8]
        /// Iterations run now (fewer than `iterations` after a resume).
        public let iterationsRun: Int
        public let seconds: Double
    }

    /// Trains and writes the model.
    /// - Throws: `DUALError` for bad settings or a missing checkpoint; file errors.
    public func run(
        clean: [PatchVolume], noisy: [PatchVolume], metadata: [String: String], progress: Progress? = nil
    ) throws -> Result {
        guard iterations > 0 else { throw DUALError("iterations must be positive, not \(iterations)") }
        guard checkpointEvery > 0 else { throw DUALError("the checkpoint interval must be positive") }
        let model = DUALModel(config: config, seed: seed)
        let trainer = DUALTrainer(model: model, seed: seed)
        let checkpoint = self.checkpoint
        if resume {
            guard FileManager.default.fileExists(atPath: checkpoint) else {
                throw DUALError("no checkpoint \(checkpoint) to resume from")
            }
            try DUALModelFile.restore(trainer, from: checkpoint)
        }
        let start = Date()
        let first = trainer.iteration
        let total = iterations
        try trainer.train(
            until: total, clean: clean, noisy: noisy, checkpointEvery: checkpointEvery,
            checkpoint: { try DUALModelFile.checkpoint(trainer, to: checkpoint) },
            progress: { losses in
                let done = trainer.iteration - first
                let left = Date().timeIntervalSince(start) / Double(max(1, done)) * Double(total - trainer.iteration)
                progress?(trainer.iteration, losses, left)
            })
        let extra = metadata.merging(["iterations": "\(iterations)", "seed": "\(seed)"]) { a, _ in a }
        let bytes = try DUALModelFile.save(model, to: output, extra: extra)
        return Result(
            model: model, bytes: bytes, iterationsRun: iterations - first, seconds: Date().timeIntervalSince(start))
    }
}
