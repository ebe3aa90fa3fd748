import Foundation
import MRC
import Store
import TestSupport
import Testing
import Voxels

@testable import Transfer

/// A temporary directory for one test (removed when the tests exit).
func workDirectory() throws -> String { try TemporaryStore.directory("transfer") }

/// Writes a deterministic volume as MRC and returns (path, volume).
func writeMRC(
    _ dir: String, _ name: String, shape: Extent3, dtype: DType = .float32, seed: UInt64 = 1,
    options: MRCWriteOptions = MRCWriteOptions()
) throws -> (String, Volume) {
    let rng = CounterRNG(seed: seed)
    let values = (0..<shape.count).map { i -> Float in
        dtype == .float32 ? Float(rng.normal(counter: UInt64(i))) : Float(Int(rng.uniform(counter: UInt64(i)) * 9))
    }
    let v = Volume(shape: shape, values: values).converted(to: dtype)
    let path = "\(dir)/\(name)"
    try MRCWriter.write(v, to: path, options: options)
    return (path, v)
}

@Suite("Ingest, export, get")
struct TransferTests {
    @Test("ingest then read any box equals the MRC file; stats and metadata recorded")
    func ingestMatchesFile() throws {
        let dir = try workDirectory()
        var o = MRCWriteOptions()
        o.voxelSize = Triple(13.48, 13.48, 13.48)
        o.origin = Triple(5, 6, 7)
        let (path, v) = try writeMRC(dir, "t.mrc", shape: Extent3(x: 70, y: 45, z: 33), options: o)
        let store = try Store.create(at: dir + "/s.store")
        var options = IngestOptions(name: "t")
        options.chunk = Extent3(x: 32, y: 16, z: 8)
        options.batchBytes = 20_000  // many small transactions
        options.attributes = ["tilt_min": .number(-60), "tilt_max": .number(60)]
        let info = try Ingest.mrc(path, into: store, options: options)
        #expect(info.complete && info.progress == nil)
        #expect(info.shape == [70, 45, 33] && info.dtype == .float32)
        #expect(abs(info.voxelSize[0] - 13.48) < 1e-4 && info.origin == [5, 6, 7])
        #expect(info.attributes["tilt_min"] == .number(-60))
        let stats = VoxelStatistics.of(v)
        #expect(info.stats!.min == stats.min && info.stats!.max == stats.max)
        #expect(abs(info.stats!.mean - stats.mean) < 1e-12 && abs(info.stats!.rms - stats.rms) < 1e-9 * stats.rms)
        #expect(info.mrc?.mode == 2 && info.mrc?.nversion == 20140)
        let ds = try store.dataset(named: "t")
        for box in [
            Box3(shape: v.shape), Box3(x: 31..<33, y: 15..<17, z: 7..<9), Box3(x: 69..<70, y: 0..<45, z: 32..<33),
            Box3(x: 3..<60, y: 2..<40, z: 1..<30),
        ] {
            #expect(try ds.read(box) == v.extracting(box), "\(box)")
        }
        #expect(try store.verify().ok)
    }

    @Test("permuted big-endian int16 files ingest in canonical order")
    func permutedSource() throws {
        let dir = try workDirectory()
        // Build a big-endian file with axes 3,1,2 by hand: columns = z, rows = x, sections = y.
        let shape = Extent3(x: 5, y: 4, z: 6)
        var bytes = [UInt8](repeating: 0, count: 1024)
        func put32(_ v: Int32, _ o: Int) {
            let u = UInt32(bitPattern: v)
            for i in 0..<4 { bytes[o + i] = UInt8((u >> (24 - 8 * UInt32(i))) & 0xff) }
        }
        put32(6, 0)
        put32(5, 4)
        put32(4, 8)
        put32(1, 12)
        put32(5, 28)
        put32(4, 32)
        put32(6, 36)
        for (i, f) in [Float(5), 4, 6].enumerated() { put32(Int32(bitPattern: f.bitPattern), 40 + 4 * i) }
        put32(3, 64)
        put32(1, 68)
        put32(2, 72)
        bytes.replaceSubrange(208..<216, with: Array("MAP ".utf8) + [0x11, 0x11, 0, 0])
        var expected = [Int16](repeating: 0, count: shape.count)
        for y in 0..<4 {
            for x in 0..<5 {
                for z in 0..<6 {
                    let value = Int16(x * 100 + y * 10 + z - 50)
                    expected[(z * 4 + y) * 5 + x] = value
                    let u = UInt16(bitPattern: value)
                    bytes += [UInt8(u >> 8), UInt8(u & 0xff)]
                }
            }
        }
        let path = dir + "/perm.mrc"
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let store = try Store.create(at: dir + "/s.store")
        var options = IngestOptions(name: "p")
        options.chunk = Extent3(x: 2, y: 3, z: 4)
        try Ingest.mrc(path, into: store, options: options)
        #expect(try store.dataset(named: "p").read(Box3(shape: shape)).values(as: Int16.self) == expected)
    }

