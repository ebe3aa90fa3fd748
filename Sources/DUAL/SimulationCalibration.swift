import Engine
import Foundation
import Voxels

/// The last stage of DUAL's simulation, fitted in closed form after training: a linear filter that
/// gives Gs's output the noisy domain's 3D power spectrum (noise colour and missing wedge), then a
/// monotone voxel-value map that gives it the noisy domain's histogram (standardized). Both are
/// measured on tiles: Gs(v + P·Gn(z)) of clean-domain tiles against noisy-domain tiles of the
/// training data (`fit`). Applied tile by tile (`apply`), so a simulated voxel still depends only on
/// its tile's input and the seed.
///
/// The filter is a table of amplitude gains over bins of the absolute frequency along each axis
/// (|k_z|, |k_y|, |k_x| in cycles per voxel, bin ⌊2B·|k|⌋ clamped to B − 1, B = `bins`): any
/// spectrum that is symmetric under each axis's sign flip, as a missing wedge about the x or the y
/// axis is, is matched to the bins' resolution (1/32 cycle/voxel).
///
/// With a `differenceGain` (config `simulation_calibration=snr`) the filter also gives each bin the
/// noisy domain's share of structure against noise. Gs runs twice on the same input with independent
/// noise (a, b): their mean carries the structure and half the noise, their difference (a − b)/√2
/// only noise. The output is `gain`·mean + `differenceGain`·difference per bin: structure power
/// gain²·C and noise power gain²·N/2 + differenceGain²·N (C: the two passes' cross power, N the rest),
/// set to the data's structure power (the power of the noisy tiles that Dn's output explains, per bin:
/// |⟨R, D⟩|²/⟨D, D⟩) and the rest of its power.
public struct SimulationCalibration: Sendable, Equatable {
    /// Bins per axis of the gain table.
    public static let bins = 16
    /// Quantiles of the value map (at probabilities (i + ½)/count).
    public static let quantileCount = 201

    /// Amplitude gains, B³ in [z][y][x] bin order (the zero frequency itself is kept as it is); with a
    /// `differenceGain`, the gains of the two passes' mean.
    public let gain: [Float]
    /// Amplitude gains of the two passes' difference (a − b)/√2, B³ like `gain`; nil: one pass.
    public let differenceGain: [Float]?
    /// Voxel values after the filter at the map's quantiles (non-decreasing)…
    public let source: [Float]
    /// …and the noisy domain's standardized values at the same quantiles.
    public let target: [Float]

    public init(gain: [Float], differenceGain: [Float]? = nil, source: [Float], target: [Float]) throws {
        let b = Self.bins
        let gains = [gain] + (differenceGain.map { [$0] } ?? [])
        guard gains.allSatisfy({ $0.count == b * b * b && $0.allSatisfy { $0.isFinite && $0 >= 0 } }),
            source.count == target.count, source.count >= 2, (source + target).allSatisfy(\.isFinite),
            zip(source, source.dropFirst()).allSatisfy({ $0 <= $1 })
        else {
            throw DUALError(
                "simulation calibration: needs \(b * b * b) finite non-negative gains per table and two equal, "
                    + "non-decreasing quantile lists (got \(gains.map(\.count)) gains, \(source.count) and "
                    + "\(target.count) quantiles)")
        }
        self.gain = gain
        self.differenceGain = differenceGain
        self.source = source
        self.target = target
    }

    // MARK: Fitting

    /// Fits the filter and the value map: `simulated` and `noisy` are cubic tiles of `edge`³ voxels
    /// ([z][y][x]), Gs's raw output and the noisy domain's (standardized) data.
    public static func fit(simulated: [[Float]], noisy: [[Float]], edge: Int) throws -> SimulationCalibration {
        try check([simulated, noisy], edge: edge)
        let (ps, pn) = (binnedPower(simulated, edge: edge), binnedPower(noisy, edge: edge))
        var gain = [Float?](repeating: nil, count: bins * bins * bins)
        for i in gain.indices where ps[i] > 0 && pn[i] > 0 { gain[i] = Float((pn[i] / ps[i]).squareRoot()) }
        let filled = fillingEmptyBins(gain)
        let bin = binIndex(edge: paddedEdge(edge))
        let filtered = simulated.flatMap { tile in
            tile.withUnsafeBufferPointer { filter($0, edge: edge, gain: filled, bin: bin) }
        }
        return try SimulationCalibration(gain: filled, source: quantiles(filtered), target: standardQuantiles(noisy))
    }

