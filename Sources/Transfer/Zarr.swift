import Catalog
import Codecs
import Foundation
import Store
import Voxels

/// Why a Zarr array cannot be read or written.
public struct ZarrError: TomoStoreError {
    public let description: String
    public init(_ d: String) { description = d }
}

/// CRC-32C (Castagnoli), as Zarr v3's `crc32c` codec stores it (little-endian, after the data).
public enum CRC32C {
    static let table: [UInt32] = (0..<256).map { n -> UInt32 in
        var c = UInt32(n)
        for _ in 0..<8 { c = (c & 1) != 0 ? 0x82F6_3B78 ^ (c >> 1) : c >> 1 }
        return c
    }

    public static func checksum(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        for b in bytes { c = table[Int((c ^ UInt32(b)) & 0xff)] ^ (c >> 8) }
        return c ^ 0xFFFF_FFFF
    }
}

/// Zarr dtype names.
enum ZarrDType {
    static func v3(_ d: DType) -> String { d.rawValue }
    static func from(v3 name: String) -> DType? { DType(rawValue: name) }
    static func from(v2 descr: String) -> (DType, ByteOrderMark)? {
        let order: ByteOrderMark = descr.hasPrefix(">") ? .big : .little
        let code = String(descr.drop(while: { "<>|=".contains($0) }))
        let map: [String: DType] = [
            "u1": .uint8, "i1": .int8, "u2": .uint16, "i2": .int16, "f2": .float16, "f4": .float32, "u4": .uint32,
        ]
        return map[code].map { ($0, order) }
    }
    enum ByteOrderMark { case little, big }
}

/// Zarr v3 and OME-Zarr 0.5 metadata (`zarr.json` documents), the same for files written by
/// `export-zarr` and for stores served by `tomostore serve` (formats/zarr.md).
public enum ZarrMetadata {
    /// A Zarr v3 array ([z][y][x], `dimension_names` ["z", "y", "x"], chunk keys `c/Z/Y/X`).
    public static func array(
        shape s: Extent3, chunk: Extent3, dtype: DType, fillValue: Double, codecs: [[String: Any]],
        attributes: [String: Any] = [:]
    ) -> [String: Any] {
        [
            "zarr_format": 3, "node_type": "array", "shape": [s.z, s.y, s.x], "data_type": ZarrDType.v3(dtype),
            "chunk_grid": ["name": "regular", "configuration": ["chunk_shape": [chunk.z, chunk.y, chunk.x]]],
            "chunk_key_encoding": ["name": "default", "configuration": ["separator": "/"]],
            "fill_value": fillValue.isNaN
                ? "NaN" as Any : dtype.isFloatingPoint ? fillValue as Any : Int(fillValue) as Any,
            "codecs": codecs, "dimension_names": ["z", "y", "x"], "attributes": attributes,
        ]
    }

    /// A group with `attributes`.
    public static func group(attributes: [String: Any] = [:]) -> [String: Any] {
        ["zarr_format": 3, "node_type": "group", "attributes": attributes]
    }