    @Test("labels record a class table and voxel counts; float labels are refused")
    func labels() throws {
        let dir = try workDirectory()
        let (path, v) = try writeMRC(dir, "l.mrc", shape: Extent3(x: 30, y: 20, z: 10), dtype: .uint16)
        let store = try Store.create(at: dir + "/s.store")
        var options = IngestOptions(name: "l")
        options.kind = .labels
        options.classes = ["0": "background", "1": "ribosome"]
        let info = try Ingest.mrc(path, into: store, options: options)
        var counts: [String: Int] = [:]
        for x in v.values(as: UInt16.self) { counts[String(x), default: 0] += 1 }
        #expect(info.classVoxels == counts)
        #expect(info.classes?["1"] == "ribosome" && info.classes?["2"] == "class 2")
        let (floatPath, _) = try writeMRC(dir, "f.mrc", shape: Extent3(x: 3, y: 3, z: 3))
        options.name = "f"
        #expect(throws: TransferError.self) { try Ingest.mrc(floatPath, into: store, options: options) }
        #expect(try store.datasets().map(\.name) == ["l"], "a refused ingest leaves nothing behind")
    }

    @Test("export writes the dataset back as canonical MRC, with the extended header on request")
    func exportRoundTrip() throws {
        let dir = try workDirectory()
        var o = MRCWriteOptions()
        o.voxelSize = Triple(2, 3, 4)
        o.extendedHeader = Array(repeating: 9, count: 256)
        o.extendedHeaderType = "FEI1"
        let (path, v) = try writeMRC(dir, "e.mrc", shape: Extent3(x: 40, y: 30, z: 20), options: o)
        let store = try Store.create(at: dir + "/s.store")
        var options = IngestOptions(name: "e")
        options.chunk = Extent3(x: 16, y: 16, z: 16)
        try Ingest.mrc(path, into: store, options: options)
        let ds = try store.dataset(named: "e")
        let out = dir + "/out.mrc"
        _ = try Export.mrc(ds, to: out, keepExtendedHeader: true)
        let r = try MRCReader(path: out)
        #expect(try r.readAll() == v)
        #expect(r.voxelSize == Triple(2, 3, 4))
        #expect(try r.extendedHeader() == o.extendedHeader && r.header.exttyp == "FEI1")
        let plain = dir + "/plain.mrc"
        _ = try Export.mrc(ds, to: plain)
        #expect(try MRCReader(path: plain).header.nsymbt == 0)
    }

