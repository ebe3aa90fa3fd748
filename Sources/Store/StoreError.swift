import Codecs
import KV
import Voxels

/// Why a store operation failed; each message says what, where and what to do, in terms of the
/// library (the command line adds its own hints).
public enum StoreError: TomoStoreError {
    case notAStore(path: String)
    case storeExists(path: String)
    case notADirectory(path: String)
    case cannotCreate(path: String, reason: String)
    case unsupportedFormat(path: String, version: Int)
    case invalidName(name: String, reason: String)
    case unknownDataset(name: String, available: [String])
    case datasetExists(name: String, complete: Bool)
    case incomplete(name: String)
    case boxOutOfBounds(name: String, box: Box3, shape: Extent3)
    case corruptChunk(name: String, chunk: Extent3, reason: String)
    case corruptCatalog(reason: String)
    case wrongDType(name: String, expected: DType, got: DType)
    case emptyShape(Extent3)
    case badChunkShape(Extent3)
    case chunkMismatch(name: String, chunk: Extent3, shape: Extent3, dtype: DType)
    case noSuchLevel(name: String, level: Int, levels: Int)
    case pyramidFromLevel(name: String, level: Int)
    case pyramidLevels(Int)
    /// The dataset changed (removed, replaced or redefined) while an operation was using it.
    case changed(name: String, reason: String)

    public var description: String {
        switch self {
        case let .notAStore(path):
            return "\(path) is not a TomoStore store; create one with `tomostore init \(path)`"
        case let .storeExists(path):
            return "\(path) already holds a store"
        case let .notADirectory(path):
            return "\(path) exists and is not a directory; choose a new path for the store"
        case let .cannotCreate(path, reason):
            return "cannot create directory \(path): \(reason)"
        case let .unsupportedFormat(path, version):
            return "\(path): store format version \(version) is not supported by TomoStore "
                + "\(TomoStoreVersion.string) (it reads version 1)"
        case let .invalidName(name, reason):
            return "invalid dataset name \"\(name)\": \(reason)"
        case let .unknownDataset(name, available):
            let list =
                available.isEmpty
                ? "the store is empty"
                : "datasets: " + available.prefix(10).joined(separator: ", ") + (available.count > 10 ? ", …" : "")
            return "no dataset named \"\(name)\" (\(list))"
        case let .datasetExists(name, complete):
            return complete
                ? "dataset \"\(name)\" already exists; remove it with `tomostore rm` or choose another name"
                : "dataset \"\(name)\" exists but is incomplete (an earlier ingest was interrupted); continue it "
                    + "with `tomostore ingest --resume` or remove it with `tomostore rm`"
        case let .incomplete(name):
            return "dataset \"\(name)\" is incomplete (its ingest was interrupted); finish it with "
                + "`tomostore ingest --resume` or remove it with `tomostore rm`"
        case let .boxOutOfBounds(name, box, shape):
            return "box \(box) is outside dataset \"\(name)\", whose extent is 0:\(shape.x),0:\(shape.y),0:\(shape.z) "
                + "(x, y, z voxels)"
        case let .corruptChunk(name, chunk, reason):
            return "dataset \"\(name)\", chunk (x \(chunk.x), y \(chunk.y), z \(chunk.z)) is corrupt: \(reason)"
        case let .corruptCatalog(reason):
            return "store catalog is corrupt: \(reason)"
        case let .wrongDType(name, expected, got):
            return "dataset \"\(name)\" holds \(expected) voxels, not \(got)"
        case let .emptyShape(shape):
            return "dataset shape \(shape) must be at least 1 voxel along each axis"
        case let .badChunkShape(chunk):
            return "chunk shape \(chunk) must be positive and hold at most 1 GiB"
        case let .chunkMismatch(name, chunk, shape, dtype):
            return "chunk \(chunk) of \(shape) \(dtype) does not fit dataset \"\(name)\""
        case let .noSuchLevel(name, level, levels):
            return "dataset \"\(name)\" has \(levels) level(s); level \(level) does not exist "
                + "(build them with `tomostore pyramid`)"
        case let .pyramidFromLevel(name, level):
            return "dataset \"\(name)\": pyramids are built from level 0, not level \(level)"
        case let .pyramidLevels(levels):
            return "a pyramid has 1…16 levels, not \(levels)"
        case let .changed(name, reason):
            return "dataset \"\(name)\" changed while it was being used (\(reason)); nothing was written; run the "
                + "command again"
        }
    }
}

extension LMDBError: TomoStoreError {}
extension KVError: TomoStoreError {}
