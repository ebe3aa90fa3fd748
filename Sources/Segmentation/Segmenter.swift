import Engine
import Foundation
import Voxels

/// The sizes, classes and training settings of a segmenter (stored as JSON in its model file,
/// formats/weights.md).
public struct SegmenterConfig: Codable, Equatable, Sendable {
    /// Class names in output-channel order; channel 0 is always "background".
    public var classes: [String]
    /// U-Net channels of the first level and number of levels.
    public var base = 16
    public var depth = 3
    /// Training tile edge in voxels (a multiple of 2^(depth−1)) and tiles per batch.
    public var patch = 48
    public var batch = 2
    public var learningRate = 5e-4
    public var weightDecay = 1e-6
    /// Cross-entropy weight per class (channel order), fixed at the start of training from the label
    /// frequencies of the first tiles (`SegmentTrainer.classWeights`); nil before.
    public var classWeights: [Double]?
    /// Noise augmentation (nil or 0 = off; optional so that configurations without it keep their
    /// bytes): each training tile, with probability ½, gets white Gaussian noise of sd s drawn
    /// uniformly from 0…`noiseAugmentation` (in units of the standardized tile) and is divided by
    /// √(1 + s²), as a noisier tomogram standardized as a whole would be: its structures fainter
    /// against its noise (`SegmentTrainer.noised`).
    public var noiseAugmentation: Double?
    /// The accepted `noiseAugmentation` values (sd in standardized units).
    public static let noiseAugmentationRange = 0.0...10.0

    public init(classes: [String]) { self.classes = classes }

    enum CodingKeys: String, CodingKey {
        case classes, base, depth, patch, batch
        case learningRate = "learning_rate"
        case weightDecay = "weight_decay"
        case classWeights = "class_weights"
        case noiseAugmentation = "noise_augmentation"
    }

    /// Sorted keys: the same configuration always encodes to the same bytes (it is part of the digest).
    public static let canonicalEncoder: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        return e
    }()

    /// Checks sizes and classes.
    public func validate() throws {
        guard classes.first == "background", classes.count >= 2, Set(classes).count == classes.count else {
            throw SegmentationError(
                "classes \(classes) must start with background and name at least one more class, each once")
        }
        guard (1...6).contains(depth), (1...128).contains(base), (1...64).contains(batch) else {
            throw SegmentationError("depth \(depth), base \(base) or batch \(batch) is out of range")
        }
        guard patch >= 8, patch <= 256, patch % (1 << (depth - 1)) == 0 else {
            throw SegmentationError("patch \(patch) must be 8…256 and a multiple of \(1 << (depth - 1))")
        }
        guard learningRate > 0, weightDecay >= 0 else {
            throw SegmentationError("learning rate \(learningRate) and weight decay \(weightDecay) must be positive")
        }
        if let sd = noiseAugmentation, !Self.noiseAugmentationRange.contains(sd) {
            let range = Self.noiseAugmentationRange
            throw SegmentationError(
                "noise augmentation \(sd) must be \(range.lowerBound)…\(range.upperBound) (sd in standardized units)")
        }
        if let w = classWeights, w.count != classes.count || !w.allSatisfy({ $0 > 0 && $0.isFinite }) {
            throw SegmentationError("class weights \(w) must be one positive number per class")
        }
    }
}

/// Why a segmentation operation failed.
public struct SegmentationError: TomoStoreError {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// A multi-class 3D U-Net segmenter: a standardized tomogram [N, 1, D, H, W] (z, y, x voxels) →
/// per-voxel logits [N, C, D, H, W], one channel per class of `config.classes`; the softmax over
/// channels gives class probabilities.
public final class Segmenter: Module {
    public let config: SegmenterConfig
    public let network: UNet3D

    public init(config: SegmenterConfig, seed: UInt64 = 1) {
        self.config = config
        network = UNet3D(
            inChannels: 1, outChannels: config.classes.count, base: config.base, depth: config.depth,
            seed: seed &+ 700)
    }

    public var namedParameters: [(String, Variable)] { prefixed("net", network) }

    /// Hex digest of the configuration and every parameter (identifies a model).
    public var digest: String {
        parameterDigest(header: Array((try? SegmenterConfig.canonicalEncoder.encode(config)) ?? Data()))
    }

