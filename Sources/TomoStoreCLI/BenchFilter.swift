import ArgumentParser
import Foundation
import Imaging
import Voxels

/// `tomostore bench filter`: Gaussian filter throughput.
struct BenchFilter: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "filter",
        abstract: "Time the Gaussian filter (scipy.ndimage conventions) on a random float32 cube.",
        discussion: "Example:\n  tomostore bench filter --size 256 --sigma 2 --json"
    )

    @Option(help: "Edge of the cube.") var size = 256
    @Option(help: "σ in voxels.") var sigma = 2.0
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        let shape = Extent3(x: size, y: size, z: size)
        let rng = CounterRNG(seed: 1)
        let volume = Volume(shape: shape, values: (0..<shape.count).map { Float(rng.uniform(counter: UInt64($0))) })
        var times: [Double] = []
        for _ in 0..<3 {
            let t = Date()
            _ = GaussianFilter.apply(volume, sigma: sigma)
            times.append(Date().timeIntervalSince(t))
        }
        let best = times.sorted()[1]
        let result: [String: Any] = [
            "size": size, "sigma": sigma, "gaussian_s": best, "runs_s": times,
            "gaussian_mvoxel_s": Double(shape.count) / best / 1e6,
        ]
        if json {
            print(try jsonText(any: result))
        } else {
            print(
                String(
                    format: "Gaussian σ=%g on %d³: %.3f s, %.1f Mvoxel/s", sigma, size, best,
                    Double(shape.count) / best / 1e6))
        }
    }
}
