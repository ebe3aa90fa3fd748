import Engine
import Imaging
import Voxels

/// The spectral merge of missing-wedge compensation on cubic tiles of P voxels: with X = F(x) the
/// observed tile, Y = F(y) its translation, W the smooth missing-wedge weight (0 where measured,
/// 1 in the wedge), the result is F⁻¹[(1 − W)·X + W·g·Y].
///
/// The gain g (when matched) equalizes the fill's power: per radial shell (|k|·P rounded) and band of
/// `bandDegrees` of angle into the wedge, the fill's mean power equals the mean power of the tile's
/// measured components in that shell. A full tomogram's power does not depend on direction, while a
/// briefly trained translation fills the wedge too weakly and unevenly (strongest near its edges).
/// A band's mean power is shrunk toward its shell's by `priorBins` pseudo-bins, so that the sparse
/// bands at low |k| stay stable. Frequencies are in cycles/voxel; arrays are the r2c half spectrum
/// [kz][ky][kx ≤ P/2].
struct WedgeFill {
    static let bandDegrees = 5.0
    static let priorBins = 4.0
    let p: Int
    /// W per bin.
    let weight: [Float]
    /// Radial shell per bin, and the (shell, band) group of each bin with W > 0 (−1 elsewhere).
    let shell: [Int]
    let group: [Int]
    let shells: Int, bands: Int

    init(tile p: Int, wedge: MissingWedge, transition: Double) {
        self.p = p
        let cube = Extent3(x: p, y: p, z: p)
        weight = FourierFilter.halfSpectrum(cube) { wedge.wedgeWeight(kx: $0, ky: $1, kz: $2, transition: transition) }
        shell = FourierFilter.halfSpectrum(cube) { kx, ky, kz in
            ((kx * kx + ky * ky + kz * kz).squareRoot() * Double(p)).rounded()
        }.map { Int($0) }
        shells = (shell.max() ?? 0) + 1
        let h = transition / 2
        bands = Int((90 + h) / Self.bandDegrees) + 1
        let into = FourierFilter.halfSpectrum(cube) { kx, _, kz in wedge.degreesIntoWedge(kx: kx, kz: kz) }
        let (s, w, b) = (shell, weight, bands)
        group = (0..<w.count).map { i in
            w[i] > 0 ? s[i] * b + min(b - 1, max(0, Int((Double(into[i]) + h) / Self.bandDegrees))) : -1
        }
    }

    /// Applies the merge to every tile of a batch [B, 1, P, P, P] (standardized values).
    func merge(observed: Tensor, translated: Tensor, matchGain: Bool) -> Tensor {
        let n = p * p * p
        let wc = p / 2 + 1
        let bins = p * p * wc
        var out = observed.scalars
        var fill = translated.scalars
        var x = [Float](repeating: 0, count: 2 * bins)
        var y = [Float](repeating: 0, count: 2 * bins)
        for b in 0..<observed.shape[0] {
            out.withUnsafeMutableBufferPointer { o in
                fill.withUnsafeMutableBufferPointer { f in
                    FFTPlans.shared.forward([p, p, p], o.baseAddress! + b * n, &x)
                    FFTPlans.shared.forward([p, p, p], f.baseAddress! + b * n, &y)
                }
            }
            let gain = matchGain ? gains(x, y) : [Float](repeating: 1, count: shells * bands)
            let scale = 1 / Float(n)
            for i in 0..<bins {
                let a = (1 - weight[i]) * scale
                let c = group[i] < 0 ? 0 : weight[i] * gain[group[i]] * scale
                x[2 * i] = a * x[2 * i] + c * y[2 * i]
                x[2 * i + 1] = a * x[2 * i + 1] + c * y[2 * i + 1]
            }
            out.withUnsafeMutableBufferPointer { o in FFTPlans.shared.inverse([p, p, p], &x, o.baseAddress! + b * n) }
        }
        return Tensor(shape: observed.shape, values: out)
    }

    /// The gain of each (shell, band) group from one tile's spectra X and Y (interleaved re, im).
    func gains(_ x: [Float], _ y: [Float]) -> [Float] {
        let wc = p / 2 + 1
        var measured = [Double](repeating: 0, count: shells)
        var measuredBins = [Double](repeating: 0, count: shells)
        var shellY = [Double](repeating: 0, count: shells)
        var shellBins = [Double](repeating: 0, count: shells)
        var bandY = [Double](repeating: 0, count: shells * bands)
        var bandBins = [Double](repeating: 0, count: shells * bands)
        for i in 1..<weight.count {  // bin 0 is the mean
            let kx = i % wc
            let m = (kx == 0 || 2 * kx == p) ? 1.0 : 2.0
            let s = shell[i]
            let w = Double(weight[i])
            measured[s] += m * (1 - w) * Double(x[2 * i] * x[2 * i] + x[2 * i + 1] * x[2 * i + 1])
            measuredBins[s] += m * (1 - w)
            guard group[i] >= 0 else { continue }
            let py = m * Double(y[2 * i] * y[2 * i] + y[2 * i + 1] * y[2 * i + 1])
            shellY[s] += py
            shellBins[s] += m
            bandY[group[i]] += py
            bandBins[group[i]] += m
        }
        var gain = [Float](repeating: 0, count: shells * bands)
        for s in 0..<shells where measuredBins[s] > 0 && shellY[s] > 0 {
            let target = measured[s] / measuredBins[s]
            let shellMean = shellY[s] / shellBins[s]
            for b in 0..<bands {
                let g = s * bands + b
                let mean = (bandY[g] + Self.priorBins * shellMean) / (bandBins[g] + Self.priorBins)
                gain[g] = Float((target / mean).squareRoot())
            }
        }
        return gain
    }
}
