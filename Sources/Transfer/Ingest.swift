import Catalog
import Codecs
import Foundation
import MRC
import Store
import Voxels

/// How to ingest an MRC file.
public struct IngestOptions: Sendable {
    /// Dataset name (1–200 bytes of letters, digits, `-_./`).
    public var name: String
    public var kind: DatasetKind = .tomogram
    /// Chunk size in voxels (x, y, z).
    public var chunk = Extent3(x: 64, y: 64, z: 64)
    /// `raw` or `zstd:L`.
    public var codec = "zstd:3"
    /// Byte-shuffle multi-byte voxels before zstd.
    public var shuffle = true
    /// Continue an interrupted ingest of the same file into the same dataset.
    public var resume = false
    /// Raw bytes of chunks per transaction (bounds memory; each commit is durable).
    public var batchBytes = 16 << 20
    /// Most raw bytes read from the file at once (a run of chunks along x; at least one chunk).
    public var pieceBytes = 16 << 20
    public var attributes: [String: JSONValue] = [:]
    /// Class table for labels: id → name (default: "background" for 0, "class N" otherwise).
    public var classes: [String: String]? = nil
    /// Voxel size in Å for all three axes, replacing the header's (nil: the header's).
    public var voxelSize: Double? = nil
    /// The protein contrast to record and how it was decided (nil: not recorded).
    public var contrast: (contrast: Contrast, source: String)? = nil

    public init(name: String) { self.name = name }
}

/// Streams a volume (an MRC file, a Zarr array) into a store dataset, one piece (a run of chunks along
/// x at one chunk row y and plane z) at a time: memory holds a piece and two batches, whatever the
/// volume's size. Chunks are compressed on all cores and committed in batches together with the
/// progress; the dataset becomes `complete` only in the last transaction, so an interrupted ingest is
/// never mistaken for a finished one, and `resume` continues from the last committed batch.
public enum Ingest {
    /// Ingests the MRC file at `path` into `store`; `progress(done, total)` counts chunks.
    @discardableResult
    public static func mrc(
        _ path: String, into store: Store, options: IngestOptions, progress: (@Sendable (Int, Int) -> Void)? = nil
    ) throws -> DatasetInfo {
        try Store.validate(name: options.name)
        let reader = try MRCReader(path: path)
        let source = try sourceInfo(reader)
        let dataset = try target(
            store, options, reader, path: path,
            floatLabels: "the file holds \(reader.dtype) (mode \(reader.header.mode)); convert it with "
                + "`tomostore convert \(path) labels.mrc --mode 6` first",
            describe: { spec in
                spec.voxelSize = options.voxelSize.map { [$0, $0, $0] } ?? reader.voxelSize.array
                spec.origin = reader.origin.array
                spec.mrc = source
            },
            sameSource: { $0.mrc?.headerDigest == source.headerDigest && $0.mrc?.fileSize == source.fileSize })
        if reader.header.nsymbt > 0 {
            try dataset.putBlob("mrc.extended_header", try reader.extendedHeader())
        }
        return try stream(reader, into: dataset, store: store, options: options, progress: progress)
    }

    /// Ingests the Zarr array (v3, v2, or an OME-Zarr group's first level) at `path` into `store`, read
    /// box by box (`ZarrArrayReader`); the dataset records the path as attribute `source` and the
    /// metadata's digest as `zarr_metadata_digest`, which `resume` checks. Voxel size: the options', else
    /// the OME scale, else 1 Å.
    @discardableResult
    public static func zarr(
        _ path: String, into store: Store, options: IngestOptions, progress: (@Sendable (Int, Int) -> Void)? = nil
    ) throws -> DatasetInfo {
        try Store.validate(name: options.name)
        let reader = try ZarrArrayReader(path: path)
        let digest = JSONValue.string(reader.metadataDigest)
        let dataset = try target(
            store, options, reader, path: path, floatLabels: "the array holds \(reader.dtype)",
            describe: { spec in
                spec.voxelSize = options.voxelSize.map { [$0, $0, $0] } ?? reader.voxelSize ?? [1, 1, 1]
                spec.attributes["source"] = .string(path)
                spec.attributes["zarr_metadata_digest"] = digest
            },
            sameSource: { $0.attributes["zarr_metadata_digest"] == digest })
        return try stream(reader, into: dataset, store: store, options: options, progress: progress)
    }