    /// The `ome` attributes of a dataset as an OME-Zarr 0.5 image with arrays "0" … "levels-1",
    /// level l reduced 2^l times (mean of 2×2×2, or mode for labels): scale and translation in Å,
    /// the translation placing each level's voxel centres (origin + (2^l − 1)/2 voxels). Labels add
    /// `image-label` with their class table.
    public static func omeImage(_ info: DatasetInfo, levels: Int) -> [String: Any] {
        let v = info.voxelSize
        let o = info.origin.count == 3 ? info.origin : [0, 0, 0]
        let datasets: [[String: Any]] = (0..<max(1, levels)).map { level in
            let factor = Double(1 << level)
            let shift = (factor - 1) / 2
            return [
                "path": "\(level)",
                "coordinateTransformations": [
                    ["type": "scale", "scale": [v[2] * factor, v[1] * factor, v[0] * factor]],
                    [
                        "type": "translation",
                        "translation": [o[2] + shift * v[2], o[1] + shift * v[1], o[0] + shift * v[0]],
                    ],
                ],
            ]
        }
        let isLabels = info.kind == .labels
        let axes = ["z", "y", "x"].map { ["name": $0, "type": "space", "unit": "angstrom"] }
        let multiscale: [String: Any] = [
            "axes": axes, "datasets": datasets, "name": info.name,
            "metadata": ["method": isLabels ? "mode of 2×2×2" : "mean of 2×2×2"],
        ]
        var ome: [String: Any] = ["version": "0.5", "multiscales": [multiscale]]
        if isLabels, let classes = info.classes {
            ome["image-label"] = [
                "version": "0.5",
                "properties": classes.compactMap { k, v in Int(k).map { ["label-value": $0, "name": v] } }
                    .sorted { ($0["label-value"] as! Int) < ($1["label-value"] as! Int) },
            ]
        }
        return ome
    }

    /// A document as UTF-8 JSON with sorted keys.
    public static func encode(_ object: Any, pretty: Bool = true) throws -> [UInt8] {
        var options: JSONSerialization.WritingOptions = [.sortedKeys, .withoutEscapingSlashes]
        if pretty { options.insert(.prettyPrinted) }
        return Array(try JSONSerialization.data(withJSONObject: object, options: options))
    }
}

/// Writes datasets as Zarr v3 arrays and OME-Zarr 0.5 multiscale groups (`dimension_names`
/// ["z", "y", "x"], bytes + zstd codecs, optional `sharding_indexed` with a crc32c index).
public enum ZarrExport {
    /// Writes `dataset` to `path`: with `levels` > 1 an OME-Zarr group whose arrays "0", "1", … are
    /// the dataset downsampled by 2 per level (local mean; mode for labels), else a single array.
    /// `shard` (chunks per shard side) wraps chunks in shards.
    public static func write(
        _ dataset: any VolumeSource, to path: String, levels: Int = 1, shard: Int? = nil, level zstdLevel: Int = 3
    ) throws {
        let fm = FileManager.default
        if fm.fileExists(atPath: path) { throw ZarrError("\(path) already exists; choose a new output path") }
        try fm.createDirectory(atPath: path, withIntermediateDirectories: true)
        let isLabels = dataset.info.kind == .labels
        var volume = try dataset.read(Box3(shape: dataset.shape))
        let chunk = dataset.grid.chunk
        let v = dataset.info.voxelSize
        if levels <= 1 {
            try writeArray(
                volume, chunk: chunk, to: path, shard: shard, zstdLevel: zstdLevel,
                attributes: ["voxel_size_angstrom": v])
            return
        }
        for level in 0..<levels {
            try writeArray(
                volume, chunk: chunk, to: "\(path)/\(level)", shard: shard, zstdLevel: zstdLevel, attributes: [:])
            if level + 1 < levels { volume = volume.downsampledByTwo(labels: isLabels) }
        }
        let ome = ZarrMetadata.omeImage(dataset.info, levels: levels)
        try writeJSON(ZarrMetadata.group(attributes: ["ome": ome]), to: "\(path)/zarr.json")
    }

    static func writeJSON(_ object: Any, to path: String) throws {
        try Data(ZarrMetadata.encode(object)).write(to: URL(fileURLWithPath: path))
    }

