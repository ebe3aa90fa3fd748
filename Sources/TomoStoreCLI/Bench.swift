import ArgumentParser
import Catalog
import Codecs
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
            the default cache on. Each box read is checked against the MRC file. ingest_cpu_s is the
            CPU time (all threads) the ingest used; encode_cpu_s is the CPU time of encoding every chunk
            with the codec alone (shuffle, zstd, checksums; no file reading, no LMDB), and
            encode_cpu_s_no_shuffle the same without the byte shuffle (as TensorStore's zstd codec
            encodes): divided by the cores, the first is a floor under any ingest with this codec.

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
            throw CommandError(
                "--box-size \(boxSize) must be between 1 and the volume's smallest side "
                    + "(\(min(shape.x, shape.y, shape.z))), --boxes positive"
            )
        }
        let dir = (workDir ?? NSTemporaryDirectory()) + "/tomostore-bench-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try Store.create(at: dir + "/s.store")
        var options = IngestOptions(name: "bench")
        options.codec = codec

        let cpu0 = processCPUSeconds()
        let t0 = Date()
        try Ingest.mrc(input, into: store, options: options)
        let ingest = Date().timeIntervalSince(t0)
        let ingestCPU = processCPUSeconds() - cpu0
        let (encodeCPU, encodeCPUNoShuffle) = try encodeCPUSeconds(try store.dataset(named: "bench"), codec: codec)

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
            func offset(_ axis: UInt64, _ n: Int) -> Int {
                Int(rng.uniform(stream: axis, counter: UInt64(i)) * Double(n - boxSize + 1))
            }
            let x = offset(0, shape.x)
            let y = offset(1, shape.y)
            let z = offset(2, shape.z)
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
            "ingest_s": ingest, "full_read_s": fullRead, "ingest_cpu_s": ingestCPU,
            "encode_cpu_s": encodeCPU, "encode_cpu_s_no_shuffle": encodeCPUNoShuffle,
            "cores": ProcessInfo.processInfo.activeProcessorCount,
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
            print(
                String(
                    format:
                        "%@ %@ (%@): ingest %.3f s (%.0f MB/s, %.2f CPU-s; the codec alone %.2f CPU-s, %.2f without "
                        + "shuffle), full read %.3f s (%.0f MB/s), random %d³ box %.3f ms (cache off), %.3f ms "
                        + "(cache on), compression ratio %.3f",
                    input, shape.description, reader.dtype.rawValue, ingest, result["ingest_mb_s"] as! Double,
                    ingestCPU, encodeCPU, encodeCPUNoShuffle, fullRead, result["full_read_mb_s"] as! Double,
                    boxSize, randomBox, randomCached, result["compression_ratio"] as! Double))
        }
    }

    /// CPU seconds (all threads) of encoding every chunk of `dataset` with `codec`, with and without
    /// the byte shuffle, 16 chunks at a time on all cores (as ingest batches them), through the codec
    /// chain alone: no dataset, transaction or I/O. Decoding the chunks is not counted.
    func encodeCPUSeconds(_ dataset: Dataset, codec: String) throws -> (shuffled: Double, unshuffled: Double) {
        let contexts = CodecContexts()
        let chains = try [true, false].map { shuffle in
            guard let chain = CodecChain(parsing: codec, dtype: dataset.dtype, shuffle: shuffle) else {
                throw CommandError("unknown codec \(codec); use raw or zstd:L with L from 1 to 19")
            }
            return chain
        }
        var cpu = [0.0, 0.0]
        var batch: [Volume] = []
        func encodeBatch() throws {
            for (i, chain) in chains.enumerated() {
                let c0 = processCPUSeconds()
                try Parallel.forEach(batch.count) { k in
                    let chunk = batch[k]
                    let codec = try PreparedChunkCodec(
                        chain, dtype: chunk.dtype, extent: chunk.shape, contexts: contexts)
                    try chunk.withUnsafeBytes { try codec.encode($0, key: [], into: ScratchBuffer()) }
                }
                cpu[i] += processCPUSeconds() - c0
            }
            batch.removeAll(keepingCapacity: true)
        }
        try dataset.forEachChunk { _, chunk in
            batch.append(chunk)
            if batch.count == 16 { try encodeBatch() }
        }
        if !batch.isEmpty { try encodeBatch() }
        return (cpu[0], cpu[1])
    }
}

/// User + system CPU seconds of this process so far (all threads).
func processCPUSeconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    func seconds(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) / 1e6 }
    return seconds(usage.ru_utime) + seconds(usage.ru_stime)
}
