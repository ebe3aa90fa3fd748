import Foundation
import Testing
import Voxels

@testable import MRC

/// Reference values: a deterministic function of the canonical voxel position.
func referenceValue(_ x: Int, _ y: Int, _ z: Int, dtype: DType) -> Double {
    let base = (x * 7 + y * 13 + z * 29) % 200
    switch dtype {
    case .int8, .int16: return Double(base - 100)
    case .uint8: return Double(base + 50)
    case .uint16, .uint32: return Double(base * 300)
    case .float16: return Double(base) * 0.25 - 20
    case .float32: return Double(Float(Double(base) * 0.001 - 0.07))  // representable exactly
    }
}

/// A file of canonical shape `shape` stored with axis order `axes`, values from `referenceValue`.
func permutedFile(shape: Extent3, axes: (Int32, Int32, Int32), dtype: DType, mode: Int32, little: Bool) -> RawMRCBuilder
{
    let sizes = [shape.x, shape.y, shape.z]
    let a = [Int(axes.0) - 1, Int(axes.1) - 1, Int(axes.2) - 1]
    var b = RawMRCBuilder()
    b.little = little
    b.mode = mode
    b.axes = axes
    b.dims = (Int32(sizes[a[0]]), Int32(sizes[a[1]]), Int32(sizes[a[2]]))
    b.sampling = (Int32(shape.x), Int32(shape.y), Int32(shape.z))
    b.cell = (Float(shape.x) * 2.5, Float(shape.y) * 3.0, Float(shape.z) * 4.0)
    var values: [Double] = []
    for s in 0..<sizes[a[2]] {
        for r in 0..<sizes[a[1]] {
            for c in 0..<sizes[a[0]] {
                var p = [0, 0, 0]
                p[a[0]] = c
                p[a[1]] = r
                p[a[2]] = s
                values.append(referenceValue(p[0], p[1], p[2], dtype: dtype))
            }
        }
    }
    b.data = b.encode(values, as: dtype)
    return b
}

/// The values of a volume as Doubles, [z][y][x].
func doubles(_ v: Volume) -> [Double] {
    (0..<v.shape.z).flatMap { z in
        (0..<v.shape.y).flatMap { y in (0..<v.shape.x).map { x in v.value(x: x, y: y, z: z) } }
    }
}

func expectedValues(_ box: Box3, dtype: DType) -> [Double] {
    box.zRange.flatMap { z in box.yRange.flatMap { y in box.xRange.map { x in referenceValue(x, y, z, dtype: dtype) } }
    }
}

@Suite("MRC reading")
struct MRCReaderTests {
    static let modes: [(Int32, DType)] = [(0, .int8), (1, .int16), (2, .float32), (6, .uint16), (12, .float16)]

    @Test("every mode in both byte orders", arguments: [true, false])
    func everyModeBothOrders(little: Bool) throws {
        let shape = Extent3(x: 5, y: 4, z: 3)
        for (mode, dtype) in Self.modes {
            let path = try permutedFile(shape: shape, axes: (1, 2, 3), dtype: dtype, mode: mode, little: little).write()
            let r = try MRCReader(path: path)
            #expect(r.dtype == dtype)
            #expect(r.byteOrder == (little ? .little : .big))
            #expect(r.shape == shape)
            #expect(doubles(try r.readAll()) == expectedValues(Box3(shape: shape), dtype: dtype))
            #expect(r.quirks.isEmpty, "clean file reported quirks: \(r.quirks)")
        }
    }

