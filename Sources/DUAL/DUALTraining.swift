import Engine
import Foundation
import Voxels

/// One batch of unpaired training patches ([B, 1, P, P, P], each volume standardized).
public struct DUALBatch {
    public var clean: Tensor
    public var noisy: Tensor
    public init(clean: Tensor, noisy: Tensor) {
        self.clean = clean
        self.noisy = noisy
    }
}

/// Losses of one iteration (for progress and logs).
public struct DUALLosses: Sendable, Codable {
    public var reconstruction: Float = 0, adversarial: Float = 0, kl: Float = 0, discriminator: Float = 0
    /// The statistics-matching terms (config lambda_spectrum, lambda_histogram) and latent regression
    /// (lambda_latent), unweighted; nil when off.
    public var spectrum: Float? = nil, histogram: Float? = nil, latent: Float? = nil, diversity: Float? = nil
}

/// The DUAL objective and its alternating updates (paper Eq. 1–9): the generators (Dn, Gs, Gn, E)
/// minimize λ1·Lrec + λ2·Ladv + λ3·LKL over both cycles, then the discriminators (Dt, Dv, each
/// spatial + spectral) minimize their binary cross-entropy on real patches vs the generators'
/// (detached) fakes.
public final class DUALTrainer {
    /// `spectralBins` of the patch size, made once (the table is P²·(P/2+1) entries).
    private var spectralBinTable: (patch: Int, bins: [Int32], count: Int)?
    public let model: DUALModel
    public let generatorOptimizer: AdamW
    public let discriminatorOptimizer: AdamW
    public private(set) var iteration = 0
    let seed: UInt64

    public init(model: DUALModel, seed: UInt64) {
        self.model = model
        self.seed = seed
        let c = model.config
        // The denoiser may learn at its own rate (config denoiser_learning_rate); the other generators at
        // learning_rate. `generatorParameters` lists the denoiser's first (DUALTests.denoiserLearningRate).
        let denoiserScale = c.learningRate > 0 ? Float((c.denoiserLearningRate ?? c.learningRate) / c.learningRate) : 0
        let denoiserCount = model.denoiser.parameters.count
        generatorOptimizer = AdamW(
            model.generatorParameters, learningRate: Float(c.learningRate), weightDecay: Float(c.weightDecay),
            rateScales: model.generatorParameters.indices.map { $0 < denoiserCount ? denoiserScale : 1 })
        discriminatorOptimizer = AdamW(
            model.discriminatorParameters, learningRate: Float(c.learningRate), weightDecay: Float(c.weightDecay))
    }

    /// Continues from a checkpoint's iteration count.
    public func resume(at iteration: Int) { self.iteration = iteration }

    /// Reconstruction loss between a cycle's output and its input.
    func reconstruction(_ t: Tape, _ a: Variable, _ b: Variable) -> Variable {
        let oneMinusR = t.addScalar(t.scale(t.pearson(a, b), -1), 1)
        if model.config.reconstruction == "plain" { return t.add(t.mse(a, b), oneMinusR) }
        return t.add(t.log(t.addScalar(t.mse(a, b), 1e-6)), t.log(t.addScalar(oneMinusR, 1e-6)))
    }

    /// The noisy cycle's reconstruction loss (config noisy_cycle): voxel by voxel, or on 4×4×4 block means.
    func noisyCycleLoss(_ t: Tape, _ cycle: Variable, _ noisy: Variable) -> Variable {
        guard model.config.noisyCycle == "lowpass" else { return reconstruction(t, cycle, noisy) }
        return reconstruction(t, t.avgPool(t.avgPool(cycle)), t.avgPool(t.avgPool(noisy)))
    }

    /// The 6-neighbour discrete Laplacian as a [1, 1, 3, 3, 3] convolution kernel.
    static let laplacianKernel: Tensor = {
        var kernel = [Float](repeating: 0, count: 27)
        for i in [4, 10, 12, 14, 16, 22] { kernel[i] = 1 }
        kernel[13] = -6
        return Tensor(shape: [1, 1, 3, 3, 3], values: kernel)
    }()

    /// The diversity term (config noise_diversity) of two simulations a, b of the same patches:
    /// −log(mean |a − b| + 10⁻⁴), or, "bandpass", the voxels' mean of −log(|L| + 0.01) with L the
    /// 6-neighbour discrete Laplacian (zero outside the patch) of the 2×2×2 block means of a − b. The log
    /// inside the mean rewards differences everywhere; outside it, a few large ones would do.
    func diversityLoss(_ t: Tape, _ a: Variable, _ b: Variable) -> Variable {
        let difference = t.sub(a, b)
        guard model.config.noiseDiversity == "bandpass" else {
            return t.scale(t.log(t.addScalar(t.mean(t.absolute(difference)), 1e-4)), -1)
        }
        let laplacian = t.conv3d(t.avgPool(difference), Variable(Self.laplacianKernel), nil)
        return t.scale(t.mean(t.log(t.addScalar(t.absolute(laplacian), 0.01))), -1)
    }

