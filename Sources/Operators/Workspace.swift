import Catalog
import Codecs
import Foundation
import Store
import Voxels

/// A store opened with operators composed in: stored datasets read as they are, derived datasets
/// as read-through views (`DerivedDataset`) with their operator prepared once. Nothing is global:
/// whoever needs derived datasets opens a workspace.
public struct Workspace: Sendable {
    /// The store.
    public let store: Store
    /// The operators derived datasets may use.
    public let operators: OperatorRegistry

    public init(store: Store, operators: OperatorRegistry = .standard) {
        self.store = store
        self.operators = operators
    }

    /// Opens a store directory with the standard operators.
    public init(path: String, cacheBytes: Int = Store.defaultCacheBytes) throws {
        self.init(store: try Store(path: path, cacheBytes: cacheBytes))
    }

    /// A dataset to read: the stored dataset, or the view of a derived one.
    public func open(_ name: String) throws -> any VolumeSource {
        try open(name, depth: 0)
    }

    private func open(_ name: String, depth: Int) throws -> any VolumeSource {
        let dataset = try store.dataset(named: name)
        guard dataset.info.kind == .derived, dataset.info.derivation != nil else { return dataset }
        return try derived(dataset, depth: depth)
    }

    /// The view of a derived dataset.
    /// - Throws: `OperatorError` when `name` is not derived.
    public func derived(_ name: String) throws -> DerivedDataset {
        let dataset = try store.dataset(named: name)
        guard dataset.info.kind == .derived, dataset.info.derivation != nil else {
            throw OperatorError("\"\(name)\" is not a derived dataset")
        }
        return try derived(dataset, depth: 0)
    }

    private func derived(_ dataset: Dataset, depth: Int) throws -> DerivedDataset {
        guard depth < 64 else { throw OperatorError("\"\(dataset.name)\": derivations nest more than 64 deep") }
        let info = dataset.info
        guard let stored = info.derivation else { throw OperatorError("\"\(dataset.name)\" is not a derived dataset") }
        let inputs = try stored.inputs.map { try open($0, depth: depth + 1) }
        let current = try Self.derivation(
            op: stored.op, params: stored.params, inputs: stored.inputs, inputDigests: inputs.map(\.info.contentDigest),
            modelDigest: stored.modelDigest, seed: stored.seed)
        let prepared = try operators.definition(named: stored.op).prepare(
            parameters: stored.params, context: OperatorContext(store: store))
        return DerivedDataset(
            dataset: dataset, info: info, store: store, prepared: prepared, inputs: inputs, derivation: current)
    }

    /// Checks an operator, its parameters and inputs (same shape); returns the inputs and the
    /// definition.
    private func definition(
        op: String, inputs names: [String], params: [String: JSONValue], modelDigest: String?, seed: UInt64?
    ) throws -> (inputs: [any VolumeSource], derivation: Derivation) {
        let type = try operators.definition(named: op)
        try type.validate(parameters: params)
        guard names.count == type.inputCount else {
            throw OperatorError("\(op) takes \(type.inputCount) input(s), got \(names.count)")
        }
        let inputs = try names.map { try open($0) }
        if let mismatch = inputs.first(where: { $0.shape != inputs[0].shape }) {
            throw OperatorError(
                "inputs differ in shape: \(inputs[0].name) is \(inputs[0].shape), \(mismatch.name) is \(mismatch.shape)"
            )
        }
        let derivation = try Self.derivation(
            op: op, params: params, inputs: names, inputDigests: inputs.map(\.info.contentDigest),
            modelDigest: modelDigest, seed: seed)
        return (inputs, derivation)
    }

    /// Defines a derived dataset (no voxel is computed): checks the operator, its parameters and the
    /// inputs (same shape), and records the provenance. Output: the operator's data type (float32 but
    /// for segment) on the first input's grid and voxel size.
    @discardableResult
    public func define(
        name: String, op: String, inputs names: [String], params: [String: JSONValue], modelDigest: String? = nil,
        seed: UInt64? = nil
    ) throws -> DerivedDataset {
        let (inputs, derivation) = try definition(
            op: op, inputs: names, params: params, modelDigest: modelDigest, seed: seed)
        let first = inputs[0]
        let context = OperatorContext(store: store)
        let layout = try operators.definition(named: op).outputLayout(parameters: params, context: context)
        var spec = Store.NewDataset(name: name, kind: .derived, dtype: layout.dtype, shape: first.shape)
        spec.classes = layout.classes
        spec.chunk = first.grid.chunk
        spec.voxelSize = first.info.voxelSize
        spec.origin = first.info.origin
        spec.derivation = derivation
        spec.contrast = try operators.definition(named: op).outputContrast(
            inputs: inputs.map(\.info.contrast), parameters: params)
        spec.contrastSource = spec.contrast.map { _ in "\(op) of \(names.joined(separator: ", "))" }
        // Prepared before the entry is written, so a definition that cannot run (e.g. its model is
        // not stored) leaves nothing behind.
        let prepared = try operators.definition(named: op).prepare(parameters: params, context: context)
        let dataset = try store.createDataset(spec)
        return DerivedDataset(
            dataset: dataset, info: dataset.info, store: store, prepared: prepared, inputs: inputs,
            derivation: derivation)
    }

    /// A view of `op` on the inputs that is in no catalog and stores nothing: every box read is
    /// computed (the `-o FILE` path of denoise, simulate and compensate). Same bytes as a defined
    /// dataset's.
    public func view(
        op: String, inputs names: [String], params: [String: JSONValue], modelDigest: String? = nil,
        seed: UInt64? = nil
    ) throws -> DerivedDataset {
        let (inputs, derivation) = try definition(
            op: op, inputs: names, params: params, modelDigest: modelDigest, seed: seed)
        var info = inputs[0].info
        let context = OperatorContext(store: store)
        let layout = try operators.definition(named: op).outputLayout(parameters: params, context: context)
        info.name = "\(op)(\(names.joined(separator: ",")))"
        info.dtype = layout.dtype
        info.classes = layout.classes
        info.kind = .derived
        info.derivation = derivation
        info.stats = nil
        info.mrc = nil
        info.contrast = try operators.definition(named: op).outputContrast(
            inputs: inputs.map(\.info.contrast), parameters: params)
        info.contrastSource = info.contrast.map { _ in "\(op) of \(names.joined(separator: ", "))" }
        let prepared = try operators.definition(named: op).prepare(parameters: params, context: context)
        return DerivedDataset(
            dataset: nil, info: info, store: store, prepared: prepared, inputs: inputs, derivation: derivation)
    }

    /// Deletes chunks and blobs that belong to no dataset (left by removed or redefined datasets);
    /// returns how many entries were removed.
    public func collectGarbage() throws -> Int { try store.removeOrphans() }

    /// A derivation with its digest: hex XXH64 of the canonical JSON of its defining fields.
    public static func derivation(
        op: String, params: [String: JSONValue], inputs: [String], inputDigests: [String], modelDigest: String?,
        seed: UInt64?
    ) throws -> Derivation {
        struct Canonical: Encodable {
            let op: String, params: [String: JSONValue], inputs: [String], model: String?, seed: UInt64?
            let software: String
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let canonical = Canonical(
            op: op, params: params, inputs: inputDigests, model: modelDigest, seed: seed,
            software: TomoStoreVersion.string)
        let digest = String(XXHash64.hash(Array(try encoder.encode(canonical))), radix: 16)
        return Derivation(
            op: op, params: params, inputs: inputs, inputDigests: inputDigests, modelDigest: modelDigest, seed: seed,
            softwareVersion: TomoStoreVersion.string, digest: digest)
    }
}
