import Engine
import Foundation

/// Saving and loading DUAL models as safetensors: every parameter under its dotted name
/// (formats/weights.md), the configuration as JSON in the metadata key "dual_config", and the
/// digest in "dual_digest". Checkpoints add the optimizers' moment estimates ("opt.g.m.i",
/// "opt.g.v.i", "opt.d.m.i", "opt.d.v.i") and the iteration ("iteration" metadata).
public enum DUALModelFile {
    public static func save(_ model: DUALModel, to path: String, extra: [String: String] = [:]) throws {
        let config = String(decoding: try DUALConfig.canonicalEncoder.encode(model.config), as: UTF8.self)
        try Safetensors.save(model, metadata: extra.merging(["dual_config": config, "dual_digest": model.digest, "format": "tomostore-dual-1"]) { a, _ in a }, to: path)
    }

    public static func load(_ path: String) throws -> DUALModel {
        let (_, metadata) = try Safetensors.read(path)
        guard let json = metadata["dual_config"], let config = try? JSONDecoder().decode(DUALConfig.self, from: Data(json.utf8)) else {
            throw DUALError("\(path) is not a TomoStore DUAL model (no dual_config metadata)")
        }
        let model = DUALModel(config: config)
        _ = try Safetensors.load(into: model, from: path)
        return model
    }

    /// Writes a training checkpoint (model, optimizer state, iteration).
    public static func checkpoint(_ trainer: DUALTrainer, to path: String) throws {
        var tensors = trainer.model.namedParameters.map { ($0.0, $0.1.value) }
        for (tag, opt) in [("g", trainer.generatorOptimizer), ("d", trainer.discriminatorOptimizer)] {
            for i in 0..<opt.parameters.count { tensors.append(("opt.\(tag).m.\(i)", opt.m[i])); tensors.append(("opt.\(tag).v.\(i)", opt.v[i])) }
        }
        let config = String(decoding: try DUALConfig.canonicalEncoder.encode(trainer.model.config), as: UTF8.self)
        try Safetensors.write(tensors, metadata: ["dual_config": config, "iteration": "\(trainer.iteration)",
                                                  "opt_g_step": "\(trainer.generatorOptimizer.step)", "opt_d_step": "\(trainer.discriminatorOptimizer.step)"], to: path)
    }

    /// Restores a checkpoint into a trainer of the same configuration.
    public static func restore(_ trainer: DUALTrainer, from path: String) throws {
        let (tensors, metadata) = try Safetensors.read(path)
        for (name, p) in trainer.model.namedParameters {
            guard let t = tensors[name], t.shape == p.shape else { throw DUALError("\(path): checkpoint lacks \(name) or its shape differs") }
            p.value = t
        }
        for (tag, opt, key) in [("g", trainer.generatorOptimizer, "opt_g_step"), ("d", trainer.discriminatorOptimizer, "opt_d_step")] {
            let m = try (0..<opt.parameters.count).map { i -> Tensor in guard let t = tensors["opt.\(tag).m.\(i)"] else { throw DUALError("\(path): no optimizer state") }; return t }
            let v = try (0..<opt.parameters.count).map { i -> Tensor in guard let t = tensors["opt.\(tag).v.\(i)"] else { throw DUALError("\(path): no optimizer state") }; return t }
            opt.restore(m: m, v: v, step: Int(metadata[key] ?? "0") ?? 0)
        }
        trainer.resume(at: Int(metadata["iteration"] ?? "0") ?? 0)
    }
}
