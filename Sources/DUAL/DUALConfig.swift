import Foundation
import Voxels

/// Sizes and training settings of a DUAL model (paper, Methods), with a default that trains in
/// minutes on two cores. Stored as JSON in the model's safetensors metadata.
public struct DUALConfig: Codable, Equatable, Sendable {
    /// U-Net levels and base channels (Dn and Gs).
    public var depth = 3
    public var base = 8
    /// Length of the noise code z.
    public var codeLength = 8
    /// Discriminator base channels.
    public var discriminatorBase = 8
    /// Edge of the cubic training subvolumes (and inference tiles).
    public var patch = 32
    /// Loss weights λ1 (reconstruction), λ2 (adversarial), λ3 (KL): paper 1, 1, 0.1.
    public var lambdaReconstruction = 1.0
    public var lambdaAdversarial = 1.0
    public var lambdaKL = 0.1
    /// Reconstruction loss: "paper" = log‖·‖² + log(1 − Pearson); "plain" = MSE + (1 − Pearson),
    /// which our CPU-budget runs found steadier (notes/dual-training.md).
    public var reconstruction = "paper"
    /// The denoiser's output: nil or "linear" = the U-Net head's output; "relu" = ReLU then a learned
    /// scale and offset, so Dn can give an exactly flat background as grand models have (the paper
    /// leaves the output layer open). Optional so that configurations without it keep their bytes.
    public var denoiserOutput: String?
    /// "true": each iteration the denoiser sees its inputs flipped along a random subset of the axes
    /// (x, y, z, each with probability ½) and its outputs are flipped back, inside both cycles. Cycle
    /// consistency alone cannot tell a denoiser that shifts its output by a few voxels (undone by
    /// Gs) from one that does not; with the flips a fixed shift of Dn changes sign from one iteration
    /// to the next and no Gs can undo it, so the cycles hold only for an unshifted Dn. Flips keep the
    /// physics of a symmetric tilt range (missing wedge, CTF). nil or "false": off (the paper's
    /// cycles); optional so that configurations without it keep their bytes.
    public var cycleFlips: String?
    /// Weights of two statistics-matching terms for the simulation branch, added to the generators'
    /// objective (nil = 0, the paper's objective; optional so that configurations without them keep their
    /// bytes). `lambdaSpectrum`: mean squared difference of the batch-mean log Fourier magnitude of
    /// Gs(v + P·Gn(z)) and of the real noisy patches, by frequency shell × angle from x in the xz plane
    /// (so the noise level, its spectrum and the missing wedge). `lambdaHistogram`: mean squared
    /// difference of the two batches' sorted voxel values (the squared 2-Wasserstein distance of the
    /// value distributions). Feature matching (Salimans et al. 2016): the discriminators alone leave the
    /// generator far from these statistics on a CPU budget (docs/dual-runs.md).
    public var lambdaSpectrum: Double?
    public var lambdaHistogram: Double?
    /// Weight of latent regression for the simulation branch (nil = 0, the paper's objective): the mean
    /// squared difference between the code z a simulated patch Gs(v + P·Gn(z)) was made with and the
    /// code the noise encoder reads back from it, E(Gs(v + P·Gn(z))) (BicycleGAN's cLR term, Zhu et al.
    /// 2017). Without it nothing asks the simulation to depend on z, and the cycle Dn(Gs(v + noise)) ≈ v
    /// rewards ignoring it: the noise branch collapses (docs/dual-runs.md: two seeds gave r 0.9999999).
    public var lambdaLatent: Double?
    /// Weight of a diversity term for the simulation branch (nil = 0): −log(mean absolute difference + 10⁻⁴)
    /// between two simulations of the same patches with two codes z₁, z₂ (mode seeking, Mao et al. 2019),
    /// so that the simulated noise depends on the code; the histogram and spectrum terms and the
    /// discriminator keep its level at the data's.
    public var lambdaDiversity: Double?
    /// What the diversity term measures: nil or "difference" = the two simulations' difference as it
    /// is, −log(mean |a − b|), the two made with two codes; "bandpass" = the two made with one code and
    /// two voxel permutations, and the discrete Laplacian (6-neighbour) of their difference's 2×2×2
    /// block means, a band around ¼ cycle/voxel, log taken per voxel (`DUALTrainer.diversityLoss`).
    /// Measured with two codes, Gs answered the code with a texture and ignored the voxels' noise. A plain
    /// difference can be won by shifting each patch's level with the code, which in a simulated volume
    /// becomes a grid of blocks (a spectral peak) and no noise, or by a few large differences;
    /// differences near the Nyquist frequency are lost when a model working finer than the data is
    /// resampled back.
    /// Optional so that configurations without it keep their bytes.
    public var noiseDiversity: String?
    /// How the noisy cycle Gs(Dn(tr) + Gn(E(tr))) ≈ tr is compared: nil or "full" = voxel by voxel (the
    /// paper); "lowpass" = on 4×4×4 block means. Voxel by voxel, Gs is asked to redraw tr's particular
    /// noise from an 8-number code, which it cannot: the loss is least when Gs gives the noise's
    /// conditional mean, none, and the simulation's noise collapses (two seeds r 0.9999999,
    /// docs/dual-runs.md). On block means the structure is still kept and the voxel-scale noise is left
    /// to the discriminator and the statistics terms. Optional so that configurations without it keep
    /// their bytes.
    public var noisyCycle: String?
    /// Whether training ends by fitting the simulation's calibration (`SimulationCalibration`): nil or
    /// "spectrum" = yes (noise spectrum, missing wedge and histogram of the noisy domain); "snr" = the
    /// same and the data's share of structure against noise per frequency bin (two passes of Gs per
    /// tile); "none" = Gs's output as it is. Optional so that configurations without it keep their bytes.
    public var simulationCalibration: String?
    /// AdamW (paper: 1e-4, 0.9, 0.999, 1e-8, weight decay 1e-6).
    public var learningRate = 1e-4
    /// The denoiser Dn's learning rate (nil = `learningRate`). Fine-tuning a working denoiser on one's own
    /// data while the simulation branch (Gs, Gn, E) learns the data's noise wants Dn to move less than
    /// the others (docs/dual-runs.md). Optional so that configurations without it keep their bytes.
    public var denoiserLearningRate: Double?
    public var weightDecay = 1e-6
    public var batch = 4

