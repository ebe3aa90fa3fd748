import Foundation

/// AdamW (Loshchilov & Hutter): Adam with weight decay decoupled from the gradient.
/// Defaults are the DUAL paper's: lr 1e-4, β1 0.9, β2 0.999, ε 1e-8, weight decay 1e-6.
public final class AdamW {
    public var learningRate: Float
    public let beta1: Float, beta2: Float, epsilon: Float, weightDecay: Float
    public let parameters: [Variable]
    /// Each parameter's learning rate as a multiple of `learningRate` (1 for all by default): parameter
    /// groups that learn at their own rates share one optimizer and one checkpoint layout.
    public let rateScales: [Float]
    /// First and second moment estimates, per parameter.
    public private(set) var m: [Tensor], v: [Tensor]
    /// Steps taken.
    public private(set) var step = 0

    public init(
        _ parameters: [Variable], learningRate: Float = 1e-4, beta1: Float = 0.9, beta2: Float = 0.999,
        epsilon: Float = 1e-8, weightDecay: Float = 1e-6, rateScales: [Float]? = nil
    ) {
        precondition(rateScales == nil || rateScales!.count == parameters.count, "one rate scale per parameter")
        self.parameters = parameters
        self.rateScales = rateScales ?? [Float](repeating: 1, count: parameters.count)
        self.learningRate = learningRate
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.weightDecay = weightDecay
        m = parameters.map { Tensor(zeros: $0.shape) }
        v = parameters.map { Tensor(zeros: $0.shape) }
    }

    /// Restores moment estimates and the step count (from a checkpoint).
    public func restore(m: [Tensor], v: [Tensor], step: Int) {
        precondition(m.count == parameters.count && v.count == parameters.count)
        self.m = m
        self.v = v
        self.step = step
    }

    /// Applies one update from the accumulated gradients (parameters without a gradient only decay),
    /// then clears the gradients.
    public func update() {
        step += 1
        let c1 = 1 - Foundation.pow(beta1, Float(step))
        let c2 = 1 - Foundation.pow(beta2, Float(step))
        let (b1, b2, eps, wd) = (beta1, beta2, epsilon, weightDecay)
        for (i, p) in parameters.enumerated() {
            let lr = learningRate * rateScales[i]
            let g = p.grad
            m[i].withUnsafeMutableBufferPointer { mp in
                v[i].withUnsafeMutableBufferPointer { vp in
                    p.updateValue {
                        $0.withUnsafeMutableBufferPointer { w in
                            if let g {
                                g.withUnsafeBufferPointer { gp in
                                    for j in 0..<w.count {
                                        mp[j] = b1 * mp[j] + (1 - b1) * gp[j]
                                        vp[j] = b2 * vp[j] + (1 - b2) * gp[j] * gp[j]
                                        w[j] -= lr * (wd * w[j] + (mp[j] / c1) / ((vp[j] / c2).squareRoot() + eps))
                                    }
                                }
                            } else {
                                for j in 0..<w.count { w[j] -= lr * wd * w[j] }
                            }
                        }
                    }
                }
            }
            p.zeroGradient()
        }
    }
}

extension AdamW {
    /// The moment estimates as named tensors for a checkpoint: "PREFIX.m.i" and "PREFIX.v.i" per
    /// parameter i (formats/weights.md).
    public func stateTensors(prefix: String) -> [(String, Tensor)] {
        (0..<parameters.count).flatMap { i in [("\(prefix).m.\(i)", m[i]), ("\(prefix).v.\(i)", v[i])] }
    }

    /// Restores the moment estimates `stateTensors(prefix:)` wrote, and the step count.
    /// - Throws: `SafetensorsError` naming `source` when a tensor is missing or has another shape.
    public func restoreState(_ tensors: [String: Tensor], prefix: String, step: Int, source: String) throws {
        func state(_ kind: String) throws -> [Tensor] {
            try parameters.indices.map { i in
                guard let t = tensors["\(prefix).\(kind).\(i)"], t.shape == parameters[i].shape else {
                    throw SafetensorsError(
                        description: "\(source): no optimizer state \(prefix).\(kind).\(i) of the model's shape")
                }
                return t
            }
        }
        restore(m: try state("m"), v: try state("v"), step: step)
    }
}

/// Stochastic gradient descent with optional momentum.
public final class SGD {
    public var learningRate: Float
    public let momentum: Float
    public let parameters: [Variable]
    private var velocity: [Tensor]

    public init(_ parameters: [Variable], learningRate: Float, momentum: Float = 0) {
        self.parameters = parameters
        self.learningRate = learningRate
        self.momentum = momentum
        velocity = parameters.map { Tensor(zeros: $0.shape) }
    }

    /// Applies one update and clears the gradients.
    public func update() {
        for (i, p) in parameters.enumerated() {
            guard let g = p.grad else { continue }
            let (lr, mu) = (learningRate, momentum)
            velocity[i].withUnsafeMutableBufferPointer { vp in
                g.withUnsafeBufferPointer { gp in
                    p.updateValue {
                        $0.withUnsafeMutableBufferPointer { w in
                            for j in 0..<w.count {
                                vp[j] = mu * vp[j] + gp[j]
                                w[j] -= lr * vp[j]
                            }
                        }
                    }
                }
            }
            p.zeroGradient()
        }
    }
}
