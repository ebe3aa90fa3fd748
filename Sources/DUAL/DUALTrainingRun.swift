import Engine
import Foundation
import Voxels

/// One training run to a model file: a fresh model (or the state of `output`.checkpoint when
/// resuming) trained to `iterations` between two domains, with a checkpoint every
/// `checkpointEvery` iterations beside the output, then the model written to `output` with
/// `metadata` (plus iterations and seed). Same data, settings and seed → same weights.
public struct DUALTrainingRun: Sendable {
    public var config: DUALConfig
    public var seed: UInt64
    /// Iterations, time budget, checkpoints, output file, resume.
    public var schedule: TrainingSchedule
    /// The weights to start from (a model file's bytes with a name for messages), e.g. the shipped
    /// model, fine-tuned on one's own data; nil: initialized from the seed. Its tensors must fit
    /// `config`'s sizes.
    public var initialWeights: (bytes: [UInt8], source: String)?
    /// Decay d of an exponential moving average of the weights (w̄ ← d·w̄ + (1 − d)·w after each
    /// iteration, from the starting weights), written to the model file instead of the last
    /// weights; nil: the last weights. GAN training oscillates between states (docs/dual-runs.md);
    /// the average over ~1/(1 − d) iterations does not. The checkpoint keeps the last weights, and
    /// a resumed run starts its average afresh.
    public var averageDecay: Double?
    /// Whether to fit the simulation's calibration (`SimulationCalibration`) on the training data
    /// after the last iteration and write it with the model.
    public var calibrateSimulation = false

    public init(config: DUALConfig, seed: UInt64, schedule: TrainingSchedule) {
        self.config = config
        self.seed = seed
        self.schedule = schedule
    }

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
        if let problem = schedule.problem { throw DUALError(problem) }
        let model = DUALModel(config: config, seed: seed)
        if let initialWeights {
            let (tensors, _) = try Safetensors.decode(initialWeights.bytes, source: initialWeights.source)
            try Safetensors.assign(tensors, to: model, source: initialWeights.source)
        }
        let trainer = DUALTrainer(model: model, seed: seed)
        let checkpoint = schedule.checkpoint
        if schedule.resume { try DUALModelFile.restore(trainer, from: checkpoint) }
        let clock = schedule.startClock(at: trainer.iteration)
        let parameters = model.parameters
        var average = averageDecay == nil ? [] : parameters.map { $0.value.scalars }
        let decay = Float(averageDecay ?? 0)
        try trainer.train(
            until: schedule.iterations, clean: clean, noisy: noisy, checkpointEvery: schedule.checkpointEvery,
            checkpoint: { try DUALModelFile.checkpoint(trainer, to: checkpoint) },
            progress: { losses in
                for (i, parameter) in parameters.enumerated() where !average.isEmpty {
                    parameter.value.withUnsafeBufferPointer { w in
                        average[i].withUnsafeMutableBufferPointer { a in
                            for k in a.indices { a[k] = decay * a[k] + (1 - decay) * w[k] }
                        }
                    }
                }
                progress?(trainer.iteration, losses, clock.secondsLeft(at: trainer.iteration))
            },
            stop: { clock.budgetSpent })
        for (parameter, values) in zip(parameters, average) {
            parameter.value = Tensor(shape: parameter.shape, values: values)
        }
        var metadata = metadata
        if calibrateSimulation {
            let twoPass = config.simulationCalibration == "snr"
            model.simulationCalibration = try model.fitSimulationCalibration(
                clean: clean, noisy: noisy, seed: seed, twoPass: twoPass)
            metadata["sim_calibration"] =
                twoPass
                ? "spectrum, structure-to-noise share and histogram of the noisy domain"
                : "spectrum and histogram of the noisy domain"
        }
        if let averageDecay { metadata["average_decay"] = String(averageDecay) }
        let extra = metadata.merging(["iterations": "\(trainer.iteration)", "seed": "\(seed)"]) { a, _ in a }
        let bytes = try DUALModelFile.save(model, to: schedule.output, extra: extra)
        return Result(
            model: model, bytes: bytes, iterationsRun: trainer.iteration - clock.first, seconds: clock.elapsed)
    }
}
