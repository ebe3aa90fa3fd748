import Foundation
import Store
import Voxels

/// TomoStore's meaning of a dataset, kept in the catalog entry's extensions (formats/store.md):
/// `kind`, `classes`, `class_voxels`, `mrc` and `derivation`, on entries and on new-dataset
/// descriptions alike. A field that is present but does not decode (a newer TomoStore's shape)
/// reads as absent here, and `tomostore verify` reports it (`Catalog.problems`).
extension CatalogExtensible {
    /// What the dataset holds (`tomogram` when the entry does not say).
    public var kind: DatasetKind {
        get { DatasetKind(extension: extensions["kind"]) }
        set { extensions["kind"] = .string(newValue.rawValue) }
    }

    /// Class table (label volumes): class id (decimal string) → name.
    public var classes: [String: String]? {
        get { (try? decodeExtension("classes", as: [String: String].self)) ?? nil }
        set { setExtension("classes", newValue) }
    }

    /// Voxel count per class id (label volumes).
    public var classVoxels: [String: Int]? {
        get { (try? decodeExtension("class_voxels", as: [String: Int].self)) ?? nil }
        set { setExtension("class_voxels", newValue) }
    }

    /// The MRC header of the file the dataset was ingested from.
    public var mrc: MRCSourceInfo? {
        get { (try? decodeExtension("mrc", as: MRCSourceInfo.self)) ?? nil }
        set { setExtension("mrc", newValue) }
    }

    /// The protein contrast of the values (tomograms as ingested or simulated; densities are
    /// `bright`); nil when the entry does not say (written before contrast was recorded).
    public var contrast: Contrast? {
        get { (try? decodeExtension("contrast", as: Contrast.self)) ?? nil }
        set { setExtension("contrast", newValue) }
    }

    /// How `contrast` was decided: "given", "simulated", "density", the estimator's one line, or
    /// the operator that produced it.
    public var contrastSource: String? {
        get { (try? decodeExtension("contrast_source", as: String.self)) ?? nil }
        set { setExtension("contrast_source", newValue) }
    }

    /// How a derived dataset is computed.
    public var derivation: Derivation? {
        get { (try? decodeExtension("derivation", as: Derivation.self)) ?? nil }
        set { setExtension("derivation", newValue) }
    }
}

extension DatasetInfo {
    /// A token that changes whenever the dataset's content may change: the derivation digest for
    /// derived datasets, the id and creation time otherwise (a re-ingest gets a new id).
    public var contentDigest: String { derivation?.digest ?? "\(id)-\(created)" }
}

extension Store.NewDataset {
    /// A new dataset of a kind.
    public init(name: String, kind: DatasetKind, dtype: DType, shape: Extent3) {
        self.init(name: name, dtype: dtype, shape: shape)
        self.kind = kind
    }
}

/// Checks of the catalog extensions this module gives meaning to.
public enum Catalog {
    /// The extension fields of an entry that are present but do not decode, as one line each.
    public static func problems(_ info: DatasetInfo) -> [String] {
        var out: [String] = []
        func check<T: Decodable>(_ key: String, _ type: T.Type) {
            do { _ = try info.decodeExtension(key, as: type) } catch { out.append("\(error)") }
        }
        if let kind = info.extensions["kind"], (try? CatalogCoding.decode(kind, as: DatasetKind.self)) == nil {
            out.append("dataset \"\(info.name)\": kind \(kind) is not one this version knows")
        }
        check("classes", [String: String].self)
        check("class_voxels", [String: Int].self)
        check("mrc", MRCSourceInfo.self)
        check("derivation", Derivation.self)
        check("contrast", Contrast.self)
        check("contrast_source", String.self)
        return out
    }
}
