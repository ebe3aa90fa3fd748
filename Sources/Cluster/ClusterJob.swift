import Catalog
import Codecs
import Foundation
import Operators
import Store
import Voxels

/// Why cluster work cannot be planned, run, or merged.
public struct ClusterError: TomoStoreError {
    public let description: String
    public init(_ d: String) { description = d }
}

/// The work folder of a store: `STORE.slurm/` next to it, holding job files, sbatch scripts, the
/// tasks' logs, and one shard store per array task (formats/cluster.md).
public struct WorkFolder: Sendable {
    public let path: String

    public init(store: String) {
        var s = store
        while s.count > 1 && s.hasSuffix("/") { s.removeLast() }
        path = s + ".slurm"
    }

    public var jobs: String { path + "/jobs" }
    public var shards: String { path + "/shards" }
    public var logs: String { path + "/logs" }

    public func job(_ id: String) -> String { "\(jobs)/\(id).json" }
    public func script(_ id: String) -> String { "\(jobs)/\(id).sbatch" }
    /// Shard store of task t of a job.
    public func shard(_ id: String, task: Int) -> String { "\(shards)/\(id)-\(task).store" }

    /// Creates the folders.
    public func create() throws {
        for p in [jobs, shards, logs] {
            try FileManager.default.createDirectory(atPath: p, withIntermediateDirectories: true)
        }
    }

    /// Every job file, oldest first.
    public func allJobs() throws -> [ClusterJob] {
        guard FileManager.default.fileExists(atPath: jobs) else { return [] }
        return try FileManager.default.contentsOfDirectory(atPath: jobs).filter { $0.hasSuffix(".json") }.sorted()
            .map { try ClusterJob.load(path: "\(jobs)/\($0)") }.sorted { $0.created < $1.created }
    }
}

/// One piece of work: chunks `first..<end` (in the order of `ClusterJob.chunkOrder`) of a derived
/// dataset, computed into the task's shard; or (ingest) the MRC file `file` ingested into the shard as
/// dataset `dataset`; or (corpus) samples `first..<end` of corpus `dataset` exported with `arguments`.
public struct WorkUnit: Codable, Equatable, Sendable {
    public var dataset: String
    public var first: Int
    public var end: Int
    public var file: String? = nil
    public var arguments: [String]? = nil
}

/// A job: derived datasets of the store to materialize, split into units, spread over `tasks` array
/// tasks (unit u runs in task u mod tasks). Its id is a digest of the work, so submitting the same work
/// again finds the same job, the same shards, and what they already hold.
public struct ClusterJob: Codable, Equatable, Sendable {
    public var id: String
    /// What was asked for (`denoise`, `compensate`, `simulate`, `materialize`: derived datasets;
    /// `ingest`; `corpus`: a corpus export).
    public var kind: String
    /// The derived datasets computed, with the derivation digest each was planned for.
    public var datasets: [String]
    public var digests: [String]
    public var tasks: Int
    public var units: [WorkUnit]
    /// Slurm job ids of the submissions, oldest first.
    public var submissions: [String] = []
    public var created: String

    /// Plans the work: every chunk of each dataset, in blocks of neighbouring chunks (those the
    /// materializer computes together); datasets are split into ⌈tasks / datasets⌉ ranges of whole
    /// blocks when there are fewer datasets than tasks (a single huge dataset is split by chunk range).
    public static func plan(kind: String, datasets: [DerivedDataset], tasks: Int) throws -> ClusterJob {
        guard tasks >= 1 else { throw ClusterError("--tasks must be at least 1") }
        guard !datasets.isEmpty else { throw ClusterError("no dataset to compute") }
        let pieces = max(1, (tasks + datasets.count - 1) / datasets.count)
        var units: [WorkUnit] = []
        for d in datasets {
            let blocks = chunkOrder(d.grid).blocks
            let n = min(pieces, blocks.count)
            var chunkStart = 0
            for i in 0..<n {
                let count = blocks[(i * blocks.count / n)..<((i + 1) * blocks.count / n)].reduce(0) { $0 + $1.count }
                units.append(WorkUnit(dataset: d.name, first: chunkStart, end: chunkStart + count))
                chunkStart += count
            }
        }
        return try make(
            kind: kind, datasets: datasets.map(\.name), digests: datasets.map(\.derivation.digest),
            tasks: tasks, units: units)
    }

