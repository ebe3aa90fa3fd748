import Catalog
import Engine
import Foundation
import Segmentation
import Store
import Voxels

/// Segmentation with a trained `Segmenter` (parameter `model`, a digest of a model stored in the
/// store): overlap tiles over the working grid like denoise's (`NetworkTiling`: the input
/// standardized, inverted to the segmenter's training contrast and resampled to its voxel size,
/// parameters invert, voxel, working_voxel), the softmax over classes blended per class and brought
/// back to the input's grid. Parameter `output`: `probability` (with `class`, a channel index ≥ 1)
/// gives that class's probability p clamped to 0…1, as float32 (`dtype` float32) or as uint8
/// round(255·p) (`dtype` uint8, the default of definitions that name none); `labels` gives the uint8
/// index of the most probable class (ties: the lowest), with the class table recorded.
public enum SegmentOperator: OperatorDefinition {
    public static let name = "segment"
    public static let inputCount = 1

    static let keys = ["model", "output", "class", "dtype", "tile", "overlap"] + NetworkInputAdaptation.keys

    /// The probability's storage by `dtype` name: float32 keeps every probability p; uint8 stores
    /// round(255·p) and so ties the many voxels under 1/510 at 0, which loses their ranking (README
    /// "Segmentation").
    public static let probabilityTypes: [String: DType] = ["float32": .float32, "uint8": .uint8]

    static func probabilityType(_ p: [String: JSONValue]) throws -> DType {
        let chosen = try p.choice("dtype", default: "uint8", among: probabilityTypes.keys.sorted(), op: name)
        return probabilityTypes[chosen]!
    }

    /// Probabilities and labels are not tomograms: no contrast.
    public static func outputContrast(inputs: [Contrast?], parameters: [String: JSONValue]) -> Contrast? { nil }

    /// Probabilities as `dtype`; labels uint8 with the model's class table.
    public static func outputLayout(parameters p: [String: JSONValue], context: OperatorContext) throws -> (
        dtype: DType, classes: [String: String]?
    ) {
        let output = try p.choice("output", default: "probability", among: ["probability", "labels"], op: name)
        guard output == "labels" else { return (try probabilityType(p), nil) }
        let model = try load(p, context: context)
        return (.uint8, Dictionary(uniqueKeysWithValues: model.config.classes.enumerated().map { ("\($0)", $1) }))
    }

    public static func validate(parameters p: [String: JSONValue]) throws {
        try p.only(keys, op: name)
        guard case .string? = p["model"] else {
            throw OperatorError("segment: parameter model (a model digest) is required")
        }
        let output = try p.choice("output", default: "probability", among: ["probability", "labels"], op: name)
        if output == "probability" {
            _ = try p.number("class", in: 1...255, op: name)
            _ = try probabilityType(p)
        } else if p["class"] != nil || p["dtype"] != nil {
            throw OperatorError("segment: parameters class and dtype are for output=probability")
        }
        _ = try p.number("overlap", default: 0.5, in: 0.05...0.5, op: name)
        _ = try p.number("tile", default: 64, in: 8...256, op: name)
        _ = try NetworkInputAdaptation(parameters: p, op: name)
    }

    /// The segmenter parameter `model` names.
    static func load(_ p: [String: JSONValue], context: OperatorContext) throws -> Segmenter {
        guard case .string(let digest)? = p["model"] else {
            throw OperatorError("segment: parameter model (a model digest) is required")
        }
        guard let bytes = try context.models.bytes(digest: digest) else {
            throw OperatorError("segment: model \(digest) is not in the store; define the dataset again with a model")
        }
        return try SegmenterFile.decode(bytes: bytes, source: "stored model \(digest)").model
    }

    public static func prepare(parameters p: [String: JSONValue], context: OperatorContext) throws
        -> any PreparedOperator
    {
        try validate(parameters: p)
        let model = try load(p, context: context)
        let edge = Int(try p.number("tile", default: 64, in: 8...256, op: name))
        try PreparedNetworkOperator.check(tile: edge, depth: model.config.depth, op: name)
        let channel: Int?
        let dtype = try probabilityType(p)
        if try p.choice("output", default: "probability", among: ["probability", "labels"], op: name) == "labels" {
            channel = nil
        } else {
            let c = Int(try p.number("class", in: 1...255, op: name))
            guard c < model.config.classes.count else {
                throw OperatorError(
                    "segment: class \(c) is outside the model's classes 0…\(model.config.classes.count - 1)")
            }
            channel = c
        }
        return PreparedSegmentOperator(
            model: model, tiling: try NetworkTiling(op: name, parameters: p, edge: edge), channel: channel,
            dtype: dtype)
    }
}

/// A segmenter ready to compute one class's probability (`channel`) or the label volume (nil).
struct PreparedSegmentOperator: PreparedOperator {
    let model: Segmenter
    let tiling: NetworkTiling
    let channel: Int?
    /// How a probability is stored: float32 as is, uint8 as round(255·p).
    let dtype: DType

    var footprint: Footprint { tiling.footprint }

    func compute(_ region: Box3, inputs: [any VolumeSource], voxelSize: Double) throws -> Volume {
        let classes = model.config.classes.count
        let model = model
        let probabilities = try tiling.apply(region, input: inputs[0], channels: classes) { x, _ in
            model.probabilities(x)
        }
        if let channel {
            var p = probabilities[channel].converted(to: .float32)
            let levels: Float? = dtype == .uint8 ? 255 : nil
            p.withUnsafeMutableValues(as: Float.self) { v in
                for i in v.indices {
                    let clamped = min(1, max(0, v[i]))
                    v[i] = levels.map { ($0 * clamped).rounded() } ?? clamped
                }
            }
            return p
        }
        let values = probabilities.map { $0.converted(to: .float32).values(as: Float.self) }
        let labels = (0..<region.shape.count).map { i -> Float in
            var best = 0
            for c in 1..<classes where values[c][i] > values[best][i] { best = c }
            return Float(best)
        }
        return Volume(shape: region.shape, values: labels)
    }
}
