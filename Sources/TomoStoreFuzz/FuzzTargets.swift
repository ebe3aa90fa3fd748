import Codecs
import Engine
import Foundation
import MRC
import Store
import Transfer
import Voxels

/// The parsers TomoStore runs on bytes from outside, each a fuzz target: it must return or throw
/// for any input, never trap, hang or leak. The target is chosen by `TOMOSTORE_FUZZ` (or, when
/// replaying, the first argument).
enum FuzzTarget: String, CaseIterable {
    /// MRC header and voxel reader (a file of these bytes).
    case mrc
    /// A stored chunk value (header + payload) through the codecs of a few grids and dtypes.
    case chunk
    /// A catalog entry (XXH64 + JSON; the checksum is recomputed so the JSON reader is reached).
    case catalog
    /// A selector byte (odd: Zarr v2 `.zarray`, even: v3 `zarr.json`), the metadata, a 0 byte, and
    /// chunk 0's bytes.
    case zarr
    /// Pick files: RELION STAR, CSV and copick JSON (by the first byte).
    case picks
    /// A safetensors file (DUAL and segmentation models).
    case safetensors

    /// A private scratch directory on tmpfs when there is one.
    static let scratch: String = {
        let base = FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory()
        let dir = "\(base)/tomostore-fuzz-\(getpid())"
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }()

    static let contexts = CodecContexts()
    static let codecs: [PreparedChunkCodec] = {
        let shapes = [Extent3(x: 4, y: 4, z: 4), Extent3(x: 3, y: 5, z: 2)]
        let chains = [
            CodecChain(level: 0, shuffle: false), CodecChain(level: 3, shuffle: false),
            CodecChain(level: 3, shuffle: true),
        ]
        return shapes.flatMap { shape in
            [DType.uint8, .float32, .uint16].flatMap { dtype in
                chains.compactMap { try? PreparedChunkCodec($0, dtype: dtype, extent: shape, contexts: contexts) }
            }
        }
    }()

    func run(_ data: [UInt8]) {
        switch self {
        case .mrc:
            let path = Self.write(data, name: "in.mrc")
            guard let reader = try? MRCReader(path: path) else { return }
            if reader.shape.count <= 1 << 20 { _ = try? reader.readAll() }
            _ = try? reader.extendedHeader()
        case .chunk:
            for codec in Self.codecs {
                var out = [UInt8](repeating: 0, count: codec.rawSize)
                data.withUnsafeBytes { value in
                    out.withUnsafeMutableBytes { dst in
                        _ = try? codec.decode(value, key: [1, 2, 3], into: dst, checksum: true)
                        _ = try? codec.decodeRegion(
                            value, key: [1, 2, 3], chunkBox: Box3(shape: codec.extent),
                            box: Box3(shape: codec.extent), into: dst.baseAddress!)
                    }
                }
                _ = data.withUnsafeBytes { try? ZarrChunk.framing($0) }
            }
        case .catalog:
            let sealed = withUnsafeBytes(of: data.withUnsafeBytes { XXHash64.hash($0) }.littleEndian) { Array($0) }
            _ = (sealed + data).withUnsafeBytes { try? CatalogCoding.decodeEntry($0) }
            _ = data.withUnsafeBytes { try? CatalogCoding.decodeEntry($0) }
        case .zarr:
            let dir = "\(Self.scratch)/array.zarr"
            try? FileManager.default.removeItem(atPath: dir)
            try? FileManager.default.createDirectory(atPath: dir + "/c/0/0", withIntermediateDirectories: true)
            let v2 = (data.first ?? 0) & 1 == 1
            let body = data.dropFirst()
            let split = body.firstIndex(of: 0) ?? body.endIndex
            let metadata = Array(body[..<split])
            let chunk = Array(body[min(body.endIndex, split + 1)...])
            FileManager.default.createFile(
                atPath: dir + (v2 ? "/.zarray" : "/zarr.json"), contents: Data(metadata))
            FileManager.default.createFile(atPath: dir + (v2 ? "/0.0.0" : "/c/0/0/0"), contents: Data(chunk))
            // The metadata, then the first chunk's worth of voxels (what an import reads first).
            if let reader = try? ZarrArrayReader(path: dir, cacheBytes: 64 << 20) {
                let s = reader.shape
                let box = Box3(x: 0..<min(s.x, 64), y: 0..<min(s.y, 64), z: 0..<min(s.z, 64))
                _ = try? reader.read(box: box)
            }
        case .picks:
            let ext = ["star", "csv", "json"][Int(data.first ?? 0) % 3]
            let path = Self.write(Array(data.dropFirst()), name: "picks.\(ext)")
            _ = try? PickFile.read(path, shape: Extent3(x: 64, y: 64, z: 32), voxelSize: 10)
            _ = try? PickFile.read(path, shape: Extent3(x: 64, y: 64, z: 32), voxelSize: 10, tomogram: "TS_01")
        case .safetensors:
            _ = try? Safetensors.decode(data, source: "fuzz")
        }
    }

    static func write(_ data: [UInt8], name: String) -> String {
        let path = "\(scratch)/\(name)"
        FileManager.default.createFile(atPath: path, contents: Data(data))
        return path
    }
}

#if FUZZING
    /// libFuzzer's entry when its own `main` is not linked (SwiftPM links the target's `main`).
    @_silgen_name("LLVMFuzzerRunDriver")
    func runFuzzerDriver(
        _ argc: UnsafeMutablePointer<CInt>,
        _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
        _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
    ) -> CInt

    nonisolated(unsafe) var selected = FuzzTarget.mrc

    /// `TOMOSTORE_FUZZ=TARGET TomoStoreFuzz [libFuzzer options] [CORPUS…]`: fuzzes one target.
    @main
    struct Fuzz {
        static func main() {
            let name = ProcessInfo.processInfo.environment["TOMOSTORE_FUZZ"] ?? ""
            guard let target = FuzzTarget(rawValue: name) else {
                let names = FuzzTarget.allCases.map(\.rawValue).joined(separator: ", ")
                FileHandle.standardError.write(Data("set TOMOSTORE_FUZZ to one of: \(names)\n".utf8))
                exit(2)
            }
            selected = target
            var argc = CommandLine.argc
            var argv = CommandLine.unsafeArgv
            exit(
                runFuzzerDriver(&argc, &argv) { bytes, count in
                    selected.run(bytes.map { Array(UnsafeBufferPointer(start: $0, count: count)) } ?? [])
                    return 0
                })
        }
    }
#else
    /// `TomoStoreFuzz TARGET FILE…`: runs each file through a target (replays a corpus or a crash).
    @main
    struct Replay {
        static func main() {
            let args = CommandLine.arguments.dropFirst()
            guard let name = args.first, let target = FuzzTarget(rawValue: name) else {
                let names = FuzzTarget.allCases.map(\.rawValue).joined(separator: "|")
                FileHandle.standardError.write(Data("usage: TomoStoreFuzz \(names) FILE…\n".utf8))
                exit(2)
            }
            var files: [String] = []
            for path in args.dropFirst() {
                var isDirectory: ObjCBool = false
                FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory)
                if isDirectory.boolValue {
                    let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
                    files += names.sorted().map { "\(path)/\($0)" }
                } else {
                    files.append(path)
                }
            }
            for file in files {
                guard let data = FileManager.default.contents(atPath: file) else { continue }
                target.run(Array(data))
            }
            print("\(name): \(files.count) inputs ran")
        }
    }
#endif