    @Test("boxes export to .npy with a valid NumPy 1.0 header and to .mrc with the box's start")
    func boxExport() throws {
        let dir = try workDirectory()
        let (path, v) = try writeMRC(dir, "b.mrc", shape: Extent3(x: 20, y: 10, z: 8), dtype: .int16)
        let store = try Store.create(at: dir + "/s.store")
        try Ingest.mrc(path, into: store, options: IngestOptions(name: "b"))
        let ds = try store.dataset(named: "b")
        let box = Box3(x: 3..<17, y: 2..<9, z: 1..<8)
        try Export.box(ds, box, to: dir + "/b.npy")
        let npy = Array(try Data(contentsOf: URL(fileURLWithPath: dir + "/b.npy")))
        #expect(Array(npy[0..<8]) == [0x93] + Array("NUMPY".utf8) + [1, 0])
        let headerLength = Int(npy[8]) | Int(npy[9]) << 8
        #expect((10 + headerLength) % 64 == 0)
        let header = String(decoding: npy[10..<(10 + headerLength)], as: UTF8.self)
        #expect(header.contains("'descr': '<i2'") && header.contains("'shape': (7, 7, 14)") && header.hasSuffix("\n"))
        let data = Array(npy[(10 + headerLength)...])
        let expected = v.extracting(box).withUnsafeBytes { Array($0) }
        #expect(data == expected)
        try Export.box(ds, box, to: dir + "/b.mrc")
        let r = try MRCReader(path: dir + "/b.mrc")
        #expect(try r.readAll() == v.extracting(box))
        #expect(r.start == Triple(3, 2, 1))
    }
}

@Suite("PNG")
struct PNGTests {
    @Test("PNG chunks carry the right CRC-32 and the stored deflate stream holds every row")
    func png() {
        #expect(PNGWriter.crc32(Array("IEND".utf8)) == 0xAE42_6082)  // the constant every PNG ends with
        #expect(PNGWriter.crc32(Array("123456789".utf8)) == 0xCBF4_3926)  // the CRC-32 check value
        let pixels: [UInt8] = (0..<12).map { UInt8($0 * 20) }
        let png = PNGWriter.encode(width: 4, height: 3, pixels: pixels)
        #expect(Array(png[0..<8]) == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        #expect(
            Array(png[12..<16]) == Array("IHDR".utf8) && png[19] == 4 && png[23] == 3 && png[24] == 8 && png[25] == 0)
        // IDAT: zlib header, one stored block of 3 × (1 + 4) bytes, the rows with filter byte 0.
        let idat = png[(8 + 25 + 8)...]
        let data = Array(idat.prefix(2 + 5 + 15))
        #expect(Array(data[0..<2]) == [0x78, 0x01] && data[2] == 1 && data[3] == 15 && data[4] == 0)
        #expect(Array(data[7...]) == [0, 0, 20, 40, 60, 0, 80, 100, 120, 140, 0, 160, 180, 200, 220])
        #expect(Array(png.suffix(12)) == [0, 0, 0, 0] + Array("IEND".utf8) + [0xAE, 0x42, 0x60, 0x82])
    }
}

/// Zarr arrays written byte by byte here (not by TomoStore's exporter), read back box by box.
@Suite("Zarr import")
struct ZarrImportTests {
    /// A uint16 volume (z, y, x) = (7, 10, 9) whose voxel (x, y, z) holds x + 10y + 100z.
    static let shape = Extent3(x: 9, y: 10, z: 7)
    static func value(_ x: Int, _ y: Int, _ z: Int) -> UInt16 { UInt16(x + 10 * y + 100 * z) }
    static var reference: Volume {
        var values: [UInt16] = []
        for z in 0..<shape.z { for y in 0..<shape.y { for x in 0..<shape.x { values.append(value(x, y, z)) } } }
        return Volume(shape: shape, values: values)
    }

    /// The raw little-endian C-order bytes of the full chunk of `size` (z, y, x) at `origin`, padded past
    /// the array's edge with `pad`.
    static func chunkBytes(origin: [Int], size: [Int], pad: UInt16 = 0) -> [UInt8] {
        var out: [UInt8] = []
        for z in 0..<size[0] {
            for y in 0..<size[1] {
                for x in 0..<size[2] {
                    let (gx, gy, gz) = (origin[2] + x, origin[1] + y, origin[0] + z)
                    let inside = gx < shape.x && gy < shape.y && gz < shape.z
                    let v = inside ? value(gx, gy, gz) : pad
                    out += [UInt8(v & 0xff), UInt8(v >> 8)]
                }
            }
        }
        return out
    }

