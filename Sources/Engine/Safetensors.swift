import Foundation
import Voxels

/// Why a safetensors file cannot be read.
public struct SafetensorsError: Error, CustomStringConvertible, Sendable {
    public let description: String
}

/// The safetensors format (https://github.com/huggingface/safetensors): an 8-byte little-endian
/// header length, a JSON header {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__":
/// {string: string}} padded with spaces to a multiple of 8 bytes, then the tensors' bytes. TomoStore
/// writes F32 little-endian, tensors in name order, and reads F32 (and F16/BF16 converted to F32).
public enum Safetensors {
    /// Writes named tensors and string metadata to `path` (atomically: temporary file + rename).
    public static func write(_ tensors: [(String, Tensor)], metadata: [String: String] = [:], to path: String) throws {
        let sorted = tensors.sorted { $0.0 < $1.0 }
        var header: [String: Any] = [:]
        var offset = 0
        for (name, t) in sorted {
            header[name] = ["dtype": "F32", "shape": t.shape, "data_offsets": [offset, offset + 4 * t.count]]
            offset += 4 * t.count
        }
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var json = Array(try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys]))
        while json.count % 8 != 0 { json.append(0x20) }
        var out = withUnsafeBytes(of: UInt64(json.count).littleEndian) { Array($0) } + json
        out.reserveCapacity(out.count + offset)
        for (_, t) in sorted {
            t.withUnsafeBufferPointer { p in
                for v in p { withUnsafeBytes(of: v.bitPattern.littleEndian) { out.append(contentsOf: $0) } }
            }
        }
        let temporary = path + ".partial"
        let file = try PosixFile(creating: temporary)
        do {
            try out.withUnsafeBytes { try file.write($0, at: 0) }
            try file.sync()
            try PosixFile.rename(temporary, to: path)
        } catch {
            PosixFile.removeIfPresent(temporary)
            throw error
        }
    }

    /// Reads every tensor and the metadata of a safetensors file.
    public static func read(_ path: String) throws -> (tensors: [String: Tensor], metadata: [String: String]) {
        let file = try PosixFile(readingFrom: path)
        let size = try file.size()
        guard size >= 8 else { throw SafetensorsError(description: "\(path): not a safetensors file (\(size) bytes)") }
        let n = try file.read(count: 8, at: 0).enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
        guard n > 0, n <= UInt64(size - 8) else { throw SafetensorsError(description: "\(path): header length \(n) does not fit the file") }
        let headerBytes = try file.read(count: Int(n), at: 8)
        guard let header = try? JSONSerialization.jsonObject(with: Data(headerBytes)) as? [String: Any] else {
            throw SafetensorsError(description: "\(path): header is not a JSON object")
        }
        let dataStart = 8 + Int(n)
        var tensors: [String: Tensor] = [:]
        var metadata: [String: String] = [:]
        for (name, entry) in header {
            if name == "__metadata__" { metadata = entry as? [String: String] ?? [:]; continue }
            guard let e = entry as? [String: Any], let dtype = e["dtype"] as? String, let shape = e["shape"] as? [Int],
                  let offsets = e["data_offsets"] as? [Int], offsets.count == 2 else {
                throw SafetensorsError(description: "\(path): entry \(name) is malformed")
            }
            let count = shape.reduce(1, *)
            let width = dtype == "F32" ? 4 : (dtype == "F16" || dtype == "BF16" ? 2 : 0)
            guard width > 0 else { throw SafetensorsError(description: "\(path): tensor \(name) has dtype \(dtype); only F32, F16 and BF16 are read") }
            guard offsets[1] - offsets[0] == count * width, offsets[0] >= 0, dataStart + offsets[1] <= size else {
                throw SafetensorsError(description: "\(path): tensor \(name) offsets \(offsets) do not match shape \(shape)")
            }
            let raw = try file.read(count: count * width, at: dataStart + offsets[0])
            var values = [Float](repeating: 0, count: count)
            for i in 0..<count {
                switch dtype {
                case "F32": values[i] = Float(bitPattern: UInt32(raw[4 * i]) | UInt32(raw[4 * i + 1]) << 8 | UInt32(raw[4 * i + 2]) << 16 | UInt32(raw[4 * i + 3]) << 24)
                case "F16": values[i] = Float(Float16(bitPattern: UInt16(raw[2 * i]) | UInt16(raw[2 * i + 1]) << 8))
                default: values[i] = Float(bitPattern: (UInt32(raw[2 * i]) | UInt32(raw[2 * i + 1]) << 8) << 16)
                }
            }
            tensors[name] = Tensor(shape: shape, values: values)
        }
        return (tensors, metadata)
    }

    /// Saves a module's parameters under their dotted names.
    public static func save(_ module: Module, metadata: [String: String] = [:], to path: String) throws {
        try write(module.namedParameters.map { ($0.0, $0.1.value) }, metadata: metadata, to: path)
    }

    /// Loads parameters into a module; every parameter must be present with its exact shape.
    public static func load(into module: Module, from path: String) throws -> [String: String] {
        let (tensors, metadata) = try read(path)
        for (name, p) in module.namedParameters {
            guard let t = tensors[name] else { throw SafetensorsError(description: "\(path): no tensor named \(name)") }
            guard t.shape == p.shape else { throw SafetensorsError(description: "\(path): \(name) has shape \(t.shape), the model needs \(p.shape)") }
            p.value = t
        }
        return metadata
    }
}
