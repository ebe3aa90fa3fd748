import Voxels

/// Why moving a volume in or out of a store failed (bad file, bad option, mismatch).
public struct TransferError: TomoStoreError {
    public let description: String
    public init(_ description: String) { self.description = description }
}
