import Foundation
import Voxels

/// The contrast transfer function of a transmission electron microscope (weak-phase approximation):
/// CTF(k) = −[√(1 − A²) sin χ(k) + A cos χ(k)] · exp(−B k² / 4),
/// χ(k) = π λ Δf k² − π/2 · Cs λ³ k⁴,
/// with k in 1/Å, defocus Δf in Å (positive = underfocus), λ the relativistic electron wavelength.
/// Negative values at low frequency mean dark protein on a bright background, as in experimental
/// data.
public struct CTF: Sendable {
    /// Defocus in Å (positive: underfocus).
    public var defocus: Double
    /// Accelerating voltage in volts.
    public var voltage: Double = 300_000
    /// Spherical aberration in Å (2.7 mm = 2.7e7 Å).
    public var sphericalAberration: Double = 2.7e7
    /// Amplitude contrast fraction.
    public var amplitudeContrast: Double = 0.07
    /// B-factor in Å² (envelope exp(−B k²/4)).
    public var bFactor: Double = 0

    public init(
        defocus: Double, voltage: Double = 300_000, sphericalAberration: Double = 2.7e7,
        amplitudeContrast: Double = 0.07, bFactor: Double = 0
    ) {
        self.defocus = defocus
        self.voltage = voltage
        self.sphericalAberration = sphericalAberration
        self.amplitudeContrast = amplitudeContrast
        self.bFactor = bFactor
    }

    /// Relativistic electron wavelength in Å: 12.2643 / √(V (1 + 0.978466e-6 V)).
    public var wavelength: Double { 12.264_259_8 / (voltage * (1 + 0.978_466e-6 * voltage)).squareRoot() }

    /// CTF value at spatial frequency k (1/Å).
    public func value(at k: Double) -> Double {
        let l = wavelength
        let chi = Double.pi * l * defocus * k * k - Double.pi / 2 * sphericalAberration * l * l * l * k * k * k * k
        let a = amplitudeContrast
        return -((1 - a * a).squareRoot() * sin(chi) + a * cos(chi)) * exp(-bFactor * k * k / 4)
    }

    /// Multiplies a 2D image ([y][x], one z-plane) by the CTF (voxel size in Å).
    public func multiply(_ image: Volume, voxelSize: Double) -> Volume {
        FourierFilter.apply(image) { kx, ky, _ in value(at: (kx * kx + ky * ky).squareRoot() / voxelSize) }
    }

    /// Phase flipping: multiplies the spectrum by the sign of the CTF (2D, per z-plane image).
    public func phaseFlip(_ image: Volume, voxelSize: Double) -> Volume {
        FourierFilter.apply(image) { kx, ky, _ in value(at: (kx * kx + ky * ky).squareRoot() / voxelSize) >= 0 ? 1 : -1
        }
    }

    /// Multiplies a 3D volume by the CTF of |k| (an isotropic approximation for volumes).
    public func multiply3D(_ volume: Volume, voxelSize: Double) -> Volume {
        FourierFilter.apply(volume) { kx, ky, kz in value(at: (kx * kx + ky * ky + kz * kz).squareRoot() / voxelSize) }
    }
}
