import Catalog
import Codecs
import Foundation
import Store
import Voxels

/// Reads Zarr v3 arrays (codecs bytes, transpose with the identity order, zstd, crc32c, and
/// sharding_indexed with those inside and a bytes + crc32c index) and Zarr v2 arrays (zstd or no
/// compressor), as written by zarr-python and TensorStore, into a volume [z][y][x].
public enum ZarrImport {
    /// The array at `path` (a v3 array, the first multiscale level of an OME-Zarr group, or a v2 array).
    public static func read(_ path: String) throws -> (volume: Volume, voxelSize: [Double]?) {
        let fm = FileManager.default
        if fm.fileExists(atPath: path + "/zarr.json") {
            let meta = try json(path + "/zarr.json")
            if meta["node_type"] as? String == "group" {
                let ome =
                    ((meta["attributes"] as? [String: Any])?["ome"] as? [String: Any])
                    ?? (meta["attributes"] as? [String: Any]) ?? [:]
                guard let ms = (ome["multiscales"] as? [[String: Any]])?.first,
                    let ds = (ms["datasets"] as? [[String: Any]])?.first,
                    let sub = ds["path"] as? String
                else { throw ZarrError("\(path) is a Zarr group without OME multiscales; give the array's path") }
                let scale = ((ds["coordinateTransformations"] as? [[String: Any]])?.first?["scale"] as? [Double])
                let (v, _) = try read(path + "/" + sub)
                return (v, scale.map { Array($0.suffix(3).reversed()) })
            }
            return (try readV3(path, meta), nil)
        }
        if fm.fileExists(atPath: path + "/.zarray") { return (try readV2(path, try json(path + "/.zarray")), nil) }
        throw ZarrError("\(path) is not a Zarr array (no zarr.json or .zarray)")
    }

    static func json(_ path: String) throws -> [String: Any] {
        guard let data = FileManager.default.contents(atPath: path),
            let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
        else { throw ZarrError("\(path) is not valid JSON") }
        return object
    }

    /// A 3-element size (z, y, x) from the metadata, each 1…2³¹−1.
    static func shape3(_ any: Any?, _ what: String) throws -> [Int] {
        guard let s = any as? [Int], s.count == 3 else {
            throw ZarrError("only 3D arrays are imported; \(what) is \(jsonDescription(any))")
        }
        guard s.allSatisfy({ $0 >= 1 && $0 <= Int(Int32.max) }) else {
            throw ZarrError("\(what) \(s) must be three sizes of 1…\(Int32.max)")
        }
        return s
    }

    /// Checks that an array of `shape` (z, y, x) with chunks of `chunk` can be read into memory here:
    /// the whole array at most half this machine's memory, one chunk at most 1 GiB.
    static func checkSizes(_ path: String, shape: [Int], chunk: [Int], dtype: DType) throws {
        let bytes = shape.reduce(Double(dtype.byteCount)) { $0 * Double($1) }
        let limit = Double(ProcessInfo.processInfo.physicalMemory) / 2
        guard bytes <= limit else {
            throw ZarrError(
                "\(path): the array (shape \(shape), \(Int(bytes / 1_048_576)) MiB) is larger than half this machine's "
                    + "memory (\(Int(limit / 1_048_576)) MiB), and import-zarr reads it whole; export it as MRC and "
                    + "use `tomostore ingest`")
        }
        guard chunk.reduce(Double(dtype.byteCount), { $0 * Double($1) }) <= Double(1 << 30) else {
            throw ZarrError("\(path): chunk shape \(chunk) holds more than 1 GiB")
        }
    }

    /// A metadata value as JSON-like text for messages (no Swift `Optional(…)` wrapping).
    static func jsonDescription(_ any: Any?) -> String {
        guard let any, JSONSerialization.isValidJSONObject([any]),
            let data = try? JSONSerialization.data(withJSONObject: [any], options: [.fragmentsAllowed]),
            let text = String(data: data, encoding: .utf8)
        else { return any.map { "\($0)" } ?? "missing" }
        return String(text.dropFirst().dropLast())
    }

