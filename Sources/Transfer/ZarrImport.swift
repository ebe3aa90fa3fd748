import Catalog
import Codecs
import Foundation
import Store
import Voxels

/// A Zarr array on disk read box by box: Zarr v3 (codecs bytes, transpose with the identity order, zstd,
/// crc32c, and sharding_indexed with those inside and a bytes + crc32c index) and Zarr v2 (zstd or no
/// compressor), as zarr-python and TensorStore write them, or the first level of an OME-Zarr group.
/// Volumes are [z][y][x], x fastest; the array's axes are (z, y, x). A box read opens only the chunk
/// files it overlaps, and of a shard only its index and the inner chunks it overlaps; decoded chunks are
/// kept in a cache of `cacheBytes`, so memory follows the box and the cache, never the array. The
/// metadata is validated when the reader is made, before any data is read. Not thread-safe (the cache
/// is unguarded): one reader per thread.
public final class ZarrArrayReader: BoxReadable {
    /// The array's directory (for an OME-Zarr group, its first level's).
    public let path: String
    public let shape: Extent3
    public let dtype: DType
    /// Voxel size in Å along x, y, z from an OME-Zarr group's scale (nil for a plain array).
    public let voxelSize: [Double]?
    /// XXH64 (hex) of the array's metadata document: what an interrupted import resumes against.
    public let metadataDigest: String

    /// One chunk's byte-to-byte steps in encoding order (decoded in reverse).
    enum ByteStep { case zstd, crc32c }
    /// How a chunk file's bytes become voxels.
    struct ChunkEncoding {
        var steps: [ByteStep] = []
        var bigEndian = false
    }
    /// Sharding: each chunk file holds inner chunks and an index of (offset, size) pairs.
    struct Sharding {
        let inner: [Int]
        let encoding: ChunkEncoding
        let indexChecksummed: Bool
        let indexAtEnd: Bool
    }

    /// Chunk (for sharded arrays: shard) shape (z, y, x).
    let chunk: [Int]
    let encoding: ChunkEncoding
    let sharding: Sharding?
    let fill: Double
    /// The chunk file's path relative to the array for a chunk index (z, y, x).
    let keyOf: ([Int]) -> String
    /// Decoded units (chunks, or inner chunks of shards) by unit index, newest use last.
    private var cache: [[Int]: (volume: Volume, used: Int)] = [:]
    private var cachedBytes = 0
    private var uses = 0
    private let cacheBytes: Int
    /// Shard indices read so far: (offset, size) per inner chunk, or nil for a missing shard file.
    private var shardIndices: [[Int]: [(offset: UInt64, size: UInt64)]?] = [:]

