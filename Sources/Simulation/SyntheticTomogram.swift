import Foundation
import Voxels

/// A small deterministic stand-in for a tomogram: Gaussian blobs (particles, dark on light as in
/// cryo-ET contrast) plus white Gaussian noise, drawn from a counter-based generator.
public enum SyntheticTomogram {
    /// Makes a float32 volume of `shape` ([z][y][x]) for `seed`.
    public static func make(shape: Extent3, seed: UInt64) -> Volume {
        let rng = CounterRNG(seed: seed)
        let particles = 40
        var centers: [(Double, Double, Double, Double)] = []
        for i in 0..<particles {
            let c = UInt64(i * 4)
            centers.append(
                (
                    rng.uniform(stream: 1, counter: c) * Double(shape.x),
                    rng.uniform(stream: 1, counter: c + 1) * Double(shape.y),
                    rng.uniform(stream: 1, counter: c + 2) * Double(shape.z),
                    2 + 3 * rng.uniform(stream: 1, counter: c + 3)
                ))
        }
        var values = [Float](repeating: 0, count: shape.count)
        for z in 0..<shape.z {
            for y in 0..<shape.y {
                for x in 0..<shape.x {
                    var density = 0.0
                    for (cx, cy, cz, r) in centers {
                        let d2 =
                            (Double(x) - cx) * (Double(x) - cx) + (Double(y) - cy) * (Double(y) - cy) + (Double(z) - cz)
                            * (Double(z) - cz)
                        if d2 < 16 * r * r { density += Foundation.exp(-d2 / (2 * r * r)) }
                    }
                    let i = (z * shape.y + y) * shape.x + x
                    values[i] = Float(-density + 0.5 * rng.normal(stream: 2, counter: UInt64(i)))
                }
            }
        }
        return Volume(shape: shape, values: values)
    }
}
