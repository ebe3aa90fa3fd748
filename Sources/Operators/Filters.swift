import Imaging
import Store
import Voxels

/// An operator that filters whole volumes with mirror borders (scipy's "reflect"): given its input
/// grown by `halo` (or the whole input when `halo` is nil), it gives the exact whole-volume result
/// on the box it was grown from.
public protocol VolumeFilter: OperatorDefinition, PreparedOperator {
    /// Builds the filter from its parameters, rejecting bad or missing ones with a clear message.
    init(parameters: [String: JSONValue]) throws
    /// Voxels of input needed beyond an output box on every side; nil for global filters.
    var halo: Int? { get }
    /// The filter applied to input volumes (float32, same shape); the result has that shape.
    func compute(_ inputs: [Volume], voxelSize: Double) -> Volume
}

extension VolumeFilter {
    public static var inputCount: Int { 1 }

    public static func validate(parameters: [String: JSONValue]) throws { _ = try Self(parameters: parameters) }

    public static func prepare(parameters: [String: JSONValue], context: OperatorContext) throws -> any PreparedOperator
    {
        try Self(parameters: parameters)
    }

    public var footprint: Footprint { halo.map { .halo($0) } ?? .global }

    public func compute(_ region: Box3, inputs: [any VolumeSource], voxelSize: Double) throws -> Volume {
        let shape = inputs[0].shape
        let box = halo.map { region.grown(by: $0).clamped(to: shape) } ?? Box3(shape: shape)
        let result = compute(try inputs.map { try $0.read(box).converted(to: .float32) }, voxelSize: voxelSize)
        return box == region ? result : result.extracting(region.relative(to: box))
    }
}

/// A global filter that multiplies the volume's spectrum by a real, even mask (periodic boundaries).
/// Derived datasets compute it out of core (`OutOfCoreFourierFilter`): any volume, bounded memory.
public protocol SpectralMaskFilter: VolumeFilter {
    /// The mask at (kx, ky, kz) in cycles/voxel, signed, for a volume of `voxelSize` Å.
    func mask(voxelSize: Double) -> (Double, Double, Double) -> Double
}

extension SpectralMaskFilter {
    public var halo: Int? { nil }
    /// The same filter on a volume in memory (3D transform; equal to the out-of-core result within
    /// float32 rounding).
    public func compute(_ inputs: [Volume], voxelSize: Double) -> Volume {
        FourierFilter.apply(inputs[0], mask: mask(voxelSize: voxelSize))
    }
}

/// Gaussian filter, σ in voxels (scipy.ndimage.gaussian_filter, mode "reflect").
public struct GaussianOperator: VolumeFilter {
    public static let name = "gaussian"
    let sigma: Double
    public init(parameters p: [String: JSONValue]) throws {
        try p.only(["sigma"], op: Self.name)
        sigma = try p.number("sigma", in: 0.01...100, op: Self.name)
    }
    public var halo: Int? { GaussianFilter.kernel(sigma: sigma).count / 2 }
    public func compute(_ inputs: [Volume], voxelSize: Double) -> Volume {
        GaussianFilter.apply(inputs[0], sigma: sigma)
    }
}

/// Difference of Gaussians G(σ) − G(1.1σ) (or σ2 given), σ in voxels.
public struct DoGOperator: VolumeFilter {
    public static let name = "dog"
    let sigma1: Double, sigma2: Double
    public init(parameters p: [String: JSONValue]) throws {
        try p.only(["sigma", "sigma2"], op: Self.name)
        sigma1 = try p.number("sigma", in: 0.01...100, op: Self.name)
        sigma2 = try p.number("sigma2", default: 1.1 * sigma1, in: 0.01...110, op: Self.name)
    }
    public var halo: Int? { GaussianFilter.kernel(sigma: max(sigma1, sigma2)).count / 2 }
    public func compute(_ inputs: [Volume], voxelSize: Double) -> Volume {
        GaussianFilter.differenceOfGaussians(inputs[0], sigma1: sigma1, sigma2: sigma2)
    }
}

