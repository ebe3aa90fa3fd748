import Foundation

/// Per-voxel classification: the softmax over channels and its weighted cross-entropy loss.
extension Tensor {
    /// The softmax over the channel axis of logits [N, C, D, H, W] (per voxel, computed stably by
    /// subtracting the voxel's largest logit): class probabilities of the same shape.
    public func softmaxChannels() -> Tensor {
        precondition(rank == 5, "softmaxChannels needs [N, C, D, H, W], not \(shape)")
        let (n, c, v) = (shape[0], shape[1], shape[2] * shape[3] * shape[4])
        var out = Tensor(uninitialized: shape)
        withUnsafeBufferPointer { x in
            out.withUnsafeMutableBufferPointer { p in
                for b in 0..<n {
                    let base = b * c * v
                    for i in 0..<v {
                        var top = -Float.infinity
                        for k in 0..<c { top = Swift.max(top, x[base + k * v + i]) }
                        var total: Float = 0
                        for k in 0..<c {
                            let e = Foundation.exp(x[base + k * v + i] - top)
                            p[base + k * v + i] = e
                            total += e
                        }
                        let scale = 1 / total
                        for k in 0..<c { p[base + k * v + i] *= scale }
                    }
                }
            }
        }
        return out
    }
}

extension Tape {
    /// Weighted mean cross-entropy of per-voxel logits x [N, C, D, H, W] against class indices
    /// `labels` (N·D·H·W of them, in x's voxel order, each in 0..<C), as PyTorch's
    /// `CrossEntropyLoss(weight:)`: Σᵥ w[yᵥ]·(−log softmax(xᵥ)[yᵥ]) / Σᵥ w[yᵥ]. `weights` has C
    /// entries (class weights against imbalance; all 1 for the plain mean). The gradient with
    /// respect to xᵥ is w[yᵥ]·(softmax(xᵥ) − onehot(yᵥ)) / Σᵥ w[yᵥ].
    public func softmaxCrossEntropy(_ x: Variable, labels: [Int32], weights: [Float]) -> Variable {
        let shape = x.shape
        precondition(shape.count == 5, "softmaxCrossEntropy needs [N, C, D, H, W], not \(shape)")
        let (n, c, v) = (shape[0], shape[1], shape[2] * shape[3] * shape[4])
        precondition(labels.count == n * v && weights.count == c, "labels or weights do not fit \(shape)")
        let p = x.value.softmaxChannels()
        var loss = 0.0
        var total = 0.0
        p.withUnsafeBufferPointer { pp in
            for b in 0..<n {
                for i in 0..<v {
                    let y = Int(labels[b * v + i])
                    precondition(y >= 0 && y < c, "label \(y) outside 0..<\(c)")
                    let w = Double(weights[y])
                    loss -= w * Foundation.log(Swift.max(Double(pp[(b * c + y) * v + i]), 1e-30))
                    total += w
                }
            }
        }
        let normalizer = Swift.max(total, 1e-12)
        return record(Tensor(scalar: Float(loss / normalizer)), inputs: [x]) { g in
            let k = g.scalar / Float(normalizer)
            var dx = p
            dx.withUnsafeMutableBufferPointer { d in
                for b in 0..<n {
                    for i in 0..<v {
                        let y = Int(labels[b * v + i])
                        let w = weights[y] * k
                        for j in 0..<c { d[(b * c + j) * v + i] *= w }
                        d[(b * c + y) * v + i] -= w
                    }
                }
            }
            x.accumulate(dx)
        }
    }
}