    static func write(_ bytes: [UInt8], _ path: String) throws {
        try FileManager.default.createDirectory(
            atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try Data(bytes).write(to: URL(fileURLWithPath: path))
    }

    /// A Zarr v2 array with 4×4×4 chunks, no compressor; chunk (1, 1, 1) is left out (fill value 7).
    static func v2Array() throws -> String {
        let dir = try workDirectory() + "/v2.zarr"
        let meta = """
            {"zarr_format": 2, "shape": [7, 10, 9], "chunks": [4, 4, 4], "dtype": "<u2", "compressor": null,
             "fill_value": 7, "order": "C", "filters": null}
            """
        try write(Array(meta.utf8), dir + "/.zarray")
        for cz in 0..<2 {
            for cy in 0..<3 {
                for cx in 0..<3 where !(cz == 1 && cy == 1 && cx == 1) {
                    try write(
                        chunkBytes(origin: [4 * cz, 4 * cy, 4 * cx], size: [4, 4, 4]), dir + "/\(cz).\(cy).\(cx)")
                }
            }
        }
        return dir
    }

    /// A Zarr v3 array of 4×6×6 shards of 2×3×3 inner chunks (bytes codec, index bytes + crc32c at the
    /// end); inner chunk 0 of shard (0, 0, 0) is absent (fill value 7); shard (1, 1, 1) has no file.
    static func shardedArray() throws -> String {
        let dir = try workDirectory() + "/sharded.zarr"
        let meta = """
            {"zarr_format": 3, "node_type": "array", "shape": [7, 10, 9], "data_type": "uint16",
             "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": [4, 6, 6]}},
             "chunk_key_encoding": {"name": "default", "configuration": {"separator": "/"}}, "fill_value": 7,
             "codecs": [{"name": "sharding_indexed", "configuration": {"chunk_shape": [2, 3, 3],
               "codecs": [{"name": "bytes", "configuration": {"endian": "little"}}],
               "index_codecs": [{"name": "bytes", "configuration": {"endian": "little"}}, {"name": "crc32c"}],
               "index_location": "end"}}]}
            """
        try write(Array(meta.utf8), dir + "/zarr.json")
        for cz in 0..<2 {
            for cy in 0..<2 {
                for cx in 0..<2 where !(cz == 1 && cy == 1 && cx == 1) {
                    var body: [UInt8] = []
                    var index: [UInt8] = []
                    func le64(_ v: UInt64) -> [UInt8] { (0..<8).map { UInt8((v >> (8 * UInt64($0))) & 0xff) } }
                    for i in 0..<(2 * 2 * 2) {
                        let (iz, iy, ix) = (i / 4, (i / 2) % 2, i % 2)
                        if cz == 0 && cy == 0 && cx == 0 && i == 0 {
                            index += le64(UInt64.max) + le64(UInt64.max)
                            continue
                        }
                        let chunk = chunkBytes(
                            origin: [4 * cz + 2 * iz, 6 * cy + 3 * iy, 6 * cx + 3 * ix], size: [2, 3, 3], pad: 999)
                        index += le64(UInt64(body.count)) + le64(UInt64(chunk.count))
                        body += chunk
                    }
                    let crc = index.withUnsafeBytes { CRC32C.checksum($0) }
                    index += (0..<4).map { UInt8((crc >> (8 * UInt32($0))) & 0xff) }
                    try write(body + index, dir + "/c/\(cz)/\(cy)/\(cx)")
                }
            }
        }
        return dir
    }

    /// The reference with the voxels of `boxes` set to the fill value 7.
    static func expected(filled boxes: [Box3]) -> Volume {
        var v = reference
        for b in boxes {
            let fill = Volume(shape: b.shape, values: [UInt16](repeating: 7, count: b.shape.count))
            v.copyRegion(from: fill, sourceBox: Box3(shape: b.shape), destinationOrigin: b.lower)
        }
        return v
    }

    static let boxes = [
        Box3(shape: shape), Box3(x: 3..<8, y: 2..<9, z: 1..<6), Box3(x: 0..<1, y: 9..<10, z: 6..<7),
        Box3(x: 4..<5, y: 4..<5, z: 4..<5), Box3(x: 0..<9, y: 5..<6, z: 0..<7),
    ]

    @Test("v2 boxes equal the reference; a missing chunk reads as the fill value; any cache size")
    func v2Boxes() throws {
        let want = Self.expected(filled: [Box3(x: 4..<8, y: 4..<8, z: 4..<7)])
        for cache in [0, 1 << 20] {
            let r = try ZarrArrayReader(path: try Self.v2Array(), cacheBytes: cache)
            #expect(r.shape == Self.shape && r.dtype == .uint16)
            for box in Self.boxes {
                #expect(try r.read(box: box).values(as: UInt16.self) == want.extracting(box).values(as: UInt16.self))
            }
        }
    }

    @Test("sharded v3 boxes read only what they need and equal the reference (missing inner chunk and shard)")
    func shardedBoxes() throws {
        let want = Self.expected(filled: [Box3(x: 0..<3, y: 0..<3, z: 0..<2), Box3(x: 6..<9, y: 6..<10, z: 4..<7)])
        for cache in [0, 1 << 20] {
            let r = try ZarrArrayReader(path: try Self.shardedArray(), cacheBytes: cache)
            for box in Self.boxes {
                #expect(
                    try r.read(box: box).values(as: UInt16.self) == want.extracting(box).values(as: UInt16.self),
                    "box \(box)")
            }
        }
    }

