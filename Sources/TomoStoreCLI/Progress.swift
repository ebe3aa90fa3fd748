import Foundation
import Voxels

/// A one-line progress bar on stderr (rate and ETA), shown only when stderr is a terminal and
/// (updated from one thread at a time)
/// --quiet was not given.
final class ProgressBar: Sendable {
    private let label: String
    private let unit: String
    private let enabled: Bool
    private let start = Date()
    private let lastDraw = Locked(Date.distantPast)

    init(_ label: String, unit: String = "", quiet: Bool = false) {
        self.label = label
        self.unit = unit
        enabled = !quiet && isatty(2) != 0
    }

    /// Redraws the bar at most 10 times a second (and always at the end).
    func update(_ done: Int, _ total: Int) {
        guard enabled else { return }
        let now = Date()
        let due = lastDraw.withLock { last in
            guard done == total || now.timeIntervalSince(last) > 0.1 else { return false }
            last = now
            return true
        }
        guard due else { return }
        let elapsed = now.timeIntervalSince(start)
        let fraction = total > 0 ? Double(done) / Double(total) : 1
        let width = 30
        let filled = Int(fraction * Double(width))
        let rate = elapsed > 0 ? Double(done) / elapsed : 0
        let eta = rate > 0 ? Double(total - done) / rate : 0
        let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
        let line = String(
            format: "\r%@ %@ %3.0f%% %d/%d %@ %.1f/s ETA %.0fs ", label, bar, fraction * 100, done, total, unit, rate,
            eta)
        FileHandle.standardError.write(Data(line.utf8))
        if done == total { FileHandle.standardError.write(Data("\n".utf8)) }
    }
}

/// Progress of a training run on stderr: a bar of the time budget or the iterations (whichever is
/// further along), the iteration, the losses and the ETA; redrawn in place on a terminal, else one
/// line per 5%.
final class TrainingProgress {
    let label: String
    let limit: Double?
    let total: Int
    let quiet: Bool
    let terminal = isatty(2) != 0
    let start = Date()
    var reported = -1

    init(label: String, limit: Double?, total: Int, quiet: Bool) {
        (self.label, self.limit, self.total, self.quiet) = (label, limit, total, quiet)
    }

    /// Reports an iteration; `losses` (formatted only when a line is drawn) follows the counter.
    func report(iteration: Int, secondsLeft: Double, losses: () -> String) {
        guard !quiet else { return }
        let elapsed = Date().timeIntervalSince(start)
        let fraction = min(1, max(limit.map { elapsed / $0 } ?? 0, Double(iteration) / Double(total)))
        let step = Int(fraction * 20)
        guard terminal || step > reported || iteration == total else { return }
        reported = step
        let filled = Int(fraction * 30)
        let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: 30 - filled)
        let counted = limit == nil ? "iteration \(iteration)/\(total)" : "iteration \(iteration)"
        printError(
            String(
                format: "%@%@ %@ %3.0f%% %@  %@  ETA %.0f s%@", terminal ? "\r" : "", label, bar, 100 * fraction,
                counted, losses(), secondsLeft, terminal ? " " : ""),
            terminator: terminal ? "" : "\n")
    }

    /// Ends the in-place line on a terminal.
    func finish() { if terminal && !quiet { printError("") } }
}
