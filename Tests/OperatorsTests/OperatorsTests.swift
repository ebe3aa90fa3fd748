import Catalog
import DUAL
import Engine
import Foundation
import Imaging
import KV
import Segmentation
import Store
import TestSupport
import Testing
import Voxels

@testable import Operators

func temporaryStore() throws -> Store { try TemporaryStore.make("operators") }

/// Defines a derived dataset in `store` with the standard operators.
@discardableResult
func define(
    _ store: Store, _ name: String, op: String, inputs: [String], params: [String: JSONValue]
) throws -> DerivedDataset {
    try Workspace(store: store).define(name: name, op: op, inputs: inputs, params: params)
}

/// The filter named `op` built from `params`.
func filter(_ op: String, _ params: [String: JSONValue]) throws -> any VolumeFilter {
    let type = try #require(try OperatorRegistry.standard.definition(named: op) as? any VolumeFilter.Type)
    return try type.init(parameters: params)
}

/// The prepared operator `op` with `params` (network operators load their model from `store`).
func prepared(_ op: String, _ params: [String: JSONValue], store: Store) throws -> any PreparedOperator {
    try OperatorRegistry.standard.definition(named: op).prepare(
        parameters: params, context: OperatorContext(store: store))
}

func input(_ store: Store, shape: Extent3, chunk: Extent3, seed: UInt64 = 1, name: String = "t") throws -> Volume {
    let rng = CounterRNG(seed: seed)
    let v = Volume(shape: shape, values: (0..<shape.count).map { Float(rng.normal(counter: UInt64($0))) })
    var spec = Store.NewDataset(name: name, kind: .tomogram, dtype: .float32, shape: shape)
    spec.chunk = chunk
    spec.voxelSize = [10, 10, 10]
    try store.createDataset(spec).write(v, at: Extent3(x: 0, y: 0, z: 0))
    return v
}

/// A tiny DUAL model (base 2, 16³ patches) from `seed`, stored in `store`'s model registry.
func storedTinyModel(_ store: Store, seed: UInt64) throws -> DUALModel {
    var c = DUALConfig()
    (c.base, c.patch, c.codeLength, c.discriminatorBase) = (2, 16, 2, 2)
    let model = DUALModel(config: c, seed: seed)
    let path = NSTemporaryDirectory() + "tomostore-model-\(getpid())-\(seed).safetensors"
    try ModelRegistry(store: store).put(digest: model.digest, try DUALModelFile.save(model, to: path))
    return model
}

func maxDifference(_ a: Volume, _ b: Volume) -> Double {
    zip(a.values(as: Float.self), b.values(as: Float.self)).reduce(0) { max($0, Double(abs($1.0 - $1.1))) }
}

@Suite("Lazy operators")
struct OperatorsTests {
    static let cases: [(String, [String: JSONValue])] = [
        ("gaussian", ["sigma": .number(1.5)]), ("dog", ["sigma": .number(1)]),
        ("nad", ["kappa": .number(1), "iterations": .number(3)]),
        ("bandpass", ["low": .number(0.05), "high": .number(0.3)]),
        ("wedge-mask", ["tilt_min": .number(-50), "tilt_max": .number(60)]), ("ctf", ["defocus": .number(2)]),
    ]

