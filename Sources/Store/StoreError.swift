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
        case .notAStore(let path):
            return "\(path) is not a TomoStore store; create one with `tomostore init \(path)`"
        case .storeExists(let path):
            return "\(path) already holds a store"
        case .notADirectory(let path):
            return "\(path) exists and is not a directory; choose a new path for the store"
        case .cannotCreate(let path, let reason):
            return "cannot create directory \(path): \(reason)"
        case .unsupportedFormat(let path, let version):
            return "\(path): store format version \(version) is not supported by TomoStore "
                + "\(TomoStoreVersion.string) (it reads versions 1 and 2)"
        case .invalidName(let name, let reason):
            return "invalid dataset name \"\(name)\": \(reason)"
        case .unknownDataset(let name, let available):
            let list =
                available.isEmpty
                ? "the store is empty"
                : "datasets: " + available.prefix(10).joined(separator: ", ") + (available.count > 10 ? ", …" : "")
            return "no dataset named \"\(name)\" (\(list))"
        case .datasetExists(let name, let complete):
            return complete
                ? "dataset \"\(name)\" already exists; remove it with `tomostore rm` or choose another name"
                : "dataset \"\(name)\" exists but is incomplete (an earlier ingest or import was interrupted); "
                    + "continue it with the same `tomostore ingest` or `import-zarr` command and --resume, or remove "
                    + "it with `tomostore rm`"
        case .incomplete(let name):
            return "dataset \"\(name)\" is incomplete (its ingest or import was interrupted); finish it with the "
                + "same `tomostore ingest` or `import-zarr` command and --resume, or remove it with `tomostore rm`"
        case .boxOutOfBounds(let name, let box, let shape):
            return "box \(box) is outside dataset \"\(name)\", whose extent is 0:\(shape.x),0:\(shape.y),0:\(shape.z) "
                + "(x, y, z voxels)"
        case .corruptChunk(let name, let chunk, let reason):
            return "dataset \"\(name)\", chunk (x \(chunk.x), y \(chunk.y), z \(chunk.z)) is corrupt: \(reason)"
        case .corruptCatalog(let reason):
            return "store catalog is corrupt: \(reason)"
        case .wrongDType(let name, let expected, let got):
            return "dataset \"\(name)\" holds \(expected) voxels, not \(got)"
        case .emptyShape(let shape):
            return "dataset shape \(shape) must be at least 1 voxel along each axis"
        case .badChunkShape(let chunk):
            return "chunk shape \(chunk) must be positive and hold at most 1 GiB"
        case .chunkMismatch(let name, let chunk, let shape, let dtype):
            return "chunk \(chunk) of \(shape) \(dtype) does not fit dataset \"\(name)\""
        case .noSuchLevel(let name, let level, let levels):
            return "dataset \"\(name)\" has \(levels) level(s); level \(level) does not exist "
                + "(build them with `tomostore pyramid`)"
        case .pyramidFromLevel(let name, let level):
            return "dataset \"\(name)\": pyramids are built from level 0, not level \(level)"
        case .pyramidLevels(let levels):
            return "a pyramid has 1…16 levels, not \(levels)"
        case .changed(let name, let reason):
            return "dataset \"\(name)\" changed while it was being used (\(reason)); nothing was written; run the "
                + "command again"
        }
    }
}

extension LMDBError: TomoStoreError {}
extension KVError: TomoStoreError {}