    /// Opens the array at `path`: a v3 array, the first multiscale level of an OME-Zarr group, or a v2
    /// array. Reads and checks the metadata only.
    /// - Throws: `ZarrError` naming the path and field when the metadata is missing, malformed or uses
    ///   something not supported.
    public init(path: String, cacheBytes: Int = 256 << 20) throws {
        self.cacheBytes = cacheBytes
        let fm = FileManager.default
        var arrayPath = path
        var scale: [Double]? = nil
        if fm.fileExists(atPath: path + "/zarr.json"), let group = try? Self.json(path + "/zarr.json"),
            group["node_type"] as? String == "group"
        {
            let ome =
                ((group["attributes"] as? [String: Any])?["ome"] as? [String: Any])
                ?? (group["attributes"] as? [String: Any]) ?? [:]
            guard let ms = (ome["multiscales"] as? [[String: Any]])?.first,
                let ds = (ms["datasets"] as? [[String: Any]])?.first,
                let sub = ds["path"] as? String, !sub.isEmpty, !sub.split(separator: "/").contains("..")
            else { throw ZarrError("\(path) is a Zarr group without OME multiscales; give the array's path") }
            let transforms = ds["coordinateTransformations"] as? [[String: Any]] ?? []
            if let s = transforms.first(where: { $0["type"] as? String == "scale" })?["scale"] as? [Double],
                s.count >= 3, s.suffix(3).allSatisfy({ $0 > 0 && $0.isFinite })
            {
                scale = Array(s.suffix(3).reversed())
            }
            arrayPath = path + "/" + sub
        }
        self.path = arrayPath
        voxelSize = scale
        let documentPath: String
        let meta: [String: Any]
        if fm.fileExists(atPath: arrayPath + "/zarr.json") {
            documentPath = arrayPath + "/zarr.json"
            meta = try Self.json(documentPath)
            guard meta["node_type"] as? String != "group" else {
                throw ZarrError("\(arrayPath) is a Zarr group, not an array; give the array's path")
            }
        } else if fm.fileExists(atPath: arrayPath + "/.zarray") {
            documentPath = arrayPath + "/.zarray"
            meta = try Self.json(documentPath)
        } else {
            throw ZarrError("\(arrayPath) is not a Zarr array (no zarr.json or .zarray)")
        }
        let document = try PosixFile(readingFrom: documentPath)
        metadataDigest = String(XXHash64.hash(try document.read(count: try document.size(), at: 0)), radix: 16)

        let shape: [Int]
        let layout: (DType, [Int], ChunkEncoding, Sharding?, Double, ([Int]) -> String)
        if documentPath.hasSuffix("zarr.json") {
            shape = try Self.shape3(meta["shape"], "shape", arrayPath)
            layout = try Self.layoutV3(meta, arrayPath)
        } else {
            shape = try Self.shape3(meta["shape"], "shape", arrayPath)
            layout = try Self.layoutV2(meta, arrayPath)
        }
        (dtype, chunk, encoding, sharding, fill, keyOf) = layout
        self.shape = Extent3(x: shape[2], y: shape[1], z: shape[0])
        let unit = sharding?.inner ?? chunk
        guard unit.reduce(Double(dtype.byteCount), { $0 * Double($1) }) <= Double(1 << 30) else {
            throw ZarrError("\(arrayPath): chunk shape \(unit) holds more than 1 GiB")
        }
    }

    /// The units' shape (z, y, x): inner chunks for sharded arrays, else chunks.
    var unit: [Int] { sharding?.inner ?? chunk }

    /// Reads a box of the array ([z][y][x] voxels); voxels of missing chunks are the fill value.
    /// - Throws: `ZarrError` when a chunk the box needs is corrupt or a file cannot be read.
    public func read(box: Box3) throws -> Volume {
        guard box.isInside(shape) else {
            throw ZarrError("\(path): box \(box) is outside the array's \(shape)")
        }
        var out = Volume(shape: box.shape, dtype: dtype, repeating: VoxelScalarDispatch.bytes(of: fill, as: dtype))
        if box.isEmpty { return out }
        let u = unit
        let lower = [box.lower.z / u[0], box.lower.y / u[1], box.lower.x / u[2]]
        let upper = [(box.upper.z - 1) / u[0], (box.upper.y - 1) / u[1], (box.upper.x - 1) / u[2]]
        for iz in lower[0]...upper[0] {
            for iy in lower[1]...upper[1] {
                for ix in lower[2]...upper[2] {
                    guard let block = try decodedUnit([iz, iy, ix]) else { continue }
                    let origin = Extent3(x: ix * u[2], y: iy * u[1], z: iz * u[0])
                    let unitBox = Box3(lower: origin, upper: origin + Extent3(x: u[2], y: u[1], z: u[0]))
                    guard let overlap = unitBox.intersection(box) else { continue }
                    out.copyRegion(
                        from: block, sourceBox: overlap.relative(to: origin),
                        destinationOrigin: overlap.lower - box.lower)
                }
            }
        }
        return out
    }