    static func readV3(_ path: String, _ meta: [String: Any]) throws -> Volume {
        let shape = try shape3(meta["shape"], "shape")
        guard let dtypeName = meta["data_type"] as? String, let dtype = ZarrDType.from(v3: dtypeName) else {
            throw ZarrError(
                "\(path): data_type \(jsonDescription(meta["data_type"])) is not supported (uint8, int8, uint16, "
                    + "int16, float16, float32, uint32)"
            )
        }
        let grid = ((meta["chunk_grid"] as? [String: Any])?["configuration"] as? [String: Any])?["chunk_shape"]
        let chunk = try shape3(grid, "chunk_shape")
        try checkSizes(path, shape: shape, chunk: chunk, dtype: dtype)
        let encoding = meta["chunk_key_encoding"] as? [String: Any]
        let separator = ((encoding?["configuration"] as? [String: Any])?["separator"] as? String) ?? "/"
        let isV2Keys = encoding?["name"] as? String == "v2"
        guard let codecs = meta["codecs"] as? [[String: Any]] else { throw ZarrError("\(path): no codecs") }
        let fill = (meta["fill_value"] as? Double) ?? 0
        var out = Volume(shape: Extent3(x: shape[2], y: shape[1], z: shape[0]), dtype: dtype)
        fillVolume(&out, fill)
        let counts = (0..<3).map { (shape[$0] + chunk[$0] - 1) / chunk[$0] }
        for cz in 0..<counts[0] {
            for cy in 0..<counts[1] {
                for cx in 0..<counts[2] {
                    let key =
                        isV2Keys
                        ? "\(cz)\(separator)\(cy)\(separator)\(cx)"
                        : "c\(separator)\(cz)\(separator)\(cy)\(separator)\(cx)"
                    guard let data = FileManager.default.contents(atPath: "\(path)/\(key)") else { continue }
                    try decode(
                        Array(data), codecs: codecs, chunk: chunk,
                        origin: [cz * chunk[0], cy * chunk[1], cx * chunk[2]], dtype: dtype, into: &out, path: path)
                }
            }
        }
        return out
    }

    /// Applies a v3 codec chain to one encoded chunk (or shard) and copies it into the volume.
    static func decode(
        _ bytes: [UInt8], codecs: [[String: Any]], chunk: [Int], origin: [Int], dtype: DType, into out: inout Volume,
        path: String
    ) throws {
        if let first = codecs.first, first["name"] as? String == "sharding_indexed" {
            let c = first["configuration"] as? [String: Any] ?? [:]
            let innerShape = try shape3(c["chunk_shape"], "sharding chunk_shape")
            let inner = c["codecs"] as? [[String: Any]] ?? []
            let indexCodecs = (c["index_codecs"] as? [[String: Any]] ?? []).compactMap { $0["name"] as? String }
            guard indexCodecs.allSatisfy({ $0 == "bytes" || $0 == "crc32c" }) else {
                throw ZarrError("\(path): shard index codecs \(indexCodecs) are not supported")
            }
            guard (0..<3).allSatisfy({ chunk[$0] % innerShape[$0] == 0 }) else {
                throw ZarrError("\(path): sharding chunk_shape \(innerShape) does not divide the chunk shape \(chunk)")
            }
            let n = (0..<3).map { chunk[$0] / innerShape[$0] }
            let entries = n.reduce(1, *)
            let checksummed = indexCodecs.contains("crc32c")
            let indexSize = 16 * entries + (checksummed ? 4 : 0)
            guard bytes.count >= indexSize else { throw ZarrError("\(path): shard shorter than its index") }
            let atEnd = (c["index_location"] as? String ?? "end") == "end"
            let indexBytes = atEnd ? Array(bytes.suffix(indexSize)) : Array(bytes.prefix(indexSize))
            if checksummed {
                let stored = indexBytes.suffix(4).enumerated().reduce(UInt32(0)) {
                    $0 | UInt32($1.element) << (8 * UInt32($1.offset))
                }
                guard Array(indexBytes.prefix(16 * entries)).withUnsafeBytes({ CRC32C.checksum($0) }) == stored else {
                    throw ZarrError("\(path): shard index checksum mismatch (corrupt shard)")
                }
            }
            func u64(_ o: Int) -> UInt64 {
                (0..<8).reduce(UInt64(0)) { $0 | UInt64(indexBytes[o + $1]) << (8 * UInt64($1)) }
            }
            for i in 0..<entries {
                let offset = u64(16 * i)
                let size = u64(16 * i + 8)
                if offset == UInt64.max && size == UInt64.max { continue }
                let iz = i / (n[1] * n[2])
                let iy = (i / n[2]) % n[1]
                let ix = i % n[2]
                guard offset <= UInt64(bytes.count), size <= UInt64(bytes.count) - offset else {
                    throw ZarrError("\(path): shard index points outside the shard")
                }
                try decode(
                    Array(bytes[Int(offset)..<Int(offset + size)]), codecs: inner, chunk: innerShape,
                    origin: [
                        origin[0] + iz * innerShape[0], origin[1] + iy * innerShape[1], origin[2] + ix * innerShape[2],
                    ], dtype: dtype, into: &out, path: path)
            }
            return
        }
        var data = bytes
        var bigEndian = false
        for codec in codecs.reversed() {
            let name = codec["name"] as? String ?? ""
            let conf = codec["configuration"] as? [String: Any] ?? [:]
            switch name {
            case "crc32c":
                guard data.count >= 4 else { throw ZarrError("\(path): chunk shorter than its crc32c") }
                let stored = data.suffix(4).enumerated().reduce(UInt32(0)) {
                    $0 | UInt32($1.element) << (8 * UInt32($1.offset))
                }
                data.removeLast(4)
                guard data.withUnsafeBytes({ CRC32C.checksum($0) }) == stored else {
                    throw ZarrError("\(path): chunk checksum mismatch")
                }
            case "zstd":
                data = try data.withUnsafeBytes {
                    try ZstdCodec.decompress($0, size: chunk.reduce(1, *) * dtype.byteCount)
                }
            case "bytes":
                bigEndian = conf["endian"] as? String == "big"
            case "transpose":
                guard (conf["order"] as? [Int]) == [0, 1, 2] else {
                    throw ZarrError("\(path): transpose codecs other than the identity are not supported")
                }
            default:
                throw ZarrError(
                    "\(path): codec \(name) is not supported (bytes, transpose, zstd, crc32c, sharding_indexed are)")
            }
        }
        try place(data, bigEndian: bigEndian, chunk: chunk, origin: origin, dtype: dtype, into: &out, path: path)
    }

