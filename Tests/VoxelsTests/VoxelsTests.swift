import Foundation
import Testing

@testable import Voxels

@Suite("Boxes and extents")
struct BoxTests {
    @Test func parsesHalfOpenBoxes() {
        let b = Box3(parsing: "1:5,0:3,7:8")
        #expect(b == Box3(x: 1..<5, y: 0..<3, z: 7..<8))
        #expect(b?.description == "1:5,0:3,7:8")
        #expect(b?.shape == Extent3(x: 4, y: 3, z: 1))
    }

    @Test(arguments: ["", "1:5,0:3", "a:b,0:1,0:1", "5:1,0:1,0:1", "1:1,0:1,0:1", "0:1,0:1,0:1,0:1", "0-1,0:1,0:1"])
    func rejectsMalformedBoxes(text: String) {
        #expect(Box3(parsing: text) == nil)
    }

    @Test func insideAndIntersection() {
        let shape = Extent3(x: 10, y: 8, z: 6)
        #expect(Box3(x: 0..<10, y: 0..<8, z: 0..<6).isInside(shape))
        #expect(!Box3(x: 0..<11, y: 0..<8, z: 0..<6).isInside(shape))
        #expect(!Box3(x: -1..<3, y: 0..<8, z: 0..<6).isInside(shape))
        let a = Box3(x: 0..<5, y: 0..<5, z: 0..<5)
        let b = Box3(x: 3..<9, y: 4..<6, z: 1..<2)
        #expect(a.intersection(b) == Box3(x: 3..<5, y: 4..<5, z: 1..<2))
        #expect(a.intersection(Box3(x: 5..<6, y: 0..<1, z: 0..<1)) == nil)
    }
}

@Suite("Volumes")
struct VolumeTests {
    func sample(_ s: Extent3) -> Volume {
        Volume(shape: s, values: (0..<s.count).map { Float($0) * 0.5 - 3 })
    }

    @Test("layout is [z][y][x] with x fastest")
    func layout() {
        let v = sample(Extent3(x: 4, y: 3, z: 2))
        #expect(v.value(x: 1, y: 0, z: 0) == -2.5)
        #expect(v.value(x: 0, y: 1, z: 0) == Double(4) * 0.5 - 3)
        #expect(v.value(x: 0, y: 0, z: 1) == Double(12) * 0.5 - 3)
    }

    @Test("extracting a box equals a naive triple loop")
    func extractMatchesNaive() {
        let v = sample(Extent3(x: 7, y: 6, z: 5))
        let box = Box3(x: 2..<6, y: 1..<4, z: 3..<5)
        let sub = v.extracting(box)
        var naive: [Float] = []
        for z in box.zRange {
            for y in box.yRange { for x in box.xRange { naive.append(Float(v.value(x: x, y: y, z: z))) } }
        }
        #expect(sub.values(as: Float.self) == naive)
    }

    @Test("copy on write keeps copies independent")
    func copyOnWrite() {
        let a = sample(Extent3(x: 2, y: 2, z: 2))
        var b = a
        b.withUnsafeMutableValues(as: Float.self) { $0[0] = 99 }
        #expect(a.value(x: 0, y: 0, z: 0) == -3)
        #expect(b.value(x: 0, y: 0, z: 0) == 99)
    }

    @Test("conversion rounds half away from zero, clamps, and maps NaN to 0 for integers")
    func conversion() {
        let v = Volume(shape: Extent3(x: 7, y: 1, z: 1), values: [Float(-1e6), -2.5, -0.4, 0.5, 1.5, 300, .nan])
        #expect(v.converted(to: .int8).values(as: Int8.self) == [-128, -3, 0, 1, 2, 127, 0])
        #expect(v.converted(to: .uint8).values(as: UInt8.self) == [0, 0, 0, 1, 2, 255, 0])
        #expect(v.converted(to: .int16).values(as: Int16.self) == [-32768, -3, 0, 1, 2, 300, 0])
        let n = v.withUnsafeBytes {
            VoxelScalarDispatch.countOutOfRange(.float32, $0.baseAddress!, count: 7, target: .int8)
        }
        #expect(n == 3)
        let h = Volume(shape: Extent3(x: 2, y: 1, z: 1), values: [Float(1.0009765625), 70000]).converted(to: .float16)
        #expect(h.values(as: Float16.self) == [Float16(1.0009765625), .infinity])
    }
}