    /// One unit's voxels (a full unit, padded as Zarr stores edge chunks), or nil when it is not stored.
    private func decodedUnit(_ index: [Int]) throws -> Volume? {
        uses += 1
        if let hit = cache[index] {
            cache[index] = (hit.volume, uses)
            return hit.volume
        }
        let u = unit
        let bytes: [UInt8]?
        let unitEncoding: ChunkEncoding
        if let sharding {
            let per = (0..<3).map { chunk[$0] / u[$0] }
            let outer = (0..<3).map { index[$0] / per[$0] }
            let inner = (0..<3).map { index[$0] % per[$0] }
            bytes = try innerChunk(shard: outer, at: (inner[0] * per[1] + inner[1]) * per[2] + inner[2], sharding)
            unitEncoding = sharding.encoding
        } else {
            let file = "\(path)/\(keyOf(index))"
            bytes = FileManager.default.fileExists(atPath: file) ? try Self.contents(file) : nil
            unitEncoding = encoding
        }
        guard let bytes else { return nil }
        let volume = try decode(bytes, unitEncoding, shape: u)
        cache[index] = (volume, uses)
        cachedBytes += volume.byteCount
        while cachedBytes > cacheBytes, cache.count > 1,
            let oldest = cache.min(by: { $0.value.used < $1.value.used })
        {
            cachedBytes -= oldest.value.volume.byteCount
            cache[oldest.key] = nil
        }
        return volume
    }

    /// The encoded bytes of inner chunk `entry` of the shard at chunk index `shard`, or nil when the shard
    /// file or the inner chunk is absent. Reads the shard's index once, then only the inner chunk's bytes.
    private func innerChunk(shard: [Int], at entry: Int, _ sharding: Sharding) throws -> [UInt8]? {
        let file = "\(path)/\(keyOf(shard))"
        if shardIndices[shard] == nil {
            if shardIndices.count >= 4096 { shardIndices.removeAll() }
            shardIndices[shard] = .some(try readShardIndex(file, sharding))
        }
        guard let index = shardIndices[shard]!, entry < index.count else { return nil }
        let (offset, size) = index[entry]
        if offset == UInt64.max && size == UInt64.max { return nil }
        let handle = try PosixFile(readingFrom: file)
        return try handle.read(count: Int(size), at: Int(offset))
    }