    /// Fits the two-pass filter (structure and noise share per bin, see the type's comment) and the value
    /// map: `first` and `second` are Gs's raw outputs for the same clean tiles with independent noise,
    /// `noisy` the noisy domain's (standardized) tiles and `denoised` Dn's output for them; all cubic
    /// tiles of `edge`³ voxels ([z][y][x]).
    public static func fit(
        first: [[Float]], second: [[Float]], noisy: [[Float]], denoised: [[Float]], edge: Int
    ) throws -> SimulationCalibration {
        try check([first, second, noisy, denoised], edge: edge)
        guard first.count == second.count, noisy.count == denoised.count else {
            throw DUALError("simulation calibration: needs two passes of the same tiles and Dn of every noisy tile")
        }
        let (a, b) = (spectra(first, edge: edge), spectra(second, edge: edge))
        let (r, d) = (spectra(noisy, edge: edge), spectra(denoised, edge: edge))
        let simulatedPower = zip(binnedCross(a, edge: edge), binnedCross(b, edge: edge)).map { ($0 + $1) / 2 }
        let simulatedLevel = level(simulatedPower)
        let (structure, power) = (binnedCross(a, b, edge: edge), binnedCross(r, edge: edge))
        let (explained, denoisedPower) = (binnedCross(r, d, edge: edge), binnedCross(d, edge: edge))
        let dataLevel = level(power)
        var mean = [Float?](repeating: nil, count: power.count)
        var difference = mean
        for i in power.indices where simulatedPower[i] > 0 && power[i] > 0 {
            let ps = simulatedPower[i] / simulatedLevel
            let cs = min(max(structure[i] / simulatedLevel, 0), 0.999 * ps)
            let ns = ps - cs
            let pd = power[i] / dataLevel
            let sd = denoisedPower[i] > 0 ? min(explained[i] * explained[i] / denoisedPower[i] / dataLevel, pd) : 0
            // The mean's gain brings the structure to the data's, unless its half of the noise alone
            // would then exceed the data's power; the difference's gain adds the noise still missing.
            let u = cs > 1e-3 * ps ? min(sd / cs, pd / (cs + ns / 2)).squareRoot() : 0
            mean[i] = Float(u)
            difference[i] = Float((max(0, pd - u * u * (cs + ns / 2)) / ns).squareRoot())
        }
        let (meanGain, differenceGain) = (fillingEmptyBins(mean), fillingEmptyBins(difference))
        let bin = binIndex(edge: paddedEdge(edge))
        let filtered = zip(first, second).flatMap { a, b in
            filterPair(a, b, edge: edge, gain: meanGain, differenceGain: differenceGain, bin: bin)
        }
        return try SimulationCalibration(
            gain: meanGain, differenceGain: differenceGain, source: quantiles(filtered),
            target: standardQuantiles(noisy))
    }

    static func check(_ sets: [[[Float]]], edge: Int) throws {
        guard sets.allSatisfy({ !$0.isEmpty && $0.allSatisfy { $0.count == edge * edge * edge } }) else {
            throw DUALError("simulation calibration: needs tiles of \(edge)³ voxels from both domains")
        }
    }

    /// The quantiles of the tiles' values after standardizing them together.
    static func standardQuantiles(_ tiles: [[Float]]) -> [Float] {
        let values = tiles.flatMap { $0 }
        var stats = VoxelStatistics()
        values.withUnsafeBufferPointer { stats.add($0) }
        let scale = 1 / max(stats.rms, 1e-12)
        return quantiles(values.map { Float((Double($0) - stats.mean) * scale) })
    }

