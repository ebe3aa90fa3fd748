import Catalog
import DUAL
import Foundation
import Imaging
import Store
import Voxels

/// What a network operator does to its input so that the model sees data like its training data:
/// the contrast inverted when it is the other way round from the model's domain (parameter
/// `invert`), and the input resampled from its voxel size (`voxel`, Å) to the model's working voxel
/// size (`working_voxel`, Å) and the result back, and low-passed there to the resolution of the
/// model's domain (`resolution`, Å: simulate's grand models, as the clean domain was in training).
/// Decided once, when the dataset is defined, and
/// recorded in its parameters: the same definition always computes the same bytes.
public struct NetworkInputAdaptation: Sendable, Equatable {
    /// The parameters this adaptation reads.
    public static let keys = ["invert", "voxel", "working_voxel", "resolution"]

    public var invert: Bool
    /// The input's voxel size in Å (0: not resampled).
    public var voxel: Double
    /// The voxel size the network runs at in Å.
    public var workingVoxel: Double
    /// The resolution in Å (a Gaussian's FWHM) the input is low-passed to on the working grid; 0: none.
    public var resolution: Double

    public init(invert: Bool, voxel: Double, workingVoxel: Double, resolution: Double = 0) {
        self.invert = invert
        self.voxel = voxel
        self.workingVoxel = workingVoxel
        self.resolution = resolution
    }

    /// Reads the parameters; voxel and working_voxel come together or not at all.
    init(parameters p: [String: JSONValue], op: String) throws {
        invert = try p.flag("invert", default: false, op: op)
        switch (p["voxel"], p["working_voxel"]) {
        case (nil, nil):
            (voxel, workingVoxel) = (0, 0)
        case (.some, .some):
            voxel = try p.number("voxel", in: 0.1...1000, op: op)
            workingVoxel = try p.number("working_voxel", in: 0.1...1000, op: op)
        default:
            throw OperatorError("\(op): parameters voxel and working_voxel go together")
        }
        resolution = p["resolution"] == nil ? 0 : try p.number("resolution", in: 0.1...10_000, op: op)
        if resolution > 0 && workingVoxel == 0 {
            throw OperatorError("\(op): parameter resolution needs voxel and working_voxel")
        }
    }

    /// The parameters to record.
    public var parameters: [String: JSONValue] {
        var out: [String: JSONValue] = ["invert": .bool(invert)]
        // The voxel size also places the resolution on the grid.
        if voxel != workingVoxel || resolution > 0 {
            out["voxel"] = .number(voxel)
            out["working_voxel"] = .number(workingVoxel)
        }
        if resolution > 0 { out["resolution"] = .number(resolution) }
        return out
    }
}

extension NetworkInputAdaptation {
    /// The input as the network sees it: standardized with its statistics (`mean`, `rms`), inverted
    /// when `invert`, mirrored outside its bounds, resampled onto the working grid and low-passed to
    /// `resolution`; `shape` is the working grid's extent (the input's when not resampled). The
    /// operators and training on one's own data read through this one view, so a model trains on
    /// exactly what it will see.
    public func workingView(of input: any VolumeSource) -> (shape: Extent3, read: (Box3) throws -> Volume) {
        let shape = input.shape
        let stats = input.info.stats
        let std = (stats?.rms ?? 1) * (invert ? -1 : 1)
        let mirrored = DUALInference.mirroredReader(shape: shape, mean: stats?.mean ?? 0, std: std) {
            try input.read($0)
        }
        let sigma =
            resolution > 0 && workingVoxel > 0
            ? ModelDomain.lowpassSigma(resolution: resolution, voxel: workingVoxel) : nil
        return Resampler.view(shape: shape, from: voxel, to: workingVoxel, lowpassSigma: sigma, source: mirrored)
    }

    /// Which of the model's domains the operator's input belongs to.
    public enum Domain: Sendable { case noisy, clean }

    /// Decides the adaptation for `input` and a model trained on `domain`: inversion when the
    /// input's recorded contrast differs from the model's domain (`domain` of the model: noisy for
    /// denoise and compensate, clean for simulate), and the working voxel size. `voxelOverride`
    /// replaces the input's voxel size; `resolutionOverride` (clean domain only: FWHM in Å, 0 for none)
    /// replaces the model's `cleanResolution` as the low-pass of the input. Returns the lines that say
    /// what was decided.
    /// - Throws: `OperatorError` when the voxel size is a placeholder (≤ 1 Å) and no override is given.
    public static func decide(
        input: any VolumeSource, model: ModelDomain, domain: Domain, voxelOverride: Double?,
        resolutionOverride: Double? = nil
    ) throws -> (adaptation: NetworkInputAdaptation, notes: [String]) {
        let voxel = voxelOverride ?? input.info.voxelSize[0]
        guard voxel > 1 else {
            throw OperatorError(
                "\(input.name): the voxel size is \(voxel.formatted()) Å, a placeholder rather than a measurement; "
                    + "give the real one with --voxel Å (e.g. --voxel 13.48)")
        }
        let expected = domain == .noisy ? model.noisyContrast : model.cleanContrast
        let recorded = input.info.contrast
        let contrast = recorded ?? (input.info.kind == .grandModel ? .bright : .dark)
        let invert = contrast != expected
        var notes: [String] = []
        let how = recorded == nil ? "not recorded, taken as \(contrast.rawValue)" : "\(contrast.rawValue)"
        notes.append(
            "contrast: \(input.name) is \(how), the model's \(domain) domain \(expected.rawValue): "
                + (invert ? "inverted before the network" : "used as it is"))
        var working = voxel
        if domain == .noisy {
            let grain = try NoiseGrain.measure(shape: input.shape) { try input.read($0) }
            working = model.workingVoxel(inputVoxel: voxel, grain: grain)
            let measured = String(
                format: "%@ at %g Å (noise grain %.2f), model at %g Å (grain %.2f)", input.name, voxel, grain,
                model.voxelSize, model.noiseGrain)
            notes.append(
                working == voxel
                    ? "voxel size: \(measured): run at \(voxel.formatted()) Å, not resampled"
                    : "voxel size: \(measured): run at " + String(format: "%.2f", working)
                        + " Å (Lanczos-3 resampling there and back)")
        } else if abs(model.voxelSize / voxel - 1) >= 0.05 {
            working = model.voxelSize
            notes.append("voxel size: \(input.name) at \(voxel.formatted()) Å resampled to the model's \(working) Å")
        }
        var resolution = 0.0
        if domain == .clean, let r = resolutionOverride ?? model.cleanResolution, r > 0,
            ModelDomain.lowpassSigma(resolution: r, voxel: working) != nil
        {
            resolution = r
            notes.append(
                "resolution: \(input.name) low-passed to \(r.formatted()) Å, "
                    + (resolutionOverride == nil ? "as the model's clean domain was in training" : "as asked")
            )
        } else if domain == .clean, resolutionOverride == 0, let r = model.cleanResolution {
            notes.append(
                "resolution: \(input.name) not low-passed, as asked (the model's clean domain was at "
                    + "\(r.formatted()) Å in training)")
        }
        return (
            NetworkInputAdaptation(invert: invert, voxel: voxel, workingVoxel: working, resolution: resolution), notes
        )
    }
}