    @Test("a corrupt shard index is refused with the file named")
    func corruptIndex() throws {
        let dir = try Self.shardedArray()
        let file = dir + "/c/0/0/1"
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: file)))
        bytes[bytes.count - 10] ^= 0xff
        try Data(bytes).write(to: URL(fileURLWithPath: file))
        let r = try ZarrArrayReader(path: dir)
        #expect(throws: ZarrError.self) { try r.read(box: Box3(x: 6..<9, y: 0..<3, z: 0..<2)) }
        #expect(try r.read(box: Box3(x: 0..<6, y: 0..<6, z: 0..<4)).count == 144)
    }

    @Test("Ingest.zarr stores every chunk; resume checks the array is the same")
    func ingestAndResume() throws {
        let store = try TemporaryStore.make("zarr-ingest")
        var options = IngestOptions(name: "z")
        options.chunk = Extent3(x: 4, y: 4, z: 4)
        options.pieceBytes = 64  // one 4³ uint16 chunk per piece: many reads across shard borders
        try Ingest.zarr(try Self.shardedArray(), into: store, options: options)
        let ds = try store.dataset(named: "z")
        let want = Self.expected(filled: [Box3(x: 0..<3, y: 0..<3, z: 0..<2), Box3(x: 6..<9, y: 6..<10, z: 4..<7)])
        #expect(try ds.read(Box3(shape: Self.shape)).values(as: UInt16.self) == want.values(as: UInt16.self))
        #expect(ds.info.attributes["zarr_metadata_digest"] != nil)
        options.resume = true
        #expect(throws: TransferError.self) { try Ingest.zarr(try Self.shardedArray(), into: store, options: options) }
        // An interrupted import: resumed from the same array only.
        let v2 = try ZarrArrayReader(path: try Self.v2Array())
        for (name, digest) in [("other", "0"), ("same", v2.metadataDigest)] {
            var spec = Store.NewDataset(name: name, kind: .tomogram, dtype: .uint16, shape: Self.shape)
            spec.chunk = Extent3(x: 4, y: 4, z: 4)
            spec.attributes = ["zarr_metadata_digest": .string(digest)]
            _ = try store.createDataset(spec, complete: false)
        }
        options.name = "other"
        #expect(throws: TransferError.self) { try Ingest.zarr(try Self.v2Array(), into: store, options: options) }
        options.name = "same"
        try Ingest.zarr(try Self.v2Array(), into: store, options: options)
        let resumed = try store.dataset(named: "same")
        let v2Want = Self.expected(filled: [Box3(x: 4..<8, y: 4..<8, z: 4..<7)])
        #expect(try resumed.read(Box3(shape: Self.shape)).values(as: UInt16.self) == v2Want.values(as: UInt16.self))
    }
}