    /// Plans an ingest: file i becomes dataset `names[i]` (one unit per file).
    public static func plan(ingest files: [String], names: [String], tasks: Int) throws -> ClusterJob {
        guard tasks >= 1, !files.isEmpty, files.count == names.count else { throw ClusterError("no file to ingest") }
        let units = zip(files, names).map { WorkUnit(dataset: $1, first: 0, end: 1, file: $0) }
        return try make(kind: "ingest", datasets: names, digests: files, tasks: tasks, units: units)
    }

    /// Plans a corpus export of samples `samples`, split into `tasks` contiguous ranges; `arguments` are
    /// the export's other options (output folder, format, tiles).
    public static func plan(corpus: String, samples: Range<Int>, arguments: [String], tasks: Int) throws -> ClusterJob {
        guard tasks >= 1, !samples.isEmpty else { throw ClusterError("no sample to export") }
        let n = min(tasks, samples.count)
        let units = (0..<n).map { i in
            WorkUnit(
                dataset: corpus, first: samples.lowerBound + i * samples.count / n,
                end: samples.lowerBound + (i + 1) * samples.count / n, arguments: arguments)
        }
        return try make(kind: "corpus", datasets: [corpus], digests: arguments, tasks: tasks, units: units)
    }

    /// A job with its id: the kind and a digest of the units, what they were planned from and the task count.
    static func make(kind: String, datasets: [String], digests: [String], tasks: Int, units: [WorkUnit]) throws
        -> ClusterJob
    {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let text =
            "\(kind)|\(tasks)|\(digests.joined(separator: "|"))|"
            + String(decoding: try encoder.encode(units), as: UTF8.self)
        let id = "\(kind)-" + String(XXHash64.hash(Array(text.utf8)), radix: 16)
        return ClusterJob(
            id: id, kind: kind, datasets: datasets, digests: digests, tasks: tasks, units: units,
            created: ISO8601DateFormatter().string(from: Date()))
    }

    /// True for jobs whose units are chunks of derived datasets.
    public var isDerived: Bool { !["ingest", "corpus"].contains(kind) }

    /// The chunks of a grid in the order units count them: block by block (blocks in z, y, x order),
    /// chunks within a block in z, y, x order.
    public static func chunkOrder(_ grid: ChunkGrid) -> (chunks: [Extent3], blocks: [[Extent3]]) {
        let side = DerivedDataset.blockSide(grid)
        var blocks: [Extent3: [Extent3]] = [:]
        for c in grid.allChunks { blocks[Extent3(x: c.x / side, y: c.y / side, z: c.z / side), default: []].append(c) }
        let order = blocks.keys.sorted { ($0.z, $0.y, $0.x) < ($1.z, $1.y, $1.x) }
        let grouped = order.map { blocks[$0]!.sorted { ($0.z, $0.y, $0.x) < ($1.z, $1.y, $1.x) } }
        return (grouped.flatMap { $0 }, grouped)
    }

    /// Units of task t.
    public func units(ofTask t: Int) -> [(number: Int, unit: WorkUnit)] {
        units.enumerated().filter { $0.offset % tasks == t }.map { ($0.offset, $0.element) }
    }

    public func save(in folder: WorkFolder) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        let tmp = folder.job(id) + ".tmp"
        try encoder.encode(self).write(to: URL(fileURLWithPath: tmp))
        guard rename(tmp, folder.job(id)) == 0 else { throw ClusterError("cannot write \(folder.job(id))") }
    }

    public static func load(path: String) throws -> ClusterJob {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ClusterError("cannot read job file \(path)")
        }
        do {
            return try decoder.decode(ClusterJob.self, from: data)
        } catch {
            throw ClusterError("job file \(path) does not parse: \(error)")
        }
    }
}

extension Store.NewDataset {
    /// A description of a dataset like `info`: same name, grid, dtype, codec, fill value, voxel size,
    /// origin, attributes and catalog extensions (kind, derivation, contrast, MRC source …).
    init(like info: DatasetInfo) throws {
        self.init(name: info.name, dtype: info.dtype, shape: info.extent)
        chunk = info.chunkExtent
        codec = try info.codecChain()
        fillValue = info.fillValue
        voxelSize = info.voxelSize
        origin = info.origin
        attributes = info.attributes
        extensions = info.extensions
    }
}
