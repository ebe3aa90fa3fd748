import Imaging
import Store
import Voxels

/// A lazy operator: computes output voxels from input volumes. Register new operators in
/// `OperatorRegistry.all` by writing one type.
public protocol LazyOperator: Sendable {
    /// The name used by `tomostore derive --op`.
    static var name: String { get }
    /// Builds the operator from its parameters, rejecting bad or missing ones with a clear message.
    init(parameters: [String: JSONValue]) throws
    /// Number of input datasets.
    var inputCount: Int { get }
    /// Voxels of input needed beyond an output box on every side; nil when the operator is global
    /// (Fourier-space filters), so every chunk needs the whole input.
    var halo: Int? { get }
    /// Computes the output for an input box (float32 volumes, same shape); the result has the same
    /// shape. Borders of the box are treated as mirror borders (scipy's "reflect").
    func compute(_ inputs: [Volume], voxelSize: Double) -> Volume
    /// Computes one output chunk (its box in volume coordinates) from the input datasets. The
    /// default reads the inputs grown by `halo` and crops `compute`'s result; network operators
    /// override it to run overlap tiles anchored to the volume origin.
    func computeChunk(_ chunk: Box3, shape: Extent3, voxelSize: Double, inputs: [Dataset]) throws -> Volume
}

extension LazyOperator {
    public func computeChunk(_ chunk: Box3, shape s: Extent3, voxelSize: Double, inputs: [Dataset]) throws -> Volume {
        let h = halo ?? max(s.x, s.y, s.z)
        let box = Box3(x: max(0, chunk.lower.x - h)..<min(s.x, chunk.upper.x + h), y: max(0, chunk.lower.y - h)..<min(s.y, chunk.upper.y + h),
                       z: max(0, chunk.lower.z - h)..<min(s.z, chunk.upper.z + h))
        let result = compute(try inputs.map { try $0.read(box).converted(to: .float32) }, voxelSize: voxelSize)
        return result.extracting(Box3(lower: Extent3(x: chunk.lower.x - box.lower.x, y: chunk.lower.y - box.lower.y, z: chunk.lower.z - box.lower.z),
                                      upper: Extent3(x: chunk.upper.x - box.lower.x, y: chunk.upper.y - box.lower.y, z: chunk.upper.z - box.lower.z)))
    }
}

/// Why a derivation is refused.
public struct OperatorError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

extension Dictionary where Key == String, Value == JSONValue {
    /// A numeric parameter, its default, or an error naming the parameter and the range.
    func number(_ key: String, default value: Double? = nil, in range: ClosedRange<Double>, op: String) throws -> Double {
        let v: Double
        switch self[key] {
        case .number(let n)?: v = n
        case .string(let s)?: guard let n = Double(s) else { throw OperatorError("\(op): parameter \(key)=\(s) is not a number") }; v = n
        case nil: guard let d = value else { throw OperatorError("\(op): parameter \(key) is required (--param \(key)=…)") }; v = d
        default: throw OperatorError("\(op): parameter \(key) must be a number")
        }
        guard range.contains(v) else { throw OperatorError("\(op): \(key)=\(v) is outside \(range.lowerBound)…\(range.upperBound)") }
        return v
    }

    /// A string parameter with allowed values.
    func choice(_ key: String, default value: String, among options: [String], op: String) throws -> String {
        let v: String
        switch self[key] {
        case .string(let s)?: v = s
        case nil: v = value
        default: throw OperatorError("\(op): parameter \(key) must be one of \(options.joined(separator: ", "))")
        }
        guard options.contains(v) else { throw OperatorError("\(op): \(key)=\(v); choose one of \(options.joined(separator: ", "))") }
        return v
    }

    /// Rejects parameters the operator does not know.
    func only(_ keys: [String], op: String) throws {
        if let extra = self.keys.first(where: { !keys.contains($0) }) {
            throw OperatorError("\(op): unknown parameter \(extra); it takes \(keys.joined(separator: ", "))")
        }
    }
}

/// The operators that `derive` knows.
public enum OperatorRegistry {
    public static let all: [any LazyOperator.Type] = [GaussianOperator.self, DoGOperator.self, NADOperator.self, BandPassOperator.self,
                                                      WedgeMaskOperator.self, CTFOperator.self, DenoiseOperator.self, SimulateOperator.self,
                                                      CompensateOperator.self]

    /// The operator type with this name, or an error listing the known ones.
    public static func type(named name: String) throws -> any LazyOperator.Type {
        if let t = all.first(where: { $0.name == name }) { return t }
        throw OperatorError("unknown operator \(name); available: \(all.map { $0.name }.joined(separator: ", "))")
    }
}

/// Gaussian filter, σ in voxels (scipy.ndimage.gaussian_filter, mode "reflect").
public struct GaussianOperator: LazyOperator {
    public static let name = "gaussian"
    let sigma: Double
    public init(parameters p: [String: JSONValue]) throws {
        try p.only(["sigma"], op: Self.name)
        sigma = try p.number("sigma", in: 0.01...100, op: Self.name)
    }
    public var inputCount: Int { 1 }
    public var halo: Int? { GaussianFilter.kernel(sigma: sigma).count / 2 }
    public func compute(_ inputs: [Volume], voxelSize: Double) -> Volume { GaussianFilter.apply(inputs[0], sigma: sigma) }
}