    /// One Zarr v3 array: full-size chunks (edges padded with the fill value 0).
    static func writeArray(
        _ v: Volume, chunk: Extent3, to path: String, shard: Int?, zstdLevel: Int, attributes: [String: Any]
    ) throws {
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        let s = v.shape
        let inner: [[String: Any]] = [
            ["name": "bytes", "configuration": ["endian": "little"]],
            ["name": "zstd", "configuration": ["level": zstdLevel, "checksum": false]],
        ]
        let counts = Extent3(
            x: (s.x + chunk.x - 1) / chunk.x, y: (s.y + chunk.y - 1) / chunk.y, z: (s.z + chunk.z - 1) / chunk.z)
        func encode(_ c: Extent3) throws -> [UInt8] {
            var block = Volume(shape: chunk, dtype: v.dtype)
            let box = Box3(
                x: c.x * chunk.x..<min(s.x, (c.x + 1) * chunk.x), y: c.y * chunk.y..<min(s.y, (c.y + 1) * chunk.y),
                z: c.z * chunk.z..<min(s.z, (c.z + 1) * chunk.z))
            block.copyRegion(from: v, sourceBox: box, destinationOrigin: Extent3(x: 0, y: 0, z: 0))
            return try block.withUnsafeBytes { try ZstdCodec.compress($0, level: zstdLevel) }
        }
        var metadata = ZarrMetadata.array(
            shape: s, chunk: chunk, dtype: v.dtype, fillValue: 0, codecs: inner, attributes: attributes)
        if let n = shard {
            let shardShape = Extent3(x: chunk.x * n, y: chunk.y * n, z: chunk.z * n)
            metadata["chunk_grid"] = [
                "name": "regular", "configuration": ["chunk_shape": [shardShape.z, shardShape.y, shardShape.x]],
            ]
            metadata["codecs"] = [
                [
                    "name": "sharding_indexed",
                    "configuration": [
                        "chunk_shape": [chunk.z, chunk.y, chunk.x], "codecs": inner,
                        "index_codecs": [
                            ["name": "bytes", "configuration": ["endian": "little"]], ["name": "crc32c"],
                        ], "index_location": "end",
                    ],
                ]
            ]
            let shards = Extent3(x: (counts.x + n - 1) / n, y: (counts.y + n - 1) / n, z: (counts.z + n - 1) / n)
            for sz in 0..<shards.z {
                for sy in 0..<shards.y {
                    for sx in 0..<shards.x {
                        var body: [UInt8] = []
                        var index = [UInt64](repeating: UInt64.max, count: 2 * n * n * n)
                        for iz in 0..<n {
                            for iy in 0..<n {
                                for ix in 0..<n {
                                    let c = Extent3(x: sx * n + ix, y: sy * n + iy, z: sz * n + iz)
                                    guard c.x < counts.x, c.y < counts.y, c.z < counts.z else { continue }
                                    let bytes = try encode(c)
                                    let slot = (iz * n + iy) * n + ix
                                    index[2 * slot] = UInt64(body.count)
                                    index[2 * slot + 1] = UInt64(bytes.count)
                                    body += bytes
                                }
                            }
                        }
                        var indexBytes: [UInt8] = []
                        for value in index { withUnsafeBytes(of: value.littleEndian) { indexBytes += $0 } }
                        let crc = indexBytes.withUnsafeBytes { CRC32C.checksum($0) }
                        withUnsafeBytes(of: crc.littleEndian) { indexBytes += $0 }
                        try writeChunkFile(body + indexBytes, path: "\(path)/c/\(sz)/\(sy)/\(sx)")
                    }
                }
            }
        } else {
            metadata["chunk_grid"] = [
                "name": "regular", "configuration": ["chunk_shape": [chunk.z, chunk.y, chunk.x]],
            ]
            metadata["codecs"] = inner
            for cz in 0..<counts.z {
                for cy in 0..<counts.y {
                    for cx in 0..<counts.x {
                        try writeChunkFile(
                            try encode(Extent3(x: cx, y: cy, z: cz)), path: "\(path)/c/\(cz)/\(cy)/\(cx)")
                    }
                }
            }
        }
        try writeJSON(metadata, to: "\(path)/zarr.json")
    }

    static func writeChunkFile(_ bytes: [UInt8], path: String) throws {
        try FileManager.default.createDirectory(
            atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try Data(bytes).write(to: URL(fileURLWithPath: path))
    }
}