    @Test("all six axis orders, both byte orders, whole volume and boxes")
    func axisPermutations() throws {
        let shape = Extent3(x: 7, y: 5, z: 4)
        let orders: [(Int32, Int32, Int32)] = [(1, 2, 3), (1, 3, 2), (2, 1, 3), (2, 3, 1), (3, 1, 2), (3, 2, 1)]
        let boxes = [
            Box3(shape: shape), Box3(x: 1..<6, y: 2..<5, z: 0..<3), Box3(x: 6..<7, y: 0..<5, z: 3..<4),
            Box3(x: 0..<1, y: 4..<5, z: 0..<4), Box3(x: 2..<3, y: 0..<5, z: 1..<2),
        ]
        for axes in orders {
            for little in [true, false] {
                for (mode, dtype) in [(Int32(2), DType.float32), (1, .int16), (0, .int8)] {
                    let path = try permutedFile(shape: shape, axes: axes, dtype: dtype, mode: mode, little: little)
                        .write()
                    let r = try MRCReader(path: path)
                    #expect(r.shape == shape, "axes \(axes)")
                    #expect(r.axisOrder == [Int(axes.0), Int(axes.1), Int(axes.2)])
                    #expect(
                        abs(r.voxelSize.x - 2.5) < 1e-9 && abs(r.voxelSize.y - 3.0) < 1e-9
                            && abs(r.voxelSize.z - 4.0) < 1e-9)
                    for box in boxes {
                        #expect(
                            doubles(try r.read(box: box)) == expectedValues(box, dtype: dtype),
                            "axes \(axes) little \(little) box \(box)")
                    }
                }
            }
        }
    }

    @Test("starts map from file axes to x, y, z")
    func startsFollowAxisOrder() throws {
        var b = permutedFile(shape: Extent3(x: 3, y: 4, z: 5), axes: (3, 1, 2), dtype: .float32, mode: 2, little: true)
        b.starts = (-10, 20, 30)  // columns (z), rows (x), sections (y)
        let r = try MRCReader(path: try b.write())
        #expect(r.start == Triple(20, 30, -10))
    }

    @Test("narrow, wide and contiguous boxes take the row-by-row, span and direct read paths")
    func narrowAndWideBoxes() throws {
        let shape = Extent3(x: 64, y: 9, z: 3)
        let path = try permutedFile(shape: shape, axes: (1, 2, 3), dtype: .int16, mode: 1, little: false).write()
        let r = try MRCReader(path: path)
        for box in [
            Box3(x: 3..<5, y: 1..<8, z: 0..<3), Box3(x: 0..<60, y: 2..<9, z: 1..<2),
            Box3(x: 0..<64, y: 0..<9, z: 2..<3),
            // Contiguous in the file (one read into the output): rows of one plane, a piece of a row.
            Box3(x: 0..<64, y: 3..<7, z: 1..<2), Box3(x: 10..<41, y: 4..<5, z: 2..<3),
            Box3(x: 0..<64, y: 0..<9, z: 0..<3),
        ] {
            #expect(doubles(try r.read(box: box)) == expectedValues(box, dtype: .int16), "box \(box)")
        }
    }

    @Test("extended header is skipped for the data and kept byte for byte")
    func extendedHeader() throws {
        let shape = Extent3(x: 4, y: 3, z: 2)
        var b = permutedFile(shape: shape, axes: (1, 2, 3), dtype: .float32, mode: 2, little: true)
        b.extended = (0..<1536).map { UInt8($0 % 251) }
        b.exttyp = "FEI1"
        let r = try MRCReader(path: try b.write())
        #expect(r.header.nsymbt == 1536)
        #expect(r.header.exttyp == "FEI1")
        #expect(try r.extendedHeader() == b.extended)
        #expect(doubles(try r.readAll()) == expectedValues(Box3(shape: shape), dtype: .float32))
    }

    @Test("image stacks and single images read as volumes")
    func stacksAndImages() throws {
        var stack = permutedFile(
            shape: Extent3(x: 6, y: 5, z: 4), axes: (1, 2, 3), dtype: .int16, mode: 1, little: true)
        stack.ispg = 0
        stack.sampling = (6, 5, 1)
        stack.cell = (6 * 1.5, 5 * 1.5, 1.5)
        let s = try MRCReader(path: try stack.write())
        #expect(s.isImageStack)
        #expect(s.shape == Extent3(x: 6, y: 5, z: 4))
        #expect(s.voxelSize == Triple(1.5, 1.5, 1.5))
        #expect(
            doubles(try s.read(box: Box3(x: 0..<6, y: 0..<5, z: 2..<3)))
                == expectedValues(Box3(x: 0..<6, y: 0..<5, z: 2..<3), dtype: .int16))
        var image = permutedFile(
            shape: Extent3(x: 6, y: 5, z: 1), axes: (1, 2, 3), dtype: .float32, mode: 2, little: true)
        image.ispg = 0
        let i = try MRCReader(path: try image.write())
        #expect(i.shape.z == 1 && !i.isImageStack)
        #expect(doubles(try i.readAll()) == expectedValues(Box3(shape: i.shape), dtype: .float32))
    }

    @Test("mode 0 is signed unless IMOD's stamp and flags say unsigned")
    func imodUnsignedBytes() throws {
        var b = RawMRCBuilder()
        b.mode = 0
        b.dims = (3, 1, 1)
        b.data = [0, 127, 200]
        let signed = try MRCReader(path: try b.write())
        #expect(signed.dtype == .int8)
        #expect(doubles(try signed.readAll()) == [0, 127, -56])
        b.imodStamp = MRCHeader.imodStampValue
        b.imodFlags = 0
        let unsigned = try MRCReader(path: try b.write())
        #expect(unsigned.dtype == .uint8)
        #expect(doubles(try unsigned.readAll()) == [0, 127, 200])
        b.imodFlags = 1
        #expect(try MRCReader(path: try b.write()).dtype == .int8)
    }

    @Test("mode 101 unpacks 4-bit voxels, low nibble first, rows padded to whole bytes")
    func packedFourBit() throws {
        var b = RawMRCBuilder()
        b.mode = 101
        b.dims = (5, 2, 2)  // 5 columns: 3 bytes per row
        let values: [UInt8] = (0..<20).map { UInt8(($0 * 7) % 16) }
        var bytes: [UInt8] = []
        for row in 0..<4 {
            let v = Array(values[(row * 5)..<(row * 5 + 5)])
            bytes += [v[0] | v[1] << 4, v[2] | v[3] << 4, v[4]]
        }
        b.data = bytes
        let r = try MRCReader(path: try b.write())
        #expect(r.dtype == .uint8)
        #expect(try r.readAll().values(as: UInt8.self) == values)
        #expect(try r.read(box: Box3(x: 1..<4, y: 1..<2, z: 1..<2)).values(as: UInt8.self) == Array(values[16..<19]))
        let stats = try r.statistics()
        #expect(stats.max == Double(values.max()!) && stats.min == Double(values.min()!))
        // Rows longer than the budget are read in pieces (even columns, so whole bytes).
        let pieces = try r.statistics(budget: 2)
        let d = values.map(Double.init)
        #expect(pieces.count == 20 && pieces.min == d.min()! && pieces.max == d.max()!)
        #expect(abs(pieces.mean - d.reduce(0, +) / 20) < 1e-12)
    }

    @Test("byte order is inferred when the machine stamp is missing or wrong")
    func machineStampFallback() throws {
        let shape = Extent3(x: 3, y: 2, z: 2)
        var b = permutedFile(shape: shape, axes: (1, 2, 3), dtype: .int16, mode: 1, little: false)
        b.stamp = [0, 0, 0, 0]
        let r = try MRCReader(path: try b.write())
        #expect(r.byteOrder == .big)
        #expect(doubles(try r.readAll()) == expectedValues(Box3(shape: shape), dtype: .int16))
        b.stamp = [0x44, 0x44, 0, 0]  // claims little-endian, data is big-endian
        let wrong = try MRCReader(path: try b.write())
        #expect(wrong.byteOrder == .big)
        #expect(!wrong.quirks.isEmpty)
    }

    @Test("pre-MRC2000 headers without \"MAP \" still read")
    func oldStyleHeader() throws {
        var b = permutedFile(shape: Extent3(x: 3, y: 3, z: 3), axes: (1, 2, 3), dtype: .float32, mode: 2, little: true)
        b.writeMapID = false
        b.stamp = [0, 0, 0, 0]
        let r = try MRCReader(path: try b.write())
        #expect(doubles(try r.readAll()) == expectedValues(Box3(shape: r.shape), dtype: .float32))
        #expect(r.quirks.contains { $0.contains("MAP") })
    }

    @Test("statistics streamed in small blocks equal a naive computation")
    func statisticsMatchNaive() throws {
        let shape = Extent3(x: 17, y: 13, z: 11)
        let path = try permutedFile(shape: shape, axes: (2, 3, 1), dtype: .float32, mode: 2, little: false).write()
        let r = try MRCReader(path: path)
        let stats = try r.statistics(budget: 100)  // a few rows per block
        let pieces = try r.statistics(budget: 12)  // pieces of one row (17 columns of 4 bytes)
        #expect(pieces.count == shape.count && pieces.min == stats.min && pieces.max == stats.max)
        #expect(abs(pieces.mean - stats.mean) <= 1e-12 * max(1, abs(stats.mean)))
        let v = expectedValues(Box3(shape: shape), dtype: .float32).map { Double(Float($0)) }
        let mean = v.reduce(0, +) / Double(v.count)
        let rms = (v.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(v.count)).squareRoot()
        #expect(stats.min == v.min()! && stats.max == v.max()!)
        #expect(abs(stats.mean - mean) <= 1e-12 * max(1, abs(mean)))
        #expect(abs(stats.rms - rms) <= 1e-12 * rms)
    }
}