    /// The rfft spectra ([q][q][q/2+1] complex, interleaved) of the tiles, each tile's mean removed.
    static func spectra(_ tiles: [[Float]], edge p: Int) -> [[Float]] {
        let wc = p / 2 + 1
        return tiles.map { tile in
            let mean = tile.reduce(0, +) / Float(tile.count)
            var input = tile.map { $0 - mean }
            var spectrum = [Float](repeating: 0, count: p * p * wc * 2)
            input.withUnsafeMutableBufferPointer { i in
                spectrum.withUnsafeMutableBufferPointer {
                    FFTPlans.shared.forward([p, p, p], i.baseAddress!, $0.baseAddress!)
                }
            }
            return spectrum
        }
    }

    /// Mean cross power Re(A·B̄) per gain bin over pairs of spectra (`b` nil: the power |A|²), the zero
    /// frequency left out. The spectra are of tiles of `edge`³ voxels (`spectra`).
    static func binnedCross(_ a: [[Float]], _ b: [[Float]]? = nil, edge: Int) -> [Double] {
        let count = bins * bins * bins
        var sum = [Double](repeating: 0, count: count)
        var n = [Double](repeating: 0, count: count)
        let bin = binIndex(edge: edge)
        for (i, x) in a.enumerated() {
            let y = b?[i] ?? x
            for k in 1..<bin.count {
                sum[bin[k]] += Double(x[2 * k] * y[2 * k] + x[2 * k + 1] * y[2 * k + 1])
                n[bin[k]] += 1
            }
        }
        return zip(sum, n).map { $1 > 0 ? $0 / $1 : 0 }
    }

    /// The mean of a table's filled bins (a spectrum's level).
    static func level(_ table: [Double]) -> Double {
        let filled = table.filter { $0 > 0 }
        return max(filled.isEmpty ? 1 : filled.reduce(0, +) / Double(filled.count), 1e-300)
    }

    /// A table divided by its level: a spectrum's shape (mean 1 over the filled bins).
    static func normalized(_ table: [Double]) -> [Double] {
        let l = level(table)
        return table.map { $0 / l }
    }

    /// Mean power per gain bin of the tiles' spectra (each tile's mean removed, the zero frequency left
    /// out), normalized to a mean of 1 over the bins (a spectrum's shape, not its level).
    static func binnedPower(_ tiles: [[Float]], edge p: Int) -> [Double] {
        normalized(binnedCross(spectra(tiles, edge: p), edge: p))
    }

    /// Gains for the bins no frequency of the fitting tiles fell in (tiles under 32 voxels leave every
    /// other bin empty; a tile's extended grid has frequencies there): the geometric mean of the filled
    /// face neighbours, repeated until every bin has one (1 if none has).
    static func fillingEmptyBins(_ gain: [Float?]) -> [Float] {
        var g = gain
        let b = bins
        while g.contains(where: { $0 == nil }) && g.contains(where: { $0 != nil }) {
            let before = g
            for z in 0..<b {
                for y in 0..<b {
                    for x in 0..<b where before[(z * b + y) * b + x] == nil {
                        let neighbours = [
                            (z - 1, y, x), (z + 1, y, x), (z, y - 1, x), (z, y + 1, x), (z, y, x - 1), (z, y, x + 1),
                        ]
                        .filter { [$0.0, $0.1, $0.2].allSatisfy { (0..<b).contains($0) } }
                        .compactMap { before[($0.0 * b + $0.1) * b + $0.2] }
                        guard !neighbours.isEmpty else { continue }
                        let meanLog = neighbours.map { log(max($0, 1e-20)) }.reduce(0, +) / Float(neighbours.count)
                        g[(z * b + y) * b + x] = exp(meanLog)
                    }
                }
            }
        }
        return g.map { $0 ?? 1 }
    }

