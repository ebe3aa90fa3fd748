import Voxels

/// Writes a volume as a NumPy .npy file (format 1.0): shape (nz, ny, nx), C order, little-endian,
/// the volume's dtype. Written to a temporary beside the destination and renamed when complete.
public enum NPYWriter {
    /// The NumPy type string of a dtype.
    public static func descriptor(_ dtype: DType) -> String {
        switch dtype {
        case .uint8: return "|u1"
        case .int8: return "|i1"
        case .uint16: return "<u2"
        case .int16: return "<i2"
        case .float16: return "<f2"
        case .float32: return "<f4"
        case .uint32: return "<u4"
        }
    }

    /// The header bytes: magic, version 1.0, header length, and the dict padded so that the data
    /// start at a multiple of 64 bytes.
    public static func header(shape: Extent3, dtype: DType) -> [UInt8] {
        var dict =
            "{'descr': '\(descriptor(dtype))', 'fortran_order': False, 'shape': (\(shape.z), \(shape.y), \(shape.x)), }"
        let unpadded = 10 + dict.utf8.count + 1
        dict += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
        let n = dict.utf8.count
        return [0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(n & 0xff), UInt8(n >> 8)] + Array(dict.utf8)
    }

    /// Writes `volume` to `path`.
    public static func write(_ volume: Volume, to path: String) throws {
        try PosixFile.checkOutput(path)
        let temporary = PosixFile.temporaryPath(for: path)
        let file = try PosixFile(creating: temporary)
        do {
            let head = header(shape: volume.shape, dtype: volume.dtype)
            try head.withUnsafeBytes { try file.write($0, at: 0) }
            try volume.withUnsafeBytes { try file.write($0, at: head.count) }
            try file.sync()
            try PosixFile.rename(temporary, to: path)
        } catch {
            PosixFile.removeIfPresent(temporary)
            throw error
        }
    }
}