@Suite("Storage-order runs")
struct StorageOrderRunsTests {
    @Test(
        "runs cover every voxel once, in storage order, each within the budget",
        arguments: [
            (Extent3(x: 5, y: 4, z: 3), 100), (Extent3(x: 5, y: 4, z: 3), 20), (Extent3(x: 5, y: 4, z: 3), 7),
            (Extent3(x: 5, y: 4, z: 3), 3), (Extent3(x: 5, y: 4, z: 3), 1), (Extent3(x: 37, y: 1, z: 1), 8),
            (Extent3(x: 1, y: 1, z: 9), 1), (Extent3(x: 6, y: 7, z: 2), 41),
        ])
    func coverInOrder(shape: Extent3, budget: Int) {
        var next = 0  // linear index (x fastest) of the next voxel expected
        for run in shape.storageOrderRuns(maxVoxels: budget) {
            let s = run.shape
            #expect(run.isInside(shape) && !run.isEmpty)
            #expect(s.count <= max(budget, 2), "\(run) over budget \(budget)")
            // Contiguous in storage order: whole planes, rows of one plane, or a piece of one row.
            #expect(s.x == shape.x && (s.y == shape.y || s.z == 1) || (s.y == 1 && s.z == 1))
            let first = (run.lower.z * shape.y + run.lower.y) * shape.x + run.lower.x
            #expect(first == next, "\(run) starts at \(first), expected \(next)")
            next = first + s.count
        }
        #expect(next == shape.count)
    }

    @Test("pieces of a row hold an even number of voxels (4-bit rows cut on bytes)")
    func evenPieces() {
        let runs = Array(Extent3(x: 11, y: 2, z: 1).storageOrderRuns(maxVoxels: 5))
        #expect(runs.allSatisfy { $0.lower.x % 2 == 0 && ($0.shape.x % 2 == 0 || $0.upper.x == 11) })
        #expect(runs.count == 6)
    }
}

@Suite("Statistics")
struct StatisticsTests {
    @Test("merged statistics of parts equal a naive two-pass computation")
    func mergeMatchesNaive() {
        let rng = CounterRNG(seed: 3)
        let values = (0..<10_000).map { Float(rng.normal(counter: UInt64($0)) * 3 + 100) }
        var merged = VoxelStatistics()
        var i = 0
        for size in [1, 7, 500, 2992, 6500] {
            values[i..<(i + size)].withUnsafeBufferPointer { merged.add($0) }
            i += size
        }
        let d = values.map(Double.init)
        let mean = d.reduce(0, +) / Double(d.count)
        let rms = (d.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(d.count)).squareRoot()
        #expect(merged.count == 10_000)
        #expect(merged.min == d.min()! && merged.max == d.max()!)
        #expect(abs(merged.mean - mean) <= 1e-12 * abs(mean))
        #expect(abs(merged.rms - rms) <= 1e-10 * rms)
    }

    @Test("NaN values are counted apart")
    func nanCounted() {
        var s = VoxelStatistics()
        [Float(1), .nan, 3].withUnsafeBufferPointer { s.add($0) }
        #expect(s.count == 2 && s.nanCount == 1 && s.mean == 2 && s.min == 1 && s.max == 3)
    }
}

@Suite("Counter-based RNG")
struct CounterRNGTests {
    @Test("values depend only on (seed, stream, counter)")
    func orderIndependent() {
        let r = CounterRNG(seed: 42)
        let forward = (0..<100).map { r.bits(counter: UInt64($0)) }
        let backward = (0..<100).reversed().map { r.bits(counter: UInt64($0)) }
        #expect(forward == backward.reversed())
        #expect(CounterRNG(seed: 43).bits(counter: 0) != r.bits(counter: 0))
        #expect(r.bits(stream: 1, counter: 0) != r.bits(stream: 0, counter: 0))
    }

