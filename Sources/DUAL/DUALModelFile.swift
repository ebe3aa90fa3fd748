import Engine
import Foundation
import Voxels

/// Saving and loading DUAL models as safetensors: every parameter under its dotted name
/// (formats/weights.md), the configuration as JSON in the metadata key "dual_config", and the
/// digest in "dual_digest"; a fitted simulation calibration as "sim_calibration.gain" and
/// "sim_calibration.quantiles" (`SimulationCalibration.tensors`). Checkpoints add the optimizers'
/// moment estimates ("opt.g.m.i", "opt.g.v.i", "opt.d.m.i", "opt.d.v.i") and the iteration
/// ("iteration" metadata).
public enum DUALModelFile {
    /// Writes the model to `path` (atomically) and returns the file's bytes.
    @discardableResult
    public static func save(_ model: DUALModel, to path: String, extra: [String: String] = [:]) throws -> [UInt8] {
        let config = String(decoding: try DUALConfig.canonicalEncoder.encode(model.config), as: UTF8.self)
        let metadata = extra.merging(["dual_config": config, "dual_digest": model.digest, "format": "tomostore-dual-1"])
        { a, _ in a }
        let tensors = model.namedParameters.map { ($0.0, $0.1.value) } + (model.simulationCalibration?.tensors ?? [])
        return try Safetensors.write(tensors, metadata: metadata, to: path)
    }

    /// Reads a model file.
    public static func load(_ path: String) throws -> DUALModel {
        let file = try PosixFile(readingFrom: path)
        return try load(bytes: try file.read(count: try file.size(), at: 0), source: path)
    }

    /// A model from the bytes of a model file (e.g. one stored in a store); `source` names it in errors.
    public static func load(bytes: [UInt8], source: String) throws -> DUALModel {
        try decode(bytes: bytes, source: source).model
    }

    /// A model and its file's metadata (e.g. "task": "compensate" with "tilt_min"/"tilt_max" for
    /// missing-wedge compensation models) from the bytes of a model file.
    public static func decode(bytes: [UInt8], source: String) throws -> (model: DUALModel, metadata: [String: String]) {
        let (tensors, metadata) = try Safetensors.decode(bytes, source: source)
        guard let json = metadata["dual_config"],
            let config = try? JSONDecoder().decode(DUALConfig.self, from: Data(json.utf8))
        else {
            if metadata["task"] == "segment" {
                throw DUALError("\(source) is a segmenter, not a DUAL model; use it with `tomostore segment apply`")
            }
            throw DUALError("\(source) is not a TomoStore DUAL model (no dual_config metadata)")
        }
        let model = DUALModel(config: config)
        try Safetensors.assign(tensors, to: model, source: source)
        model.simulationCalibration = try SimulationCalibration(tensors: tensors, source: source)
        return (model, metadata)
    }

    /// Writes a training checkpoint (model, optimizer state, iteration).
    public static func checkpoint(_ trainer: DUALTrainer, to path: String) throws {
        let tensors =
            trainer.model.namedParameters.map { ($0.0, $0.1.value) }
            + trainer.generatorOptimizer.stateTensors(prefix: "opt.g")
            + trainer.discriminatorOptimizer.stateTensors(prefix: "opt.d")
        let config = String(decoding: try DUALConfig.canonicalEncoder.encode(trainer.model.config), as: UTF8.self)
        try Safetensors.write(
            tensors,
            metadata: [
                "dual_config": config, "iteration": "\(trainer.iteration)",
                "opt_g_step": "\(trainer.generatorOptimizer.step)",
                "opt_d_step": "\(trainer.discriminatorOptimizer.step)",
            ], to: path)
    }

    /// Restores a checkpoint into a trainer of the same configuration.
    public static func restore(_ trainer: DUALTrainer, from path: String) throws {
        let (tensors, metadata) = try Safetensors.read(path)
        try Safetensors.assign(tensors, to: trainer.model, source: path)
        for (tag, opt, key) in [
            ("g", trainer.generatorOptimizer, "opt_g_step"), ("d", trainer.discriminatorOptimizer, "opt_d_step"),
        ] {
            try opt.restoreState(tensors, prefix: "opt.\(tag)", step: Int(metadata[key] ?? "0") ?? 0, source: path)
        }
        trainer.resume(at: Int(metadata["iteration"] ?? "0") ?? 0)
    }
}