    @Test("every operator: boxes in any order equal the whole-volume definition, and only touched chunks are computed")
    func chunkInvariance() throws {
        for (op, params) in Self.cases {
            let store = try temporaryStore()
            let shape = Extent3(x: 37, y: 29, z: 21)
            let chunk = Extent3(x: 16, y: 16, z: 8)
            let v = try input(store, shape: shape, chunk: chunk)
            let d = try define(store, "d", op: op, inputs: ["t"], params: params)
            #expect(try d.storedChunkCount() == 0)
            let reference = try filter(op, params).compute([v], voxelSize: 10)
            let box = Box3(x: 10..<20, y: 3..<9, z: 2..<6)
            #expect(maxDifference(try d.read(box), reference.extracting(box)) < 1e-4, "\(op) first box")
            let local = try filter(op, params).halo != nil
            if local { #expect(try d.storedChunkCount() == 2, "\(op): only the 2 touched chunks") }
            let rng = CounterRNG(seed: 4)
            for i in 0..<10 {
                func r(_ a: UInt64, _ n: Int) -> Range<Int> {
                    let lo = Int(rng.uniform(stream: a, counter: UInt64(i)) * Double(n - 1))
                    return lo..<min(n, lo + 1 + Int(rng.uniform(stream: a + 5, counter: UInt64(i)) * Double(n - lo)))
                }
                let b = Box3(x: r(1, shape.x), y: r(2, shape.y), z: r(3, shape.z))
                #expect(maxDifference(try d.read(b), reference.extracting(b)) < 1e-4, "\(op) box \(b)")
            }
            let whole = try d.read(Box3(shape: shape))
            let fresh = try Workspace(path: store.path).open("d").read(Box3(shape: shape))
            #expect(whole == fresh, "\(op): a second reader sees the same bytes")
        }
    }

    @Test("chains: gaussian(dog(t)) equals the composition of the definitions")
    func chain() throws {
        let store = try temporaryStore()
        let shape = Extent3(x: 30, y: 26, z: 18)
        let v = try input(store, shape: shape, chunk: Extent3(x: 8, y: 8, z: 8))
        try define(store, "a", op: "dog", inputs: ["t"], params: ["sigma": .number(1)])
        let b = try define(store, "b", op: "gaussian", inputs: ["a"], params: ["sigma": .number(1.2)])
        let reference = GaussianFilter.apply(
            GaussianFilter.differenceOfGaussians(v, sigma1: 1, sigma2: 1.1), sigma: 1.2)
        let box = Box3(x: 5..<25, y: 0..<13, z: 7..<18)
        #expect(maxDifference(try b.read(box), reference.extracting(box)) < 1e-4)
        #expect(maxDifference(try b.read(Box3(shape: shape)), reference) < 1e-4)

        // Replacing the input makes the whole chain stale: b is recomputed from the recomputed a.
        try store.remove(named: "t")
        let w = try input(store, shape: shape, chunk: Extent3(x: 8, y: 8, z: 8), seed: 21)
        let again = try Workspace(store: store).open("b").read(Box3(shape: shape))
        let expected = GaussianFilter.apply(GaussianFilter.differenceOfGaussians(w, sigma1: 1, sigma2: 1.1), sigma: 1.2)
        #expect(maxDifference(again, expected) < 1e-4)
    }

    @Test("changing the input drops stale chunks; a redefinition with other parameters gets another digest")
    func invalidation() throws {
        let store = try temporaryStore()
        let shape = Extent3(x: 20, y: 20, z: 10)
        _ = try input(store, shape: shape, chunk: Extent3(x: 10, y: 10, z: 10))
        let d = try define(store, "g", op: "gaussian", inputs: ["t"], params: ["sigma": .number(1)])
        let first = try d.read(Box3(shape: shape))
        try store.remove(named: "t")
        let replaced = try input(store, shape: shape, chunk: Extent3(x: 10, y: 10, z: 10), seed: 9)
        let again = try Workspace(path: store.path).open("g").read(Box3(shape: shape))
        #expect(again != first)
        #expect(maxDifference(again, GaussianFilter.apply(replaced, sigma: 1)) < 1e-4)
        let other = try define(store, "g2", op: "gaussian", inputs: ["t"], params: ["sigma": .number(2)])
        #expect(other.info.derivation?.digest != (try store.info(named: "g")).derivation?.digest)
        #expect(throws: OperatorError.self) {
            try define(store, "x", op: "gaussian", inputs: ["t"], params: ["sigma": .number(-1)])
        }
        #expect(throws: OperatorError.self) { try define(store, "x", op: "denoise", inputs: ["t"], params: [:]) }
        #expect(throws: StoreError.self) {
            try define(store, "x", op: "gaussian", inputs: ["nope"], params: ["sigma": .number(1)])
        }
    }

    @Test("a stale view deletes nothing when opened, replaces stale chunks at first commit; a raced one writes nothing")
    func staleViews() throws {
        let store = try temporaryStore()
        let shape = Extent3(x: 20, y: 20, z: 10)
        _ = try input(store, shape: shape, chunk: Extent3(x: 10, y: 10, z: 10))
        try define(store, "g", op: "gaussian", inputs: ["t"], params: ["sigma": .number(1)]).materialize(
            Box3(shape: shape))
        try store.remove(named: "t")
        let replaced = try input(store, shape: shape, chunk: Extent3(x: 10, y: 10, z: 10), seed: 9)
        let view = try Workspace(store: store).derived("g")
        #expect(try view.isStale && view.storedChunkCount() == 0)
        #expect(try store.dataset(named: "g").storageSummary().storedChunks == 4, "opening deleted nothing")
        let box = Box3(x: 0..<10, y: 0..<10, z: 0..<10)
        #expect(maxDifference(try view.read(box), GaussianFilter.apply(replaced, sigma: 1).extracting(box)) < 1e-4)
        #expect(try store.dataset(named: "g").storageSummary().storedChunks == 1, "stale chunks replaced at commit")
        #expect(try !view.isStale && view.storedChunkCount() == 1)

        // A view prepared for one input, whose input is replaced before it commits: nothing is written.
        let old = try Workspace(store: store).derived("g")
        try store.remove(named: "t")
        _ = try input(store, shape: shape, chunk: Extent3(x: 10, y: 10, z: 10), seed: 11)
        #expect(throws: StoreError.self) { try old.read(Box3(x: 10..<20, y: 0..<10, z: 0..<10)) }
        #expect(try store.dataset(named: "g").storageSummary().storedChunks == 1)
    }

    @Test("materialization in batches can stop anywhere and continue; gc removes what no dataset uses")
    func resumeAndGC() throws {
        let store = try temporaryStore()
        let shape = Extent3(x: 40, y: 40, z: 20)
        let v = try input(store, shape: shape, chunk: Extent3(x: 10, y: 10, z: 10))
        let d = try define(store, "g", op: "gaussian", inputs: ["t"], params: ["sigma": .number(1)])
        try d.materialize(Box3(x: 0..<20, y: 0..<40, z: 0..<20))  // half, as if interrupted after it
        #expect(try d.storedChunkCount() == 16)
        try d.materialize(Box3(shape: shape))
        #expect(try d.storedChunkCount() == 32)
        #expect(maxDifference(try d.read(Box3(shape: shape)), GaussianFilter.apply(v, sigma: 1)) < 1e-4)
        #expect(try store.verify().ok)
        try store.kv.write { txn in
            try txn.put(.chunks, ChunkKey(dataset: 77, index: Extent3(x: 0, y: 0, z: 0)).bytes, [1])
        }
        #expect(try Workspace(store: store).collectGarbage() == 1)
        #expect(try store.verify().ok)
    }
}

