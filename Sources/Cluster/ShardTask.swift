import Catalog
import Foundation
import Operators
import Store
import Voxels

/// One array task: computes its units' chunks from the store (opened for reading only) into its own
/// shard store, committing block by block and recording each finished unit in the shard, so a killed
/// task leaves a shard that verifies and a rerun continues where it stopped.
public enum ShardTask {
    /// Meta key of a finished unit in a shard.
    static func unitKey(_ n: Int) -> String { "cluster/unit/\(n)" }
    /// Meta key recording that every unit of the task is finished.
    static let doneKey = "cluster/done"

    /// Runs task `task` of `job`; `log` gets one line per unit. Units of ingest and corpus jobs are run
    /// by `external` (given the unit, the open shard and its path; it must be rerunnable), with the same records.
    public static func run(
        store path: String, job: ClusterJob, task: Int,
        external: (WorkUnit, Store, String) throws -> Void = { _, _, _ in throw ClusterError("no runner for this job")
        },
        log: (String) -> Void
    ) throws {
        guard task >= 0 && task < job.tasks else {
            throw ClusterError("task \(task) is outside job \(job.id) (0..<\(job.tasks))")
        }
        let folder = WorkFolder(store: path)
        let shardPath = folder.shard(job.id, task: task)
        let shard =
            FileManager.default.fileExists(atPath: shardPath + "/data.mdb")
            ? try Store(path: shardPath, cacheBytes: 0) : try Store.create(at: shardPath)
        if try shard.metaValue(doneKey) != nil {
            log("task \(task): already complete")
            return
        }
        // The store is only read: opened read-only, so no task can ever write it.
        let workspace = Workspace(store: try Store(path: path, cacheBytes: 64 << 20, readOnly: true))
        for (number, unit) in job.units(ofTask: task) {
            if try shard.metaValue(unitKey(number)) != nil {
                log("unit \(number) (\(unit.dataset) \(unit.first)..<\(unit.end)): already done")
                continue
            }
            guard job.isDerived else {
                let start = Date()
                try external(unit, shard, shardPath)
                try shard.putMetaValue(unitKey(number), Array("done".utf8))
                log(
                    "unit \(number) (\(unit.file ?? unit.dataset) \(unit.first)..<\(unit.end)): done in "
                        + String(format: "%.1f s", Date().timeIntervalSince(start)))
                continue
            }
            let view = try workspace.derived(unit.dataset)
            guard let i = job.datasets.firstIndex(of: unit.dataset), view.derivation.digest == job.digests[i] else {
                throw ClusterError(
                    "\"\(unit.dataset)\" changed since job \(job.id) was planned (its inputs or definition); submit again"
                )
            }
            let target = try shardDataset(for: view, in: shard)
            let wanted = Array(ClusterJob.chunkOrder(view.grid).chunks[unit.first..<unit.end])
            let missing = try target.missingChunks(wanted)
            let start = Date()
            try view.computeBlocks(missing) { pieces, _, _ in
                try target.commit(try target.prepare(pieces, keepFill: true))
            }
            try shard.putMetaValue(unitKey(number), Array("done".utf8))
            let seconds = Date().timeIntervalSince(start)
            log(
                "unit \(number) (\(unit.dataset) chunks \(unit.first)..<\(unit.end)): \(missing.count) computed in "
                    + String(format: "%.1f s", seconds))
        }
        try shard.putMetaValue(doneKey, Array(job.id.utf8))
        log("task \(task): complete")
    }

    /// The shard's copy of a derived dataset: the same name, grid, dtype, codec, fill value, voxel size,
    /// origin and catalog extensions (derivation included) as in the store.
    static func shardDataset(for view: DerivedDataset, in shard: Store) throws -> Dataset {
        if let existing = try? shard.dataset(named: view.name) { return existing }
        return try shard.createDataset(try Store.NewDataset(like: view.info))
    }

    /// True when the shard of task t records that all its units are finished.
    public static func isComplete(_ shardPath: String) -> Bool {
        guard FileManager.default.fileExists(atPath: shardPath + "/data.mdb"),
            let shard = try? Store(path: shardPath, cacheBytes: 0)
        else { return false }
        return ((try? shard.metaValue(doneKey)) ?? nil) != nil
    }
}