@Suite("MRC bad input")
struct MRCBadInputTests {
    func expectError(_ builder: RawMRCBuilder, _ matches: (MRCError) -> Bool, truncateBy: Int = 0) throws {
        var bytes = builder.bytes()
        bytes.removeLast(min(truncateBy, bytes.count))
        let path = TestFiles.path("bad.mrc")
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        do {
            _ = try MRCReader(path: path)
            Issue.record("no error for \(path)")
        } catch let error as MRCError {
            #expect(matches(error), "unexpected error \(error)")
            #expect(error.description.hasPrefix(path), "message does not name the file: \(error)")
            #expect(!error.description.contains("\n"))
        }
    }

    var good: RawMRCBuilder {
        permutedFile(shape: Extent3(x: 4, y: 3, z: 2), axes: (1, 2, 3), dtype: .float32, mode: 2, little: true)
    }

    @Test func truncatedData() throws {
        try expectError(
            good,
            {
                if case .truncated = $0 { return true }
                return false
            }, truncateBy: 10)
    }

    @Test func headerClaimsMoreData() throws {
        var b = good
        b.dims = (4, 3, 2000)
        try expectError(b) {
            if case .truncated = $0 { return true }
            return false
        }
        b.dims = (Int32.max, Int32.max, Int32.max)
        try expectError(b) {
            if case .notMRC = $0 { return true }
            return false
        }
    }

