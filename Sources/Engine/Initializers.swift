import Voxels

/// Weight initializers. All are deterministic functions of their seed.
public enum Initializers {
    /// An orthogonal matrix reshaped to `shape` (as Keras's Orthogonal initializer, which the DUAL
    /// paper uses): the first axis is the output, the rest flattened; rows (or columns, whichever are
    /// fewer) are orthonormal, scaled by `gain`. Computed by Householder QR of a seeded normal matrix,
    /// with R's diagonal signs folded into Q so the distribution is uniform (Haar).
    public static func orthogonal(_ shape: [Int], gain: Float = 1, seed: UInt64) -> Tensor {
        let rows = shape[0]
        let cols = shape.dropFirst().reduce(1, *)
        let m = max(rows, cols)
        let n = min(rows, cols)
        let rng = CounterRNG(seed: seed)
        // A: m×n column-major in Double.
        var a = (0..<(m * n)).map { rng.normal(stream: 21, counter: UInt64($0)) }
        var q = [Double](repeating: 0, count: m * n)
        var signs = [Double](repeating: 1, count: n)
        var vs: [[Double]] = []
        for j in 0..<n {
            // Householder vector for column j below the diagonal.
            var norm = 0.0
            for i in j..<m { norm += a[j * m + i] * a[j * m + i] }
            norm = norm.squareRoot()
            let alpha = a[j * m + j] >= 0 ? -norm : norm
            var v = [Double](repeating: 0, count: m)
            for i in j..<m { v[i] = a[j * m + i] }
            v[j] -= alpha
            var vnorm = 0.0
            for i in j..<m { vnorm += v[i] * v[i] }
            if vnorm > 0 {
                for c in j..<n {
                    var dot = 0.0
                    for i in j..<m { dot += v[i] * a[c * m + i] }
                    let f = 2 * dot / vnorm
                    for i in j..<m { a[c * m + i] -= f * v[i] }
                }
            }
            signs[j] = a[j * m + j] >= 0 ? 1 : -1
            vs.append(vnorm > 0 ? v.map { $0 / vnorm.squareRoot() } : v)
        }
        // Q = H0 H1 … H(n−1) applied to the first n columns of the identity.
        for c in 0..<n {
            var e = [Double](repeating: 0, count: m)
            e[c] = 1
            for j in stride(from: n - 1, through: 0, by: -1) {
                let v = vs[j]
                var dot = 0.0
                for i in j..<m { dot += v[i] * e[i] }
                for i in j..<m { e[i] -= 2 * dot * v[i] }
            }
            for i in 0..<m { q[c * m + i] = e[i] * signs[c] }
        }
        // Q is m×n with orthonormal columns; the weight is rows×cols.
        var values = [Float](repeating: 0, count: rows * cols)
        for r in 0..<rows {
            for c in 0..<cols {
                values[r * cols + c] = gain * Float(rows >= cols ? q[c * m + r] : q[r * m + c])
            }
        }
        return Tensor(shape: shape, values: values)
    }

    /// He (Kaiming) normal: N(0, 2 / fan_in) with fan_in = product of all axes but the first.
    public static func heNormal(_ shape: [Int], seed: UInt64) -> Tensor {
        let fanIn = shape.dropFirst().reduce(1, *)
        return Tensor.normal(shape, std: (2 / Float(max(1, fanIn))).squareRoot(), seed: seed)
    }
}
