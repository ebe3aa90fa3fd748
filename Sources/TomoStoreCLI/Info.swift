import ArgumentParser
import Catalog
import Foundation
import Store

/// `tomostore info STORE NAME [--json]`: everything the catalog knows about a dataset.
struct Info: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show a dataset's metadata and storage.",
        discussion: """
            JSON keys include name, kind, dtype, shape, chunk, codec, fill_value, voxel_size, origin,
            stats, mrc (the source header fields), attributes, created, software_version, complete,
            stored_chunks, stored_bytes, raw_bytes.

            Example:
              tomostore info s.store tomo1 --json
            """
    )

    @OptionGroup var dataset: DatasetArguments
    @Flag(help: "Print a JSON object.") var json = false

    func run() throws {
        let store = try Store(path: dataset.store)
        let ds = try store.dataset(named: dataset.name, allowIncomplete: true)
        let dict = try infoDictionary(ds)
        if json {
            print(try jsonText(any: dict))
            return
        }
        let i = ds.info
        var lines = [
            "name:        \(i.name) (id \(i.id))\(i.complete ? "" : "  — INCOMPLETE")",
            "kind:        \(i.kind.rawValue)",
            "voxels:      \(i.shape.map(String.init).joined(separator: " × ")) \(i.dtype.rawValue), voxel "
                + "\(i.voxelSize.map { String(format: "%g", $0) }.joined(separator: " × ")) Å",
            "chunks:      \(i.chunk.map(String.init).joined(separator: "×")), "
                + "\(i.codec)\(i.shuffle ? " + shuffle" : ""), fill \(i.fillValue)",
            "stored:      \(dict["stored_chunks"]!) of \(dict["total_chunks"]!) chunks, \(dict["stored_bytes"]!) "
                + "bytes (raw \(dict["raw_bytes"]!))",
        ]
        if let s = i.stats {
            lines.append(String(format: "stats:       min %g max %g mean %g rms %g", s.min, s.max, s.mean, s.rms))
        }
        if let c = i.classes {
            lines.append(
                "classes:     "
                    + c.sorted { (Int($0.key) ?? 0) < (Int($1.key) ?? 0) }.map { "\($0.key)=\($0.value)" }.joined(
                        separator: ", "))
        }
        if let m = i.mrc {
            lines.append(
                "source:      \(m.path) (mode \(m.mode), \(m.endianness)-endian, axes "
                    + "\(m.axisOrder.map(String.init).joined(separator: ",")))"
            )
        }
        if let d = i.derivation {
            func text(_ v: JSONValue) -> String {
                switch v {
                case .string(let s): return s
                case .number(let n): return String(format: "%g", n)
                case .bool(let b): return String(b)
                default: return "…"
                }
            }
            let params = d.params.sorted { $0.key < $1.key }.map { "\($0.key)=\(text($0.value))" }.joined(
                separator: " ")
            lines.append(
                "derived:     \(d.op)(\(d.inputs.joined(separator: ", ")))\(params.isEmpty ? "" : "  " + params)")
        }
        lines.append("created:     \(i.created) by TomoStore \(i.softwareVersion)")
        print(lines.joined(separator: "\n"))
    }
}