/// Perona–Malik anisotropic diffusion: κ in intensity units, λ ≤ 1/6, iterations (halo = iterations).
public struct NADOperator: VolumeFilter {
    public static let name = "nad"
    let kappa: Double, lambda: Double, iterations: Int
    public init(parameters p: [String: JSONValue]) throws {
        try p.only(["kappa", "lambda", "iterations"], op: Self.name)
        kappa = try p.number("kappa", in: 1e-9...1e9, op: Self.name)
        lambda = try p.number("lambda", default: 1.0 / 7, in: 1e-6...(1.0 / 6), op: Self.name)
        iterations = Int(try p.number("iterations", default: 10, in: 1...500, op: Self.name))
    }
    public var halo: Int? { iterations }
    public func compute(_ inputs: [Volume], voxelSize: Double) -> Volume {
        AnisotropicDiffusion.apply(inputs[0], kappa: kappa, lambda: lambda, iterations: iterations)
    }
}

/// Radial band-pass in cycles/voxel (global: Fourier transform of the whole volume).
public struct BandPassOperator: SpectralMaskFilter {
    public static let name = "bandpass"
    let low: Double, high: Double, rolloff: Double
    public init(parameters p: [String: JSONValue]) throws {
        try p.only(["low", "high", "rolloff"], op: Self.name)
        low = try p.number("low", default: 0, in: 0...0.87, op: Self.name)
        high = try p.number("high", default: 0.87, in: 0...0.87, op: Self.name)
        rolloff = try p.number("rolloff", default: 0.02, in: 0...0.5, op: Self.name)
        guard low <= high else { throw OperatorError("bandpass: low \(low) exceeds high \(high)") }
    }
    public func mask(voxelSize: Double) -> (Double, Double, Double) -> Double {
        let (low, high, rolloff) = (low, high, rolloff)
        return { kx, ky, kz in
            FourierFilter.edge((kx * kx + ky * ky + kz * kz).squareRoot(), low: low, high: high, rolloff: rolloff)
        }
    }
}

/// Removes the missing wedge of a tilt range (degrees; beam z or x) in Fourier space (global),
/// with a hard edge or a raised-cosine transition `transition` degrees wide (`MissingWedge.wedgeWeight`).
public struct WedgeMaskOperator: SpectralMaskFilter {
    public static let name = "wedge-mask"
    let wedge: MissingWedge
    let transition: Double
    public init(parameters p: [String: JSONValue]) throws {
        try p.only(["tilt_min", "tilt_max", "beam", "transition"], op: Self.name)
        transition = try p.number("transition", default: 0, in: 0...30, op: Self.name)
        let lo = try p.number("tilt_min", default: -60, in: -90...90, op: Self.name)
        let hi = try p.number("tilt_max", default: 60, in: -90...90, op: Self.name)
        guard lo <= hi else { throw OperatorError("wedge-mask: tilt_min \(lo) exceeds tilt_max \(hi)") }
        let beam = try p.choice("beam", default: "z", among: ["z", "x"], op: Self.name)
        wedge = MissingWedge(minDegrees: lo, maxDegrees: hi, beam: beam == "z" ? .z : .x)
    }
    public func mask(voxelSize: Double) -> (Double, Double, Double) -> Double {
        let (wedge, transition) = (wedge, transition)
        return { kx, ky, kz in 1 - wedge.wedgeWeight(kx: kx, ky: ky, kz: kz, transition: transition) }
    }
}

/// Multiplies by the CTF (or flips phases) of |k| in 3D (global), defocus in µm.
public struct CTFOperator: SpectralMaskFilter {
    public static let name = "ctf"
    let ctf: CTF, flip: Bool
    public init(parameters p: [String: JSONValue]) throws {
        try p.only(["defocus", "voltage", "cs", "amplitude", "bfactor", "mode"], op: Self.name)
        ctf = CTF(
            defocus: try p.number("defocus", default: 3, in: -20...20, op: Self.name) * 10_000,
            voltage: try p.number("voltage", default: 300, in: 60...1000, op: Self.name) * 1000,
            sphericalAberration: try p.number("cs", default: 2.7, in: 0...10, op: Self.name) * 1e7,
            amplitudeContrast: try p.number("amplitude", default: 0.07, in: 0...1, op: Self.name),
            bFactor: try p.number("bfactor", default: 0, in: 0...10_000, op: Self.name))
        flip = try p.choice("mode", default: "multiply", among: ["multiply", "flip"], op: Self.name) == "flip"
    }
    public func mask(voxelSize: Double) -> (Double, Double, Double) -> Double {
        let c = ctf
        let f = flip
        return { kx, ky, kz in
            let v = c.value(at: (kx * kx + ky * ky + kz * kz).squareRoot() / voxelSize)
            return f ? (v >= 0 ? 1 : -1) : v
        }
    }
}
