import Catalog
import Store
import Voxels

/// The input region a prepared operator needs for an output region.
public enum Footprint: Sendable, Equatable {
    /// The output box plus `halo` voxels on every side (clamped to the volume, where the operator's
    /// mirror border applies), so any box gives the whole-volume result.
    case halo(Int)
    /// Overlap tiles of `edge` voxels sharing `overlap` voxels with each neighbour, anchored to the
    /// origin of the working grid (network operators), which has `voxelsPerWorkingVoxel` input voxels
    /// per voxel (1: the input's grid; else the input is resampled there and the result back with a
    /// Lanczos-3 kernel): any box gives the whole-volume result.
    case tiles(edge: Int, overlap: Int, voxelsPerWorkingVoxel: Double)
    /// Every output voxel depends on the whole input (Fourier-space filters).
    case global
}

/// What preparing an operator may read from the store: the models it names, by digest.
public struct OperatorContext: Sendable {
    /// Where models are found by digest.
    public let models: ModelRegistry

    public init(store: Store) { models = ModelRegistry(store: store) }
}

/// A kind of operator: its name, how many inputs it takes, and how to prepare it from parameters.
/// Register new ones in `OperatorRegistry.standard`.
public protocol OperatorDefinition: Sendable {
    /// The name used by `tomostore derive --op` and stored in derivations.
    static var name: String { get }
    /// Number of input datasets.
    static var inputCount: Int { get }
    /// Checks the parameters, rejecting bad or missing ones with a message naming the parameter.
    static func validate(parameters: [String: JSONValue]) throws
    /// Builds everything the per-region work needs once: parameters, plans, spectral weights, the
    /// network with its weights.
    static func prepare(parameters: [String: JSONValue], context: OperatorContext) throws -> any PreparedOperator
    /// The protein contrast of the result for inputs of these contrasts (default: the first input's).
    static func outputContrast(inputs: [Contrast?], parameters: [String: JSONValue]) -> Contrast?
    /// The result's data type (default float32) and class table (label value → name, default none),
    /// which may come from the model the parameters name.
    static func outputLayout(parameters: [String: JSONValue], context: OperatorContext) throws -> (
        dtype: DType, classes: [String: String]?
    )
}

extension OperatorDefinition {
    public static func outputContrast(inputs: [Contrast?], parameters: [String: JSONValue]) -> Contrast? {
        inputs.first ?? nil
    }

    public static func outputLayout(parameters: [String: JSONValue], context: OperatorContext) throws -> (
        dtype: DType, classes: [String: String]?
    ) { (.float32, nil) }
}

/// An operator ready to compute: pure in its inputs, so regions can be computed in any order (and
/// in parallel) and give the same bytes.
public protocol PreparedOperator: Sendable {
    /// What input an output region needs.
    var footprint: Footprint { get }
    /// Computes the float32 output of `region` (volume coordinates, x, y, z voxels) from the inputs
    /// (all of `shape`); `voxelSize` in Å.
    func compute(_ region: Box3, inputs: [any VolumeSource], voxelSize: Double) throws -> Volume
}

/// Why an operator or a derivation is refused.
public struct OperatorError: TomoStoreError {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// The operators a workspace knows, by name.
public struct OperatorRegistry: Sendable {
    /// The definitions, in the order `derive --help` lists them.
    public let definitions: [any OperatorDefinition.Type]

    public init(_ definitions: [any OperatorDefinition.Type]) { self.definitions = definitions }

    /// Filters and DUAL's network operators.
    public static let standard = OperatorRegistry([
        GaussianOperator.self, DoGOperator.self, NADOperator.self, BandPassOperator.self, WedgeMaskOperator.self,
        CTFOperator.self, DenoiseOperator.self, SimulateOperator.self, CompensateOperator.self, SegmentOperator.self,
    ])

    /// The operator with this name, or an error listing the known ones.
    public func definition(named name: String) throws -> any OperatorDefinition.Type {
        if let d = definitions.first(where: { $0.name == name }) { return d }
        let known = definitions.map { $0.name }.joined(separator: ", ")
        throw OperatorError("unknown operator \(name); available: \(known)")
    }
}

extension Dictionary where Key == String, Value == JSONValue {
    /// A numeric parameter, its default, or an error naming the parameter and the range.
    func number(_ key: String, default value: Double? = nil, in range: ClosedRange<Double>, op: String) throws -> Double
    {
        let v: Double
        switch self[key] {
        case .number(let n)?:
            v = n
        case .string(let s)?:
            guard let n = Double(s) else { throw OperatorError("\(op): parameter \(key)=\(s) is not a number") }
            v = n
        case nil:
            guard let d = value else { throw OperatorError("\(op): parameter \(key) is required (\(key)=…)") }
            v = d
        default:
            throw OperatorError("\(op): parameter \(key) must be a number")
        }
        guard range.contains(v) else {
            throw OperatorError("\(op): \(key)=\(v) is outside \(range.lowerBound)…\(range.upperBound)")
        }
        return v
    }

    /// A boolean parameter (JSON true/false or the strings "true"/"false").
    func flag(_ key: String, default value: Bool, op: String) throws -> Bool {
        switch self[key] {
        case nil: return value
        case .bool(let b)?: return b
        case .string("true")?: return true
        case .string("false")?: return false
        default: throw OperatorError("\(op): parameter \(key) must be true or false")
        }
    }

    /// A string parameter with allowed values.
    func choice(_ key: String, default value: String, among options: [String], op: String) throws -> String {
        let v: String
        switch self[key] {
        case .string(let s)?: v = s
        case nil: v = value
        default: throw OperatorError("\(op): parameter \(key) must be one of \(options.joined(separator: ", "))")
        }
        guard options.contains(v) else {
            throw OperatorError("\(op): \(key)=\(v); choose one of \(options.joined(separator: ", "))")
        }
        return v
    }

    /// Rejects parameters the operator does not know.
    func only(_ keys: [String], op: String) throws {
        if let extra = self.keys.sorted().first(where: { !keys.contains($0) }) {
            throw OperatorError("\(op): unknown parameter \(extra); it takes \(keys.joined(separator: ", "))")
        }
    }
}
