import Foundation

/// What `sbatch` is asked for besides the array.
public struct SlurmResources: Sendable {
    public var partition: String?
    public var time: String?
    public var cpusPerTask: Int?
    public var mem: String?
    /// Passed to sbatch as they are (`--sbatch-arg=--account=lab`).
    public var extra: [String] = []
    public init() {}
}

/// Slurm's own commands (sbatch, squeue), run as processes: TomoStore schedules nothing itself.
public enum Slurm {
    /// The job-array script of `job`: array tasks `indices`, each running
    /// `tomostore slurm task STORE --job ID --task $SLURM_ARRAY_TASK_ID`, logs in the work folder.
    public static func script(
        job: ClusterJob, indices: [Int], store: String, executable: String, resources: SlurmResources
    ) -> String {
        let folder = WorkFolder(store: store)
        var lines = [
            "#!/bin/bash",
            "# tomostore slurm submit: job \(job.id) (\(job.kind) of \(job.datasets.count) dataset(s), "
                + "\(job.units.count) unit(s) over \(job.tasks) task(s))",
            "#SBATCH --job-name=tomostore-\(job.kind)",
            "#SBATCH --array=\(arraySpec(indices))",
            "#SBATCH --output=\(folder.logs)/\(job.id)-%a.log",
        ]
        if let p = resources.partition { lines.append("#SBATCH --partition=\(p)") }
        if let t = resources.time { lines.append("#SBATCH --time=\(t)") }
        if let c = resources.cpusPerTask { lines.append("#SBATCH --cpus-per-task=\(c)") }
        if let m = resources.mem { lines.append("#SBATCH --mem=\(m)") }
        for a in resources.extra { lines.append("#SBATCH \(a)") }
        lines += [
            "set -euo pipefail",
            "# OpenBLAS uses the CPUs Slurm gave the task.",
            "export OPENBLAS_NUM_THREADS=${SLURM_CPUS_PER_TASK:-1}",
            "exec \(quote(executable)) slurm task \(quote(store)) --job \(quote(job.id)) --task \"$SLURM_ARRAY_TASK_ID\"",
        ]
        return lines.joined(separator: "\n") + "\n"
    }

    /// `0-5` or `1,3,4`.
    static func arraySpec(_ indices: [Int]) -> String {
        let sorted = indices.sorted()
        if let first = sorted.first, let last = sorted.last, sorted == Array(first...last), sorted.count > 1 {
            return "\(first)-\(last)"
        }
        return sorted.map(String.init).joined(separator: ",")
    }

    /// Single-quoted for bash.
    static func quote(_ s: String) -> String { "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'" }

    /// Submits a script with `sbatch --parsable`; returns the job id.
    public static func submit(scriptPath: String) throws -> String {
        let (status, out, err) = try run("sbatch", ["--parsable", scriptPath])
        guard status == 0 else {
            throw ClusterError("sbatch failed (exit \(status)): \(err.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
        let id = out.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespacesAndNewlines) } ?? ""
        guard !id.isEmpty, id.allSatisfy(\.isNumber) else { throw ClusterError("sbatch printed no job id: \(out)") }
        return id
    }

    /// Array tasks of a job that Slurm still holds (pending or running), by task index → state. Works
    /// without accounting (squeue, not sacct).
    public static func queued(job id: String) throws -> [Int: String] {
        let (status, out, err) = try run("squeue", ["-h", "-r", "-j", id, "-o", "%i %T"])
        // squeue exits non-zero for a job id it no longer knows: nothing is queued.
        if status != 0 {
            if err.contains("Invalid job id") { return [:] }
            throw ClusterError("squeue failed (exit \(status)): \(err.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
        var states: [Int: String] = [:]
        for line in out.split(separator: "\n") {
            let parts = line.split(separator: " ")
            guard parts.count == 2, let underscore = parts[0].firstIndex(of: "_"),
                let task = Int(parts[0][parts[0].index(after: underscore)...])
            else { continue }
            states[task] = String(parts[1])
        }
        return states
    }

    /// Runs a program from PATH; returns exit status, stdout and stderr.
    static func run(_ program: String, _ arguments: [String]) throws -> (Int32, String, String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = [program] + arguments
        let out = Pipe()
        let err = Pipe()
        p.standardOutput = out
        p.standardError = err
        do {
            try p.run()
        } catch {
            throw ClusterError("cannot run \(program): \(error); is Slurm installed (apt-get install slurm-wlm)?")
        }
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        if p.terminationStatus == 127 { throw ClusterError("\(program) is not installed (apt-get install slurm-wlm)") }
        return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
    }
}
