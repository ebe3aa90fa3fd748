import Catalog
import Codecs
import Store
import Voxels

/// Applies a volume-to-volume transform to a whole dataset tile by tile: each output tile (a
/// multiple of the chunk grid) is computed from its input box grown by `halo` voxels (clamped to
/// the volume, where the transform's own reflected border then applies), so memory is bounded by
/// one tile and the result equals the transform of the whole volume whenever the transform only
/// looks `halo` voxels away.
public enum TiledTransform {
    /// Runs `transform` over `input` and writes the result into `output` (same shape, float32).
    /// `progress(done, total)` counts tiles.
    public static func run(
        input: any VolumeSource, output: Dataset, halo: Int, tileChunks: Int = 2,
        progress: ((Int, Int) -> Void)? = nil, _ transform: (Volume) -> Volume
    ) throws {
        precondition(input.shape == output.shape, "input and output shapes differ")
        let shape = input.shape
        let tile = Extent3(
            x: output.grid.chunk.x * tileChunks, y: output.grid.chunk.y * tileChunks,
            z: output.grid.chunk.z * tileChunks)
        let counts = Extent3(
            x: (shape.x + tile.x - 1) / tile.x, y: (shape.y + tile.y - 1) / tile.y, z: (shape.z + tile.z - 1) / tile.z)
        var done = 0
        for tz in 0..<counts.z {
            for ty in 0..<counts.y {
                for tx in 0..<counts.x {
                    let core = Box3(
                        x: tx * tile.x..<min(shape.x, (tx + 1) * tile.x),
                        y: ty * tile.y..<min(shape.y, (ty + 1) * tile.y),
                        z: tz * tile.z..<min(shape.z, (tz + 1) * tile.z))
                    let grown = core.grown(by: halo).clamped(to: shape)
                    let result = transform(try input.read(grown).converted(to: .float32))
                    let inner = core.relative(to: grown)
                    try output.write(result.extracting(inner).converted(to: output.dtype), at: core.lower)
                    done += 1
                    progress?(done, counts.count)
                }
            }
        }
    }
}
