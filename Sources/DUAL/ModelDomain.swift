import Foundation
import Voxels

/// The scale and contrast a DUAL model was trained at, from its file's metadata: `voxel_size` (Å),
/// `noise_grain` (`NoiseGrain` of its noisy domain), `contrast_noisy` / `contrast_clean` (of the domains
/// as the networks see them) and `contrast_data` (of the noisy data as stored; a model fine-tuned on
/// bright data sees it inverted, and simulates in the data's contrast).
/// Models written before these were recorded were trained on `tomostore synth` tomograms at 10 Å
/// (protein dark) against grand models (bright): those are the defaults.
public struct ModelDomain: Sendable, Equatable {
    public var voxelSize: Double
    public var noiseGrain: Double
    public var noisyContrast: Contrast
    public var cleanContrast: Contrast
    /// The contrast of the noisy data as given to training, in which `simulate` writes its tomograms.
    public var dataContrast: Contrast
    /// The resolution (Å, the FWHM of a Gaussian) the clean domain was low-passed to in training (the
    /// grand models `train --noisy` builds: twice the data's voxel size); nil: not low-passed.
    /// `simulate` low-passes its grand model the same way.
    public var cleanResolution: Double?

    /// The grain of `tomostore synth` tomograms at 10 Å with the default settings (the shipped
    /// model's noisy domain), measured with `NoiseGrain`.
    public static let syntheticGrain = 0.36

    public init(
        voxelSize: Double, noiseGrain: Double, noisyContrast: Contrast, cleanContrast: Contrast,
        dataContrast: Contrast? = nil
    ) {
        (self.voxelSize, self.noiseGrain) = (voxelSize, noiseGrain)
        (self.noisyContrast, self.cleanContrast) = (noisyContrast, cleanContrast)
        self.dataContrast = dataContrast ?? noisyContrast
    }

    public init(metadata m: [String: String]) {
        voxelSize = m["voxel_size"].flatMap(Double.init).flatMap { $0 > 0 ? $0 : nil } ?? 10
        noiseGrain = m["noise_grain"].flatMap(Double.init).flatMap { $0 > 0 ? $0 : nil } ?? Self.syntheticGrain
        noisyContrast = m["contrast_noisy"].flatMap(Contrast.init(rawValue:)) ?? .dark
        cleanContrast = m["contrast_clean"].flatMap(Contrast.init(rawValue:)) ?? .bright
        dataContrast = m["contrast_data"].flatMap(Contrast.init(rawValue:)) ?? noisyContrast
        cleanResolution = m["clean_resolution"].flatMap(Double.init).flatMap { $0 > 0 ? $0 : nil }
    }

    /// The metadata that records this domain.
    public var metadata: [String: String] {
        var m = [
            "voxel_size": String(voxelSize), "noise_grain": String(format: "%.4f", noiseGrain),
            "contrast_noisy": noisyContrast.rawValue, "contrast_clean": cleanContrast.rawValue,
            "contrast_data": dataContrast.rawValue,
        ]
        if let cleanResolution { m["clean_resolution"] = String(cleanResolution) }
        return m
    }

    /// The σ in voxels of `voxel` Å of a Gaussian low-pass to `resolution` Å (its FWHM); nil where σ is
    /// under 0.3 voxel, which leaves the data as they are.
    public static func lowpassSigma(resolution: Double, voxel: Double) -> Double? {
        let sigma = resolution / (2 * (2 * log(2.0)).squareRoot()) / voxel
        return sigma > 0.3 ? sigma : nil
    }

    /// Input is upsampled by at most this factor (see `workingVoxel`).
    public static let maximumUpsampling = 1.5

    /// The voxel size to run the network at for input of `voxel` Å whose noise grain is `grain`.
    ///
    /// Structures have physical sizes, so the model's voxel size is the target; but upsampling
    /// leaves the network two things it never saw in training. (1) The noise gets coarser by the
    /// upsampling factor, and noise much coarser than the training noise looks like structure (it
    /// invents particles): the grain must stay at least half the training grain. (2) Above the
    /// input's own Nyquist frequency the upsampled data are empty, where the training data were full
    /// of noise and detail: upsampling by more than 1.5× loses more than the resolution it gains.
    /// So working = clamp(max(voxel × trainingGrain / (2 × grain), voxel / 1.5), model's, input's).
    /// Data finer than the model is brought to the model's voxel size. Within 5% of the input's,
    /// the input's is used. Measured on a synthetic sample resampled from 10 Å (README, Real data):
    /// at 13.5 Å the best working size is 10 Å (r 0.889; 0.878 at 12, 0.844 at 14), at 20 Å it is
    /// 12–14 Å (r 0.796; 0.735 at 10 Å, 0.737 at 16); a 40 Å real tomogram with smooth noise
    /// (grain 0.27) works best near 27 Å and worst upsampled all the way to 10 Å.
    public func workingVoxel(inputVoxel voxel: Double, grain: Double) -> Double {
        let working: Double
        if voxel <= voxelSize {
            working = voxelSize
        } else {
            let grainLimited = grain > 0 ? voxel * noiseGrain / (2 * grain) : voxel
            working = min(voxel, max(voxelSize, grainLimited, voxel / Self.maximumUpsampling))
        }
        return abs(working / voxel - 1) < 0.05 ? voxel : working
    }
}