/// The mean power per spectral bin of a volume's components where `inside(kx, ky, kz)` holds
/// (Parseval: the energy of the volume filtered to them, over their share of all bins).
func powerDensity(_ v: Volume, _ inside: @escaping (Double, Double, Double) -> Bool) -> Double {
    let s = v.shape
    let wc = s.x / 2 + 1
    let mask = { (kx: Double, ky: Double, kz: Double) -> Double in inside(kx, ky, kz) ? 1 : 0 }
    let share =
        FourierFilter.halfSpectrum(s, mask: mask).enumerated()
        .reduce(0.0) { $0 + Double($1.element) * ($1.offset % wc == 0 || 2 * ($1.offset % wc) == s.x ? 1 : 2) }
        / Double(s.count)
    return FourierFilter.apply(v, mask: mask).values(as: Float.self).reduce(0.0) { $0 + Double($1 * $1) } / share
}

@Suite("Missing-wedge compensation")
struct CompensateTests {
    @Test("the merge keeps the observed components and takes the wedge's from the translation (hard edge: exactly)")
    func merge() {
        let p = 16
        let shape = Extent3(x: p, y: p, z: p)
        let wedge = MissingWedge(minDegrees: -55, maxDegrees: 60)
        let rng = CounterRNG(seed: 12)
        func random(_ stream: UInt64) -> [Float] {
            (0..<(2 * shape.count)).map { Float(rng.normal(stream: stream, counter: UInt64($0))) }
        }
        let observed = Tensor(shape: [2, 1, p, p, p], values: random(1))
        let translated = Tensor(shape: [2, 1, p, p, p], values: random(2))
        let out = WedgeFill(tile: p, wedge: wedge, transition: 0).merge(
            observed: observed, translated: translated, matchGain: false)
        for b in 0..<2 {
            func tile(_ t: [Float]) -> Volume {
                Volume(shape: shape, values: Array(t[(b * shape.count)..<((b + 1) * shape.count)]))
            }
            let (o, g, c) = (tile(observed.scalars), tile(translated.scalars), tile(out.scalars))
            #expect(maxDifference(wedge.apply(to: c), wedge.apply(to: o)) < 1e-4, "observed components kept")
            let inWedge = { (v: Volume) in
                Volume(
                    shape: shape,
                    values: zip(v.values(as: Float.self), wedge.apply(to: v).values(as: Float.self)).map { $0 - $1 })
            }
            #expect(maxDifference(inWedge(c), inWedge(g)) < 1e-4, "wedge components from the translation")
        }
        // A translation equal to the input changes nothing, whatever the transition.
        let same = WedgeFill(tile: p, wedge: wedge, transition: 8).merge(
            observed: observed, translated: observed, matchGain: false)
        #expect(zip(same.scalars, observed.scalars).allSatisfy { abs($0 - $1) < 1e-5 })
        // With the gain matched, a translation at a tenth of the amplitude fills the wedge of white
        // noise with the measured components' power density (Parseval: energy / share of bins).
        let tenth = Tensor(shape: observed.shape, values: translated.scalars.map { $0 / 10 })
        func first(_ t: Tensor) -> Volume { Volume(shape: shape, values: Array(t.scalars[0..<shape.count])) }
        let inWedge = { (kx: Double, ky: Double, kz: Double) in !wedge.contains(kx: kx, ky: ky, kz: kz) }
        let measured = { (kx: Double, ky: Double, kz: Double) in
            wedge.contains(kx: kx, ky: ky, kz: kz) && (kx, ky, kz) != (0, 0, 0)
        }
        let matched = WedgeFill(tile: p, wedge: wedge, transition: 0).merge(
            observed: observed, translated: tenth, matchGain: true)
        let ratio = powerDensity(first(matched), inWedge) / powerDensity(first(observed), measured)
        #expect(ratio > 0.8 && ratio < 1.25, "matched wedge / measured power density \(ratio)")
        let unmatched = WedgeFill(tile: p, wedge: wedge, transition: 0).merge(
            observed: observed, translated: tenth, matchGain: false)
        let low = powerDensity(first(unmatched), inWedge) / powerDensity(first(observed), measured)
        #expect(low > 0.005 && low < 0.02, "a tenth of the amplitude is a hundredth of the power: \(low)")
    }

