import Catalog
import DUAL
import Foundation
import Imaging
import Operators
import Store
import Testing
import Voxels

/// A copy of `Tests/Fixtures/v1.store` (written by TomoStore 1's `tools/make_fixture.py`) in a
/// temporary directory, opened with the operators composed in.
private func fixtureStore() throws -> Store {
    let source = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/v1.store/data.mdb").path
    let dir = NSTemporaryDirectory() + "tomostore-fixture-\(getpid())-\(UUID().uuidString.prefix(8))"
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    try FileManager.default.copyItem(atPath: source, toPath: dir + "/data.mdb")
    return try Store(path: dir)
}

/// The fixture's tomogram by its defining formula ([z][y][x], 40×36×28 voxels; make_fixture.py).
private func fixtureTomogram() -> [Float] {
    var out: [Float] = []
    for z in 0..<28 {
        for y in 0..<36 {
            for x in 0..<40 {
                let v = sin(0.3 * Double(x)) + 0.5 * cos(0.2 * Double(y)) + 0.01 * Double(z * x) - 0.25
                out.append(Float(v))
            }
        }
    }
    return out
}

/// The fixture's label volume by its formula: 1 in a sphere of radius 9 at (20, 18, 14), 2 where x < 5.
private func fixtureLabel(x: Int, y: Int, z: Int) -> Float {
    if x < 5 { return 2 }
    let d = (x - 20) * (x - 20) + (y - 18) * (y - 18) + (z - 14) * (z - 14)
    return d < 81 ? 1 : 0
}

@Suite("Stores written by format version 1")
struct FormatFixtureTests {
    @Test("the version-1 fixture opens, verifies and reads the voxels its formulas define")
    func readsVersionOneStore() throws {
        let store = try fixtureStore()
        let workspace = Workspace(store: store)
        #expect(try store.verify().ok)
        #expect(try store.datasets().map(\.name) == ["t1", "lab", "raw", "t1/g", "t1/den"])
        let shape = Extent3(x: 40, y: 36, z: 28)
        let expected = fixtureTomogram()

        // zstd:3 with byte shuffle, and raw: the same float32 voxels (formula in float64, rounded once).
        for name in ["t1", "raw"] {
            let ds = try store.dataset(named: name)
            #expect(ds.shape == shape && ds.dtype == .float32 && ds.info.voxelSize == [12.5, 12.5, 12.5])
            let values = try ds.read(Box3(shape: shape)).values(as: Float.self)
            let worst = zip(values, expected).map { abs($0 - $1) }.max() ?? 1
            #expect(worst <= 2e-6, "\(name): max |stored − formula| \(worst)")
            let box = Box3(x: 3..<37, y: 5..<6, z: 11..<27)
            #expect(try ds.read(box, cached: false) == ds.read(Box3(shape: shape)).extracting(box))
        }
        #expect(
            try store.dataset(named: "t1").read(Box3(shape: shape))
                == store.dataset(named: "raw").read(Box3(shape: shape)))
        let t1 = try store.info(named: "t1")
        #expect(t1.codec == "zstd:3" && t1.shuffle && t1.levels == 2 && t1.kind == .tomogram)
        #expect(t1.attributes["tilt_min"] == .number(-60) && t1.attributes["tilt_max"] == .number(60))
        #expect(t1.mrc?.mode == 2 && t1.mrc?.fileShape == [40, 36, 28] && t1.mrc?.axisOrder == [1, 2, 3])
        #expect(try store.info(named: "raw").codec == "raw")

        // Level 1: the 2×2×2 mean of level 0 (shape rounded up).
        let level0 = Volume(shape: shape, values: expected)
        let level1 = try store.dataset(named: "t1").atLevel(1).read(Box3(shape: Extent3(x: 20, y: 18, z: 14)))
        let reduced = level0.downsampledByTwo(labels: false)
        let worstLevel =
            zip(level1.values(as: Float.self), reduced.values(as: Float.self)).map { abs($0 - $1) }.max() ?? 1
        #expect(worstLevel <= 2e-6)

        // Labels: exact, with the class table given at ingest.
        let lab = try store.dataset(named: "lab")
        #expect(lab.info.kind == .labels && lab.info.classes?["1"] == "sphere" && lab.info.classes?["2"] == "slab")
        let labels = try lab.read(Box3(shape: shape)).converted(to: .float32)
        var mismatches = 0
        labels.withUnsafeValues(as: Float.self) { v in
            for z in 0..<28 {
                for y in 0..<36 {
                    for x in 0..<40 where v[(z * 36 + y) * 40 + x] != fixtureLabel(x: x, y: y, z: z) {
                        mismatches += 1
                    }
                }
            }
        }
        #expect(mismatches == 0)

        // A derived dataset with one materialized chunk: that chunk and the rest (computed now) both
        // equal the Gaussian of the formula volume.
        let g = try workspace.derived("t1/g")
        #expect(try !g.isStale && g.storedChunkCount() == 1)
        #expect(g.info.derivation?.op == "gaussian" && g.info.derivation?.params["sigma"] == .number(1))
        let reference = GaussianFilter.apply(level0, sigma: 1)
        let gaussian = try g.read(Box3(shape: shape))
        let worstGaussian = zip(gaussian.values(as: Float.self), reference.values(as: Float.self)).map { abs($0 - $1) }
            .max()
        #expect((worstGaussian ?? 1) <= 1e-5)

        // The denoise definition names the model shipped when the fixture was written (run 8,
        // docs/dual-runs.md), whose bytes the store holds under its digest: it still loads, whatever
        // model ships now.
        let den = try store.info(named: "t1/den")
        let digest = try #require(den.derivation?.modelDigest)
        #expect(digest == "1a3526a582eeff44")
        let bytes = try #require(try ModelRegistry(store: store).bytes(digest: digest))
        #expect(try DUALModelFile.load(bytes: bytes, source: "fixture").digest == digest)
    }
}