/// Difference of Gaussians G(σ) − G(1.1σ) (or σ2 given), σ in voxels.
public struct DoGOperator: LazyOperator {
    public static let name = "dog"
    let sigma1: Double, sigma2: Double
    public init(parameters p: [String: JSONValue]) throws {
        try p.only(["sigma", "sigma2"], op: Self.name)
        sigma1 = try p.number("sigma", in: 0.01...100, op: Self.name)
        sigma2 = try p.number("sigma2", default: 1.1 * sigma1, in: 0.01...110, op: Self.name)
    }
    public var inputCount: Int { 1 }
    public var halo: Int? { GaussianFilter.kernel(sigma: max(sigma1, sigma2)).count / 2 }
    public func compute(_ inputs: [Volume], voxelSize: Double) -> Volume {
        GaussianFilter.differenceOfGaussians(inputs[0], sigma1: sigma1, sigma2: sigma2)
    }
}

/// Perona–Malik anisotropic diffusion: κ in intensity units, λ ≤ 1/6, iterations (halo = iterations).
public struct NADOperator: LazyOperator {
    public static let name = "nad"
    let kappa: Double, lambda: Double, iterations: Int
    public init(parameters p: [String: JSONValue]) throws {
        try p.only(["kappa", "lambda", "iterations"], op: Self.name)
        kappa = try p.number("kappa", in: 1e-9...1e9, op: Self.name)
        lambda = try p.number("lambda", default: 1.0 / 7, in: 1e-6...(1.0 / 6), op: Self.name)
        iterations = Int(try p.number("iterations", default: 10, in: 1...500, op: Self.name))
    }
    public var inputCount: Int { 1 }
    public var halo: Int? { iterations }
    public func compute(_ inputs: [Volume], voxelSize: Double) -> Volume {
        AnisotropicDiffusion.apply(inputs[0], kappa: kappa, lambda: lambda, iterations: iterations)
    }
}

/// Radial band-pass in cycles/voxel (global: Fourier transform of the whole volume).
public struct BandPassOperator: LazyOperator {
    public static let name = "bandpass"
    let low: Double, high: Double, rolloff: Double
    public init(parameters p: [String: JSONValue]) throws {
        try p.only(["low", "high", "rolloff"], op: Self.name)
        low = try p.number("low", default: 0, in: 0...0.87, op: Self.name)
        high = try p.number("high", default: 0.87, in: 0...0.87, op: Self.name)
        rolloff = try p.number("rolloff", default: 0.02, in: 0...0.5, op: Self.name)
        guard low <= high else { throw OperatorError("bandpass: low \(low) exceeds high \(high)") }
    }
    public var inputCount: Int { 1 }
    public var halo: Int? { nil }
    public func compute(_ inputs: [Volume], voxelSize: Double) -> Volume {
        FourierFilter.bandPass(inputs[0], low: low, high: high, rolloff: rolloff)
    }
}

/// Removes the missing wedge of a tilt range (degrees; beam z or x) in Fourier space (global),
/// with a hard edge or a raised-cosine transition `transition` degrees wide (`MissingWedge.wedgeWeight`).
public struct WedgeMaskOperator: LazyOperator {
    public static let name = "wedge-mask"
    let wedge: MissingWedge
    let transition: Double
    public init(parameters p: [String: JSONValue]) throws {
        try p.only(["tilt_min", "tilt_max", "beam", "transition"], op: Self.name)
        transition = try p.number("transition", default: 0, in: 0...30, op: Self.name)
        let lo = try p.number("tilt_min", default: -60, in: -90...90, op: Self.name), hi = try p.number("tilt_max", default: 60, in: -90...90, op: Self.name)
        guard lo <= hi else { throw OperatorError("wedge-mask: tilt_min \(lo) exceeds tilt_max \(hi)") }
        let beam = try p.choice("beam", default: "z", among: ["z", "x"], op: Self.name)
        wedge = MissingWedge(minDegrees: lo, maxDegrees: hi, beam: beam == "z" ? .z : .x)
    }
    public var inputCount: Int { 1 }
    public var halo: Int? { nil }
    public func compute(_ inputs: [Volume], voxelSize: Double) -> Volume { wedge.apply(to: inputs[0], transition: transition) }
}

/// Multiplies by the CTF (or flips phases) of |k| in 3D (global), defocus in µm.
public struct CTFOperator: LazyOperator {
    public static let name = "ctf"
    let ctf: CTF, flip: Bool
    public init(parameters p: [String: JSONValue]) throws {
        try p.only(["defocus", "voltage", "cs", "amplitude", "bfactor", "mode"], op: Self.name)
        ctf = CTF(defocus: try p.number("defocus", default: 3, in: -20...20, op: Self.name) * 10_000,
                  voltage: try p.number("voltage", default: 300, in: 60...1000, op: Self.name) * 1000,
                  sphericalAberration: try p.number("cs", default: 2.7, in: 0...10, op: Self.name) * 1e7,
                  amplitudeContrast: try p.number("amplitude", default: 0.07, in: 0...1, op: Self.name),
                  bFactor: try p.number("bfactor", default: 0, in: 0...10_000, op: Self.name))
        flip = try p.choice("mode", default: "multiply", among: ["multiply", "flip"], op: Self.name) == "flip"
    }
    public var inputCount: Int { 1 }
    public var halo: Int? { nil }
    public func compute(_ inputs: [Volume], voxelSize: Double) -> Volume {
        let c = ctf, f = flip
        return FourierFilter.apply(inputs[0]) { kx, ky, kz in
            let v = c.value(at: (kx * kx + ky * ky + kz * kz).squareRoot() / voxelSize)
            return f ? (v >= 0 ? 1 : -1) : v
        }
    }
}
