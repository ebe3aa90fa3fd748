import Catalog
import Store
import TestSupport
import Testing
import Voxels

@Suite("Catalog: what datasets mean, kept in catalog extensions")
struct CatalogTests {
    @Test("kind, classes, MRC source and derivation round-trip through the store; unknown keys are kept")
    func extensionsRoundTrip() throws {
        let store = try TemporaryStore.inMemory()
        var spec = Store.NewDataset(name: "l", kind: .labels, dtype: .uint8, shape: Extent3(x: 4, y: 4, z: 4))
        spec.classes = ["1": "ribosome"]
        var mrc = MRCSourceInfo()
        mrc.mode = 6
        mrc.cellA = [0.1, 2.5, 40]
        spec.mrc = mrc
        spec.extensions["future_field"] = .object(["x": .number(1)])
        let ds = try store.createDataset(spec)
        try ds.updateInfo { $0.classVoxels = ["0": 60, "1": 4] }
        let info = try store.info(named: "l")
        #expect(info.kind == .labels && info.classes == ["1": "ribosome"] && info.classVoxels == ["0": 60, "1": 4])
        #expect(info.mrc == mrc, "Float fields survive the JSON round trip exactly")
        #expect(info.extensions["future_field"] == .object(["x": .number(1)]), "a key this version does not know")
        #expect(Catalog.problems(info).isEmpty)
        #expect(info.derivation == nil && info.contentDigest == "\(info.id)-\(info.created)")
    }

    @Test("an extension that does not decode is reported, not silently read as something else")
    func problemsReported() throws {
        let store = try TemporaryStore.inMemory()
        var spec = Store.NewDataset(name: "t", dtype: .float32, shape: Extent3(x: 2, y: 2, z: 2))
        spec.extensions["kind"] = .string("hologram")
        spec.extensions["mrc"] = .string("not an object")
        let info = try store.createDataset(spec).info
        let problems = Catalog.problems(info)
        #expect(problems.count == 2, "\(problems)")
        #expect(throws: StoreError.self) { try info.decodeExtension("mrc", as: MRCSourceInfo.self) }
    }

    @Test("tilt ranges parse MIN:MAX[:STEP] within ±90° and are read from attributes; several must agree")
    func tiltRanges() throws {
        #expect(TiltRange(parsing: "-60:60") == TiltRange(min: -60, max: 60))
        #expect(TiltRange(parsing: "-50:65:3") == TiltRange(min: -50, max: 65))
        for bad in ["60:-60", "-91:60", "a:b", "60", "1:2:3:4", "0:0"] {
            #expect(TiltRange(parsing: bad) == nil, "\(bad)")
        }
        let a: [String: JSONValue] = ["tilt_min": .number(-50), "tilt_max": .string("60")]
        #expect(TiltRange(attributes: a) == TiltRange(min: -50, max: 60))
        #expect(try TiltRange.recorded(in: [a, a, [:]]) == TiltRange(min: -50, max: 60))
        #expect(try TiltRange.recorded(in: [[:]]) == .standard)
        #expect(throws: CatalogError.self) {
            try TiltRange.recorded(in: [a, ["tilt_min": .number(-40), "tilt_max": .number(40)]])
        }
        #expect(TiltRange(min: -60.5, max: 60).text == "-60.5:60")
    }

    @Test("the model registry keeps bytes by digest and names pointing at digests")
    func modelRegistry() throws {
        let registry = ModelRegistry(store: try TemporaryStore.inMemory())
        try registry.put(digest: "abc", [1, 2, 3], name: "m1")
        try registry.put(digest: "def", [4], name: "m1")
        try registry.put(digest: "0a1", [5])
        #expect(try registry.digest(named: "m1") == "def", "a later model of the same name replaces the pointer")
        #expect(try registry.bytes(digest: "abc") == [1, 2, 3], "older bytes stay under their digest")
        #expect(try registry.names().map(\.name) == ["m1"])
        for bad in ["", "default", "a/b", String(repeating: "x", count: 201)] {
            #expect(throws: CatalogError.self) { try ModelRegistry.validate(name: bad) }
        }
    }
}
