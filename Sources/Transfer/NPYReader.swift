import Foundation
import Voxels

/// Why an .npy file cannot be read.
public struct NPYError: TomoStoreError {
    public let description: String
}

/// Reads NumPy .npy files (format 1.0–3.0) holding little-endian float32 in C order: the arrays the
/// engine exchanges with Python tools.
public enum NPYReader {
    /// Shape and float32 values of an .npy file.
    public static func readFloat32(_ path: String) throws -> (shape: [Int], values: [Float]) {
        let file = try PosixFile(readingFrom: path)
        let size = try file.size()
        guard size >= 10 else { throw NPYError(description: "\(path): not an .npy file (too short)") }
        let head = try file.read(count: 12, at: 0)
        guard head[0] == 0x93, Array(head[1..<6]) == Array("NUMPY".utf8) else {
            throw NPYError(description: "\(path): not an .npy file (no magic)")
        }
        let major = head[6]
        let (length, start) =
            major == 1
            ? (Int(head[8]) | Int(head[9]) << 8, 10)
            : (Int(head[8]) | Int(head[9]) << 8 | Int(head[10]) << 16 | Int(head[11]) << 24, 12)
        guard start + length <= size else { throw NPYError(description: "\(path): header longer than the file") }
        let header = String(decoding: try file.read(count: length, at: start), as: UTF8.self)
        guard header.contains("'descr': '<f4'") else {
            throw NPYError(description: "\(path): only little-endian float32 ('<f4') arrays are read; header \(header)")
        }
        guard header.contains("'fortran_order': False") else {
            throw NPYError(description: "\(path): Fortran-order arrays are not read; save with np.ascontiguousarray")
        }
        guard let open = header.range(of: "'shape': ("), let close = header[open.upperBound...].firstIndex(of: ")")
        else {
            throw NPYError(description: "\(path): no shape in header")
        }
        let shape = header[open.upperBound..<close].split(separator: ",").compactMap {
            Int($0.trimmingCharacters(in: .whitespaces))
        }
        let count = shape.reduce(1, *)
        guard start + length + 4 * count <= size else {
            throw NPYError(description: "\(path): data shorter than shape \(shape)")
        }
        var values = [Float](repeating: 0, count: count)
        try values.withUnsafeMutableBytes { try file.read(into: $0.baseAddress!, count: 4 * count, at: start + length) }
        return (shape, values)
    }

    /// Writes float32 values with a shape as .npy.
    public static func writeFloat32(_ values: [Float], shape: [Int], to path: String) throws {
        precondition(values.count == shape.reduce(1, *))
        var dict =
            "{'descr': '<f4', 'fortran_order': False, 'shape': "
            + "(\(shape.map(String.init).joined(separator: ", "))\(shape.count == 1 ? "," : "")), }"
        let unpadded = 10 + dict.utf8.count + 1
        dict += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
        let n = dict.utf8.count
        let head = [0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(n & 0xff), UInt8(n >> 8)] + Array(dict.utf8)
        let file = try PosixFile(creating: path)
        try head.withUnsafeBytes { try file.write($0, at: 0) }
        try values.withUnsafeBytes { try file.write($0, at: head.count) }
    }
}