    @Test("matched gains equalize a translation that is three times stronger near the wedge's edges than deep inside")
    func equalization() {
        let p = 32
        let shape = Extent3(x: p, y: p, z: p)
        let wedge = MissingWedge(minDegrees: -60, maxDegrees: 60)
        let rng = CounterRNG(seed: 13)
        let observed = Volume(
            shape: shape, values: (0..<shape.count).map { Float(rng.normal(stream: 1, counter: UInt64($0))) })
        let noise = Volume(
            shape: shape, values: (0..<shape.count).map { Float(rng.normal(stream: 2, counter: UInt64($0))) })
        let uneven = FourierFilter.apply(noise) { kx, _, kz in wedge.degreesIntoWedge(kx: kx, kz: kz) < 12 ? 3 : 1 }
        let tensor = { (v: Volume) in Tensor(shape: [1, 1, p, p, p], values: v.values(as: Float.self)) }
        let out = WedgeFill(tile: p, wedge: wedge, transition: 0).merge(
            observed: tensor(observed), translated: tensor(uneven), matchGain: true)
        let v = Volume(shape: shape, values: out.scalars)
        func bandDensity(_ v: Volume, _ band: ClosedRange<Double>) -> Double {
            powerDensity(v) { kx, ky, kz in
                (kx, ky, kz) != (0, 0, 0) && band.contains(wedge.degreesIntoWedge(kx: kx, kz: kz))
            }
        }
        let reference = bandDensity(observed, -90...0)
        for band in [0.001...12.0, 12.001...90.0] {
            let ratio = bandDensity(v, band) / reference
            #expect(ratio > 0.6 && ratio < 1.6, "band \(band): filled / measured power density \(ratio)")
        }
        let raw = bandDensity(uneven, 0.001...12.0) / bandDensity(uneven, 12.001...90.0)
        #expect(raw > 5, "the translation itself is uneven (\(raw))")
    }

