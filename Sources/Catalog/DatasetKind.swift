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
