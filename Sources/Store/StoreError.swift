import Voxels

/// Why a store operation failed; each message says what, where and what to do.
public enum StoreError: Error, CustomStringConvertible, Sendable {
    case notAStore(path: String)
    case storeExists(path: String)
    case unsupportedFormat(path: String, version: Int)
    case invalidName(name: String, reason: String)
    case unknownDataset(name: String, available: [String])
    case datasetExists(name: String, complete: Bool)
    case incomplete(name: String)
    case boxOutOfBounds(name: String, box: Box3, shape: Extent3)
    case corruptChunk(name: String, chunk: Extent3, reason: String)
    case corruptCatalog(reason: String)
    case wrongDType(name: String, expected: DType, got: DType)
    case invalidArgument(String)

    public var description: String {
        switch self {
        case let .notAStore(path):
            return "\(path) is not a TomoStore store; create one with `tomostore init \(path)`"
        case let .storeExists(path):
            return "\(path) already holds a store"
        case let .unsupportedFormat(path, version):
            return "\(path): store format version \(version) is not supported by TomoStore \(TomoStoreVersion.string) (it reads version 1)"
        case let .invalidName(name, reason):
            return "invalid dataset name \"\(name)\": \(reason)"
        case let .unknownDataset(name, available):
            let list = available.isEmpty ? "the store is empty" : "datasets: " + available.prefix(10).joined(separator: ", ") + (available.count > 10 ? ", …" : "")
            return "no dataset named \"\(name)\" (\(list))"
        case let .datasetExists(name, complete):
            return complete
                ? "dataset \"\(name)\" already exists; remove it with `tomostore rm` or choose another --name"
                : "dataset \"\(name)\" exists but is incomplete (an earlier ingest was interrupted); continue it with --resume or remove it with `tomostore rm`"
        case let .incomplete(name):
            return "dataset \"\(name)\" is incomplete (its ingest was interrupted); finish it with `tomostore ingest --resume` or remove it with `tomostore rm`"
        case let .boxOutOfBounds(name, box, shape):
            return "box \(box) is outside dataset \"\(name)\", whose extent is 0:\(shape.x),0:\(shape.y),0:\(shape.z) (x, y, z voxels)"
        case let .corruptChunk(name, chunk, reason):
            return "dataset \"\(name)\", chunk (x \(chunk.x), y \(chunk.y), z \(chunk.z)) is corrupt: \(reason)"
        case let .corruptCatalog(reason):
            return "store catalog is corrupt: \(reason)"
        case let .wrongDType(name, expected, got):
            return "dataset \"\(name)\" holds \(expected) voxels, not \(got)"
        case let .invalidArgument(text):
            return text
        }
    }
}