    /// A shard's index, checked against the shard file's size (nil when the file is absent).
    private func readShardIndex(_ file: String, _ sharding: Sharding) throws -> [(offset: UInt64, size: UInt64)]? {
        guard FileManager.default.fileExists(atPath: file) else { return nil }
        let handle = try PosixFile(readingFrom: file)
        let fileSize = try handle.size()
        let entries = (0..<3).reduce(1) { $0 * (chunk[$1] / sharding.inner[$1]) }
        let indexSize = 16 * entries + (sharding.indexChecksummed ? 4 : 0)
        guard fileSize >= indexSize else { throw ZarrError("\(file): shard shorter than its index") }
        let indexBytes = try handle.read(count: indexSize, at: sharding.indexAtEnd ? fileSize - indexSize : 0)
        if sharding.indexChecksummed {
            let stored = Self.littleEndian32(indexBytes, at: 16 * entries)
            guard
                indexBytes.withUnsafeBytes({ CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[..<(16 * entries)])) })
                    == stored
            else { throw ZarrError("\(file): shard index checksum mismatch (corrupt shard)") }
        }
        func u64(_ o: Int) -> UInt64 {
            (0..<8).reduce(UInt64(0)) { $0 | UInt64(indexBytes[o + $1]) << (8 * UInt64($1)) }
        }
        return try (0..<entries).map { i in
            let (offset, size) = (u64(16 * i), u64(16 * i + 8))
            if offset == UInt64.max && size == UInt64.max { return (offset, size) }
            guard offset <= UInt64(fileSize), size <= UInt64(fileSize) - offset else {
                throw ZarrError("\(file): shard index points outside the shard")
            }
            return (offset, size)
        }
    }

    /// Applies a chunk's byte steps in reverse, then reads its C-order (z, y, x) voxels.
    private func decode(_ encoded: [UInt8], _ encoding: ChunkEncoding, shape u: [Int]) throws -> Volume {
        let expected = u.reduce(1, *) * dtype.byteCount
        var data = encoded
        for step in encoding.steps.reversed() {
            switch step {
            case .crc32c:
                guard data.count >= 4 else { throw ZarrError("\(path): chunk shorter than its crc32c") }
                let stored = Self.littleEndian32(data, at: data.count - 4)
                data.removeLast(4)
                guard data.withUnsafeBytes({ CRC32C.checksum($0) }) == stored else {
                    throw ZarrError("\(path): chunk checksum mismatch")
                }
            case .zstd:
                data = try data.withUnsafeBytes { try ZstdCodec.decompress($0, size: expected) }
            }
        }
        guard data.count == expected else {
            throw ZarrError("\(path): decoded chunk has \(data.count) bytes, expected \(expected)")
        }
        let width = dtype.byteCount
        if encoding.bigEndian && width > 1 {
            for i in stride(from: 0, to: data.count, by: width) { data[i..<(i + width)].reverse() }
        }
        return data.withUnsafeBytes { Volume(shape: Extent3(x: u[2], y: u[1], z: u[0]), dtype: dtype, bytes: $0) }
    }

    // MARK: - Metadata

    /// dtype, chunk shape, encoding, sharding, fill value and chunk key of a v3 array document.
    static func layoutV3(
        _ meta: [String: Any], _ path: String
    ) throws -> (DType, [Int], ChunkEncoding, Sharding?, Double, ([Int]) -> String) {
        guard let dtypeName = meta["data_type"] as? String, let dtype = ZarrDType.from(v3: dtypeName) else {
            throw ZarrError(
                "\(path): data_type \(jsonDescription(meta["data_type"])) is not supported (uint8, int8, uint16, "
                    + "int16, float16, float32, uint32)"
            )
        }
        let grid = ((meta["chunk_grid"] as? [String: Any])?["configuration"] as? [String: Any])?["chunk_shape"]
        let chunk = try shape3(grid, "chunk_shape", path)
        let keyEncoding = meta["chunk_key_encoding"] as? [String: Any]
        let isV2Keys = keyEncoding?["name"] as? String == "v2"
        // The spec's defaults: "/" for the default encoding, "." for the v2 one.
        let separator =
            ((keyEncoding?["configuration"] as? [String: Any])?["separator"] as? String) ?? (isV2Keys ? "." : "/")
        guard separator == "/" || separator == "." else {
            throw ZarrError("\(path): chunk key separator \(jsonDescription(separator)) is not / or .")
        }
        guard let codecs = meta["codecs"] as? [[String: Any]] else { throw ZarrError("\(path): no codecs") }
        var sharding: Sharding? = nil
        var encoding = ChunkEncoding()
        if let first = codecs.first, first["name"] as? String == "sharding_indexed" {
            guard codecs.count == 1 else {
                throw ZarrError("\(path): codecs after sharding_indexed are not supported")
            }
            let c = first["configuration"] as? [String: Any] ?? [:]
            let inner = try shape3(c["chunk_shape"], "sharding chunk_shape", path)
            guard (0..<3).allSatisfy({ chunk[$0] % inner[$0] == 0 }) else {
                throw ZarrError("\(path): sharding chunk_shape \(inner) does not divide the chunk shape \(chunk)")
            }
            guard (0..<3).reduce(1, { $0 * (chunk[$1] / inner[$1]) }) <= 1 << 24 else {
                throw ZarrError("\(path): shards of \(chunk) hold more than 2²⁴ inner chunks of \(inner)")
            }
            let indexCodecs = (c["index_codecs"] as? [[String: Any]] ?? []).compactMap { $0["name"] as? String }
            guard indexCodecs.allSatisfy({ $0 == "bytes" || $0 == "crc32c" }) else {
                throw ZarrError("\(path): shard index codecs \(indexCodecs) are not supported")
            }
            sharding = Sharding(
                inner: inner, encoding: try chunkEncoding(c["codecs"] as? [[String: Any]] ?? [], path),
                indexChecksummed: indexCodecs.contains("crc32c"),
                indexAtEnd: (c["index_location"] as? String ?? "end") == "end")
        } else {
            encoding = try chunkEncoding(codecs, path)
        }
        let key: ([Int]) -> String = { i in
            let parts = i.map(String.init).joined(separator: separator)
            return isV2Keys ? parts : "c\(separator)\(parts)"
        }
        return (dtype, chunk, encoding, sharding, (meta["fill_value"] as? Double) ?? 0, key)
    }

    /// A v3 codec list (without sharding) as byte steps and byte order.
    static func chunkEncoding(_ codecs: [[String: Any]], _ path: String) throws -> ChunkEncoding {
        var encoding = ChunkEncoding()
        for codec in codecs {
            let name = codec["name"] as? String ?? ""
            let conf = codec["configuration"] as? [String: Any] ?? [:]
            switch name {
            case "crc32c": encoding.steps.append(.crc32c)
            case "zstd": encoding.steps.append(.zstd)
            case "bytes": encoding.bigEndian = conf["endian"] as? String == "big"
            case "transpose":
                guard (conf["order"] as? [Int]) == [0, 1, 2] else {
                    throw ZarrError("\(path): transpose codecs other than the identity are not supported")
                }
            default:
                throw ZarrError(
                    "\(path): codec \(name) is not supported (bytes, transpose, zstd, crc32c, sharding_indexed are)")
            }
        }
        return encoding
    }

    /// dtype, chunk shape, encoding, fill value and chunk key of a v2 `.zarray` document.
    static func layoutV2(
        _ meta: [String: Any], _ path: String
    ) throws -> (DType, [Int], ChunkEncoding, Sharding?, Double, ([Int]) -> String) {
        let chunk = try shape3(meta["chunks"], "chunks", path)
        guard let descr = meta["dtype"] as? String, let (dtype, order) = ZarrDType.from(v2: descr) else {
            throw ZarrError("\(path): dtype \(jsonDescription(meta["dtype"])) is not supported")
        }
        guard (meta["order"] as? String ?? "C") == "C" else {
            throw ZarrError("\(path): Fortran-order arrays are not supported")
        }
        let compressor = meta["compressor"] as? [String: Any]
        let id = compressor?["id"] as? String
        guard id == nil || id == "zstd" else {
            throw ZarrError("\(path): compressor \(id!) is not supported (zstd or none)")
        }
        if let filters = meta["filters"] as? [Any], !filters.isEmpty {
            throw ZarrError("\(path): Zarr v2 filters are not supported")
        }
        let separator = meta["dimension_separator"] as? String ?? "."
        guard separator == "/" || separator == "." else {
            throw ZarrError("\(path): dimension_separator \(jsonDescription(separator)) is not / or .")
        }
        let encoding = ChunkEncoding(steps: id == "zstd" ? [.zstd] : [], bigEndian: order == .big)
        let key: ([Int]) -> String = { $0.map(String.init).joined(separator: separator) }
        return (dtype, chunk, encoding, nil, (meta["fill_value"] as? Double) ?? 0, key)
    }

    static func json(_ path: String) throws -> [String: Any] {
        guard let object = try? JSONSerialization.jsonObject(with: Data(contents(path))) as? [String: Any] else {
            throw ZarrError("\(path) is not valid JSON")
        }
        return object
    }

    /// A file's bytes (regular files only: a FIFO or device is refused without blocking).
    static func contents(_ path: String) throws -> [UInt8] {
        let file = try PosixFile(readingFrom: path)
        return try file.read(count: try file.size(), at: 0)
    }

    /// A 3-element size (z, y, x) from the metadata, each 1…2³¹−1.
    static func shape3(_ any: Any?, _ what: String, _ path: String) throws -> [Int] {
        guard let s = any as? [Int], s.count == 3 else {
            throw ZarrError("\(path): only 3D arrays are imported; \(what) is \(jsonDescription(any))")
        }
        guard s.allSatisfy({ $0 >= 1 && $0 <= Int(Int32.max) }) else {
            throw ZarrError("\(path): \(what) \(s) must be three sizes of 1…\(Int32.max)")
        }
        return s
    }

    /// A metadata value as JSON-like text for messages (no Swift `Optional(…)` wrapping).
    static func jsonDescription(_ any: Any?) -> String {
        guard let any, JSONSerialization.isValidJSONObject([any]),
            let data = try? JSONSerialization.data(withJSONObject: [any], options: [.fragmentsAllowed]),
            let text = String(data: data, encoding: .utf8)
        else { return any.map { "\($0)" } ?? "missing" }
        return String(text.dropFirst().dropLast())
    }

    static func littleEndian32(_ bytes: [UInt8], at offset: Int) -> UInt32 {
        (0..<4).reduce(UInt32(0)) { $0 | UInt32(bytes[offset + $1]) << (8 * UInt32($1)) }
    }

}
