import Voxels

/// Computes and stores chunks of a derived dataset on demand. Implementations live outside the
/// storage layer (the Operators module) and are installed with `Store.materializerFactory`.
public protocol ChunkMaterializer: AnyObject {
    /// Computes the given chunks (chunk indices) of `dataset` and stores them, reporting
    /// `progress(done, total)` in chunks.
    func materialize(_ dataset: Dataset, chunks: [Extent3], progress: ((Int, Int) -> Void)?) throws
}
