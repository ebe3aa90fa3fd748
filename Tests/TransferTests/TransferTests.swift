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
