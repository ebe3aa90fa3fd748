import Engine
import Foundation
import TestSupport
import Testing
import Voxels

@testable import DUAL

/// Cubic tiles of unit normal noise, [z][y][x].
func noiseTiles(count: Int, edge: Int, seed: UInt64) -> [[Float]] {
    (0..<count).map { noiseVolume(Extent3(x: edge, y: edge, z: edge), seed: seed &+ UInt64($0)).values(as: Float.self) }
}

/// Mean power per |k| shell (width 1/16 cycle/voxel, shells 1–7) of tiles, computed with a direct DFT along each
/// axis in Float64 (independent of FFTW and of the calibration's bins), normalized to mean 1.
func shellPower(_ tiles: [[Float]], edge n: Int) -> [Double] {
    var power = [Double](repeating: 0, count: 8)
    var count = [Double](repeating: 0, count: 8)
    let angle = (0..<n).map { k in (0..<n).map { j in -2 * Double.pi * Double(k * j) / Double(n) } }
    let (cosine, sine) = (angle.map { $0.map(cos) }, angle.map { $0.map(sin) })
    for tile in tiles {
        // Separable DFT: x, then y, then z, on complex Float64 values.
        var re = tile.map(Double.init)
        var im = [Double](repeating: 0, count: re.count)
        for axis in 0..<3 {
            let stride = [n * n, n, 1][2 - axis]  // x: 1, y: n, z: n²
            var (nr, ni) = (re, im)
            for base in 0..<(n * n * n) where (base / stride) % n == 0 {
                for k in 0..<n {
                    var (sr, si) = (0.0, 0.0)
                    for j in 0..<n {
                        let (c, s) = (cosine[k][j], sine[k][j])
                        let (a, b) = (re[base + j * stride], im[base + j * stride])
                        sr += a * c - b * s
                        si += a * s + b * c
                    }
                    (nr[base + k * stride], ni[base + k * stride]) = (sr, si)
                }
            }
            (re, im) = (nr, ni)
        }
        for z in 0..<n {
            for y in 0..<n {
                for x in 0..<n {
                    let f = { (i: Int) in Double(min(i, n - i)) / Double(n) }
                    let k = (f(z) * f(z) + f(y) * f(y) + f(x) * f(x)).squareRoot()
                    let shell = Int(k * 16)
                    guard shell >= 1 && shell < 8 else { continue }
                    let i = (z * n + y) * n + x
                    power[shell] += re[i] * re[i] + im[i] * im[i]
                    count[shell] += 1
                }
            }
        }
    }
    let mean = zip(power, count).dropFirst().map { $0 / $1 }
    let level = mean.reduce(0, +) / Double(mean.count)
    return mean.map { $0 / level }
}

@Suite("Simulation calibration")
struct SimulationCalibrationTests {
    /// Noise low-passed, then with its positive part squared for a skewed histogram: a
    /// "real" domain whose spectrum falls and whose values are not normal.
    static func colouredTiles(count: Int, edge: Int, seed: UInt64) -> [[Float]] {
        noiseTiles(count: count, edge: edge, seed: seed).map { tile in
            // (¼, ½, ¼) along each axis, periodic, plus a fifth of the white noise: the power falls
            // about 20-fold from the lowest shell to ½ cycle/voxel.
            var v = tile
            for stride in [1, edge, edge * edge] {
                let u = v
                for i in v.indices {
                    let j = (i / stride) % edge
                    let (lo, hi) = (i + ((j + edge - 1) % edge - j) * stride, i + ((j + 1) % edge - j) * stride)
                    v[i] = 0.25 * u[lo] + 0.5 * u[i] + 0.25 * u[hi]
                }
            }
            let mixed = zip(v, tile).map { $0 + 0.2 * $1 }
            let sd = (mixed.map { $0 * $0 }.reduce(0, +) / Float(mixed.count)).squareRoot()
            return mixed.map { x in
                let u = x / sd
                return u + 0.5 * max(0, u) * u
            }
        }
    }

