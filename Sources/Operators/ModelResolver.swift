import Catalog
import DUAL
import Foundation
import Store

/// A DUAL model found by reference, with its file's bytes and metadata.
public struct ResolvedModel: Sendable {
    public let model: DUALModel
    public let bytes: [UInt8]
    /// The safetensors metadata (formats/weights.md), e.g. "task", "tilt_min", "tilt_max".
    public let metadata: [String: String]

    /// What the model was trained for: nil for denoising and simulation (`train`), "compensate"
    /// for missing-wedge compensation (`train-compensate`).
    public var task: String? { metadata["task"] }
}

/// Finds DUAL models: `default` (shipped with TomoStore), a safetensors file, or the name or digest
/// of a model stored in the store's registry; and checks what they were trained for.
public struct ModelResolver: Sendable {
    /// The store's models, when a store is open.
    public let registry: ModelRegistry?

    public init(store: Store?) { registry = store.map { ModelRegistry(store: $0) } }

    /// The model `reference` names.
    /// - Throws: `OperatorError` when nothing by that reference exists; `DUALError` for a file that
    ///   is not a DUAL model.
    public func resolve(_ reference: String) throws -> ResolvedModel {
        let (bytes, path) = try locate(reference)
        let (model, metadata) = try DUALModelFile.decode(bytes: bytes, source: path)
        return ResolvedModel(model: model, bytes: bytes, metadata: metadata)
    }

    /// The bytes of the model file `reference` names (any task), and how to name it in messages.
    /// - Throws: `OperatorError` when nothing by that reference exists.
    public func locate(_ reference: String) throws -> (bytes: [UInt8], source: String) {
        var path = reference
        let bytes: [UInt8]
        if reference == "default" {
            guard let url = DefaultModel.url else {
                throw OperatorError("this build ships no default DUAL model; train one and give its file")
            }
            path = url.path
        }
        if !FileManager.default.fileExists(atPath: path), let registry,
            let stored = try registry.bytes(digest: try registry.digest(named: reference) ?? reference)
        {
            bytes = stored
            path = "stored model \(reference)"
        } else {
            guard FileManager.default.fileExists(atPath: path) else {
                throw OperatorError(
                    "no model \(reference): give a .safetensors file, default, or the name or digest of "
                        + "a model stored in the store (tomostore models STORE)")
            }
            bytes = Array(try Data(contentsOf: URL(fileURLWithPath: path)))
        }
        return (bytes, path)
    }

    /// Rejects a model trained for another task: `task` nil is denoising/simulation (`train`),
    /// "compensate" is missing-wedge compensation (`train-compensate`).
    public static func require(_ task: String?, of model: ResolvedModel, reference: String) throws {
        guard model.task != task else { return }
        if task == nil {
            throw OperatorError(
                "model \(reference) was trained for missing-wedge compensation (train-compensate); use "
                    + "it with `tomostore compensate`, or give a model from `tomostore train`")
        }
        throw OperatorError(
            "model \(reference) was trained for denoising and simulation (train), not missing-wedge "
                + "compensation; train one with `tomostore train-compensate`")
    }
}
