import Foundation
import Store
import Voxels

/// Computes derived chunks from their inputs' box grown by the operator's halo (clamped to the
/// volume, where the operator's mirror border then applies, so every chunk equals the whole-volume
/// result), a block of neighbouring requested chunks at a time, each block committed at once. Global
/// operators compute the whole volume once and store every chunk. Inputs may be derived themselves:
/// their chunks are materialized first.
final class OperatorMaterializer: ChunkMaterializer {
    let op: any LazyOperator
    let inputs: [Dataset]

    init(_ dataset: Dataset) throws {
        guard let d = dataset.info.derivation else { throw OperatorError("\(dataset.name) is not derived") }
        op = try OperatorRegistry.type(named: d.op).init(parameters: d.params)
        inputs = try d.inputs.map { try dataset.store.dataset(named: $0) }
        // Inputs changed since the chunks were computed (re-ingested, redefined): drop the stale chunks.
        let current = inputs.map(\.info.contentDigest)
        if current != d.inputDigests {
            let digest = Derivations.digest(op: d.op, params: d.params, inputDigests: current, modelDigest: d.modelDigest, seed: d.seed)
            try dataset.dropChunks { info in
                info.derivation?.inputDigests = current
                info.derivation?.digest = digest
            }
        }
    }

    func materialize(_ dataset: Dataset, chunks: [Extent3], progress: ((Int, Int) -> Void)?) throws {
        let voxel = dataset.info.voxelSize[0]
        let shape = dataset.shape
        guard let halo = op.halo else {
            // Global operator: the whole volume at once; every chunk stored.
            let volumes = try inputs.map { try $0.read(Box3(shape: shape)).converted(to: .float32) }
            let result = op.compute(volumes, voxelSize: voxel).converted(to: dataset.dtype)
            let all = dataset.grid.allChunks
            var done = 0
            for start in stride(from: 0, to: all.count, by: 64) {
                let part = Array(all[start..<min(all.count, start + 64)])
                let pieces = part.map { (index: $0, volume: result.extracting(dataset.grid.box(of: $0))) }
                try dataset.commit(try dataset.prepare(pieces, keepFill: true))
                done += part.count
                progress?(done, all.count)
            }
            return
        }
        // Group the requested chunks into blocks of up to 4×4×4 chunks (at most about 16 Mvoxel):
        // each block is computed once from its union box grown by the halo, then split. A voxel's
        // value does not depend on the grouping: the operators are exact on any box with its halo.
        let g = dataset.grid.chunk
        let side = max(1, min(4, Int(cbrt(Double(16 << 20) / Double(g.count)))))
        var blocks: [Extent3: [Extent3]] = [:]
        for c in chunks { blocks[Extent3(x: c.x / side, y: c.y / side, z: c.z / side), default: []].append(c) }
        let order = blocks.keys.sorted { ($0.z, $0.y, $0.x) < ($1.z, $1.y, $1.x) }
        var done = 0
        for key in order {
            let part = blocks[key]!
            let boxes = part.map { dataset.grid.box(of: $0) }
            let union = Box3(x: boxes.map(\.lower.x).min()!..<boxes.map(\.upper.x).max()!, y: boxes.map(\.lower.y).min()!..<boxes.map(\.upper.y).max()!,
                             z: boxes.map(\.lower.z).min()!..<boxes.map(\.upper.z).max()!)
            // Derived inputs: materialize what this block will read first.
            for input in inputs where input.info.kind == .derived { try input.materialize(grow(union, by: halo, in: shape)) }
            let result = try op.computeChunk(union, shape: shape, voxelSize: voxel, inputs: inputs).converted(to: dataset.dtype)
            let pieces = part.map { index -> (index: Extent3, volume: Volume) in
                let b = dataset.grid.box(of: index)
                return (index, result.extracting(Box3(lower: Extent3(x: b.lower.x - union.lower.x, y: b.lower.y - union.lower.y, z: b.lower.z - union.lower.z),
                                                      upper: Extent3(x: b.upper.x - union.lower.x, y: b.upper.y - union.lower.y, z: b.upper.z - union.lower.z))))
            }
            try dataset.commit(try dataset.prepare(pieces, keepFill: true))
            done += part.count
            progress?(done, chunks.count)
        }
    }

    private func grow(_ b: Box3, by h: Int, in s: Extent3) -> Box3 {
        Box3(x: max(0, b.lower.x - h)..<min(s.x, b.upper.x + h), y: max(0, b.lower.y - h)..<min(s.y, b.upper.y + h),
             z: max(0, b.lower.z - h)..<min(s.z, b.upper.z + h))
    }
}

/// Cores available to operators.
enum EngineCores {
    static let count = max(1, ProcessInfo.processInfo.activeProcessorCount)
}

/// Defining derived datasets.
public enum Derivations {
    /// Installs the materializer so that every `Dataset` of kind `derived` computes its chunks on read.
    public static func install() {
        Store.materializerFactory = { try OperatorMaterializer($0) }
    }

    /// Hex XXH64 of the canonical JSON of a derivation's defining fields.
    public static func digest(op: String, params: [String: JSONValue], inputDigests: [String], modelDigest: String?, seed: UInt64?) -> String {
        struct Canonical: Encodable {
            let op: String, params: [String: JSONValue], inputs: [String], model: String?, seed: UInt64?, software: String
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let data = (try? encoder.encode(Canonical(op: op, params: params, inputs: inputDigests, model: modelDigest, seed: seed, software: TomoStoreVersion.string))) ?? Data()
        return String(XXHash64.hash(Array(data)), radix: 16)
    }

    /// Defines a derived dataset (no voxel is computed): checks the operator, its parameters and the
    /// inputs (same shape), and records the provenance. Output: float32, the first input's grid and
    /// voxel size.
    @discardableResult
    public static func define(in store: Store, name: String, op: String, inputs names: [String], params: [String: JSONValue],
                              modelDigest: String? = nil, seed: UInt64? = nil) throws -> Dataset {
        let type = try OperatorRegistry.type(named: op)
        let operation = try type.init(parameters: params)
        guard names.count == operation.inputCount else { throw OperatorError("\(op) takes \(operation.inputCount) input(s), got \(names.count)") }
        let inputs = try names.map { try store.dataset(named: $0) }
        if let mismatch = inputs.first(where: { $0.shape != inputs[0].shape }) {
            throw OperatorError("inputs differ in shape: \(inputs[0].name) is \(inputs[0].shape), \(mismatch.name) is \(mismatch.shape)")
        }
        let inputDigests = inputs.map(\.info.contentDigest)
        var spec = Store.NewDataset(name: name, kind: .derived, dtype: .float32, shape: inputs[0].shape)
        spec.chunk = inputs[0].grid.chunk
        spec.voxelSize = inputs[0].info.voxelSize
        spec.origin = inputs[0].info.origin
        spec.derivation = Derivation(op: op, params: params, inputs: names, inputDigests: inputDigests, modelDigest: modelDigest, seed: seed,
                                     softwareVersion: TomoStoreVersion.string,
                                     digest: digest(op: op, params: params, inputDigests: inputDigests, modelDigest: modelDigest, seed: seed))
        return try store.createDataset(spec)
    }

    /// Deletes chunks and blobs that belong to no dataset (left by removed or redefined datasets);
    /// returns how many entries were removed.
    public static func collectGarbage(in store: Store) throws -> Int {
        try store.removeOrphans()
    }
}
