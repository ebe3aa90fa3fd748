import Engine
import Foundation
import Voxels

/// The noise decoder Gn: a code z (K) → a non-structural noise mask of one patch: a linear layer to
/// 4³ voxels × C channels, three transposed convolutions (×2 each, LeakyReLU) and a 1×1×1 convolution.
public final class NoiseDecoder: Module {
    let fc: Linear, ups: [ConvTranspose3d], head: Conv3d
    let channels: Int, start: Int

    init(codeLength: Int, channels c: Int, patch: Int, seed: UInt64) {
        channels = c
        start = patch / 8
        fc = Linear(codeLength, c * start * start * start, seed: seed)
        ups = (0..<3).map { ConvTranspose3d(c, c, seed: seed &+ UInt64($0 + 1)) }
        head = Conv3d(c, 1, kernel: 1, seed: seed &+ 9)
    }

    public var namedParameters: [(String, Variable)] {
        prefixed("fc", fc) + ups.enumerated().flatMap { prefixed("up.\($0.offset)", $0.element) }
            + prefixed("head", head)
    }

    func callAsFunction(_ z: Variable, tape: Tape) -> Variable {
        var h = tape.leakyReLU(fc(z, tape: tape))
        h = tape.reshape(h, [z.shape[0], channels, start, start, start])
        for u in ups { h = tape.leakyReLU(u(h, tape: tape)) }
        return head(h, tape: tape)
    }
}

/// The noise encoder E: a patch → a code (K): three stride-2 convolutions (LeakyReLU), then a
/// linear layer from the flattened 4³ × C features.
public final class NoiseEncoder: Module {
    let convs: [Conv3d], fc: Linear
    let channels: Int, end: Int

    init(codeLength: Int, channels c: Int, patch: Int, seed: UInt64) {
        channels = c
        end = patch / 8
        convs = [
            Conv3d(1, c, stride: 2, seed: seed), Conv3d(c, c, stride: 2, seed: seed &+ 1),
            Conv3d(c, c, stride: 2, seed: seed &+ 2),
        ]
        fc = Linear(c * end * end * end, codeLength, seed: seed &+ 3)
    }

    public var namedParameters: [(String, Variable)] {
        convs.enumerated().flatMap { prefixed("conv.\($0.offset)", $0.element) } + prefixed("fc", fc)
    }

    func callAsFunction(_ x: Variable, tape: Tape) -> Variable {
        var h = x
        for c in convs { h = tape.conv3dLeakyReLU(h, c.weight, c.bias, stride: 2) }
        return fc(tape.reshape(h, [x.shape[0], channels * end * end * end]), tape: tape)
    }
}

/// A discriminator scoring a patch in real space and in Fourier-magnitude space: two branches of
/// three stride-2 convolutions + a linear layer to one logit each.
public final class Discriminator: Module {
    let spatial: [Conv3d], spectral: [Conv3d], spatialFC: Linear, spectralFC: Linear
    let channels: Int, patch: Int

    init(channels c: Int, patch: Int, seed: UInt64) {
        channels = c
        self.patch = patch
        spatial = [
            Conv3d(1, c, stride: 2, seed: seed), Conv3d(c, 2 * c, stride: 2, seed: seed &+ 1),
            Conv3d(2 * c, 2 * c, stride: 2, seed: seed &+ 2),
        ]
        spectral = [
            Conv3d(1, c, stride: 2, seed: seed &+ 3), Conv3d(c, 2 * c, stride: 2, seed: seed &+ 4),
            Conv3d(2 * c, 2 * c, stride: 2, seed: seed &+ 5),
        ]
        let e = patch / 8
        let w = ((patch / 2 + 1) + 7) / 8
        spatialFC = Linear(2 * c * e * e * e, 1, seed: seed &+ 6)
        spectralFC = Linear(2 * c * e * e * w, 1, seed: seed &+ 7)
    }

    public var namedParameters: [(String, Variable)] {
        spatial.enumerated().flatMap { prefixed("spatial.\($0.offset)", $0.element) }
            + prefixed("spatial_fc", spatialFC)
            + spectral.enumerated().flatMap { prefixed("spectral.\($0.offset)", $0.element) }
            + prefixed("spectral_fc", spectralFC)
    }

    /// (spatial logit, spectral logit), each [B, 1].
    func callAsFunction(_ x: Variable, tape: Tape) -> (Variable, Variable) {
        var a = x
        for c in spatial { a = tape.conv3dLeakyReLU(a, c.weight, c.bias, stride: 2) }
        var b = tape.spectralLogMagnitude(x)
        for c in spectral { b = tape.conv3dLeakyReLU(b, c.weight, c.bias, stride: 2) }
        let n = x.shape[0]
        return (
            spatialFC(tape.reshape(a, [n, a.value.count / n]), tape: tape),
            spectralFC(tape.reshape(b, [n, b.value.count / n]), tape: tape)
        )
    }
}

/// The six networks of DUAL: denoiser Dn, structural-noise generator Gs (both U-Nets without an
/// identity path), noise decoder Gn, noise encoder E, discriminators Dt (noisy domain) and Dv (clean).
public final class DUALModel: Module {
    public let config: DUALConfig
    public let denoiser: UNet3D
    public let generator: UNet3D
    public let noiseDecoder: NoiseDecoder
    public let noiseEncoder: NoiseEncoder
    public let noisyDiscriminator: Discriminator
    public let cleanDiscriminator: Discriminator
    private let calibration = Locked<SimulationCalibration?>(nil)

    /// The simulation's last stage, fitted after training (nil: none, as in models trained before it).
    public var simulationCalibration: SimulationCalibration? {
        get { calibration.withLock { $0 } }
        set { calibration.withLock { $0 = newValue } }
    }

    public init(config c: DUALConfig = DUALConfig(), seed: UInt64 = 1) {
        config = c
        denoiser = UNet3D(base: c.base, depth: c.depth, outputReLU: c.denoiserOutput == "relu", seed: seed &+ 100)
        generator = UNet3D(base: c.base, depth: c.depth, seed: seed &+ 200)
        noiseDecoder = NoiseDecoder(codeLength: c.codeLength, channels: c.base, patch: c.patch, seed: seed &+ 300)
        noiseEncoder = NoiseEncoder(codeLength: c.codeLength, channels: c.base, patch: c.patch, seed: seed &+ 400)
        noisyDiscriminator = Discriminator(channels: c.discriminatorBase, patch: c.patch, seed: seed &+ 500)
        cleanDiscriminator = Discriminator(channels: c.discriminatorBase, patch: c.patch, seed: seed &+ 600)
    }

    /// The generators' parameters (Dn, Gs, Gn, E).
    public var generatorParameters: [Variable] {
        denoiser.parameters + generator.parameters + noiseDecoder.parameters + noiseEncoder.parameters
    }
    /// The discriminators' parameters.
    public var discriminatorParameters: [Variable] { noisyDiscriminator.parameters + cleanDiscriminator.parameters }

    public var namedParameters: [(String, Variable)] {
        prefixed("dn", denoiser) + prefixed("gs", generator) + prefixed("gn", noiseDecoder)
            + prefixed("e", noiseEncoder)
            + prefixed("dt", noisyDiscriminator) + prefixed("dv", cleanDiscriminator)
    }

    /// A hex digest of every parameter's bytes, the configuration and the simulation calibration, if
    /// any (identifies a model).
    public var digest: String {
        parameterDigest(
            header: Array((try? DUALConfig.canonicalEncoder.encode(config)) ?? Data())
                + (simulationCalibration?.digestBytes ?? []))
    }
}
