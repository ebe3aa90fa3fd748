import Foundation
import Store
import Voxels

/// How a derived dataset is computed (its provenance; catalog key `derivation`). Any change to
/// these gives a new `digest`.
public struct Derivation: Codable, Equatable, Sendable {
    /// Operator name (e.g. "gaussian").
    public var op: String
    /// Operator parameters.
    public var params: [String: JSONValue]
    /// Input dataset names.
    public var inputs: [String]
    /// The inputs' content digests when the chunks were computed (`DatasetInfo.contentDigest`).
    public var inputDigests: [String]
    /// Digest of the model weights, for network operators.
    public var modelDigest: String?
    /// Seed, for random operators.
    public var seed: UInt64?
    public var softwareVersion: String
    /// Hex XXH64 of the canonical JSON of everything above (`Derivation.digest(…)`).
    public var digest: String

    public init(
        op: String, params: [String: JSONValue], inputs: [String], inputDigests: [String], modelDigest: String?,
        seed: UInt64?, softwareVersion: String, digest: String
    ) {
        self.op = op
        self.params = params
        self.inputs = inputs
        self.inputDigests = inputDigests
        self.modelDigest = modelDigest
        self.seed = seed
        self.softwareVersion = softwareVersion
        self.digest = digest
    }
}