    /// Copies a raw C-order chunk [z][y][x] into the volume, cut at the volume's edge.
    static func place(
        _ raw: [UInt8], bigEndian: Bool, chunk: [Int], origin: [Int], dtype: DType, into out: inout Volume, path: String
    ) throws {
        let width = dtype.byteCount
        guard raw.count == chunk.reduce(1, *) * width else {
            throw ZarrError("\(path): decoded chunk has \(raw.count) bytes, expected \(chunk.reduce(1, *) * width)")
        }
        var data = raw
        if bigEndian && width > 1 {
            for i in stride(from: 0, to: data.count, by: width) { data[i..<(i + width)].reverse() }
        }
        let s = out.shape
        let nz = min(chunk[0], s.z - origin[0])
        let ny = min(chunk[1], s.y - origin[1])
        let nx = min(chunk[2], s.x - origin[2])
        guard nz > 0, ny > 0, nx > 0 else { return }
        let block = data.withUnsafeBytes {
            Volume(shape: Extent3(x: chunk[2], y: chunk[1], z: chunk[0]), dtype: dtype, bytes: $0)
        }
        out.copyRegion(
            from: block, sourceBox: Box3(x: 0..<nx, y: 0..<ny, z: 0..<nz),
            destinationOrigin: Extent3(x: origin[2], y: origin[1], z: origin[0]))
    }

    static func fillVolume(_ v: inout Volume, _ fill: Double) {
        guard fill != 0 else { return }
        let pattern = VoxelScalarDispatch.bytes(of: fill, as: v.dtype)
        v.withUnsafeMutableBytes { raw in for i in 0..<raw.count { raw[i] = pattern[i % pattern.count] } }
    }

    static func readV2(_ path: String, _ meta: [String: Any]) throws -> Volume {
        let shape = try shape3(meta["shape"], "shape")
        let chunk = try shape3(meta["chunks"], "chunks")
        guard let descr = meta["dtype"] as? String, let (dtype, order) = ZarrDType.from(v2: descr) else {
            throw ZarrError("\(path): dtype \(jsonDescription(meta["dtype"])) is not supported")
        }
        try checkSizes(path, shape: shape, chunk: chunk, dtype: dtype)
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
        var out = Volume(shape: Extent3(x: shape[2], y: shape[1], z: shape[0]), dtype: dtype)
        fillVolume(&out, (meta["fill_value"] as? Double) ?? 0)
        let counts = (0..<3).map { (shape[$0] + chunk[$0] - 1) / chunk[$0] }
        for cz in 0..<counts[0] {
            for cy in 0..<counts[1] {
                for cx in 0..<counts[2] {
                    guard
                        let data = FileManager.default.contents(
                            atPath: "\(path)/\(cz)\(separator)\(cy)\(separator)\(cx)")
                    else { continue }
                    var raw = Array(data)
                    if id == "zstd" {
                        raw = try raw.withUnsafeBytes {
                            try ZstdCodec.decompress($0, size: chunk.reduce(1, *) * dtype.byteCount)
                        }
                    }
                    try place(
                        raw, bigEndian: order == .big, chunk: chunk,
                        origin: [cz * chunk[0], cy * chunk[1], cx * chunk[2]], dtype: dtype, into: &out, path: path)
                }
            }
        }
        return out
    }
}