    /// Mean BCE of a discriminator's two logits against a label (1 real, 0 fake).
    func adversarial(_ t: Tape, _ scores: (Variable, Variable), label: Float) -> Variable {
        let target = Tensor(repeating: label, shape: scores.0.shape)
        return t.scale(t.add(t.bceWithLogits(scores.0, target: target), t.bceWithLogits(scores.1, target: target)), 0.5)
    }

    /// A voxel permutation of one patch, drawn from (seed, iteration).
    func permutation(_ n: Int, draw: UInt64 = 0) -> [Int32] {
        let rng = CounterRNG(seed: seed ^ 0x5bd1_e995 ^ draw)
        var p = (0..<n).map { Int32($0) }
        for i in stride(from: n - 1, to: 0, by: -1) {
            let j = Int(rng.uniform(stream: UInt64(iteration), counter: UInt64(i)) * Double(i + 1))
            p.swapAt(i, j)
        }
        return p
    }

    /// This iteration's flip of the denoiser's input and output (config cycle_flips) as a voxel
    /// permutation of a P³ patch: each axis flipped with probability ½, drawn from (seed, iteration);
    /// nil when the option is off or no axis is drawn. A flip is its own inverse.
    func cycleFlip(_ p: Int) -> [Int32]? {
        guard model.config.cycleFlips == "true" else { return nil }
        let rng = CounterRNG(seed: seed ^ 0xf11b_5eed)
        let flipped = (0..<3).map { rng.uniform(stream: UInt64(iteration), counter: UInt64($0)) < 0.5 }
        guard flipped.contains(true) else { return nil }
        func at(_ i: Int, _ axis: Int) -> Int { flipped[axis] ? p - 1 - i : i }
        var permutation = [Int32](repeating: 0, count: p * p * p)
        for z in 0..<p {
            for y in 0..<p {
                for x in 0..<p {
                    permutation[(z * p + y) * p + x] = Int32((at(z, 2) * p + at(y, 1)) * p + at(x, 0))
                }
            }
        }
        return permutation
    }

    /// The frequency bins of `lambdaSpectrum` for a patch's rfft layout [P, P, P/2+1] (kz, ky, kx):
    /// 8 equal shells of |k| from the lowest frequency 1/P to 0.5 cycles/voxel × 6 bins of 15° of the
    /// angle from x in the xz plane (the missing wedge about y); the origin and the corners beyond 0.5
    /// are left out (−1). A few low-shell angle bins hold no frequency of the discrete grid (mean 0).
    static func spectralBins(_ p: Int) -> (bins: [Int32], count: Int) {
        let (shells, angles) = (8, 6)
        let w = p / 2 + 1
        var bins = [Int32](repeating: -1, count: p * p * w)
        func frequency(_ i: Int) -> Double { Double(i < (p + 1) / 2 ? i : i - p) / Double(p) }
        for z in 0..<p {
            for y in 0..<p {
                for x in 0..<w {
                    let (kz, ky, kx) = (frequency(z), frequency(y), Double(x) / Double(p))
                    let k = (kz * kz + ky * ky + kx * kx).squareRoot()
                    guard k > 0, k < 0.5 else { continue }
                    let lowest = 1 / Double(p)
                    let shell = min(shells - 1, Int((k - lowest) / (0.5 - lowest) * Double(shells)))
                    let angle = atan2(abs(kz), kx) / (Double.pi / 2)
                    bins[(z * p + y) * w + x] = Int32(shell * angles + min(angles - 1, Int(angle * Double(angles))))
                }
            }
        }
        return (bins, shells * angles)
    }

    /// The statistics-matching terms (config lambda_spectrum, lambda_histogram) of simulated patches
    /// against real noisy ones; nil where the weight is 0.
    func statisticsMatching(_ t: Tape, fake: Variable, real: Variable) -> (spectrum: Variable?, histogram: Variable?) {
        let c = model.config
        var spectrum: Variable?
        if let w = c.lambdaSpectrum, w > 0 {
            if spectralBinTable?.patch != c.patch {
                let (bins, count) = Self.spectralBins(c.patch)
                spectralBinTable = (c.patch, bins, count)
            }
            let (_, bins, count) = spectralBinTable!
            let target = Variable(
                t.binnedMean(t.spectralLogMagnitude(real), bins: bins, count: count).value)
            spectrum = t.mse(t.binnedMean(t.spectralLogMagnitude(fake), bins: bins, count: count), target)
        }
        var histogram: Variable?
        if let w = c.lambdaHistogram, w > 0 {
            histogram = t.mse(t.sortedValues(fake), Variable(t.sortedValues(real).value))
        }
        return (spectrum, histogram)
    }