    @Test(
        "fitted on white noise against a coloured, skewed domain, it gives fresh noise that domain's spectrum and histogram"
    )
    func matchesSpectrumAndHistogram() throws {
        let edge = 32
        let target = Self.colouredTiles(count: 6, edge: edge, seed: 100)
        let calibration = try SimulationCalibration.fit(
            simulated: noiseTiles(count: 6, edge: edge, seed: 200), noisy: target, edge: edge)
        let fresh = noiseTiles(count: 6, edge: edge, seed: 300)
        let out = fresh.map {
            calibration.apply(Tensor(shape: [1, 1, edge, edge, edge], values: $0)).scalars
        }
        // Spectrum: per shell within 35% (log 0.3) of the domain's, where white noise is off by a factor ≥ 5
        // (the filter alone comes within 18%; the value map's bend adds some high-frequency power).
        let (want, got, white) = (
            shellPower(target, edge: edge), shellPower(out, edge: edge), shellPower(fresh, edge: edge)
        )
        let error = zip(want, got).map { abs(log($0 / $1)) }.max()!
        let whiteError = zip(want, white).map { abs(log($0 / $1)) }.max()!
        #expect(error < 0.3, "shell log-power error \(error) (white noise: \(whiteError))")
        #expect(whiteError > log(5.0))
        // Histogram: the standardized domain's quantiles at 5%, 50%, 95% within 0.1.
        func standardizedQuantiles(_ tiles: [[Float]]) -> [Double] {
            let v = tiles.flatMap { $0 }.map(Double.init)
            let mean = v.reduce(0, +) / Double(v.count)
            let sd = (v.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(v.count)).squareRoot()
            let s = v.sorted()
            return [0.05, 0.5, 0.95].map { (s[Int($0 * Double(s.count - 1))] - mean) / sd }
        }
        let (q, qWant) = (standardizedQuantiles(out), standardizedQuantiles(target))
        for (a, b) in zip(q, qWant) { #expect(abs(a - b) < 0.1, "quantiles \(q) vs \(qWant)") }
        #expect(abs(qWant[1]) > 0.15, "the domain is skewed (median \(qWant[1]))")
    }

    @Test(
        "a two-pass calibration gives a simulation the data's share of structure against noise (0.8 → 0.2)")
    func structureShare() throws {
        let (edge, n) = (32, 6)
        // share·structure + (1 − share)·white noise in variance (the structure standardized first).
        func mix(_ structure: [[Float]], _ share: Float, noiseSeed: UInt64) -> [[Float]] {
            let values = structure.flatMap { $0 }
            let mean = values.reduce(0, +) / Float(values.count)
            let sd = (values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Float(values.count)).squareRoot()
            return zip(structure, noiseTiles(count: n, edge: edge, seed: noiseSeed)).map { s, w in
                zip(s, w).map { share.squareRoot() * ($0 - mean) / sd + (1 - share).squareRoot() * $1 }
            }
        }
        // Data: a fifth structure (coloured, skewed), the rest white noise; Dn recovers the structure.
        let dataStructure = Self.colouredTiles(count: n, edge: edge, seed: 10)
        let noisy = mix(dataStructure, 0.2, noiseSeed: 20)
        // Gs: other structure at a share of 0.8, two passes with independent noise.
        let simulatedStructure = Self.colouredTiles(count: n, edge: edge, seed: 30)
        let (first, second) = (mix(simulatedStructure, 0.8, noiseSeed: 40), mix(simulatedStructure, 0.8, noiseSeed: 50))
        let calibration = try SimulationCalibration.fit(
            first: first, second: second, noisy: noisy, denoised: dataStructure, edge: edge)
        #expect(calibration.differenceGain != nil)
        let plain = try SimulationCalibration.fit(simulated: first, noisy: noisy, edge: edge)
        // Fresh structure simulated twice, each time with two fresh passes: what the two results share is
        // the structure, so their correlation is its share of the variance.
        let fresh = Self.colouredTiles(count: n, edge: edge, seed: 60)
        let passes = [70, 80, 90, 100].map { mix(fresh, 0.8, noiseSeed: UInt64($0)) }
        func tensor(_ tiles: [[Float]]) -> Tensor {
            Tensor(shape: [n, 1, edge, edge, edge], values: tiles.flatMap { $0 })
        }
        let one = calibration.apply(tensor(passes[0]), second: tensor(passes[1])).scalars
        let other = calibration.apply(tensor(passes[2]), second: tensor(passes[3])).scalars
        let share = pearsonCorrelation(one, other)
        #expect(abs(share - 0.2) < 0.07, "structure share \(share), the data's 0.2")
        let plainShare = pearsonCorrelation(
            plain.apply(tensor(passes[0])).scalars, plain.apply(tensor(passes[2])).scalars)
        #expect(plainShare > 0.6, "one pass keeps Gs's share: \(plainShare)")
        // The spectrum is still the data's (as in the one-pass test).
        let out = (0..<n).map { Array(one[($0 * edge * edge * edge)..<(($0 + 1) * edge * edge * edge)]) }
        let error = zip(shellPower(noisy, edge: edge), shellPower(out, edge: edge)).map { abs(log($0 / $1)) }.max()!
        #expect(error < 0.3, "shell log-power error \(error)")
    }

    @Test("the two-pass filter equals its definition: gain over the mean plus difference gain over (a − b)/√2")
    func pairFilter() {
        let b = SimulationCalibration.bins
        let gain = (0..<(b * b * b)).map { Float(0.5 + Double($0 % 7) / 5) }
        let differenceGain = (0..<(b * b * b)).map { Float(0.2 + Double($0 % 5) / 4) }
        let tiles = noiseTiles(count: 2, edge: 16, seed: 9)
        let bin = SimulationCalibration.binIndex(edge: SimulationCalibration.paddedEdge(16))
        let pair = SimulationCalibration.filterPair(
            tiles[0], tiles[1], edge: 16, gain: gain, differenceGain: differenceGain, bin: bin)
        // The reference: two separate one-pass filters of the mean and the difference, summed.
        let mean = zip(tiles[0], tiles[1]).map { ($0 + $1) / 2 }
        let difference = zip(tiles[0], tiles[1]).map { ($0 - $1) * Float(0.5).squareRoot() }
        let m = mean.withUnsafeBufferPointer { SimulationCalibration.filter($0, edge: 16, gain: gain, bin: bin) }
        let d = difference.withUnsafeBufferPointer {
            SimulationCalibration.filter($0, edge: 16, gain: differenceGain, bin: bin)
        }
        let error = zip(pair, zip(m, d)).map { abs($0 - ($1.0 + $1.1)) }.max()!
        #expect(error < 1e-4, "largest difference \(error)")
    }

    @Test("unit gains and an identity map leave a tile as it is; the mirror padding keeps the faces from wrapping")
    func identity() throws {
        let b = SimulationCalibration.bins
        let q = (0..<SimulationCalibration.quantileCount).map { Float($0) - 100 }
        let identity = try SimulationCalibration(gain: [Float](repeating: 1, count: b * b * b), source: q, target: q)
        let tile = noiseTiles(count: 1, edge: 16, seed: 5)[0]
        let out = identity.apply(Tensor(shape: [1, 1, 16, 16, 16], values: tile)).scalars
        #expect(zip(out, tile).map { abs($0 - $1) }.max()! < 1e-4)
        // Beyond the quantiles the map continues linearly.
        #expect(abs(identity.mapValue(250) - 250) < 1e-3 && abs(identity.mapValue(-250) + 250) < 1e-3)
        // A low-pass along x (|k_x| < ¼) keeps a ramp's ends: nothing wraps from one face to the other.
        let gains = (0..<(b * b * b)).map { $0 % b < b / 2 ? Float(1) : 0 }
        let lowpass = try SimulationCalibration(gain: gains, source: q, target: q)
        var ramp = [Float](repeating: 0, count: 16 * 16 * 16)
        for i in ramp.indices { ramp[i] = Float(i % 16) }  // 0…15 along x: a circular filter would mix 0 and 15
        let smoothed = lowpass.apply(Tensor(shape: [1, 1, 16, 16, 16], values: ramp)).scalars
        #expect(smoothed[0] < 2 && smoothed[15] > 13, "faces \(smoothed[0]), \(smoothed[15])")
    }

    @Test(
        "a calibration is written with the model, read back, and part of its digest; models without one load as before")
    func storage() throws {
        var c = DUALConfig()
        (c.base, c.patch, c.codeLength, c.discriminatorBase) = (2, 16, 2, 2)
        let model = DUALModel(config: c, seed: 3)
        let dir = NSTemporaryDirectory() + "tomostore-cal-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let plainDigest = model.digest
        let plain = try DUALModelFile.decode(
            bytes: try DUALModelFile.save(model, to: dir + "/a.safetensors"), source: "a")
        #expect(plain.model.simulationCalibration == nil && plain.model.digest == plainDigest)
        let calibration = try SimulationCalibration.fit(
            simulated: noiseTiles(count: 2, edge: 16, seed: 1), noisy: Self.colouredTiles(count: 2, edge: 16, seed: 2),
            edge: 16)
        model.simulationCalibration = calibration
        #expect(model.digest != plainDigest)
        let read = try DUALModelFile.decode(
            bytes: try DUALModelFile.save(model, to: dir + "/b.safetensors"), source: "b")
        #expect(read.model.simulationCalibration == calibration && read.model.digest == model.digest)
        #expect(read.metadata["dual_digest"] == model.digest)
        // A two-pass calibration is stored with its difference gains and changes the digest.
        let tiles = noiseTiles(count: 2, edge: 16, seed: 1)
        let twoPass = try SimulationCalibration.fit(
            first: tiles, second: noiseTiles(count: 2, edge: 16, seed: 3),
            noisy: Self.colouredTiles(count: 2, edge: 16, seed: 2), denoised: noiseTiles(count: 2, edge: 16, seed: 4),
            edge: 16)
        model.simulationCalibration = twoPass
        #expect(model.digest != read.model.digest)
        let readTwoPass = try DUALModelFile.decode(
            bytes: try DUALModelFile.save(model, to: dir + "/c.safetensors"), source: "c")
        #expect(readTwoPass.model.simulationCalibration == twoPass && twoPass.differenceGain != nil)
        #expect(readTwoPass.model.digest == model.digest)
        // A file with gains but no quantiles is refused with its name.
        let bad = Dictionary(uniqueKeysWithValues: calibration.tensors.prefix(1).map { ($0.0, $0.1) })
        #expect(throws: DUALError.self) { _ = try SimulationCalibration(tensors: bad, source: "bad") }
    }

    @Test("a training run fits the calibration on its own domains when asked, and only then")
    func trainingFits() throws {
        let dir = NSTemporaryDirectory() + "tomostore-calrun-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let shape = Extent3(x: 24, y: 24, z: 24)
        let volume = PatchVolume(name: "noise", shape: shape, mean: 0, std: 1) { box in
            noiseVolume(shape, seed: 3).extracting(box)
        }
        var c = DUALConfig()
        (c.base, c.patch, c.batch, c.codeLength, c.discriminatorBase) = (2, 16, 1, 2, 2)
        func run(calibrate: Bool, config: DUALConfig? = nil) throws -> DUALTrainingRun.Result {
            var r = DUALTrainingRun(
                config: config ?? c, seed: 1,
                schedule: TrainingSchedule(iterations: 1, checkpointEvery: 10, output: dir + "/m.safetensors"))
            r.calibrateSimulation = calibrate
            return try r.run(clean: [volume], noisy: [volume], metadata: [:])
        }
        #expect(try run(calibrate: false).model.simulationCalibration == nil)
        let fitted = try run(calibrate: true)
        #expect(fitted.model.simulationCalibration != nil)
        let read = try DUALModelFile.decode(bytes: fitted.bytes, source: "m")
        #expect(read.model.simulationCalibration == fitted.model.simulationCalibration)
        #expect(read.metadata["sim_calibration"] != nil)
        // Same data, settings and seed → same calibration.
        #expect(try run(calibrate: true).model.simulationCalibration == fitted.model.simulationCalibration)
        #expect(fitted.model.simulationCalibration?.differenceGain == nil)
        // simulation_calibration=snr fits the two-pass filter.
        var snr = c
        try snr.apply("simulation_calibration", "snr")
        let twoPass = try run(calibrate: true, config: snr)
        #expect(twoPass.model.simulationCalibration?.differenceGain != nil)
        #expect(twoPass.model.simulationCalibration?.gain != fitted.model.simulationCalibration?.gain)
    }
}