    @Test func unknownMode() throws {
        var b = good
        b.mode = 5
        try expectError(b) {
            if case .unsupportedMode(_, 5) = $0 { return true }
            return false
        }
    }

    @Test(arguments: [Int32(3), 4]) func complexModes(mode: Int32) throws {
        var b = good
        b.mode = mode
        try expectError(b) {
            if case .complexMode = $0 { return true }
            return false
        }
    }

    @Test(arguments: [(Int32(0), Int32(3), Int32(2)), (4, -3, 2), (4, 3, -1)])
    func badDimensions(dims: (Int32, Int32, Int32)) throws {
        var b = good
        b.dims = dims
        try expectError(b) {
            if case .badDimensions = $0 { return true }
            return false
        }
    }

    @Test(arguments: [(Int32(1), Int32(1), Int32(3)), (1, 2, 4), (0, 2, 3)])
    func badAxisOrder(axes: (Int32, Int32, Int32)) throws {
        var b = good
        b.axes = axes
        try expectError(b) {
            if case .badAxisOrder = $0 { return true }
            return false
        }
    }

    @Test func extendedHeaderLargerThanFile() throws {
        var b = good
        b.extended = [1, 2, 3]
        var bytes = b.header()
        bytes[92] = 0xff
        bytes[93] = 0xff
        bytes[94] = 0
        bytes[95] = 0  // nsymbt = 65535
        let path = TestFiles.path("ext.mrc")
        try Data(bytes + b.data).write(to: URL(fileURLWithPath: path))
        #expect(throws: MRCError.self) { try MRCReader(path: path) }
    }

    @Test func notMRCAtAll() throws {
        let path = TestFiles.path("random.mrc")
        let rng = CounterRNG(seed: 9)
        let bytes = (0..<4000).map { UInt8(truncatingIfNeeded: rng.bits(counter: UInt64($0))) }
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        #expect(throws: MRCError.self) { try MRCReader(path: path) }
        let text = TestFiles.path("text.mrc")
        try Data(String(repeating: "this is a text file, not a map\n", count: 50).utf8).write(
            to: URL(fileURLWithPath: text))
        #expect(throws: MRCError.self) { try MRCReader(path: text) }
        let short = TestFiles.path("short.mrc")
        try Data([1, 2, 3]).write(to: URL(fileURLWithPath: short))
        #expect(throws: MRCError.self) { try MRCReader(path: short) }
    }

    @Test func missingFileAndDirectory() throws {
        #expect(throws: FileError.self) { try MRCReader(path: TestFiles.directory + "/does-not-exist.mrc") }
        #expect(throws: FileError.self) { try MRCReader(path: TestFiles.directory) }
    }

    @Test func boxOutsideVolume() throws {
        let r = try MRCReader(path: try good.write())
        #expect(throws: MRCError.self) { try r.read(box: Box3(x: 0..<5, y: 0..<3, z: 0..<2)) }
        #expect(throws: MRCError.self) { try r.read(box: Box3(x: -1..<2, y: 0..<3, z: 0..<2)) }
    }
}