    /// One alternating update on a batch; returns the losses.
    @discardableResult
    public func step(_ batch: DUALBatch) -> DUALLosses {
        let c = model.config
        let b = batch.clean.shape[0]
        let p = c.patch
        var losses = DUALLosses()
        let clean = Variable(batch.clean)
        let noisy = Variable(batch.noisy)
        let z = Variable(Tensor.normal([b, c.codeLength], seed: seed &+ UInt64(iteration) &* 7919))
        let perm = permutation(p * p * p)
        let flip = cycleFlip(p)

        // Generators.
        let t = Tape()
        func denoise(_ x: Variable) -> Variable {
            guard let flip else { return model.denoiser(x, tape: t) }
            return t.permuteVoxels(model.denoiser(t.permuteVoxels(x, flip), tape: t), flip)
        }
        let mask = model.noiseDecoder(z, tape: t)
        /// Gs(vr + P·Gn(code)) with the noise mask `noise` of a code, permuted by `permutation`.
        func simulate(_ noise: Variable, _ permutation: [Int32]) -> Variable {
            model.generator(t.add(clean, t.permuteVoxels(noise, permutation)), tape: t)
        }
        let fakeNoisy = simulate(mask, perm)  // tf = Gs(vr + P·Gn(z))
        let cycleClean = denoise(fakeNoisy)  // v̂r = Dn(tf)
        let fakeClean = denoise(noisy)  // vf = Dn(tr)
        let codes = model.noiseEncoder(noisy, tape: t)
        // t̂r = Gs(vf + Gn(E(tr)))
        let cycleNoisy = model.generator(t.add(fakeClean, model.noiseDecoder(codes, tape: t)), tape: t)
        let rec = t.add(reconstruction(t, cycleClean, clean), noisyCycleLoss(t, cycleNoisy, noisy))
        let adv = t.add(
            adversarial(t, model.noisyDiscriminator(fakeNoisy, tape: t), label: 1),
            adversarial(t, model.cleanDiscriminator(fakeClean, tape: t), label: 1))
        let kl = t.klToStandardNormal(codes)
        var total = t.add(
            t.add(t.scale(rec, Float(c.lambdaReconstruction)), t.scale(adv, Float(c.lambdaAdversarial))),
            t.scale(kl, Float(c.lambdaKL)))
        let matching = statisticsMatching(t, fake: fakeNoisy, real: noisy)
        if let spectrum = matching.spectrum {
            total = t.add(total, t.scale(spectrum, Float(c.lambdaSpectrum ?? 0)))
            losses.spectrum = spectrum.value.scalar
        }
        if let histogram = matching.histogram {
            total = t.add(total, t.scale(histogram, Float(c.lambdaHistogram ?? 0)))
            losses.histogram = histogram.value.scalar
        }
        if let w = c.lambdaLatent, w > 0 {
            // The code must be readable back from the simulation: E(Gs(v + P·Gn(z))) ≈ z.
            let latent = t.mse(model.noiseEncoder(fakeNoisy, tape: t), Variable(z.value))
            total = t.add(total, t.scale(latent, Float(w)))
            losses.latent = latent.value.scalar
        }
        if let w = c.lambdaDiversity, w > 0 {
            // A second simulation of the same patches: the two must differ.
            // "bandpass": the same code, another permutation, so only voxel-level noise can make them
            // differ (with another code, Gs can answer the code with a texture and ignore the voxels).
            let second: Variable
            if c.noiseDiversity == "bandpass" {
                second = simulate(mask, permutation(p * p * p, draw: 0xd1ff))
            } else {
                let z2 = Variable(Tensor.normal([b, c.codeLength], seed: seed &+ UInt64(iteration) &* 7919 &+ 0x5eed))
                second = simulate(model.noiseDecoder(z2, tape: t), perm)
            }
            // Mean absolute difference: its gradient keeps its size as the two approach each other
            // (a squared difference's vanishes, and a collapsed branch would never leave collapse).
            let diversity = diversityLoss(t, fakeNoisy, second)
            total = t.add(total, t.scale(diversity, Float(w)))
            losses.diversity = diversity.value.scalar
        }
        t.backward(total)
        for p in model.discriminatorParameters { p.zeroGradient() }  // the generator step must not move D
        generatorOptimizer.update()
        losses.reconstruction = rec.value.scalar
        losses.adversarial = adv.value.scalar
        losses.kl = kl.value.scalar

        // Discriminators, on real patches vs the fakes computed above (detached).
        let d = Tape()
        let dt = d.add(
            adversarial(d, model.noisyDiscriminator(noisy, tape: d), label: 1),
            adversarial(d, model.noisyDiscriminator(Variable(fakeNoisy.value), tape: d), label: 0))
        let dv = d.add(
            adversarial(d, model.cleanDiscriminator(clean, tape: d), label: 1),
            adversarial(d, model.cleanDiscriminator(Variable(fakeClean.value), tape: d), label: 0))
        let dLoss = d.scale(d.add(dt, dv), 0.5)
        d.backward(dLoss)
        discriminatorOptimizer.update()
        losses.discriminator = dLoss.value.scalar
        iteration += 1
        return losses
    }
}