    /// Class probabilities [N, C, D, H, W] of standardized tiles [N, 1, D, H, W].
    public func probabilities(_ x: Tensor) -> Tensor { network.infer(x).softmaxChannels() }
}

/// Segmenter model files: safetensors with every parameter under its dotted name ("net.…"), the
/// configuration as JSON in metadata "segment_config", "task": "segment", "format":
/// "tomostore-segment-1" and the digest in "segment_digest" (formats/weights.md). Checkpoints add
/// the optimizer's moments ("opt.m.i", "opt.v.i") and "iteration", "opt_step".
public enum SegmenterFile {
    /// Writes the model to `path` (atomically) and returns the file's bytes.
    @discardableResult
    public static func save(_ model: Segmenter, to path: String, extra: [String: String] = [:]) throws -> [UInt8] {
        try Safetensors.save(model, metadata: metadata(model).merging(extra) { own, _ in own }, to: path)
    }

    /// The bytes of the model's file (what `save` writes).
    public static func encode(_ model: Segmenter, extra: [String: String] = [:]) throws -> [UInt8] {
        try Safetensors.encode(
            model.namedParameters.map { ($0.0, $0.1.value) }, metadata: metadata(model).merging(extra) { own, _ in own }
        )
    }

    static func metadata(_ model: Segmenter) throws -> [String: String] {
        let config = String(decoding: try SegmenterConfig.canonicalEncoder.encode(model.config), as: UTF8.self)
        return [
            "segment_config": config, "segment_digest": model.digest, "task": "segment",
            "format": "tomostore-segment-1",
        ]
    }

    /// True when a model file's metadata is a segmenter's.
    public static func isSegmenter(_ metadata: [String: String]) -> Bool { metadata["segment_config"] != nil }

    /// A segmenter and its file's metadata from the bytes of a model file; `source` names it in errors.
    public static func decode(bytes: [UInt8], source: String) throws -> (model: Segmenter, metadata: [String: String]) {
        let (tensors, metadata) = try Safetensors.decode(bytes, source: source)
        guard let json = metadata["segment_config"],
            let config = try? JSONDecoder().decode(SegmenterConfig.self, from: Data(json.utf8))
        else {
            throw SegmentationError(
                "\(source) is not a TomoStore segmenter (no segment_config metadata); train one with "
                    + "`tomostore segment train`")
        }
        try config.validate()
        let model = Segmenter(config: config)
        try Safetensors.assign(tensors, to: model, source: source)
        return (model, metadata)
    }

    /// Writes a training checkpoint (model, optimizer state, iteration, the run's metadata).
    public static func checkpoint(_ trainer: SegmentTrainer, metadata extra: [String: String], to path: String) throws {
        var metadata = try metadata(trainer.model).merging(extra) { own, _ in own }
        metadata["iteration"] = "\(trainer.iteration)"
        metadata["opt_step"] = "\(trainer.optimizer.step)"
        try Safetensors.write(
            trainer.model.namedParameters.map { ($0.0, $0.1.value) } + trainer.optimizer.stateTensors(prefix: "opt"),
            metadata: metadata, to: path)
    }

    /// The configuration a checkpoint was written with (to build its trainer).
    public static func checkpointConfig(_ path: String) throws -> SegmenterConfig {
        let (_, metadata) = try Safetensors.read(path)
        guard let json = metadata["segment_config"],
            let config = try? JSONDecoder().decode(SegmenterConfig.self, from: Data(json.utf8))
        else { throw SegmentationError("\(path) is not a segmenter checkpoint") }
        return config
    }

    /// Restores a checkpoint into a trainer of the same configuration.
    public static func restore(_ trainer: SegmentTrainer, from path: String) throws {
        let (tensors, metadata) = try Safetensors.read(path)
        try Safetensors.assign(tensors, to: trainer.model, source: path)
        try trainer.optimizer.restoreState(
            tensors, prefix: "opt", step: Int(metadata["opt_step"] ?? "0") ?? 0, source: path)
        trainer.resume(at: Int(metadata["iteration"] ?? "0") ?? 0)
    }
}
