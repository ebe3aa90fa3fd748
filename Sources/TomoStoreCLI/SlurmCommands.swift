import ArgumentParser
import Cluster
import Foundation
import Operators
import Store

/// `tomostore slurm …`: job arrays on a real Slurm, shard stores, merge.
struct SlurmCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "slurm",
        abstract: "Run work as Slurm job arrays: each task writes its own shard store; merge folds them in.",
        discussion: """
            The work folder STORE.slurm/ (next to the store, on the shared filesystem) holds job files,
            sbatch scripts, logs and shards (formats/cluster.md). No LMDB environment is written by two
            hosts: tasks only read the store and write their own shard; `merge` writes the store.

            Examples:
              tomostore slurm submit s.store denoise t1/tomogram t2/tomogram --model default --tasks 6
              tomostore slurm status s.store
              tomostore slurm submit s.store denoise t1/tomogram t2/tomogram --model default --tasks 6 --retry-failed
              tomostore slurm merge s.store
            """,
        subcommands: [SlurmSubmit.self, SlurmStatus.self, SlurmMerge.self, SlurmTask.self]
    )
}

/// `tomostore slurm submit STORE JOB ITEMS…`.
struct SlurmSubmit: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "submit",
        abstract: "Write a job-array script for the work and submit it with sbatch; prints the Slurm job id.",
        discussion: """
            JOB: denoise DATASETS… --model M, compensate DATASETS… --model M, simulate GRAND_MODELS…
            --model M [--seed S], materialize DATASETS… (derived datasets already defined), ingest
            FILES… [--names A,B,…] (default: the file names without extension), or corpus export C
            --range a..b -o DIR [--format F] [--tiles N --per-sample K] (tasks write their share of the
            files; nothing to merge). Outputs of
            denoise, compensate and simulate are derived datasets INPUT/denoised, INPUT/compensated,
            INPUT/simulated (--output-suffix chooses), defined now and materialized by the tasks; `slurm
            merge` then folds the shards into the store. Datasets are shared out whole when there are at
            least as many as tasks, else split into ranges of chunks. Submitting the same work again
            finds the same job and shards: finished units are not recomputed.
            """
    )

    @Argument(help: "The store directory.") var store: String
    @Argument(help: "denoise, compensate, simulate, materialize, ingest or corpus.") var job: String
    @Argument(help: "The datasets (ingest: MRC files; corpus: export NAME).") var datasets: [String] = []
    @Option(help: "ingest: dataset names, comma-separated, one per file.") var names: String?
    @Option(help: "corpus export: samples a..b (half-open).") var range: String?
    @Option(name: .shortAndLong, help: "corpus export: output directory.") var output: String?
    @Option(help: "corpus export: mrc or npy.") var format: String?
    @Option(help: "corpus export: tile edge in voxels.") var tiles: Int?
    @Option(help: "corpus export: tiles per sample.") var perSample: Int?
    @Option(help: "Model (denoise, compensate, simulate): a file, default, or a stored name or digest.")
    var model: String?
    @Option(help: "Seed (simulate).") var seed: UInt64 = 1
    @Option(help: "Output names are INPUT/SUFFIX (default: denoised, compensated, simulated).")
    var outputSuffix: String?
    @Option(help: "Array tasks.") var tasks = 4
    @Option(help: "Slurm partition.") var partition: String?
    @Option(help: "Time limit per task (sbatch --time).") var time: String?
    @Option(help: "CPUs per task.") var cpusPerTask: Int?
    @Option(help: "Memory per task (sbatch --mem, e.g. 8G).") var mem: String?
    @Option(help: "An extra sbatch argument, as it is (repeatable), e.g. --sbatch-arg=--account=lab.")
    var sbatchArg: [String] = []
    @Flag(help: "Print the sbatch script; submit nothing.") var dryRun = false
    @Flag(help: "Submit only the tasks that are neither complete nor queued.") var retryFailed = false

    static let kinds = [
        "denoise": "denoised", "compensate": "compensated", "simulate": "simulated", "materialize": "", "ingest": "",
        "corpus": "",
    ]

    func validate() throws {
        guard Self.kinds[job] != nil else {
            throw ValidationError(
                "JOB must be denoise, compensate, simulate, materialize, ingest or corpus, got \"\(job)\"")
        }
        guard !datasets.isEmpty else { throw ValidationError("name at least one dataset after \(job)") }
        guard tasks >= 1 && tasks <= 10_000 else { throw ValidationError("--tasks must be 1…10000") }
        if ["denoise", "compensate", "simulate"].contains(job) && model == nil {
            throw ValidationError("\(job) needs --model (e.g. --model default)")
        }
        if job == "corpus" {
            guard datasets.count == 2, datasets[0] == "export" else {
                throw ValidationError("corpus jobs are: corpus export NAME --range a..b -o DIR")
            }
            guard sampleRange != nil else { throw ValidationError("corpus export needs --range a..b with 0 ≤ a < b") }
            guard output != nil else { throw ValidationError("corpus export needs -o DIR") }
        }
        if job == "ingest", let names, names.split(separator: ",").count != datasets.count {
            throw ValidationError("--names must give one name per file (\(datasets.count))")
        }
        if let c = cpusPerTask, c < 1 { throw ValidationError("--cpus-per-task must be at least 1") }
    }

    /// `--range a..b`.
    var sampleRange: Range<Int>? {
        let parts = (range ?? "").components(separatedBy: "..").compactMap { Int($0) }
        guard parts.count == 2, parts[0] >= 0, parts[0] < parts[1] else { return nil }
        return parts[0]..<parts[1]
    }

    func run() throws {
        let executable = currentExecutable()
        let folder = WorkFolder(store: store)
        let planned: ClusterJob
        var outputs = datasets
        switch job {
        case "ingest":
            for f in datasets where !FileManager.default.fileExists(atPath: f) {
                throw CommandError("no file \(f); give the MRC files to ingest")
            }
            let given = names?.split(separator: ",").map(String.init)
            let chosen =
                given ?? datasets.map { (($0 as NSString).lastPathComponent as NSString).deletingPathExtension }
            for n in chosen { try Store.validate(name: n) }
            planned = try ClusterJob.plan(ingest: datasets.map(absolute), names: chosen, tasks: tasks)
            outputs = chosen
        case "corpus":
            var arguments = ["-o", absolute(output!)]
            if let format { arguments += ["--format", format] }
            if let tiles { arguments += ["--tiles", String(tiles)] }
            if let perSample { arguments += ["--per-sample", String(perSample)] }
            planned = try ClusterJob.plan(
                corpus: datasets[1], samples: sampleRange!, arguments: arguments, tasks: tasks)
        default:
            outputs = try defineOutputs(executable: executable)
            let workspace = try Workspace(path: store, cacheBytes: 16 << 20)
            planned = try ClusterJob.plan(
                kind: job, datasets: try outputs.map { try workspace.derived($0) }, tasks: tasks)
        }
        try folder.create()
        var clusterJob =
            FileManager.default.fileExists(atPath: folder.job(planned.id))
            ? try ClusterJob.load(path: folder.job(planned.id)) : planned
        var indices = Array(0..<tasks)
        if retryFailed {
            var queued = Set<Int>()
            for id in clusterJob.submissions { queued.formUnion(try Slurm.queued(job: id).keys) }
            indices = indices.filter {
                !queued.contains($0) && !ShardTask.isComplete(folder.shard(clusterJob.id, task: $0))
            }
            if indices.isEmpty {
                FileHandle.standardError.write(
                    Data("nothing to resubmit: every task of job \(clusterJob.id) is complete or queued\n".utf8))
                return
            }
        }
        var resources = SlurmResources()
        resources.partition = partition
        resources.time = time
        resources.cpusPerTask = cpusPerTask
        resources.mem = mem
        resources.extra = sbatchArg
        let script = Slurm.script(
            job: clusterJob, indices: indices, store: absolute(store), executable: executable, resources: resources)
        if dryRun {
            print(script, terminator: "")
            return
        }
        try clusterJob.save(in: folder)
        try script.write(toFile: folder.script(clusterJob.id), atomically: true, encoding: .utf8)
        let id = try Slurm.submit(scriptPath: folder.script(clusterJob.id))
        clusterJob.submissions.append(id)
        try clusterJob.save(in: folder)
        print(
            "submitted batch job \(id): \(clusterJob.kind) of \(outputs.count) item(s), array tasks \(indices.map(String.init).joined(separator: ","))"
        )
        FileHandle.standardError.write(
            Data("job file \(folder.job(clusterJob.id)); follow it with: tomostore slurm status \(store) \(id)\n".utf8))
    }

    /// The derived datasets to compute: defined now (by running `tomostore denoise … --name …`, the same
    /// definition a single process makes) unless they exist already.
    private func defineOutputs(executable _: String) throws -> [String] {
        guard job != "materialize" else { return datasets }
        let suffix = outputSuffix ?? Self.kinds[job]!
        let store = try Store(path: self.store, cacheBytes: 0)
        var outputs: [String] = []
        for input in datasets {
            let output = "\(input)/\(suffix)"
            outputs.append(output)
            if (try? store.info(named: output)) != nil { continue }
            var arguments = [job, self.store, input, "--model", model!, "--name", output]
            if job == "simulate" { arguments += ["--seed", String(seed)] }
            try runSelf(arguments)
        }
        return outputs
    }
}

