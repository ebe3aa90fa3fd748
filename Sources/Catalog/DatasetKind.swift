import Store
import Voxels

/// What a dataset holds (catalog key `kind`).
public enum DatasetKind: String, Codable, CaseIterable, Sendable {
    case tomogram
    case grandModel = "grand-model"
    case labels
    case synthetic
    /// Computed from other datasets by an operator (see `Derivation`).
    case derived
}

extension DatasetKind {
    /// The kind a catalog entry's `kind` value names; `tomogram` when it is absent or unknown
    /// (`Catalog.problems` reports unknown ones).
    init(extension value: JSONValue?) {
        if case .string(let raw)? = value, let kind = DatasetKind(rawValue: raw) {
            self = kind
        } else {
            self = .tomogram
        }
    }
}