    /// The dataset to ingest into: a new incomplete one described by `describe`, or with `resume` the
    /// existing incomplete one, which must come from the same source (`sameSource`). Labels must be
    /// integers: `floatLabels` says what the source holds instead and what to do.
    static func target(
        _ store: Store, _ options: IngestOptions, _ source: any BoxReadable, path: String, floatLabels: String,
        describe: (inout Store.NewDataset) -> Void, sameSource: (DatasetInfo) -> Bool
    ) throws -> Dataset {
        if options.kind == .labels && source.dtype.isFloatingPoint {
            throw TransferError("\(path): labels must be integers but \(floatLabels)")
        }
        if options.kind == .derived {
            throw TransferError(
                "kind derived is for datasets computed by operators, not ingested files; use tomogram, "
                    + "grand-model, labels or synthetic"
            )
        }
        guard let codec = CodecChain(parsing: options.codec, dtype: source.dtype, shuffle: options.shuffle) else {
            throw TransferError("unknown codec \"\(options.codec)\"; use raw or zstd:L with L from 1 to 19")
        }
        guard options.chunk.isNonEmpty else { throw TransferError("chunk size must be positive") }
        if options.resume {
            let existing = try store.info(named: options.name)
            guard !existing.complete else {
                throw TransferError("dataset \"\(options.name)\" is already complete; nothing to resume")
            }
            guard sameSource(existing) else {
                throw TransferError(
                    "dataset \"\(options.name)\" was ingested from a different source than \(path); resume with the "
                        + "same one or remove it with `tomostore rm`"
                )
            }
            return try store.dataset(named: options.name, allowIncomplete: true)
        }
        var spec = Store.NewDataset(name: options.name, kind: options.kind, dtype: source.dtype, shape: source.shape)
        spec.chunk = options.chunk
        spec.codec = codec
        spec.attributes = options.attributes
        describe(&spec)
        if let (contrast, source) = options.contrast {
            spec.contrast = contrast
            spec.contrastSource = source
        }
        if options.kind == .labels { spec.classes = options.classes ?? ["0": "background"] }
        return try store.createDataset(spec, complete: false)
    }

    /// Copies `source` into `dataset` (new or resumed) piece by piece, committing batches with the
    /// progress and completing the dataset in the last.
    static func stream(
        _ source: any BoxReadable, into dataset: Dataset, store: Store, options: IngestOptions,
        progress: (@Sendable (Int, Int) -> Void)?
    ) throws -> DatasetInfo {
        let grid = dataset.grid
        let counts = grid.counts
        let totalChunks = counts.count
        // A piece is a run of chunks along x at one chunk row (y, z), read from the file in one box:
        // at most `pieceBytes` of voxels (and at least one chunk), whatever the volume's width.
        let chunkBytes = grid.chunk.count * source.dtype.byteCount
        let chunksPerPiece = max(1, min(counts.x, options.pieceBytes / max(1, chunkBytes)))
        var chunksDone = dataset.info.progress?.chunksDone ?? 0
        var stats = dataset.info.progress?.partialStats ?? VoxelStatistics()
        var histogram = LabelHistogram(dataset.info.progress?.partialHistogram ?? [:])
        let countLabels = options.kind == .labels
        progress?(chunksDone, totalChunks)

        // Pipeline: while one batch commits on the committer queue, the next is read and encoded.
        let committer = DispatchQueue(label: "tomostore.ingest.commit")
        let inFlight = DispatchGroup()
        let commitFailure = FirstError()
        var batch: [(index: Extent3, volume: Volume)] = []
        var batchRaw = 0
        while chunksDone < totalChunks {
            let cx0 = chunksDone % counts.x
            let row = chunksDone / counts.x
            let cy = row % counts.y
            let cz = row / counts.y
            let cx1 = min(counts.x, cx0 + chunksPerPiece)
            let first = grid.box(of: Extent3(x: cx0, y: cy, z: cz))
            let lastBox = grid.box(of: Extent3(x: cx1 - 1, y: cy, z: cz))
            let pieceBox = Box3(x: first.lower.x..<lastBox.upper.x, y: first.yRange, z: first.zRange)
            let piece = try source.read(box: pieceBox)
            // Cut the piece into chunks and take their statistics on all cores; merge in chunk order.
            let chunks = try Parallel.map(cx1 - cx0) { i -> (Volume, VoxelStatistics, LabelHistogram?) in
                let box = grid.box(of: Extent3(x: cx0 + i, y: cy, z: cz))
                // The piece spans the chunk's rows and planes: only x is offset.
                let chunk = piece.extracting(box.relative(to: pieceBox.lower))
                var h: LabelHistogram? = nil
                if countLabels {
                    h = LabelHistogram([:])
                    h!.add(chunk)
                }
                return (chunk, VoxelStatistics.of(chunk), h)
            }
            for (i, chunk) in chunks.enumerated() {
                stats.merge(chunk.1)
                if let h = chunk.2 { histogram.merge(h) }
                batch.append((Extent3(x: cx0 + i, y: cy, z: cz), chunk.0))
                batchRaw += chunk.0.byteCount
            }
            chunksDone += cx1 - cx0
            let last = chunksDone == totalChunks
            if batchRaw >= options.batchBytes || last {
                let prepared = try dataset.prepare(batch)
                batch.removeAll(keepingCapacity: true)
                batchRaw = 0
                inFlight.wait()
                if let error = commitFailure.error { throw error }
                let done = chunksDone
                let partial = stats
                let counted = histogram
                let target = dataset
                committer.async(group: inFlight) {
                    do {
                        try target.commit(prepared) { info in
                            Self.record(
                                &info, last: last, chunksDone: done, stats: partial,
                                histogram: countLabels ? counted : nil)
                        }
                        progress?(done, totalChunks)
                    } catch {
                        commitFailure.record(error)
                    }
                }
            }
        }
        inFlight.wait()
        if let error = commitFailure.error { throw error }
        // Best effort: the dataset is already complete; a full disk here must not fail the ingest.
        try? store.reserveFreeSpace(bytes: max(4 << 20, 2 * grid.chunk.count * source.dtype.byteCount + (64 << 10)))
        return dataset.info
    }