    public init() {}

    /// JSON with sorted keys: the same configuration always gives the same bytes (digests depend on it).
    public static let canonicalEncoder: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        return e
    }()

    /// Applies `key=value` overrides (the CLI's --config).
    public mutating func apply(_ key: String, _ value: String) throws {
        func int() throws -> Int {
            guard let v = Int(value), v > 0 else {
                throw DUALError("config \(key)=\(value): a positive integer is needed")
            }
            return v
        }
        func double() throws -> Double {
            guard let v = Double(value), v >= 0 else {
                throw DUALError("config \(key)=\(value): a non-negative number is needed")
            }
            return v
        }
        switch key {
        case "depth": depth = try int()
        case "base": base = try int()
        case "code_length": codeLength = try int()
        case "discriminator_base": discriminatorBase = try int()
        case "patch": patch = try int()
        case "lambda_reconstruction": lambdaReconstruction = try double()
        case "lambda_adversarial": lambdaAdversarial = try double()
        case "lambda_kl": lambdaKL = try double()
        case "reconstruction":
            guard ["paper", "plain"].contains(value) else {
                throw DUALError("config reconstruction must be paper or plain")
            }
            reconstruction = value
        case "denoiser_output":
            guard ["linear", "relu"].contains(value) else {
                throw DUALError("config denoiser_output must be linear or relu")
            }
            denoiserOutput = value == "linear" ? nil : value
        case "cycle_flips":
            guard ["true", "false"].contains(value) else { throw DUALError("config cycle_flips must be true or false") }
            cycleFlips = value == "false" ? nil : value
        case "lambda_spectrum": lambdaSpectrum = try double()
        case "lambda_histogram": lambdaHistogram = try double()
        case "lambda_latent": lambdaLatent = try double()
        case "lambda_diversity": lambdaDiversity = try double()
        case "noise_diversity":
            guard ["difference", "bandpass"].contains(value) else {
                throw DUALError("config noise_diversity must be difference or bandpass")
            }
            noiseDiversity = value == "difference" ? nil : value
        case "noisy_cycle":
            guard ["full", "lowpass"].contains(value) else {
                throw DUALError("config noisy_cycle must be full or lowpass")
            }
            noisyCycle = value == "full" ? nil : value
        case "simulation_calibration":
            guard ["spectrum", "snr", "none"].contains(value) else {
                throw DUALError("config simulation_calibration must be spectrum, snr or none")
            }
            simulationCalibration = value == "spectrum" ? nil : value
        case "learning_rate": learningRate = try double()
        case "denoiser_learning_rate": denoiserLearningRate = try double()
        case "weight_decay": weightDecay = try double()
        case "batch": batch = try int()
        default:
            throw DUALError(
                "unknown config key \(key); keys: depth, base, code_length, discriminator_base, patch, "
                    + "lambda_reconstruction, lambda_adversarial, lambda_kl, lambda_spectrum, lambda_histogram, lambda_latent, "
                    + "lambda_diversity, noise_diversity, noisy_cycle, simulation_calibration, "
                    + "reconstruction, denoiser_output, "
                    + "cycle_flips, learning_rate, denoiser_learning_rate, weight_decay, batch"
            )
        }
        guard patch % 8 == 0, patch % (1 << (depth - 1)) == 0 else {
            throw DUALError("config patch \(patch) must be a multiple of 8 and of 2^(depth−1)")
        }
    }
}

/// Why a DUAL operation cannot run.
public struct DUALError: TomoStoreError {
    public let description: String
    public init(_ description: String) { self.description = description }
}

extension DUALConfig {
    /// The settings `train --noisy` without `--clean` (one's own data) adds to the starting model's:
    /// the simulation branch's terms that keep its noise and match the data's statistics
    /// (docs/dual-runs.md, run lp30: noisy_cycle=lowpass, noise_diversity=bandpass, lambda_diversity 1,
    /// lambda_spectrum 10, lambda_histogram 10) at learning rate 1e-4, and the denoiser, which starts
    /// out working, fine-tuned at 2e-5 (run dn2). `--config` overrides each.
    public var ownDataSimulation: DUALConfig {
        var c = self
        c.noisyCycle = "lowpass"
        c.noiseDiversity = "bandpass"
        c.lambdaDiversity = 1
        c.lambdaSpectrum = 10
        c.lambdaHistogram = 10
        c.learningRate = 1e-4
        c.denoiserLearningRate = 2e-5
        return c
    }

    /// The settings missing-wedge compensation training starts from (where our runs found them
    /// steadier than `train`'s): plain reconstruction, adversarial weight 0.3, learning rate 2e-4.
    public static var compensation: DUALConfig {
        var c = DUALConfig()
        c.reconstruction = "plain"
        c.lambdaAdversarial = 0.3
        c.learningRate = 2e-4
        return c
    }
}