    /// The gain bin of every element of an rfft layout [q][q][q/2+1] of a q³ tile.
    static func binIndex(edge q: Int) -> [Int] {
        let wc = q / 2 + 1
        func axisBin(_ i: Int) -> Int {
            let f = Double(min(i, q - i)) / Double(q)
            return min(Int(f * 2 * Double(bins)), bins - 1)
        }
        var out = [Int](repeating: 0, count: q * q * wc)
        for z in 0..<q {
            for y in 0..<q {
                for x in 0..<wc { out[(z * q + y) * wc + x] = (axisBin(z) * bins + axisBin(y)) * bins + axisBin(x) }
            }
        }
        return out
    }

    /// The values of `values` at the map's probabilities (i + ½)/count, interpolated between order
    /// statistics.
    static func quantiles(_ values: [Float]) -> [Float] {
        let sorted = values.sorted()
        let n = sorted.count
        return (0..<quantileCount).map { i in
            let position = (Double(i) + 0.5) / Double(quantileCount) * Double(n - 1)
            let lo = Int(position)
            let hi = min(lo + 1, n - 1)
            let t = Float(position - Double(lo))
            return sorted[lo] * (1 - t) + sorted[hi] * t
        }
    }

    // MARK: Applying

    /// The edge a tile of `edge` voxels is filtered at: mirrored by an eighth of its edge on every side.
    static func paddedEdge(_ edge: Int) -> Int { edge + 2 * max(1, edge / 8) }

    /// The filter over one cubic tile of `edge`³ voxels ([z][y][x]), the tile mirrored by an eighth of
    /// its edge on every side first (half-sample symmetric) so that its faces do not wrap into each
    /// other; `bin` is `binIndex(edge: paddedEdge(edge))`.
    static func filter(_ tile: UnsafeBufferPointer<Float>, edge p: Int, gain: [Float], bin: [Int]) -> [Float] {
        combine([tile], edge: p, gains: [gain], zeroGains: [1], bin: bin)
    }

    /// The two-pass filter over one pair of cubic tiles (a, b) of `edge`³ voxels: `gain` over their mean
    /// plus `differenceGain` over (a − b)/√2, as one filter of each tile (a's gain g/2 + d/√2, b's
    /// g/2 − d/√2 per bin; the zero frequency's ½ ± 1/√2, kept as each term keeps its own).
    static func filterPair(
        _ a: [Float], _ b: [Float], edge p: Int, gain: [Float], differenceGain: [Float], bin: [Int]
    ) -> [Float] {
        let r = Float(0.5).squareRoot()
        let gains = [
            zip(gain, differenceGain).map { $0 / 2 + $1 * r }, zip(gain, differenceGain).map { $0 / 2 - $1 * r },
        ]
        return a.withUnsafeBufferPointer { ta in
            b.withUnsafeBufferPointer { tb in
                combine([ta, tb], edge: p, gains: gains, zeroGains: [0.5 + r, 0.5 - r], bin: bin)
            }
        }
    }

