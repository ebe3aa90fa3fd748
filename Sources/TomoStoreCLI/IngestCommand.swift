import ArgumentParser
import Catalog
import Foundation
import Imaging
import MRC
import Store
import Transfer
import Voxels

/// `tomostore ingest STORE FILE.mrc --name NAME …`: streams an MRC file into a dataset.
struct IngestCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ingest",
        abstract: "Ingest an MRC file into a store as a chunked, compressed dataset.",
        discussion: """
            Streams the file a run of chunks at a time (bounded memory for any file size), compresses chunks on all
            cores and commits them in durable batches. The dataset is marked complete only in its last
            transaction; an interrupted ingest shows as incomplete and continues with --resume.

            Examples:
              tomostore ingest s.store tomo.rec --name tomo1
              tomostore ingest s.store labels.mrc --name tomo1/labels --kind labels --classes 1=ribosome,2=membrane
              tomostore ingest s.store big.mrc --name big --chunk 128 --codec zstd:5
            """
    )

    @Argument(help: "The store directory.") var store: String
    @Argument(help: "The MRC file to ingest.") var file: String
    @Option(help: "Dataset name (letters, digits, -_./; up to 200 bytes).") var name: String
    @Option(help: "tomogram, grand-model, labels or synthetic.") var kind = "tomogram"
    @Option(help: "Chunk edge in voxels (N for N³, or X,Y,Z).") var chunk = "64"
    @Option(help: "raw or zstd:L (L = 1…19).") var codec = "zstd:3"
    @Flag(name: .customLong("no-shuffle"), help: "Do not byte-shuffle multi-byte voxels before zstd.") var noShuffle =
        false
    @Flag(help: "Continue an interrupted ingest of the same file.") var resume = false
    @Option(help: "Class table for labels: id=name pairs, comma-separated.") var classes: String?
    @Option(name: .customLong("attr"), help: "A free-form attribute key=value (repeatable), e.g. tilt_min=-60.")
    var attributes: [String] = []
    @Option(
        help: ArgumentHelp(
            "Voxel size in Å for all axes, replacing the header's (required when the header says 0 or 1 Å).",
            valueName: "Å")) var voxel: Double?
    @Option(
        help: ArgumentHelp(
            "Protein contrast of a tomogram: dark (as reconstructed) or bright (inverted); default: estimated "
                + "from the data.")) var contrast: Contrast?
    @Flag(help: "No progress bar.") var quiet = false
    @Flag(help: "Print the new dataset's info as JSON.") var json = false

    func validate() throws {
        guard let kind = DatasetKind(rawValue: kind), kind != .derived else {
            throw ValidationError("unknown --kind \"\(self.kind)\"; use tomogram, grand-model, labels or synthetic")
        }
        _ = try parseChunk(chunk)
    }

    func run() throws {
        let kind = DatasetKind(rawValue: self.kind)!
        let store = try Store(path: self.store)
        var options = IngestOptions(name: name)
        options.kind = kind
        options.chunk = try parseChunk(chunk)
        options.codec = codec
        options.shuffle = !noShuffle
        options.resume = resume
        options.attributes = try parseAttributes(attributes)
        if let classes { options.classes = try parseClasses(classes) }
        // Said once the dataset is in (a failing ingest prints its error alone).
        var notes: [String] = []
        if !resume && (kind == .tomogram || kind == .grandModel) {
            let reader = try MRCReader(path: file)
            let size = try estimationVoxelSize(
                header: reader.voxelSize.array, override: voxel, what: file, notes: &notes)
            options.voxelSize = voxel
            options.contrast = try decideContrast(kind: kind, reader: reader, voxelSize: size)
            if contrast == nil && kind == .tomogram, let (_, source) = options.contrast {
                notes.append("contrast of \(name): \(source) (override with --contrast dark|bright)")
            }
        } else if let voxel {
            options.voxelSize = try physicalVoxelSize(header: [], override: voxel, what: file)
        }
        let bar = ProgressBar("ingest \(name)", unit: "chunks", quiet: quiet)
        let start = Date()
        _ = try Ingest.mrc(file, into: store, options: options) { bar.update($0, $1) }
        let dataset = try store.dataset(named: name)
        for line in notes { printError(line) }
        if json {
            print(try jsonText(any: try infoDictionary(dataset)))
        } else {
            let s = try dataset.storageSummary()
            print(
                String(
                    format: "ingested %@ as \"%@\": %@ %@, %d chunks, %.1f MB stored (ratio %.2f) in %.2f s",
                    file, name, dataset.shape.description, dataset.dtype.rawValue, s.storedChunks,
                    Double(s.storedBytes) / 1e6,
                    s.storedBytes > 0 ? Double(s.rawBytes) / Double(s.storedBytes) : 0, Date().timeIntervalSince(start))
            )
        }
    }
}

extension IngestCommand {
    /// The contrast to record: --contrast, else density for grand models, else the estimate from the
    /// file (undetermined: dark, the reconstruction convention).
    func decideContrast(kind: DatasetKind, reader: MRCReader, voxelSize: Double) throws -> (Contrast, String) {
        if let contrast { return (contrast, "given (--contrast)") }
        if kind == .grandModel { return (.bright, "density (grand model)") }
        let estimate = try ContrastEstimate.estimate(shape: reader.shape, voxelSize: voxelSize) {
            try reader.read(box: $0)
        }
        let decided = estimate.contrast ?? .dark
        let source =
            estimate.contrast == nil
            ? "\(estimate.explanation); assumed dark, the reconstruction convention" : estimate.explanation
        return (decided, source)
    }
}

/// Parses `N` or `X,Y,Z` chunk sizes.
func parseChunk(_ text: String) throws -> Extent3 {
    let parts = text.split(separator: ",").map { Int($0) }
    if parts.count == 1, let n = parts[0], n > 0 { return Extent3(x: n, y: n, z: n) }
    if parts.count == 3, let x = parts[0], let y = parts[1], let z = parts[2], x > 0, y > 0, z > 0 {
        return Extent3(x: x, y: y, z: z)
    }
    throw CommandError("malformed --chunk \"\(text)\": give N (for N³ voxels) or X,Y,Z, all positive")
}

/// Splits one `key=value` item of a repeatable option (the value may contain '=').
func splitKeyValue(_ item: String, option: String) throws -> (key: String, value: String) {
    guard let eq = item.firstIndex(of: "="), eq != item.startIndex else {
        throw CommandError("malformed \(option) \"\(item)\": write key=value")
    }
    return (String(item[..<eq]), String(item[item.index(after: eq)...]))
}

/// Parses `key=value` attributes or parameters; numbers and true/false become JSON numbers and booleans.
func parseAttributes(_ items: [String], option: String = "--attr") throws -> [String: JSONValue] {
    var out: [String: JSONValue] = [:]
    for item in items {
        let (key, value) = try splitKeyValue(item, option: option)
        if let n = Double(value) {
            out[key] = .number(n)
        } else if value == "true" || value == "false" {
            out[key] = .bool(value == "true")
        } else {
            out[key] = .string(value)
        }
    }
    return out
}

/// Parses `1=ribosome,2=membrane`.
func parseClasses(_ text: String) throws -> [String: String] {
    var out: [String: String] = ["0": "background"]
    for item in text.split(separator: ",") {
        let kv = item.split(separator: "=", maxSplits: 1)
        guard kv.count == 2, let id = Int(kv[0]), id >= 0 else {
            throw CommandError("malformed --classes entry \"\(item)\": write id=name, e.g. 1=ribosome")
        }
        out[String(id)] = String(kv[1])
    }
    return out
}
