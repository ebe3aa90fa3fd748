import Foundation
import Testing
import Voxels

@testable import MRC

@Suite("MRC writing")
struct MRCWriterTests {
    /// A float32 volume of reference values.
    func referenceVolume(_ shape: Extent3, dtype: DType = .float32) -> Volume {
        let v = expectedValues(Box3(shape: shape), dtype: dtype)
        return Volume(shape: shape, values: v.map { Float($0) }).converted(to: dtype)
    }

    /// Reads the raw header bytes of a file.
    func rawHeader(_ path: String) throws -> [UInt8] {
        Array(try Data(contentsOf: URL(fileURLWithPath: path)).prefix(1024))
    }

    func le32(_ h: [UInt8], _ o: Int) -> UInt32 {
        UInt32(h[o]) | UInt32(h[o + 1]) << 8 | UInt32(h[o + 2]) << 16 | UInt32(h[o + 3]) << 24
    }

    @Test("round trip in every writable mode, with a standard MRC2014 header")
    func roundTripEveryMode() throws {
        let shape = Extent3(x: 9, y: 7, z: 5)
        for dtype in [DType.int8, .int16, .float32, .uint16, .float16] {
            let v = referenceVolume(shape, dtype: dtype)
            let path = TestFiles.path("w-\(dtype).mrc")
            var o = MRCWriteOptions()
            o.voxelSize = Triple(13.48, 13.48, 13.48)
            o.origin = Triple(1, 2, 3)
            try MRCWriter.write(v, to: path, options: o)
            let r = try MRCReader(path: path)
            #expect(r.dtype == dtype)
            #expect(try r.readAll() == v, "\(dtype) round trip")
            #expect(abs(r.voxelSize.x - 13.48) < 1e-4 && abs(r.voxelSize.z - 13.48) < 1e-4)
            #expect(r.origin == Triple(1, 2, 3))
            // Byte-level checks against MRC2014, independent of MRCHeader's parser.
            let h = try rawHeader(path)
            #expect(Array(h[208..<212]) == Array("MAP ".utf8))
            #expect(Array(h[212..<216]) == [0x44, 0x44, 0, 0])
            #expect(le32(h, 108) == 20140)
            #expect(le32(h, 64) == 1 && le32(h, 68) == 2 && le32(h, 72) == 3)
            #expect(le32(h, 88) == 1)
            let stats = VoxelStatistics.of(v)
            #expect(Float(bitPattern: le32(h, 76)) == Float(stats.min))
            #expect(Float(bitPattern: le32(h, 80)) == Float(stats.max))
            #expect(abs(Double(Float(bitPattern: le32(h, 84))) - stats.mean) <= 1e-6 * max(1, abs(stats.mean)))
            let rms = Float(bitPattern: le32(h, 216))
            if dtype == .float16 {
                #expect(rms == -1)
            } else {
                #expect(abs(Double(rms) - stats.rms) <= 1e-5 * stats.rms)
            }
            #expect(le32(h, 220) == 1)
            #expect(String(decoding: h[224..<233], as: UTF8.self) == "TomoStore")
            #expect(r.quirks.isEmpty)
        }
    }

    @Test("uint8 is widened to mode 6 by default and kept as IMOD unsigned bytes in mode 0")
    func unsignedBytes() throws {
        let v = Volume(shape: Extent3(x: 3, y: 1, z: 1), values: [UInt8(0), 128, 255])
        let wide = TestFiles.path("u8-wide.mrc")
        try MRCWriter.write(v, to: wide)
        let r = try MRCReader(path: wide)
        #expect(r.mode == .uint16 && r.readAllValues == [0, 128, 255])
        let bytes = TestFiles.path("u8-bytes.mrc")
        try MRCWriter.write(v, to: bytes, mode: .bytes)
        let b = try MRCReader(path: bytes)
        #expect(b.mode == .bytes && b.dtype == .uint8 && b.readAllValues == [0, 128, 255])
        let signed = TestFiles.path("i8.mrc")
        try MRCWriter.write(Volume(shape: Extent3(x: 2, y: 1, z: 1), values: [Int8(-5), 100]), to: signed)
        let s = try MRCReader(path: signed)
        #expect(s.dtype == .int8 && s.header.hasIMODStamp && s.header.imodFlags & 1 == 1)
    }

    @Test("conversion rounds to nearest and clamps, counting clamped voxels")
    func conversionClamps() throws {
        let v = Volume(shape: Extent3(x: 5, y: 1, z: 1), values: [Float(-40000), -1.5, 0.4, 2.5, 1e9])
        let path = TestFiles.path("clamp.mrc")
        let w = try MRCWriter(path: path, shape: v.shape, dtype: .float32, mode: .int16)
        try w.append(v)
        try w.finish()
        #expect(w.clampedCount == 2)
        #expect(try MRCReader(path: path).readAllValues == [-32768, -2, 0, 3, 32767])
    }

    @Test("slab-by-slab writing equals one-shot writing, byte for byte")
    func slabsEqualWhole() throws {
        let shape = Extent3(x: 8, y: 6, z: 10)
        let v = referenceVolume(shape)
        let whole = TestFiles.path("whole.mrc")
        let slabs = TestFiles.path("slabs.mrc")
        try MRCWriter.write(v, to: whole)
        let w = try MRCWriter(path: slabs, shape: shape, dtype: .float32)
        for z in stride(from: 0, to: 10, by: 3) {
            try w.append(v.extracting(Box3(x: 0..<8, y: 0..<6, z: z..<min(10, z + 3))))
        }
        try w.finish()
        let a = try Data(contentsOf: URL(fileURLWithPath: whole))
        let b = try Data(contentsOf: URL(fileURLWithPath: slabs))
        // Statistics merge in a different grouping: compare data bytes exactly, header fields closely.
        #expect(a.dropFirst(1024) == b.dropFirst(1024))
        #expect(a.prefix(76) == b.prefix(76))
    }