    /// Σᵢ gainsᵢ · tileᵢ in the frequency domain, over cubic tiles of `edge`³ voxels each mirrored by an
    /// eighth of its edge on every side (`paddedEdge`): one forward transform per tile, one inverse. The
    /// zero frequency is weighted by `zeroGains` instead of the gain tables.
    private static func combine(
        _ tiles: [UnsafeBufferPointer<Float>], edge p: Int, gains: [[Float]], zeroGains: [Float], bin: [Int]
    ) -> [Float] {
        let q = paddedEdge(p)
        let pad = (q - p) / 2
        let wc = q / 2 + 1
        let norm = 1 / Float(q * q * q)
        var padded = [Float](repeating: 0, count: q * q * q)
        var sum = [Float](repeating: 0, count: q * q * wc * 2)
        var spectrum = sum
        for (i, tile) in tiles.enumerated() {
            for z in 0..<q {
                let sz = reflectIndex(z - pad, p)
                for y in 0..<q {
                    let sy = reflectIndex(y - pad, p)
                    let row = (sz * p + sy) * p
                    let to = (z * q + y) * q
                    for x in 0..<q { padded[to + x] = tile[row + reflectIndex(x - pad, p)] }
                }
            }
            padded.withUnsafeMutableBufferPointer { r in
                spectrum.withUnsafeMutableBufferPointer { c in
                    FFTPlans.shared.forward([q, q, q], r.baseAddress!, c.baseAddress!)
                }
            }
            let gain = gains[i]
            for k in 0..<(q * q * wc) {
                let g = (k == 0 ? zeroGains[i] : gain[bin[k]]) * norm
                sum[2 * k] += g * spectrum[2 * k]
                sum[2 * k + 1] += g * spectrum[2 * k + 1]
            }
        }
        padded.withUnsafeMutableBufferPointer { r in
            sum.withUnsafeMutableBufferPointer { c in
                FFTPlans.shared.inverse([q, q, q], c.baseAddress!, r.baseAddress!)
            }
        }
        var out = [Float](repeating: 0, count: p * p * p)
        for z in 0..<p {
            for y in 0..<p {
                let from = ((z + pad) * q + y + pad) * q + pad
                let to = (z * p + y) * p
                for x in 0..<p { out[to + x] = padded[from + x] }
            }
        }
        return out
    }

    /// The value map: piecewise linear through (source, target), continued beyond the ends with the
    /// slope of the outer tenth of the quantiles.
    func mapValue(_ v: Float) -> Float {
        let n = source.count
        if v <= source[0] || v >= source[n - 1] {
            let (a, b) = v <= source[0] ? (0, n / 10) : (n - 1 - n / 10, n - 1)
            let slope = source[b] > source[a] ? (target[b] - target[a]) / (source[b] - source[a]) : 0
            let end = v <= source[0] ? 0 : n - 1
            return target[end] + slope * (v - source[end])
        }
        var (lo, hi) = (0, n - 1)
        while hi - lo > 1 {
            let mid = (lo + hi) / 2
            if source[mid] <= v { lo = mid } else { hi = mid }
        }
        let width = source[hi] - source[lo]
        let t = width > 0 ? (v - source[lo]) / width : 0
        return target[lo] + t * (target[hi] - target[lo])
    }

    /// Filter and value map over every tile of a batch [n, 1, P, P, P]; with a `differenceGain`, over
    /// the pairs of `tiles` and `second`, Gs's second pass over the same input with independent noise.
    public func apply(_ tiles: Tensor, second: Tensor? = nil) -> Tensor {
        let s = tiles.shape
        precondition(s.count == 5 && s[1] == 1 && s[2] == s[3] && s[3] == s[4], "calibration needs [n, 1, P, P, P]")
        precondition(
            (differenceGain == nil) == (second == nil) && second.map { $0.shape == s } ?? true,
            "a two-pass calibration needs Gs's second pass, of the same shape; a one-pass one none")
        let p = s[2]
        let size = p * p * p
        let bin = Self.binIndex(edge: Self.paddedEdge(p))
        var out: [Float] = []
        out.reserveCapacity(tiles.count)
        let secondValues = second?.scalars
        tiles.withUnsafeBufferPointer { all in
            for i in 0..<s[0] {
                let range = (i * size)..<((i + 1) * size)
                if let differenceGain, let secondValues {
                    out += Self.filterPair(
                        Array(all[range]), Array(secondValues[range]), edge: p, gain: gain,
                        differenceGain: differenceGain, bin: bin
                    ).map(mapValue)
                } else {
                    out += Self.filter(UnsafeBufferPointer(rebasing: all[range]), edge: p, gain: gain, bin: bin)
                        .map(mapValue)
                }
            }
        }
        return Tensor(shape: s, values: out)
    }

    // MARK: Storage