/// This executable's path (tasks run it, and so do definitions made on their behalf).
func currentExecutable() -> String {
    (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
}

/// Runs this executable with `arguments`, its output going to stderr; throws when it fails.
func runSelf(_ arguments: [String]) throws {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: currentExecutable())
    p.arguments = arguments
    p.standardOutput = FileHandle.standardError
    try p.run()
    p.waitUntilExit()
    guard p.terminationStatus == 0 else {
        throw CommandError("tomostore \(arguments.joined(separator: " ")) failed (exit \(p.terminationStatus))")
    }
}

/// An absolute path (tasks run in another working directory).
func absolute(_ path: String) -> String {
    path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
}

/// `tomostore slurm task STORE --job ID --task N`: one array task (what the sbatch script runs).
struct SlurmTask: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "task", abstract: "Run one array task of a job into its shard (the sbatch script calls this).")
    @Argument(help: "The store directory.") var store: String
    @Option(help: "The job id (a job file in STORE.slurm/jobs).") var job: String
    @Option(help: "The array task index.") var task: Int

    func run() throws {
        let folder = WorkFolder(store: store)
        let clusterJob = try ClusterJob.load(path: folder.job(job))
        let store = self.store
        let external: (WorkUnit, Store, String) throws -> Void = { unit, shard, shardPath in
            switch clusterJob.kind {
            case "ingest":
                let existing = try? shard.info(named: unit.dataset)
                if existing?.complete == true { return }
                try runSelf(
                    ["ingest", shardPath, unit.file!, "--name", unit.dataset, "--quiet"]
                        + (existing != nil ? ["--resume"] : []))
            default:  // corpus: samples not kept in the store (tasks never write it)
                try runSelf(
                    [
                        "corpus", "export", store, unit.dataset, "--range", "\(unit.first)..\(unit.end)", "--no-cache",
                        "--quiet",
                    ]
                        + (unit.arguments ?? []))
            }
        }
        try ShardTask.run(store: store, job: clusterJob, task: task, external: external) { line in
            FileHandle.standardOutput.write(Data((line + "\n").utf8))  // unbuffered: the log shows progress
        }
    }
}

