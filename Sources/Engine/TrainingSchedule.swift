import Foundation

/// How long a training run goes and where it keeps its state: until `iterations` (counting those of
/// a resumed checkpoint) or the iteration that reaches the wall-clock `timeLimit` (seconds), with a
/// checkpoint at `output`.checkpoint every `checkpointEvery` iterations and at the end.
public struct TrainingSchedule: Sendable {
    /// Iterations to reach (counting those of a resumed checkpoint).
    public var iterations: Int
    public var checkpointEvery: Int
    /// The model file (.safetensors) to write.
    public var output: String
    /// Continue from `checkpoint`.
    public var resume = false
    /// Wall-clock budget in seconds: training stops after the iteration that reaches it (then
    /// `iterations` is only the most it may run).
    public var timeLimit: Double?

    public init(iterations: Int, checkpointEvery: Int, output: String) {
        self.iterations = iterations
        self.checkpointEvery = checkpointEvery
        self.output = output
    }

    /// The schedule as a command's options give it: `iterations` nil means `defaultIterations`
    /// without a time budget and no count limit (Int32.max) with one.
    public init(
        iterations: Int?, defaultIterations: Int, timeLimit: Double?, checkpointEvery: Int, output: String,
        resume: Bool
    ) {
        self.init(
            iterations: iterations ?? (timeLimit == nil ? defaultIterations : Int(Int32.max)),
            checkpointEvery: checkpointEvery, output: output)
        (self.timeLimit, self.resume) = (timeLimit, resume)
    }

    /// Where the checkpoint of this run lives.
    public var checkpoint: String { output + ".checkpoint" }

    /// What is wrong with these settings, as one sentence; nil when nothing is.
    public var problem: String? {
        if iterations <= 0 { return "iterations must be positive, not \(iterations)" }
        if checkpointEvery <= 0 { return "the checkpoint interval must be positive" }
        if resume && !FileManager.default.fileExists(atPath: checkpoint) {
            return "no checkpoint \(checkpoint) to resume from"
        }
        return nil
    }

    /// A clock started now, for a run at iteration `first` (0, or a resumed checkpoint's).
    public func startClock(at first: Int) -> TrainingClock {
        TrainingClock(start: Date(), first: first, total: iterations, limit: timeLimit)
    }
}

/// The time a training run has taken and has left, by the iterations it has done since it started.
public struct TrainingClock: Sendable {
    let start: Date
    /// The iteration the run started at.
    public let first: Int
    let total: Int
    let limit: Double?

    /// Seconds since the start.
    public var elapsed: Double { Date().timeIntervalSince(start) }

    /// Whether the time budget is spent (never without one).
    public var budgetSpent: Bool { limit.map { elapsed >= $0 } ?? false }

    /// Estimated seconds left at `iteration`: the mean time per iteration so far times the
    /// iterations left, at most what is left of the time budget.
    public func secondsLeft(at iteration: Int) -> Double {
        let elapsed = self.elapsed
        let left = elapsed / Double(max(1, iteration - first)) * Double(max(0, total - iteration))
        return limit.map { min(left, max(0, $0 - elapsed)) } ?? left
    }
}