    /// The tensors a model file holds: "sim_calibration.gain" [B, B, B], with a two-pass filter
    /// "sim_calibration.difference_gain" [B, B, B], and "sim_calibration.quantiles" [2, count] (source,
    /// then target).
    public var tensors: [(String, Tensor)] {
        let b = Self.bins
        return [("sim_calibration.gain", Tensor(shape: [b, b, b], values: gain))]
            + (differenceGain.map { [("sim_calibration.difference_gain", Tensor(shape: [b, b, b], values: $0))] } ?? [])
            + [("sim_calibration.quantiles", Tensor(shape: [2, source.count], values: source + target))]
    }

    /// The calibration in a model file's tensors; nil when it has none (models trained before it).
    public init?(tensors: [String: Tensor], source path: String) throws {
        guard let gain = tensors["sim_calibration.gain"] else { return nil }
        guard let q = tensors["sim_calibration.quantiles"], q.shape.count == 2, q.shape[0] == 2 else {
            throw DUALError("\(path): sim_calibration.gain without a [2, n] sim_calibration.quantiles")
        }
        let values = q.scalars
        let n = q.shape[1]
        do {
            try self.init(
                gain: gain.scalars, differenceGain: tensors["sim_calibration.difference_gain"]?.scalars,
                source: Array(values[..<n]), target: Array(values[n...]))
        } catch let e as DUALError {
            throw DUALError("\(path): \(e.description)")
        }
    }

    /// The bytes a model's digest covers: gain, difference gain (if any), source, target.
    var digestBytes: [UInt8] {
        (gain + (differenceGain ?? []) + source + target).flatMap {
            withUnsafeBytes(of: $0.bitPattern.littleEndian) { Array($0) }
        }
    }
}

extension DUALModel {
    /// Fits the simulation calibration on `count` tiles of each domain (as `DUALTrainer.train` draws
    /// them: standardized, positions from `seed`): Gs(v + P·Gn(z)) of clean tiles, without any
    /// calibration, against noisy tiles; `twoPass`: the filter that also sets the structure's share per
    /// bin, from a second pass of Gs with independent noise and Dn of the noisy tiles. The tiles are
    /// 64³ (simulate's tile) or the largest multiple of the U-Net's step that every volume holds.
    public func fitSimulationCalibration(
        clean: [PatchVolume], noisy: [PatchVolume], seed: UInt64, count: Int = 24, twoPass: Bool = false
    ) throws -> SimulationCalibration {
        let step = 1 << (config.depth - 1)
        let shortest = (clean + noisy).map { min($0.shape.x, $0.shape.y, $0.shape.z) }.min() ?? 0
        let edge = min(64, shortest) / step * step
        guard edge >= config.patch else {
            throw DUALError("simulation calibration: a volume is smaller than the \(config.patch)³ training patch")
        }
        let (cleanTiles, noisyTiles) = (
            PatchSampler(volumes: clean, seed: seed ^ 0xca11, stream: 3),
            PatchSampler(volumes: noisy, seed: seed ^ 0xca11, stream: 4)
        )
        let noise = NoiseField(model: self, seed: seed ^ 0xca11)
        let size = edge * edge * edge
        var (first, second, measured, denoised) = ([[Float]](), [[Float]](), [[Float]](), [[Float]]())
        for i in 0..<count {
            // Far-apart origins: every tile gets its own noise blocks.
            let origin = (x: i * 4 * edge, y: 0, z: 0)
            let input = try cleanTiles.batch(iteration: i, batch: 1, patch: edge)
            first.append(Array(generatorTiles(input, origins: [origin], noise: noise).scalars[0..<size]))
            let tile = try noisyTiles.batch(iteration: i, batch: 1, patch: edge)
            measured.append(tile.scalars)
            guard twoPass else { continue }
            second.append(Array(generatorTiles(input, origins: [origin], noise: noise.second).scalars[0..<size]))
            denoised.append(denoiseTiles(tile).scalars)
        }
        guard twoPass else { return try SimulationCalibration.fit(simulated: first, noisy: measured, edge: edge) }
        return try SimulationCalibration.fit(
            first: first, second: second, noisy: measured, denoised: denoised, edge: edge)
    }
}
