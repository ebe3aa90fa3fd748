import Codecs
import Foundation
import Voxels

/// A JSON value for free-form attributes (tilt range, defocus, …) and catalog extensions.
public enum JSONValue: Codable, Equatable, Sendable {
    case string(String)
    case number(Double)
    case bool(Bool)
    case array([JSONValue])
    case object([String: JSONValue])
    case null

    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() {
            self = .null
        } else if let b = try? c.decode(Bool.self) {
            self = .bool(b)
        } else if let n = try? c.decode(Double.self) {
            self = .number(n)
        } else if let s = try? c.decode(String.self) {
            self = .string(s)
        } else if let a = try? c.decode([JSONValue].self) {
            self = .array(a)
        } else {
            self = .object(try c.decode([String: JSONValue].self))
        }
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
        min = s.count > 0 ? s.min : 0
        max = s.count > 0 ? s.max : 0
        mean = s.mean
        rms = s.rms
        count = s.count
        nanCount = s.nanCount
    }
}

/// Progress of an ingest or write under way, committed with the chunks it describes.
public struct IngestProgress: Codable, Equatable, Sendable {
    /// Chunks stored, counted in (z, y, x) order: every chunk before this index is final.
    public var chunksDone: Int
    /// Statistics of the stored chunks.
    public var partialStats: VoxelStatistics
    /// Histogram of the stored chunks' integer values (label volumes), value (decimal) → count.
    public var partialHistogram: [String: Int]?

    public init(chunksDone: Int, partialStats: VoxelStatistics, partialHistogram: [String: Int]?) {
        self.chunksDone = chunksDone
        self.partialStats = partialStats
        self.partialHistogram = partialHistogram
    }
}

/// A dataset's catalog entry: JSON in the `catalog` table, keys in snake_case (formats/store.md).
/// The store reads the array fields below; other top-level keys are `extensions`, kept as they
/// are for the modules that give them meaning (the dataset's kind, class table, MRC source,
/// derivation: the Catalog module).
public struct DatasetInfo: Equatable, Sendable {
    public var id: UInt32
    public var name: String
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
    public var attributes: [String: JSONValue]
    /// Creation time, ISO 8601 UTC.
    public var created: String
    public var softwareVersion: String
    /// False while an ingest or write is under way or was interrupted.
    public var complete: Bool
    public var progress: IngestProgress?
    /// Resolution levels stored (1 when there is no pyramid; level l is reduced 2^l times).
    public var levels: Int?
    /// Top-level keys of the entry that the store does not interpret, by key, as stored.
    public var extensions: [String: JSONValue]
    /// True when every chunk of every complete level is stored (constant chunks as 40-byte constant
    /// values), so a missing key is damage, not fill. Datasets written before format version 2 and
    /// derived datasets (a missing key means "not computed yet") lack it.
    public var allChunksStored: Bool? = nil

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

    /// The codec chain the `codec` and `shuffle` fields describe.
    /// - Throws: `StoreError.corruptCatalog` when the codec is not one this version knows.
    public func codecChain() throws -> CodecChain {
        guard let chain = CodecChain(parsing: codec, dtype: dtype, shuffle: shuffle) else {
            throw StoreError.corruptCatalog(reason: "dataset \"\(name)\" has unknown codec \"\(codec)\"")
        }
        return chain
    }

}

/// A catalog record with extension fields (catalog entries and new-dataset descriptions): top-level
/// keys the store keeps as they are, for the modules that give them meaning.
public protocol CatalogExtensible {
    /// The dataset's name (for error messages).
    var name: String { get }
    /// Top-level keys the store does not interpret, as stored.
    var extensions: [String: JSONValue] { get set }
}

extension CatalogExtensible {
    /// An extension decoded as `T` (snake_case keys), nil when absent.
    /// - Throws: `StoreError.corruptCatalog` when it is there but is not a `T`.
    public func decodeExtension<T: Decodable>(_ key: String, as type: T.Type) throws -> T? {
        do {
            return try CatalogCoding.decode(extensions[key], as: T.self)
        } catch {
            throw StoreError.corruptCatalog(reason: "dataset \"\(name)\": field \(key) cannot be read (\(error))")
        }
    }