    @Test("uniform and normal draws have the right moments (n = 200000, 5 standard errors)")
    func moments() {
        let r = CounterRNG(seed: 7)
        let n = 200_000
        let u = (0..<n).map { r.uniform(counter: UInt64($0)) }
        let um = u.reduce(0, +) / Double(n)
        #expect(abs(um - 0.5) < 5 * (1.0 / 12).squareRoot() / Double(n).squareRoot())
        #expect(u.allSatisfy { $0 >= 0 && $0 < 1 })
        let g = (0..<n).map { r.normal(stream: 5, counter: UInt64($0)) }
        let gm = g.reduce(0, +) / Double(n)
        let gv = g.map { ($0 - gm) * ($0 - gm) }.reduce(0, +) / Double(n)
        #expect(abs(gm) < 5 / Double(n).squareRoot())
        #expect(abs(gv - 1) < 5 * (2.0 / Double(n)).squareRoot())
    }
}

@Suite("x↔z transposition")
struct TransposeTests {
    @Test("swappingXZ puts voxel (z, y, x) at (x, y, z) for every dtype, and twice is the identity")
    func swap() {
        let shape = Extent3(x: 5, y: 3, z: 4)
        let v = Volume(shape: shape, values: (0..<shape.count).map { Int16($0 * 7 - 30) })
        let t = v.swappingXZ()
        #expect(t.shape == Extent3(x: 4, y: 3, z: 5) && t.dtype == .int16)
        for z in 0..<shape.z {
            for y in 0..<shape.y {
                for x in 0..<shape.x {
                    #expect(t.value(x: z, y: y, z: x) == v.value(x: x, y: y, z: z))
                }
            }
        }
        #expect(t.swappingXZ() == v)
        let f = Volume(shape: shape, values: (0..<shape.count).map { Float($0) / 3 })
        #expect(f.swappingXZ().swappingXZ() == f)
        let box = Box3(x: 1..<3, y: 0..<2, z: 2..<4)
        #expect(box.swappingXZ == Box3(x: 2..<4, y: 0..<2, z: 1..<3))
        #expect(v.extracting(box).swappingXZ() == t.extracting(box.swappingXZ))
    }
}

@Suite("Output paths")
struct OutputPathTests {
    @Test("outputs replace only new paths and regular files, never a directory, FIFO, link, device or store file")
    func checkOutput() throws {
        let dir = NSTemporaryDirectory() + "output-paths-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir + "/sub", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try PosixFile.checkOutput(dir + "/new.mrc")
        FileManager.default.createFile(atPath: dir + "/old.mrc", contents: Data([1]))
        try PosixFile.checkOutput(dir + "/old.mrc")
        #expect(mkfifo(dir + "/fifo", 0o644) == 0)
        try FileManager.default.createSymbolicLink(atPath: dir + "/link", withDestinationPath: dir + "/old.mrc")
        for bad in [dir + "/sub", dir + "/fifo", dir + "/link", "/dev/null"] {
            #expect(throws: FileError.self, "\(bad)") { try PosixFile.checkOutput(bad) }
        }
        FileManager.default.createFile(atPath: dir + "/sub/data.mdb", contents: Data())
        #expect(throws: FileError.self) { try PosixFile.checkOutput(dir + "/sub/data.mdb") }
        #expect(throws: FileError.self) { try PosixFile.checkOutput(dir + "/sub/out.mrc") }
        #expect(throws: FileError.self, "a rename onto a FIFO is refused too") {
            try PosixFile.rename(dir + "/old.mrc", to: dir + "/fifo")
        }
        #expect(FileManager.default.fileExists(atPath: dir + "/old.mrc"))
    }
}
