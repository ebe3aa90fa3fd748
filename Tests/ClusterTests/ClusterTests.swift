import Catalog
import Foundation
import Operators
import Store
import TestSupport
import Testing
import Voxels

@testable import Cluster

/// A store directory with tomograms t0…t(n-1) of noise and a Gaussian derived dataset of each.
func storeWithDerived(_ n: Int, shape: Extent3, chunk: Extent3, label: String) throws -> (String, [String]) {
    let path = try TemporaryStore.directory(label) + "/s.store"
    let store = try Store.create(at: path)
    var outputs: [String] = []
    for i in 0..<n {
        let rng = CounterRNG(seed: UInt64(100 + i))
        let v = Volume(shape: shape, values: (0..<shape.count).map { Float(rng.normal(counter: UInt64($0))) })
        var spec = Store.NewDataset(name: "t\(i)", kind: .tomogram, dtype: .float32, shape: shape)
        spec.chunk = chunk
        spec.voxelSize = [10, 10, 10]
        try store.createDataset(spec).write(v, at: Extent3(x: 0, y: 0, z: 0))
        try Workspace(store: store).define(
            name: "t\(i)/g", op: "gaussian", inputs: ["t\(i)"], params: ["sigma": .number(1.5)])
        outputs.append("t\(i)/g")
    }
    return (path, outputs)
}

/// Every stored chunk value of a dataset, by index.
func storedValues(_ store: Store, _ name: String) throws -> [Extent3: [UInt8]] {
    let d = try store.dataset(named: name)
    let indices = try d.storedChunks().map(\.index)
    return try store.kv.read { txn in
        Dictionary(uniqueKeysWithValues: try indices.map { ($0, Array(try d.storedValue($0, in: txn)!)) })
    }
}

@Suite("Cluster: plans, tasks, merge")
struct ClusterTests {
    @Test("units cover every chunk exactly once: whole datasets when there are enough, chunk ranges otherwise")
    func plan() throws {
        let (path, outputs) = try storeWithDerived(
            2, shape: Extent3(x: 40, y: 40, z: 24), chunk: Extent3(x: 8, y: 8, z: 8), label: "plan")
        let workspace = try Workspace(path: path)
        let views = try outputs.map { try workspace.derived($0) }
        for tasks in [1, 2, 5, 7] {
            let job = try ClusterJob.plan(kind: "materialize", datasets: views, tasks: tasks)
            for view in views {
                let n = view.grid.allChunks.count
                let units = job.units.filter { $0.dataset == view.name }.sorted { $0.first < $1.first }
                #expect(units.first?.first == 0 && units.last?.end == n)
                #expect(zip(units, units.dropFirst()).allSatisfy { $0.end == $1.first })
            }
            if tasks <= 2 {
                #expect(job.units.count == 2, "whole datasets")
            } else {
                #expect(job.units.count >= min(tasks, 8), "split by blocks (4 per dataset here)")
            }
            #expect(Set((0..<tasks).flatMap { job.units(ofTask: $0).map(\.number) }) == Set(0..<job.units.count))
            #expect(
                job.id == (try ClusterJob.plan(kind: "materialize", datasets: views, tasks: tasks)).id,
                "same work, same id")
        }
        let order = ClusterJob.chunkOrder(views[0].grid).chunks
        #expect(Set(order) == Set(views[0].grid.allChunks) && order.count == views[0].grid.allChunks.count)
        #expect(Slurm.arraySpec([0, 1, 2, 3]) == "0-3" && Slurm.arraySpec([1, 3, 4]) == "1,3,4")
    }

    @Test("tasks into shards, then merge: byte for byte a single-process materialize; reruns redo nothing")
    func tasksAndMerge() throws {
        let shape = Extent3(x: 40, y: 32, z: 16)
        let chunk = Extent3(x: 8, y: 8, z: 8)
        let (path, outputs) = try storeWithDerived(3, shape: shape, chunk: chunk, label: "cluster")
        let (reference, _) = try storeWithDerived(3, shape: shape, chunk: chunk, label: "reference")
        let views = try outputs.map { try Workspace(path: path).derived($0) }
        let job = try ClusterJob.plan(kind: "materialize", datasets: views, tasks: 4)
        let folder = WorkFolder(store: path)
        try folder.create()
        try job.save(in: folder)
        #expect(try ClusterJob.load(path: folder.job(job.id)) == job)
        var lines: [String] = []
        for t in 0..<4 { try ShardTask.run(store: path, job: job, task: t) { lines.append($0) } }
        #expect((0..<4).allSatisfy { ShardTask.isComplete(folder.shard(job.id, task: $0)) })
        try ShardTask.run(store: path, job: job, task: 2) { lines.append($0) }
        #expect(lines.last == "task 2: already complete")
        // A task whose last unit was interrupted after some commits continues where it stopped.
        let shard = try Store(path: folder.shard(job.id, task: 1))
        try shard.kv.write { txn in
            _ = try txn.delete(.meta, Array(ShardTask.doneKey.utf8))
            _ = try txn.delete(.meta, Array(ShardTask.unitKey(job.units(ofTask: 1).last!.number).utf8))
        }
        lines = []
        try ShardTask.run(store: path, job: job, task: 1) { lines.append($0) }
        #expect(lines.contains { $0.contains(": 0 computed") }, "\(lines)")
        let first = try ShardMerge.run(store: path) { _ in }
        #expect(first.chunksCopied == views.reduce(0) { $0 + $1.grid.allChunks.count } && first.chunksPresent == 0)
        let again = try ShardMerge.run(store: path) { _ in }
        #expect(again.chunksCopied == 0 && again.chunksPresent == first.chunksCopied)
        let store = try Store(path: path)
        #expect(try store.verify { _ in }.ok)
        let ref = try Workspace(path: reference)
        for name in outputs {
            try ref.derived(name).materialize(Box3(shape: shape))
            #expect(try storedValues(store, name) == storedValues(ref.store, name), "\(name)")
        }
    }

    @Test("a shard computed for an older definition is not merged")
    func staleShard() throws {
        let shape = Extent3(x: 16, y: 16, z: 8)
        let (path, outputs) = try storeWithDerived(1, shape: shape, chunk: Extent3(x: 8, y: 8, z: 8), label: "stale")
        let views = try outputs.map { try Workspace(path: path).derived($0) }
        let job = try ClusterJob.plan(kind: "materialize", datasets: views, tasks: 1)
        try WorkFolder(store: path).create()
        try ShardTask.run(store: path, job: job, task: 0) { _ in }
        let store = try Store(path: path)
        try store.remove(named: "t0/g")
        try Workspace(store: store).define(name: "t0/g", op: "gaussian", inputs: ["t0"], params: ["sigma": .number(3)])
        let summary = try ShardMerge.run(store: path) { _ in }
        #expect(summary.chunksCopied == 0 && summary.skippedDatasets == ["t0/g"])
        var fresh = job
        fresh.id += "-unrun"  // a task of the old plan that had not run yet refuses the changed dataset
        #expect(throws: ClusterError.self) { try ShardTask.run(store: path, job: fresh, task: 0) { _ in } }
    }
}