/// `tomostore slurm status STORE [JOBID]`.
struct SlurmStatus: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Tasks done, pending, running and failed (from squeue and the shards), and what is merged.")
    @Argument(help: "The store directory.") var store: String
    @Argument(help: "A Slurm job id (default: the latest job).") var jobID: String?
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        let folder = WorkFolder(store: store)
        let jobs = try folder.allJobs()
        guard
            let clusterJob = jobID.map({ id in jobs.last { $0.submissions.contains(id) || $0.id == id } })
                ?? jobs.last
        else {
            throw CommandError("no Slurm job of \(store) found\(jobID.map { " for \($0)" } ?? "") in \(folder.jobs)")
        }
        var queued: [Int: String] = [:]
        for id in clusterJob.submissions {
            for (task, state) in try Slurm.queued(job: id) { queued[task] = state }
        }
        var states: [String] = []
        for t in 0..<clusterJob.tasks {
            if ShardTask.isComplete(folder.shard(clusterJob.id, task: t)) {
                states.append("done")
            } else if let q = queued[t] {
                states.append(q.lowercased())
            } else {
                states.append(clusterJob.submissions.isEmpty ? "not submitted" : "failed")
            }
        }
        let store = try Store(path: self.store, cacheBytes: 0)
        var merged: [(String, Int, Int)] = []
        for name in clusterJob.kind == "corpus" ? [] : clusterJob.datasets {
            guard let d = try? store.dataset(named: name, allowIncomplete: true) else {
                merged.append((name, 0, -1))
                continue
            }
            merged.append((name, try d.storedChunks().count, d.grid.allChunks.count))
        }
        if json {
            let object: [String: Any] = [
                "job": clusterJob.id, "submissions": clusterJob.submissions, "tasks": states,
                "merged": merged.map { ["dataset": $0.0, "stored_chunks": $0.1, "chunks": $0.2] },
            ]
            print(try jsonText(any: object))
            return
        }
        print("job \(clusterJob.id) (\(clusterJob.kind), Slurm jobs \(clusterJob.submissions.joined(separator: ", ")))")
        for (t, s) in states.enumerated() {
            let hint =
                s == "failed" ? ": killed or failed before finishing; tomostore slurm submit … --retry-failed" : ""
            print("  task \(t): \(s)\(hint)")
        }
        let counts = Dictionary(grouping: states, by: { $0 }).mapValues(\.count)
        print("tasks: " + counts.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", "))
        for (name, have, all) in merged {
            print(
                all < 0 ? "merged \(name): not in the store yet" : "merged \(name): \(have)/\(all) chunks in the store")
        }
    }
}

/// `tomostore slurm merge STORE`.
struct SlurmMerge: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "merge",
        abstract: "Fold every shard into the store: stored chunks copied as they are, checksums checked.",
        discussion: "Interruptible: each transaction is whole; run it again to finish.")
    @Argument(help: "The store directory.") var store: String
    @Flag(help: "No per-shard lines.") var quiet = false

    func run() throws {
        let start = Date()
        let summary = try ShardMerge.run(store: store) { line in
            if !quiet { FileHandle.standardError.write(Data((line + "\n").utf8)) }
        }
        let seconds = max(1e-9, Date().timeIntervalSince(start))
        print(
            "merged \(summary.shards) shard(s): \(summary.chunksCopied) chunks copied ("
                + String(
                    format: "%.1f MB, %.2f GB/s", Double(summary.bytesCopied) / 1e6,
                    Double(summary.bytesCopied) / seconds / 1e9)
                + "), \(summary.chunksPresent) already in the store")
    }
}
