import Voxels

/// Why an MRC file cannot be read or written; each message names the file, the problem and what to do.
public enum MRCError: TomoStoreError {
    case tooShort(path: String, size: Int)
    case notMRC(path: String, detail: String)
    case complexMode(path: String, mode: Int32)
    case unsupportedMode(path: String, mode: Int32)
    case badDimensions(path: String, nx: Int32, ny: Int32, nz: Int32)
    case badAxisOrder(path: String, mapc: Int32, mapr: Int32, maps: Int32)
    case badExtendedHeader(path: String, nsymbt: Int32, fileSize: Int)
    case truncated(path: String, expected: Int, actual: Int)
    case boxOutOfBounds(path: String, box: Box3, shape: Extent3)
    case unwritableDType(path: String, dtype: DType)
    case unwritableMode(path: String, mode: Int32)
    case writeOrder(path: String, detail: String)

    public var description: String {
        switch self {
        case .tooShort(let path, let size):
            return "\(path): not an MRC file: it is \(size) bytes long, shorter than the 1024-byte MRC header"
        case .notMRC(let path, let detail):
            return "\(path): not an MRC file: \(detail)"
        case .complexMode(let path, let mode):
            return
                "\(path): MRC mode \(mode) (\(MRCMode.name(of: mode))) holds complex Fourier data, which TomoStore "
                + "does not store; convert it to a real-space map first"
        case .unsupportedMode(let path, let mode):
            return "\(path): unsupported MRC mode \(mode); supported modes are 0, 1, 2, 6, 12 and 101 (read only)"
        case .badDimensions(let path, let nx, let ny, let nz):
            return
                "\(path): invalid dimensions nx=\(nx) ny=\(ny) nz=\(nz) in the header; every dimension must be at "
                + "least 1"
        case .badAxisOrder(let path, let mapc, let mapr, let maps):
            return
                "\(path): invalid axis order mapc=\(mapc) mapr=\(mapr) maps=\(maps); they must be a permutation of "
                + "1, 2, 3"
        case .badExtendedHeader(let path, let nsymbt, let fileSize):
            return "\(path): invalid extended header size nsymbt=\(nsymbt) for a file of \(fileSize) bytes"
        case .truncated(let path, let expected, let actual):
            return
                "\(path): truncated: the header describes \(expected) bytes (header, extended header and data) but "
                + "the file has only \(actual); the file is incomplete or its header is wrong"
        case .boxOutOfBounds(let path, let box, let shape):
            return
                "\(path): box \(box) is outside the volume (\(shape.x)×\(shape.y)×\(shape.z) voxels); use "
                + "x0:x1,y0:y1,z0:z1 within 0..nx, 0..ny, 0..nz"
        case .unwritableDType(let path, let dtype):
            return "\(path): \(dtype) voxels have no MRC mode; convert to float32, int16 or uint16 first"
        case .unwritableMode(let path, let mode):
            return "\(path): cannot write MRC mode \(mode); writable modes are 0, 1, 2, 6 and 12"
        case .writeOrder(let path, let detail):
            return "\(path): \(detail)"
        }
    }
}
