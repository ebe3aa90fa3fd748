import ArgumentParser
import Catalog
import DUAL
import Foundation
import Imaging
import Operators
import Store
import Voxels

/// `tomostore bench lazy`: what laziness costs and saves.
struct BenchLazy: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lazy",
        abstract:
            "Time lazy derived datasets: materialize vs the bare operator, and the first 64³ box of denoise vs the "
            + "whole volume.",
        discussion: "Example:\n  tomostore bench lazy --size 256,256,128 --json"
    )

    @Option(help: "Volume size X,Y,Z.") var size = "192,192,96"
    @Option(help: "Gaussian σ for the materialize measurement.") var sigma = 2.0
    @Option(help: "DUAL model for the denoise measurement (default: the shipped one).") var model = "default"
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        let d = size.split(separator: ",").compactMap { Int($0) }
        guard d.count == 3, d.allSatisfy({ $0 >= 64 }) else {
            throw CommandError("--size must be X,Y,Z, each at least 64")
        }
        let shape = Extent3(x: d[0], y: d[1], z: d[2])
        let dir = NSTemporaryDirectory() + "tomostore-bench-lazy-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try Store.create(at: dir + "/s.store")
        let rng = CounterRNG(seed: 3)
        let volume = GaussianFilter.apply(
            Volume(shape: shape, values: (0..<shape.count).map { Float(rng.normal(counter: UInt64($0))) }), sigma: 1)
        try store.storeVolume(
            volume, name: "t", kind: .tomogram, voxelSize: 10, attributes: [:], contrast: Contrast.simulated)
        let voxels = Double(shape.count)

        var t = Date()
        _ = GaussianFilter.apply(volume, sigma: sigma)
        let bare = Date().timeIntervalSince(t)
        let workspace = Workspace(store: store)
        try workspace.define(name: "g", op: "gaussian", inputs: ["t"], params: ["sigma": .number(sigma)])
        let fresh = try Workspace(path: dir + "/s.store", cacheBytes: 0)
        t = Date()
        try fresh.derived("g").materialize(Box3(shape: shape))
        let materialize = Date().timeIntervalSince(t)

        let (dual, bytes, _) = try resolveModel(model, store: store)
        try ModelRegistry(store: store).put(digest: dual.digest, bytes)
        let denoise: [String: JSONValue] = ["model": .string(dual.digest)]
        try workspace.define(name: "d", op: "denoise", inputs: ["t"], params: denoise, modelDigest: dual.digest)
        t = Date()
        _ = try Workspace(path: dir + "/s.store").open("d").read(Box3(x: 0..<64, y: 0..<64, z: 0..<64))
        let firstBox = Date().timeIntervalSince(t)
        t = Date()
        let prepared = try DenoiseOperator.prepare(parameters: denoise, context: OperatorContext(store: store))
        _ = try prepared.compute(Box3(shape: shape), inputs: [try store.dataset(named: "t")], voxelSize: 10)
        let whole = Date().timeIntervalSince(t)
        try workspace.define(name: "d2", op: "denoise", inputs: ["t"], params: denoise, modelDigest: dual.digest)
        t = Date()
        try Workspace(path: dir + "/s.store", cacheBytes: 0).derived("d2").materialize(Box3(shape: shape))
        let denoiseMaterialize = Date().timeIntervalSince(t)

        let result: [String: Any] = [
            "shape": shape.array, "gaussian_bare_s": bare, "gaussian_materialize_s": materialize,
            "materialize_mvoxel_s": voxels / materialize / 1e6, "bare_mvoxel_s": voxels / bare / 1e6,
            "store_overhead": materialize / bare - 1, "denoise_first_box_s": firstBox, "denoise_whole_s": whole,
            "denoise_mvoxel_s": voxels / whole / 1e6, "denoise_materialize_s": denoiseMaterialize,
            "denoise_store_overhead": denoiseMaterialize / whole - 1,
        ]
        if json {
            print(try jsonText(any: result))
        } else {
            print(
                String(
                    format:
                        "%@: Gaussian σ %g bare %.3f s, materialized through the store %.3f s (%.1f vs %.1f "
                        + "Mvoxel/s, overhead %+.0f%%); denoise: first 64³ box %.2f s, whole volume in memory "
                        + "%.2f s (%.2f Mvoxel/s), materialized through the store %.2f s (overhead %+.0f%%)",
                    shape.description, sigma, bare, materialize, voxels / materialize / 1e6, voxels / bare / 1e6,
                    100 * (materialize / bare - 1), firstBox, whole, voxels / whole / 1e6,
                    denoiseMaterialize, 100 * (denoiseMaterialize / whole - 1)))
        }
    }
}
