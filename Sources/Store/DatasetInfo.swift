import Voxels

/// What a dataset holds.
public enum DatasetKind: String, Codable, CaseIterable, Sendable {
    case tomogram
    case grandModel = "grand-model"
    case labels
    case synthetic
    case derived
}

/// A JSON value for free-form attributes (tilt range, defocus, …).
public enum JSONValue: Codable, Equatable, Sendable {
    case string(String), number(Double), bool(Bool), array([JSONValue]), object([String: JSONValue]), null

    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null }
        else if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let n = try? c.decode(Double.self) { self = .number(n) }
        else if let s = try? c.decode(String.self) { self = .string(s) }
        else if let a = try? c.decode([JSONValue].self) { self = .array(a) }
        else { self = .object(try c.decode([String: JSONValue].self)) }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .string(let s): try c.encode(s)
        case .number(let n): try c.encode(n)
        case .bool(let b): try c.encode(b)
        case .array(let a): try c.encode(a)
        case .object(let o): try c.encode(o)
        case .null: try c.encodeNil()
        }
    }
}

/// Statistics of a dataset's voxels.
public struct DatasetStatistics: Codable, Equatable, Sendable {
    public var min: Double, max: Double, mean: Double, rms: Double
    public var count: Int
    public var nanCount: Int

    public init(_ s: VoxelStatistics) {
        min = s.count > 0 ? s.min : 0; max = s.count > 0 ? s.max : 0
        mean = s.mean; rms = s.rms; count = s.count; nanCount = s.nanCount
    }
}

/// The MRC header fields of the file a dataset was ingested from.
public struct MRCSourceInfo: Codable, Equatable, Sendable {
    public var path: String = ""
    public var fileSize: Int = 0
    /// XXH64 of the 1024 header bytes (identifies the source when resuming).
    public var headerDigest: String = ""
    public var mode: Int32 = 0
    public var fileShape: [Int] = []
    public var axisOrder: [Int] = []
    public var endianness: String = ""
    public var start: [Int] = []
    public var cellA: [Float] = []
    public var cellB: [Float] = []
    public var sampling: [Int32] = []
    public var ispg: Int32 = 0
    public var nsymbt: Int32 = 0
    public var exttyp: String = ""
    public var nversion: Int32 = 0
    public var nint: Int16 = 0
    public var nreal: Int16 = 0
    public var imodStamp: Int32 = 0
    public var imodFlags: Int32 = 0
    public var headerStats: [Float] = []
    public var labels: [String] = []
    /// Size of the extended header kept in the blobs database (0 when none).
    public var extendedHeaderBytes: Int = 0

    public init() {}
}

/// Progress of an ingest or write under way, committed with the chunks it describes.
public struct IngestProgress: Codable, Equatable, Sendable {
    /// Chunks stored, counted in (z, y, x) order: every chunk before this index is final.
    public var chunksDone: Int
    /// Statistics of the stored chunks.
    public var partialStats: VoxelStatistics
    /// Label histogram of the stored chunks (labels only).
    public var partialHistogram: [String: Int]?

    public init(chunksDone: Int, partialStats: VoxelStatistics, partialHistogram: [String: Int]?) {
        self.chunksDone = chunksDone; self.partialStats = partialStats; self.partialHistogram = partialHistogram
    }
}

/// How a derived dataset is computed (its provenance). Any change to these gives a new `digest`.
public struct Derivation: Codable, Equatable, Sendable {
    /// Operator name (e.g. "gaussian").
    public var op: String
    /// Operator parameters.
    public var params: [String: JSONValue]
    /// Input dataset names.
    public var inputs: [String]
    /// The inputs' digests when the chunks were computed (base datasets: "id-created"; derived: their digest).
    public var inputDigests: [String]
    /// Digest of the model weights, for network operators.
    public var modelDigest: String?
    /// Seed, for random operators.
    public var seed: UInt64?
    public var softwareVersion: String
    /// Hex XXH64 of the canonical JSON of everything above.
    public var digest: String

    public init(op: String, params: [String: JSONValue], inputs: [String], inputDigests: [String], modelDigest: String?, seed: UInt64?, softwareVersion: String, digest: String) {
        self.op = op; self.params = params; self.inputs = inputs; self.inputDigests = inputDigests
        self.modelDigest = modelDigest; self.seed = seed; self.softwareVersion = softwareVersion; self.digest = digest
    }
}

/// A dataset's catalog entry (JSON in the `catalog` database; keys in snake_case).
public struct DatasetInfo: Codable, Equatable, Sendable {
    public var id: UInt32
    public var name: String
    public var kind: DatasetKind
    public var dtype: DType
    /// [nx, ny, nz] in voxels.
    public var shape: [Int]
    /// [cx, cy, cz] in voxels.
    public var chunk: [Int]
    /// `raw` or `zstd:L`.
    public var codec: String
    public var shuffle: Bool
    public var fillValue: Double
    /// Voxel size in Å along x, y, z.
    public var voxelSize: [Double]
    /// Origin in Å along x, y, z.
    public var origin: [Double]
    public var stats: DatasetStatistics?
    /// Class table (labels): class id (decimal string) → name.
    public var classes: [String: String]?
    /// Voxel count per class id (labels).
    public var classVoxels: [String: Int]?
    public var mrc: MRCSourceInfo?
    public var attributes: [String: JSONValue]
    /// Creation time, ISO 8601 UTC.
    public var created: String
    public var softwareVersion: String
    /// False while an ingest or write is under way or was interrupted.
    public var complete: Bool
    public var progress: IngestProgress?
    /// For `derived` datasets: how their chunks are computed.
    public var derivation: Derivation?
    /// Resolution levels stored (1 when there is no pyramid; level l is reduced 2^l times).
    public var levels: Int?

    /// Volume size as an extent.
    public var extent: Extent3 { Extent3(x: shape[0], y: shape[1], z: shape[2]) }
    /// Chunk size as an extent.
    public var chunkExtent: Extent3 { Extent3(x: chunk[0], y: chunk[1], z: chunk[2]) }
    /// The dataset's chunk grid.
    public var grid: ChunkGrid { ChunkGrid(shape: extent, chunk: chunkExtent) }

    /// The chunk grid of pyramid level l (shape halved, rounding up, l times; same chunk shape).
    public func grid(level l: Int) -> ChunkGrid {
        var s = extent
        for _ in 0..<l { s = Extent3(x: (s.x + 1) / 2, y: (s.y + 1) / 2, z: (s.z + 1) / 2) }
        return ChunkGrid(shape: s, chunk: chunkExtent)
    }
    /// A token that changes whenever the dataset's content may change: the derivation digest for
    /// derived datasets, the id and creation time otherwise (a re-ingest gets a new id).
    public var contentDigest: String { derivation?.digest ?? "\(id)-\(created)" }

    /// The codec as a value.
    public var codecValue: Codec {
        Codec(parsing: codec, dtype: dtype, shuffle: shuffle) ?? .raw
    }
}