    @Test("lazy compensation: any box equals the whole volume's voxels; units of the input; parameters checked")
    func lazy() throws {
        let store = try temporaryStore()
        let shape = Extent3(x: 30, y: 20, z: 18)
        _ = try input(store, shape: shape, chunk: Extent3(x: 16, y: 8, z: 8))
        let model = try storedTinyModel(store, seed: 3)
        let params: [String: JSONValue] = [
            "model": .string(model.digest), "tile": .number(16), "tilt_min": .number(-50), "tilt_max": .number(60),
        ]
        let d = try define(store, "c", op: "compensate", inputs: ["t"], params: params)
        let t = try store.dataset(named: "t")
        let whole = try prepared("compensate", params, store: store).compute(
            Box3(shape: shape), inputs: [t], voxelSize: 10)
        for box in [Box3(x: 3..<17, y: 0..<20, z: 5..<6), Box3(x: 29..<30, y: 19..<20, z: 17..<18), Box3(shape: shape)]
        {
            #expect(try d.read(box) == whole.extracting(box), "\(box)")
        }
        #expect(
            VoxelStatistics.of(whole).rms > 0.1, "the output is in the input's units (unit-variance noise), not zero")
        var quarter = params
        quarter["overlap"] = .number(0.25)
        let q = try define(store, "q", op: "compensate", inputs: ["t"], params: quarter)
        let wholeQuarter = try prepared("compensate", quarter, store: store)
            .compute(Box3(shape: shape), inputs: [t], voxelSize: 10)
        for box in [Box3(x: 3..<17, y: 0..<20, z: 5..<6), Box3(x: 29..<30, y: 19..<20, z: 17..<18)] {
            #expect(try q.read(box) == wholeQuarter.extracting(box), "quarter overlap \(box)")
        }
        let bad: [[String: JSONValue]] = [
            ["overlap": .number(0.7)], ["tilt_min": .number(60), "tilt_max": .number(-60)], ["tile": .number(20)],
            ["beam": .string("z")], ["gain": .string("double")],
        ]
        for extra in bad {
            let p = extra.merging(["model": .string("x")]) { a, _ in a }
            #expect(throws: OperatorError.self, "\(extra)") { try CompensateOperator.validate(parameters: p) }
        }
        #expect(throws: OperatorError.self) {
            try DenoiseOperator.validate(parameters: ["model": .string("x"), "overlap": .number(0)])
        }
        #expect(throws: OperatorError.self, "a model that is not stored") {
            try prepared("denoise", ["model": .string("x")], store: store)
        }
        let big = try prepared("compensate", ["model": .string(model.digest), "tile": .number(64)], store: store)
        #expect(throws: OperatorError.self) { try big.compute(Box3(shape: shape), inputs: [t], voxelSize: 10) }
    }

    @Test("lazy denoise with inversion and resampling: any box equals the whole volume's voxels, bytes repeat")
    func adaptedDenoise() throws {
        let store = try temporaryStore()
        let shape = Extent3(x: 33, y: 26, z: 20)
        _ = try input(store, shape: shape, chunk: Extent3(x: 16, y: 8, z: 8))
        let model = try storedTinyModel(store, seed: 4)
        var params: [String: JSONValue] = ["model": .string(model.digest), "tile": .number(16)]
        let plain = try prepared("denoise", params, store: store)
        // The input's 13.5 Å brought to 10 Å and back, inverted.
        params.merge(NetworkInputAdaptation(invert: true, voxel: 13.5, workingVoxel: 10).parameters) { _, b in b }
        let d = try define(store, "d", op: "denoise", inputs: ["t"], params: params)
        let t = try store.dataset(named: "t")
        let whole = try prepared("denoise", params, store: store).compute(
            Box3(shape: shape), inputs: [t], voxelSize: 13.5)
        for box in [
            Box3(x: 3..<17, y: 0..<26, z: 5..<6), Box3(x: 32..<33, y: 25..<26, z: 19..<20),
            Box3(x: 9..<30, y: 4..<21, z: 2..<19),
        ] {
            #expect(try d.read(box) == whole.extracting(box), "\(box)")
        }
        #expect(try Workspace(path: store.path).open("d").read(Box3(shape: shape)) == whole, "a second reader")
        let unadapted = try plain.compute(Box3(shape: shape), inputs: [t], voxelSize: 13.5)
        #expect(maxDifference(whole, unadapted) > 1e-3, "inversion and resampling change the result")
        let footprint = try prepared("denoise", params, store: store).footprint
        if case .tiles(_, _, let ratio) = footprint {
            #expect(abs(ratio - 10 / 13.5) < 1e-9)
        } else {
            Issue.record("a resampled denoise has a tile footprint, not \(footprint)")
        }
    }

    @Test("lazy simulate with a calibrated model and a low-passed input: any box equals the whole volume's voxels")
    func calibratedSimulate() throws {
        let store = try temporaryStore()
        let shape = Extent3(x: 33, y: 26, z: 20)
        _ = try input(store, shape: shape, chunk: Extent3(x: 16, y: 8, z: 8))
        var c = DUALConfig()
        (c.base, c.patch, c.codeLength, c.discriminatorBase) = (2, 16, 2, 2)
        let model = DUALModel(config: c, seed: 6)
        let rng = CounterRNG(seed: 8)
        let tiles = (0..<4).map { k in (0..<4096).map { Float(rng.normal(stream: UInt64(k), counter: UInt64($0))) } }
        let noisy = tiles.map { t in t.indices.map { t[$0] + 0.5 * t[($0 + 1) % t.count] } }
        let t = try store.dataset(named: "t")
        // The two-pass calibration (simulation_calibration=snr) runs Gs a second time on its own noise field.
        let twoPass = try SimulationCalibration.fit(
            first: tiles, second: tiles.reversed(), noisy: noisy, denoised: tiles, edge: 16)
        var params: [String: JSONValue] = [:]
        var whole = Volume(shape: shape, values: [Float](repeating: 0, count: shape.count))
        for (k, calibration) in [twoPass, try SimulationCalibration.fit(simulated: tiles, noisy: noisy, edge: 16)]
            .enumerated()
        {
            model.simulationCalibration = calibration
            let path = NSTemporaryDirectory() + "tomostore-calibrated-\(getpid()).safetensors"
            defer { try? FileManager.default.removeItem(atPath: path) }
            try ModelRegistry(store: store).put(digest: model.digest, try DUALModelFile.save(model, to: path))
            params = ["model": .string(model.digest), "tile": .number(16), "seed": .number(3)]
            params.merge(
                NetworkInputAdaptation(invert: false, voxel: 13.5, workingVoxel: 10, resolution: 40).parameters
            ) { _, b in b }
            #expect(params["resolution"] == .number(40))
            let d = try define(store, "d\(k)", op: "simulate", inputs: ["t"], params: params)
            whole = try prepared("simulate", params, store: store).compute(
                Box3(shape: shape), inputs: [t], voxelSize: 13.5)
            for box in [Box3(x: 3..<17, y: 0..<26, z: 5..<6), Box3(x: 9..<30, y: 4..<21, z: 2..<19)] {
                #expect(try d.read(box) == whole.extracting(box), "\(box)")
            }
            let again = try prepared("simulate", params, store: store).compute(
                Box3(shape: shape), inputs: [t], voxelSize: 13.5)
            #expect(again == whole, "same model, input and seed → same voxels")
        }
        var sharp = params
        sharp["resolution"] = nil
        let unfiltered = try prepared("simulate", sharp, store: store).compute(
            Box3(shape: shape), inputs: [t], voxelSize: 13.5)
        #expect(maxDifference(whole, unfiltered) > 1e-3, "the low-pass changes the result")
        // A resolution without a voxel size to place it is refused.
        #expect(throws: OperatorError.self) {
            try prepared("simulate", ["model": .string(model.digest), "resolution": .number(40)], store: store)
        }
    }

    @Test("lazy segment: uint8 and float32 probabilities and labels; any box equals the whole volume's voxels")
    func segment() throws {
        let store = try temporaryStore()
        let shape = Extent3(x: 30, y: 21, z: 18)
        _ = try input(store, shape: shape, chunk: Extent3(x: 16, y: 8, z: 8))
        var config = SegmenterConfig(classes: ["background", "membrane", "particle"])
        (config.base, config.depth, config.classWeights) = (2, 2, [1, 1, 1])
        let model = Segmenter(config: config, seed: 9)
        try ModelRegistry(store: store).put(digest: model.digest, try SegmenterFile.encode(model))
        let t = try store.dataset(named: "t")
        var base: [String: JSONValue] = ["model": .string(model.digest), "tile": .number(16), "overlap": .number(0.25)]
        base.merge(NetworkInputAdaptation(invert: true, voxel: 13.5, workingVoxel: 10).parameters) { _, b in b }
        var probabilities: [Volume] = []
        for c in 1...2 {
            let params = base.merging(["class": .number(Double(c))]) { a, _ in a }
            let d = try define(store, "s/\(config.classes[c])", op: "segment", inputs: ["t"], params: params)
            #expect(d.info.dtype == .uint8)
            let whole = try prepared("segment", params, store: store).compute(
                Box3(shape: shape), inputs: [t], voxelSize: 13.5)
            for box in [Box3(x: 3..<17, y: 0..<21, z: 5..<6), Box3(x: 29..<30, y: 20..<21, z: 17..<18)] {
                #expect(try d.read(box) == whole.converted(to: .uint8).extracting(box), "\(box)")
            }
            probabilities.append(whole)
        }
        let labelParams = base.merging(["output": .string("labels")]) { a, _ in a }
        let labels = try define(store, "s/labels", op: "segment", inputs: ["t"], params: labelParams)
        #expect(labels.info.classes == ["0": "background", "1": "membrane", "2": "particle"])
        let l = try labels.read(Box3(shape: shape)).values(as: UInt8.self)
        let (p1, p2) = (probabilities[0].values(as: Float.self), probabilities[1].values(as: Float.self))
        // The label is the most probable class: its probability (background's is 255 − the others')
        // is the largest, within the rounding of the stored uint8 probabilities.
        for i in l.indices {
            let p = [255 - p1[i] - p2[i], p1[i], p2[i]]
            #expect(l[i] <= 2 && p[Int(min(l[i], 2))] >= p.max()! - 2, "voxel \(i): \(p) → \(l[i])")
        }
        #expect(probabilities.allSatisfy { $0.values(as: Float.self).allSatisfy { $0 >= 0 && $0 <= 255 } })
        // dtype float32: the probability itself, chunk-invariant; rounded ×255 it is the uint8 dataset.
        let exact = base.merging(["class": .number(1), "dtype": .string("float32")]) { a, _ in a }
        let f = try define(store, "s/membrane-float", op: "segment", inputs: ["t"], params: exact)
        #expect(f.info.dtype == .float32)
        let fw = try f.read(Box3(shape: shape))
        #expect(try f.read(Box3(x: 3..<17, y: 0..<21, z: 5..<6)) == fw.extracting(Box3(x: 3..<17, y: 0..<21, z: 5..<6)))
        #expect(fw.values(as: Float.self).map { (255 * $0).rounded() } == p1)
        #expect(fw.values(as: Float.self).contains { $0 * 255 != ($0 * 255).rounded() }, "not quantized")
        #expect(throws: OperatorError.self) {
            try SegmentOperator.validate(
                parameters: base.merging(["class": .number(1), "dtype": .string("f16")]) { a, _ in a })
        }
        #expect(throws: OperatorError.self) {
            try SegmentOperator.validate(parameters: labelParams.merging(["dtype": .string("float32")]) { a, _ in a })
        }
        #expect(throws: OperatorError.self) {
            try prepared("segment", base.merging(["class": .number(3)]) { a, _ in a }, store: store)
        }
        #expect(throws: OperatorError.self) {
            try SegmentOperator.validate(parameters: labelParams.merging(["class": .number(1)]) { a, _ in a })
        }
        #expect(throws: (any Error).self, "a DUAL model is no segmenter") {
            let dual = try storedTinyModel(store, seed: 2)
            _ = try prepared("segment", ["model": .string(dual.digest), "class": .number(1)], store: store)
        }
    }

    @Test("the working voxel size: the model's, limited by the input's noise grain and by 1.5× upsampling")
    func workingVoxel() {
        let shipped = ModelDomain(metadata: [:])
        #expect(shipped.voxelSize == 10 && shipped.noiseGrain == ModelDomain.syntheticGrain)
        let cases: [(voxel: Double, grain: Double, working: Double)] = [
            (13.5, 0.37, 10), (20, 0.37, 20 / 1.5), (40, 0.27, 40 * 0.36 / 0.54), (40, 0.1, 40), (10.3, 0.37, 10.3),
            (8, 0.37, 10), (10, 0.2, 10),
        ]
        for c in cases {
            let w = shipped.workingVoxel(inputVoxel: c.voxel, grain: c.grain)
            #expect(abs(w - c.working) < 1e-9, "\(c.voxel) Å, grain \(c.grain): \(w)")
        }
    }
}
