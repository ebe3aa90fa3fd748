import ArgumentParser
import Foundation
import MRC
import Store
import Transfer
import Voxels

/// `tomostore bench …`: benchmarks (measured, never asserted in tests).
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure TomoStore's speed on your data.",
        subcommands: [BenchStore.self, BenchEngine.self, BenchFilter.self, BenchLazy.self]
    )
}

/// `tomostore bench store --input FILE.mrc`: ingest, full read and random box reads.
struct BenchStore: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "store",
        abstract: "Ingest an MRC file into a fresh temporary store and time ingest, full read and random box reads.",
        discussion: """
            random_box_ms is the median time per box at random unaligned offsets with the decoded-chunk
            cache off (every box decodes its chunks); random_box_cached_ms repeats the same boxes with
            the default cache on. Each box read is checked against the MRC file.

            Example:
              tomostore bench store --input tomo.mrc --boxes 200 --box-size 64 --seed 5 --json
            """
    )

    @Option(help: "MRC file to ingest.") var input: String
    @Option(help: "Number of random boxes.") var boxes = 200
    @Option(help: "Box edge in voxels.") var boxSize = 64
    @Option(help: "Seed of the box offsets.") var seed: UInt64 = 1
    @Option(help: "raw or zstd:L.") var codec = "zstd:3"
    @Option(help: "Directory for the temporary store (default: the system's).") var workDir: String?
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        let reader = try MRCReader(path: input)
        let shape = reader.shape
        guard boxes > 0, boxSize > 0, boxSize <= min(shape.x, shape.y, shape.z) else {
            throw CommandError("--box-size \(boxSize) must be between 1 and the volume's smallest side (\(min(shape.x, shape.y, shape.z))), --boxes positive")
        }
        let dir = (workDir ?? NSTemporaryDirectory()) + "/tomostore-bench-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try Store.create(at: dir + "/s.store")
        var options = IngestOptions(name: "bench")
        options.codec = codec

        let t0 = Date()
        try Ingest.mrc(input, into: store, options: options)
        let ingest = Date().timeIntervalSince(t0)

        let uncached = try Store(path: dir + "/s.store", cacheBytes: 0)
        let ds = try uncached.dataset(named: "bench")
        let t1 = Date()
        let chunkZ = ds.grid.chunk.z
        for z in stride(from: 0, to: shape.z, by: chunkZ) {
            _ = try ds.read(Box3(x: 0..<shape.x, y: 0..<shape.y, z: z..<min(shape.z, z + chunkZ)), cached: false)
        }
        let fullRead = Date().timeIntervalSince(t1)

        let rng = CounterRNG(seed: seed)
        let boxList = (0..<boxes).map { i -> Box3 in
            func offset(_ axis: UInt64, _ n: Int) -> Int { Int(rng.uniform(stream: axis, counter: UInt64(i)) * Double(n - boxSize + 1)) }
            let x = offset(0, shape.x), y = offset(1, shape.y), z = offset(2, shape.z)
            return Box3(x: x..<x + boxSize, y: y..<y + boxSize, z: z..<z + boxSize)
        }
        func medianMilliseconds(_ dataset: Dataset, cached: Bool) throws -> Double {
            var times: [Double] = []
            for box in boxList {
                let t = Date()
                _ = try dataset.read(box, cached: cached)
                times.append(Date().timeIntervalSince(t) * 1000)
            }
            return times.sorted()[times.count / 2]
        }
        let randomBox = try medianMilliseconds(ds, cached: false)
        let cachedStore = try Store(path: dir + "/s.store")
        let randomCached = try medianMilliseconds(try cachedStore.dataset(named: "bench"), cached: true)
        for box in boxList.prefix(5) where try ds.read(box, cached: false) != reader.read(box: box) {
            throw CommandError("benchmark check failed: box \(box) read from the store differs from the MRC file")
        }
        let summary = try ds.storageSummary()
        let result: [String: Any] = [
            "input": input, "shape": shape.array, "dtype": reader.dtype.rawValue, "codec": codec,
            "ingest_s": ingest, "full_read_s": fullRead,
            "random_box_ms": randomBox, "random_box_cached_ms": randomCached,
            "boxes": boxes, "box_size": boxSize, "seed": seed,
            "raw_bytes": summary.rawBytes, "stored_bytes": summary.storedBytes,
            "compression_ratio": Double(summary.rawBytes) / Double(max(1, summary.storedBytes)),
            "ingest_mb_s": Double(summary.rawBytes) / 1e6 / ingest,
            "full_read_mb_s": Double(summary.rawBytes) / 1e6 / fullRead,
        ]
        if json {
            print(try jsonText(any: result))
        } else {
            print(String(format: "%@ %@ (%@): ingest %.3f s (%.0f MB/s), full read %.3f s (%.0f MB/s), random %d³ box %.3f ms (cache off), %.3f ms (cache on), compression ratio %.3f",
                         input, shape.description, reader.dtype.rawValue, ingest, result["ingest_mb_s"] as! Double, fullRead, result["full_read_mb_s"] as! Double,
                         boxSize, randomBox, randomCached, result["compression_ratio"] as! Double))
        }
    }
}