    /// Sets (or, with nil, removes) an extension from a value encoded with snake_case keys.
    public mutating func setExtension<T: Encodable>(_ key: String, _ value: T?) {
        extensions[key] = CatalogCoding.jsonValue(value)
    }
}

extension DatasetInfo: CatalogExtensible {}
extension Store.NewDataset: CatalogExtensible {}

/// How catalog entries and records become bytes: JSON with snake_case keys and sorted keys,
/// non-finite numbers as the strings "inf", "-inf", "nan"; entries are prefixed by the XXH64 of
/// the JSON (8 bytes, little-endian).
public enum CatalogCoding {
    static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        e.keyEncodingStrategy = .convertToSnakeCase
        e.nonConformingFloatEncodingStrategy = .convertToString(
            positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return e
    }()

    static let decoder: JSONDecoder = {
        let d = JSONDecoder()
        d.keyDecodingStrategy = .convertFromSnakeCase
        d.nonConformingFloatDecodingStrategy = .convertFromString(
            positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return d
    }()

    /// JSON without key conversion, for values whose keys are already as stored.
    static let plainEncoder: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        e.nonConformingFloatEncodingStrategy = .convertToString(
            positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return e
    }()

    static let plainDecoder = JSONDecoder()

    /// A stored JSON value decoded as `T` (snake_case keys); nil when absent or null.
    public static func decode<T: Decodable>(_ value: JSONValue?, as type: T.Type) throws -> T? {
        guard let value, value != .null else { return nil }
        return try decoder.decode(T.self, from: plainEncoder.encode(value))
    }

    /// A value as the JSON the catalog stores for it (snake_case keys), nil for nil.
    public static func jsonValue<T: Encodable>(_ value: T?) -> JSONValue? {
        guard let value else { return nil }
        // Encoding plain data (structs of numbers, strings, arrays) into JSON cannot fail.
        guard let data = try? encoder.encode(value), let json = try? plainDecoder.decode(JSONValue.self, from: data)
        else {
            preconditionFailure("\(T.self) does not encode as JSON")
        }
        return json
    }

    /// The store's own fields of a catalog entry, as stored.
    struct Core: Codable {
        var id: UInt32
        var name: String
        var dtype: DType
        var shape: [Int]
        var chunk: [Int]
        var codec: String
        var shuffle: Bool
        var fillValue: Double
        var voxelSize: [Double]
        var origin: [Double]
        var stats: DatasetStatistics?
        var attributes: [String: JSONValue]
        var created: String
        var softwareVersion: String
        var complete: Bool
        var progress: IngestProgress?
        var levels: Int?
        var allChunksStored: Bool?
    }

    /// Top-level keys of `Core`, as stored.
    static let coreKeys: Set<String> = [
        "id", "name", "dtype", "shape", "chunk", "codec", "shuffle", "fill_value", "voxel_size", "origin", "stats",
        "attributes", "created", "software_version", "complete", "progress", "levels", "all_chunks_stored",
    ]

    /// Most voxels a dataset may have (2⁴⁸: far beyond any tomogram, small enough that every size
    /// computed from it fits in an Int).
    static let maxVoxels = 1 << 48
    /// Most bytes one decoded chunk may hold.
    static let maxChunkBytes = 1 << 30

    /// Checks the geometry the store computes with (shape, chunk, vectors, levels), so that a damaged
    /// or crafted entry is refused with a message instead of trapping later.
    static func validate(
        name: String, id: UInt32, dtype: DType, shape: [Int], chunk: [Int], voxelSize: [Double], origin: [Double],
        levels: Int?
    ) throws {
        func bad(_ what: String) -> StoreError {
            .corruptCatalog(reason: "dataset \"\(name)\" (id \(id)): \(what)")
        }
        guard shape.count == 3, shape.allSatisfy({ $0 >= 1 && $0 <= Int(Int32.max) }) else {
            throw bad("shape \(shape) is not three sizes of 1…\(Int32.max) voxels (x, y, z)")
        }
        let (xy, o1) = shape[0].multipliedReportingOverflow(by: shape[1])
        let (voxels, o2) = xy.multipliedReportingOverflow(by: shape[2])
        guard !o1, !o2, voxels <= maxVoxels else { throw bad("shape \(shape) has more than 2^48 voxels") }
        guard chunk.count == 3, chunk.allSatisfy({ $0 >= 1 && $0 <= 1 << 20 }),
            chunk[0] * chunk[1] * chunk[2] <= maxChunkBytes / dtype.byteCount
        else { throw bad("chunk \(chunk) is not three positive sizes holding at most 1 GiB") }
        guard voxelSize.count == 3, origin.count == 3 else {
            throw bad("voxel_size \(voxelSize) and origin \(origin) must have three values (x, y, z)")
        }
        if let levels, !(1...32).contains(levels) { throw bad("levels \(levels) is not 1…32") }
    }

    /// Decodes a catalog value: an 8-byte little-endian XXH64 of the JSON that follows, then the JSON.
    public static func decodeEntry(_ raw: UnsafeRawBufferPointer) throws -> DatasetInfo {
        guard raw.count > 8 else {
            throw StoreError.corruptCatalog(reason: "an entry of \(raw.count) bytes is too short")
        }
        let stored = UInt64(littleEndian: raw.loadUnaligned(as: UInt64.self))
        let json = UnsafeRawBufferPointer(rebasing: raw[8...])
        guard XXHash64.hash(json) == stored else {
            let start = String(decoding: json.prefix(60), as: UTF8.self)
            throw StoreError.corruptCatalog(reason: "an entry's checksum does not match its contents (\(start)…)")
        }
        do {
            let data = Data(json)
            let core = try decoder.decode(Core.self, from: data)
            guard case .object(var all) = try plainDecoder.decode(JSONValue.self, from: data) else {
                throw StoreError.corruptCatalog(reason: "an entry is not a JSON object")
            }
            for key in coreKeys { all[key] = nil }
            try validate(
                name: core.name, id: core.id, dtype: core.dtype, shape: core.shape, chunk: core.chunk,
                voxelSize: core.voxelSize, origin: core.origin, levels: core.levels)
            return DatasetInfo(
                id: core.id, name: core.name, dtype: core.dtype, shape: core.shape, chunk: core.chunk,
                codec: core.codec, shuffle: core.shuffle, fillValue: core.fillValue, voxelSize: core.voxelSize,
                origin: core.origin, stats: core.stats, attributes: core.attributes, created: core.created,
                softwareVersion: core.softwareVersion, complete: core.complete, progress: core.progress,
                levels: core.levels, extensions: all, allChunksStored: core.allChunksStored)
        } catch let error as StoreError {
            throw error
        } catch {
            throw StoreError.corruptCatalog(reason: "an entry cannot be decoded (\(error))")
        }
    }

    /// Encodes a catalog value (see `decodeEntry`).
    static func encodeEntry(_ info: DatasetInfo) throws -> [UInt8] {
        let json = try entryJSON(info)
        return withUnsafeBytes(of: XXHash64.hash(json).littleEndian) { Array($0) } + json
    }

    /// The JSON of a catalog entry, as stored after its checksum (formats/store.md).
    public static func entryJSON(_ info: DatasetInfo) throws -> [UInt8] {
        let core = Core(
            id: info.id, name: info.name, dtype: info.dtype, shape: info.shape, chunk: info.chunk, codec: info.codec,
            shuffle: info.shuffle, fillValue: info.fillValue, voxelSize: info.voxelSize, origin: info.origin,
            stats: info.stats, attributes: info.attributes, created: info.created,
            softwareVersion: info.softwareVersion, complete: info.complete, progress: info.progress,
            levels: info.levels, allChunksStored: info.allChunksStored)
        guard case .object(var all)? = jsonValue(core) else { preconditionFailure("a catalog entry is a JSON object") }
        for (key, value) in info.extensions where !coreKeys.contains(key) { all[key] = value }
        return Array(try plainEncoder.encode(JSONValue.object(all)))
    }
}
