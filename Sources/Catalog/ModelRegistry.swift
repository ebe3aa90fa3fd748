import Foundation
import Store
import Voxels

/// The models kept in a store (safetensors bytes, formats/weights.md) under their digest, and the
/// names that point at digests: meta records `model/<digest>` and `model-name/<name>`
/// (formats/store.md). Bytes only; DUAL decodes them (`Operators.ModelResolver`).
public struct ModelRegistry: Sendable {
    /// The store holding the models.
    public let store: Store

    public init(store: Store) { self.store = store }

    /// The bytes of a stored model, or nil.
    public func bytes(digest: String) throws -> [UInt8]? {
        try store.metaValue("model/\(digest)")
    }

    /// Stores model bytes under their digest (kept when already there).
    public func put(digest: String, _ bytes: [UInt8]) throws {
        try store.putMetaValue("model/\(digest)", bytes)
    }

    /// Stores model bytes under their digest and points `name` at them, in one transaction (a later
    /// model of the same name replaces the pointer; older bytes stay under their digest).
    public func put(digest: String, _ bytes: [UInt8], name: String) throws {
        try Self.validate(name: name)
        try store.putMetaValues([("model/\(digest)", bytes), ("model-name/\(name)", Array(digest.utf8))])
    }

    /// Throws unless `name` can name a stored model: 1–200 UTF-8 bytes, no '/', not `default`
    /// (which always means the model shipped with TomoStore).
    public static func validate(name: String) throws {
        guard !name.isEmpty, !name.contains("/"), name.utf8.count <= 200, name != "default" else {
            throw CatalogError.invalidModelName(name)
        }
    }

    /// The digest a model name points at, or nil.
    public func digest(named name: String) throws -> String? {
        try store.metaValue("model-name/\(name)").map { String(decoding: $0, as: UTF8.self) }
    }

    /// Every named model as (name, digest), sorted by name.
    public func names() throws -> [(name: String, digest: String)] {
        try store.metaValues(prefix: "model-name/").map { ($0.key, String(decoding: $0.value, as: UTF8.self)) }
    }
}

/// Why a catalog operation failed.
public enum CatalogError: TomoStoreError {
    case invalidModelName(String)
    case tiltRangesDiffer([String])

    public var description: String {
        switch self {
        case .invalidModelName(let name):
            return "invalid model name \"\(name)\": a model name has 1–200 bytes, no '/', and is not \"default\""
        case .tiltRangesDiffer(let ranges):
            return "the input datasets record different tilt ranges (\(ranges.joined(separator: ", "))); train one "
                + "model per range or give the range"
        }
    }
}