    /// Records progress (or completion) in a catalog entry, inside the batch's transaction.
    static func record(
        _ info: inout DatasetInfo, last: Bool, chunksDone: Int, stats: VoxelStatistics, histogram: LabelHistogram?
    ) {
        if last {
            info.complete = true
            info.progress = nil
            info.stats = DatasetStatistics(stats)
            if let histogram {
                info.classVoxels = histogram.counts
                var table = info.classes ?? [:]
                for id in histogram.counts.keys where table[id] == nil {
                    table[id] = id == "0" ? "background" : "class \(id)"
                }
                info.classes = table
            }
        } else {
            info.progress = IngestProgress(
                chunksDone: chunksDone, partialStats: stats, partialHistogram: histogram?.counts)
        }
    }

    /// The MRC header fields recorded in the catalog.
    static func sourceInfo(_ r: MRCReader) throws -> MRCSourceInfo {
        let header = try PosixFile(readingFrom: r.path).read(count: MRCHeader.size, at: 0)
        let h = r.header
        var s = MRCSourceInfo()
        s.path = URL(fileURLWithPath: r.path).standardizedFileURL.path
        s.fileSize = r.fileSize
        s.headerDigest = String(XXHash64.hash(header), radix: 16)
        s.mode = h.mode
        s.fileShape = [Int(h.nx), Int(h.ny), Int(h.nz)]
        s.axisOrder = r.axisOrder
        s.endianness = r.byteOrder.rawValue
        s.start = r.start.array
        s.cellA = h.cella.array
        s.cellB = h.cellb.array
        s.sampling = [h.mx, h.my, h.mz]
        s.ispg = h.ispg
        s.nsymbt = h.nsymbt
        s.exttyp = h.exttyp
        s.nversion = h.nversion
        s.nint = h.nint
        s.nreal = h.nreal
        s.imodStamp = h.imodStamp
        s.imodFlags = h.imodFlags
        s.headerStats = [h.dmin, h.dmax, h.dmean, h.rms]
        s.labels = r.labels
        s.extendedHeaderBytes = Int(h.nsymbt)
        return s
    }
}

/// Voxel counts per label value (keys are decimal strings, as in the catalog).
struct LabelHistogram {
    private(set) var raw: [Int: Int] = [:]

    init(_ counts: [String: Int]) {
        for (k, v) in counts { if let id = Int(k) { raw[id] = v } }
    }

    var counts: [String: Int] { Dictionary(uniqueKeysWithValues: raw.map { (String($0.key), $0.value) }) }

    mutating func merge(_ other: LabelHistogram) {
        for (k, n) in other.raw { raw[k, default: 0] += n }
    }

    mutating func add(_ v: Volume) {
        func count<T: VoxelScalar & BinaryInteger>(_: T.Type) {
            v.withUnsafeValues(as: T.self) { values in
                var local: [Int: Int] = [:]
                var last: T? = nil
                var run = 0
                for x in values {
                    if x == last {
                        run += 1
                        continue
                    }
                    if let l = last { local[Int(l), default: 0] += run }
                    last = x
                    run = 1
                }
                if let l = last { local[Int(l), default: 0] += run }
                for (k, n) in local { raw[k, default: 0] += n }
            }
        }
        switch v.dtype {
        case .uint8: count(UInt8.self)
        case .int8: count(Int8.self)
        case .uint16: count(UInt16.self)
        case .int16: count(Int16.self)
        case .uint32: count(UInt32.self)
        case .float16, .float32: break
        }
    }
}