    @Test("pieces of rows and bands in any order equal one-shot writing, byte for byte")
    func rowPiecesEqualWhole() throws {
        for shape in [Extent3(x: 9, y: 5, z: 3), Extent3(x: 23, y: 1, z: 1)] {
            let v = referenceVolume(shape)
            let whole = TestFiles.path("whole-\(shape.x).mrc")
            let pieces = TestFiles.path("pieces-\(shape.x).mrc")
            try MRCWriter.write(v, to: whole)
            let w = try MRCWriter(path: pieces, shape: shape, dtype: .float32)
            for run in shape.storageOrderRuns(maxVoxels: 4).reversed() {
                try w.write(band: v.extracting(run), at: run.lower)
            }
            try w.finish()
            let a = try Data(contentsOf: URL(fileURLWithPath: whole))
            let b = try Data(contentsOf: URL(fileURLWithPath: pieces))
            #expect(a.dropFirst(1024) == b.dropFirst(1024))
        }
    }

    @Test("an unfinished writer leaves nothing at the destination")
    func unfinishedLeavesNothing() throws {
        let path = TestFiles.path("unfinished.mrc")
        do {
            let w = try MRCWriter(path: path, shape: Extent3(x: 4, y: 4, z: 4), dtype: .float32)
            try w.append(referenceVolume(Extent3(x: 4, y: 4, z: 2)))
            #expect(throws: MRCError.self) { try w.finish() }
        }
        #expect(!FileManager.default.fileExists(atPath: path))
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: TestFiles.directory).filter {
            $0.contains("unfinished.mrc.partial")
        }
        #expect(leftovers.isEmpty)
    }

    @Test("wrong slab shapes and dtypes without a mode are refused")
    func refusals() throws {
        let w = try MRCWriter(path: TestFiles.path("r.mrc"), shape: Extent3(x: 4, y: 4, z: 2), dtype: .float32)
        #expect(throws: MRCError.self) { try w.append(Volume(shape: Extent3(x: 3, y: 4, z: 1), dtype: .float32)) }
        #expect(throws: MRCError.self) { try w.append(Volume(shape: Extent3(x: 4, y: 4, z: 3), dtype: .float32)) }
        // A band that is neither whole rows nor a piece of one row, and a piece past the row's end.
        #expect(throws: MRCError.self) {
            try w.write(band: Volume(shape: Extent3(x: 2, y: 2, z: 1), dtype: .float32), at: .zero)
        }
        #expect(throws: MRCError.self) {
            try w.write(band: Volume(shape: Extent3(x: 2, y: 1, z: 1), dtype: .float32), at: Extent3(x: 3, y: 0, z: 0))
        }
        #expect(throws: MRCError.self) {
            try MRCWriter(path: TestFiles.path("u32.mrc"), shape: Extent3(x: 1, y: 1, z: 1), dtype: .uint32)
        }
        #expect(throws: MRCError.self) {
            try MRCWriter(
                path: TestFiles.path("p.mrc"), shape: Extent3(x: 1, y: 1, z: 1), dtype: .uint8, mode: .packed4)
        }
    }

    @Test("a permuted big-endian file rewritten canonically keeps values, geometry and extended header")
    func canonicalRewrite() throws {
        let shape = Extent3(x: 6, y: 5, z: 4)
        var b = permutedFile(shape: shape, axes: (3, 1, 2), dtype: .int16, mode: 1, little: false)
        b.extended = Array(repeating: 7, count: 128)
        b.exttyp = "SERI"
        b.origin = (10, 20, 30)
        let r = try MRCReader(path: try b.write())
        var o = MRCWriteOptions()
        o.voxelSize = r.voxelSize
        o.origin = Triple(Float(r.origin.x), Float(r.origin.y), Float(r.origin.z))
        o.extendedHeader = try r.extendedHeader()
        o.extendedHeaderType = ExtendedHeaderType.infer(r.header)
        let out = TestFiles.path("canonical.mrc")
        try MRCWriter.write(try r.readAll(), to: out, options: o)
        let c = try MRCReader(path: out)
        #expect(c.axisOrder == [1, 2, 3] && c.byteOrder == .little)
        #expect(doubles(try c.readAll()) == expectedValues(Box3(shape: shape), dtype: .int16))
        #expect(c.voxelSize == r.voxelSize && c.origin == r.origin)
        #expect(try c.extendedHeader() == b.extended && c.header.exttyp == "SERI")
    }

    @Test("blank extended header types are inferred")
    func inferExtendedHeaderType() {
        var h = MRCHeader()
        h.nsymbt = 80
        h.ispg = 1
        #expect(ExtendedHeaderType.infer(h) == "CCP4")
        h.ispg = 0
        h.nz = 10
        h.nint = 0
        h.nreal = 2
        h.nsymbt = 80
        #expect(ExtendedHeaderType.infer(h) == "AGAR")
        h.nint = 32
        h.nreal = 15
        h.nsymbt = 1024
        #expect(ExtendedHeaderType.infer(h) == "SERI")
        h.exttyp = "FEI2"
        #expect(ExtendedHeaderType.infer(h) == "FEI2")
    }
}

extension MRCReader {
    /// Every voxel as a Double (test helper).
    var readAllValues: [Double] { (try? readAll()).map(doubles) ?? [] }
}
