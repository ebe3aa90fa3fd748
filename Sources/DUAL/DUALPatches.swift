import Engine
import Foundation
import Voxels

/// One volume of a training domain, read box by box through `read` (boxes inside `shape`, voxels
/// in [z][y][x] order), standardized with its own mean and standard deviation.
public struct PatchVolume {
    public let name: String
    public let shape: Extent3
    public let mean: Double
    public let std: Double
    public let read: (Box3) throws -> Volume

    public init(name: String, shape: Extent3, mean: Double, std: Double, read: @escaping (Box3) throws -> Volume) {
        self.name = name
        self.shape = shape
        self.mean = mean
        self.std = std
        self.read = read
    }

    /// The same volume with x and z swapped (beam along x instead of z), as a view: each patch is
    /// read from the original box with x and z swapped, then transposed. Nothing is copied ahead.
    public func transposedXZ() -> PatchVolume {
        let source = read
        return PatchVolume(
            name: name + " (x↔z)", shape: Extent3(x: shape.z, y: shape.y, z: shape.x), mean: mean, std: std
        ) { box in
            try source(box.swappingXZ).swappingXZ()
        }
    }
}

/// Random cubic patches of a domain, each a pure function of (seed, domain stream, iteration, slot
/// in the batch): the volume, then the corner uniformly over all positions where the patch fits.
public struct PatchSampler {
    public let volumes: [PatchVolume]
    let rng: CounterRNG
    let stream: UInt64

    /// `stream` separates domains drawn with the same seed (1: clean, 2: noisy).
    public init(volumes: [PatchVolume], seed: UInt64, stream: UInt64) {
        self.volumes = volumes
        self.rng = CounterRNG(seed: seed ^ 0xda7a)
        self.stream = stream
    }

    /// A batch [batch, 1, P, P, P] of standardized patches for one iteration.
    public func batch(iteration: Int, batch: Int, patch p: Int) throws -> Tensor {
        var values: [Float] = []
        values.reserveCapacity(batch * p * p * p)
        for b in 0..<batch {
            let counter = UInt64(iteration * batch + b)
            let v = volumes[
                Int(rng.uniform(stream: stream, counter: 4 * counter) * Double(volumes.count)) % volumes.count]
            func at(_ k: UInt64, _ n: Int) -> Int {
                Int(rng.uniform(stream: stream, counter: 4 * counter + k) * Double(n - p + 1))
            }
            let x = at(1, v.shape.x)
            let y = at(2, v.shape.y)
            let z = at(3, v.shape.z)
            let patch = try v.read(Box3(x: x..<x + p, y: y..<y + p, z: z..<z + p)).converted(to: .float32)
            let mean = Float(v.mean)
            let scale = 1 / Float(max(v.std, 1e-12))
            patch.withUnsafeValues(as: Float.self) { src in values += src.map { ($0 - mean) * scale } }
        }
        return Tensor(shape: [batch, 1, p, p, p], values: values)
    }
}

extension DUALTrainer {
    /// Trains until `iterations` on unpaired batches drawn from the two domains' volumes (patch
    /// positions from the trainer's seed, stream 1 clean, 2 noisy); `checkpoint` is called every
    /// `checkpointEvery` iterations and after the last, `progress` after each one; `stop` (asked after
    /// each iteration) ends training early, after a checkpoint.
    public func train(
        until iterations: Int, clean: [PatchVolume], noisy: [PatchVolume], checkpointEvery: Int,
        checkpoint: () throws -> Void, progress: (DUALLosses) -> Void, stop: () -> Bool = { false }
    ) throws {
        let c = model.config
        for v in clean + noisy where min(v.shape.x, v.shape.y, v.shape.z) < c.patch {
            throw DUALError(
                "\(v.name) (\(v.shape.x)×\(v.shape.y)×\(v.shape.z)) is smaller than the \(c.patch)³ training patch")
        }
        let (cleanPatches, noisyPatches) = (
            PatchSampler(volumes: clean, seed: seed, stream: 1), PatchSampler(volumes: noisy, seed: seed, stream: 2)
        )
        while iteration < iterations {
            let losses = step(
                DUALBatch(
                    clean: try cleanPatches.batch(iteration: iteration, batch: c.batch, patch: c.patch),
                    noisy: try noisyPatches.batch(iteration: iteration, batch: c.batch, patch: c.patch)))
            progress(losses)
            let last = iteration == iterations || stop()
            if iteration % max(1, checkpointEvery) == 0 || last { try checkpoint() }
            if last { break }
        }
    }
}
