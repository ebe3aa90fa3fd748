import Foundation
import Voxels

/// Why a safetensors file cannot be read.
public struct SafetensorsError: TomoStoreError {
    public let description: String
}

/// The safetensors format (https://github.com/huggingface/safetensors): an 8-byte little-endian
/// header length, a JSON header {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__":
/// {string: string}} padded with spaces to a multiple of 8 bytes, then the tensors' bytes. TomoStore
/// writes F32 little-endian, tensors in name order, and reads F32 (and F16/BF16 converted to F32).
public enum Safetensors {
    /// The bytes of a safetensors file holding named tensors (F32, in name order) and string metadata.
    public static func encode(_ tensors: [(String, Tensor)], metadata: [String: String] = [:]) throws -> [UInt8] {
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
        return out
    }

    /// Writes named tensors and string metadata to `path` (atomically: temporary file + rename);
    /// returns the bytes written.
    @discardableResult
    public static func write(_ tensors: [(String, Tensor)], metadata: [String: String] = [:], to path: String) throws
        -> [UInt8]
    {
        let out = try encode(tensors, metadata: metadata)
        try PosixFile.checkOutput(path)
        let temporary = PosixFile.temporaryPath(for: path)
        let file = try PosixFile(creating: temporary)
        do {
            try out.withUnsafeBytes { try file.write($0, at: 0) }
            try file.sync()
            try PosixFile.rename(temporary, to: path)
        } catch {
            PosixFile.removeIfPresent(temporary)
            throw error
        }
        return out
    }

    /// Reads every tensor and the metadata of a safetensors file.
    public static func read(_ path: String) throws -> (tensors: [String: Tensor], metadata: [String: String]) {
        let file = try PosixFile(readingFrom: path)
        return try decode(try file.read(count: try file.size(), at: 0), source: path)
    }

    /// Every tensor and the metadata of safetensors bytes; `source` names them in errors.
    public static func decode(_ bytes: [UInt8], source path: String) throws -> (
        tensors: [String: Tensor], metadata: [String: String]
    ) {
        let (header, dataStart, metadata) = try parseHeader(bytes, source: path)
        var tensors: [String: Tensor] = [:]
        for (name, entry) in header where name != "__metadata__" {
            guard let e = entry as? [String: Any], let dtype = e["dtype"] as? String, let shape = e["shape"] as? [Int],
                let offsets = e["data_offsets"] as? [Int], offsets.count == 2
            else {
                throw SafetensorsError(description: "\(path): entry \(name) is malformed")
            }
            let count = shape.reduce(1, *)
            let width = dtype == "F32" ? 4 : (dtype == "F16" || dtype == "BF16" ? 2 : 0)
            guard width > 0 else {
                throw SafetensorsError(
                    description: "\(path): tensor \(name) has dtype \(dtype); only F32, F16 and BF16 are read")
            }
            guard offsets[1] - offsets[0] == count * width, offsets[0] >= 0, dataStart + offsets[1] <= bytes.count
            else {
                throw SafetensorsError(
                    description: "\(path): tensor \(name) offsets \(offsets) do not match shape \(shape)")
            }
            let base = dataStart + offsets[0]
            let values: [Float]
            switch dtype {
            case "F32":
                values = (0..<count).map { i in
                    let j = base + 4 * i
                    return Float(
                        bitPattern: UInt32(bytes[j]) | UInt32(bytes[j + 1]) << 8 | UInt32(bytes[j + 2]) << 16 | UInt32(
                            bytes[j + 3]) << 24)
                }
            case "F16":
                values = (0..<count).map { i in
                    let j = base + 2 * i
                    return Float(Float16(bitPattern: UInt16(bytes[j]) | UInt16(bytes[j + 1]) << 8))
                }
            default:  // BF16: the high half of a float32
                values = (0..<count).map { i in
                    let j = base + 2 * i
                    return Float(bitPattern: (UInt32(bytes[j]) | UInt32(bytes[j + 1]) << 8) << 16)
                }
            }
            tensors[name] = Tensor(shape: shape, values: values)
        }
        return (tensors, metadata)
    }

    /// Only the metadata of safetensors bytes (the header is parsed, no tensor is decoded).
    public static func metadata(_ bytes: [UInt8], source path: String) throws -> [String: String] {
        try parseHeader(bytes, source: path).metadata
    }

    /// The JSON header, where the tensor data start, and the "__metadata__" strings.
    static func parseHeader(_ bytes: [UInt8], source path: String) throws -> (
        header: [String: Any], dataStart: Int, metadata: [String: String]
    ) {
        let size = bytes.count
        guard size >= 8 else { throw SafetensorsError(description: "\(path): not a safetensors file (\(size) bytes)") }
        let n = bytes[0..<8].enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
        guard n > 0, n <= UInt64(size - 8) else {
            throw SafetensorsError(description: "\(path): header length \(n) does not fit the file")
        }
        guard let header = try? JSONSerialization.jsonObject(with: Data(bytes[8..<8 + Int(n)])) as? [String: Any] else {
            throw SafetensorsError(description: "\(path): header is not a JSON object")
        }
        return (header, 8 + Int(n), header["__metadata__"] as? [String: String] ?? [:])
    }

    /// Saves a module's parameters under their dotted names; returns the bytes written.
    @discardableResult
    public static func save(_ module: Module, metadata: [String: String] = [:], to path: String) throws -> [UInt8] {
        try write(module.namedParameters.map { ($0.0, $0.1.value) }, metadata: metadata, to: path)
    }

    /// Loads parameters into a module; every parameter must be present with its exact shape.
    public static func load(into module: Module, from path: String) throws -> [String: String] {
        let (tensors, metadata) = try read(path)
        try assign(tensors, to: module, source: path)
        return metadata
    }

    /// Sets every parameter of `module` from the tensor of its dotted name, which must exist with the
    /// parameter's exact shape; `source` names the tensors in errors.
    public static func assign(_ tensors: [String: Tensor], to module: Module, source path: String) throws {
        for (name, p) in module.namedParameters {
            guard let t = tensors[name] else { throw SafetensorsError(description: "\(path): no tensor named \(name)") }
            guard t.shape == p.shape else {
                throw SafetensorsError(description: "\(path): \(name) has shape \(t.shape), the model needs \(p.shape)")
            }
            p.value = t
        }
    }
}
