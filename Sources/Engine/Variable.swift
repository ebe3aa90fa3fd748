import Voxels

/// A tensor in a differentiable computation: its value, and the gradient of the loss with respect
/// to it once `Tape.backward` has run. Parameters are long-lived variables whose gradients
/// accumulate across backward passes until `zeroGradient()`.
public final class Variable: Sendable {
    private struct State {
        var value: Tensor
        var grad: Tensor?
    }
    private let state: Locked<State>
    /// Whether gradients flow to this variable (parameters and anything computed from them).
    public let requiresGrad: Bool

    public init(_ value: Tensor, requiresGrad: Bool = false) {
        state = Locked(State(value: value, grad: nil))
        self.requiresGrad = requiresGrad
    }

    /// The current value.
    public var value: Tensor {
        get { state.withLock { $0.value } }
        set { state.withLock { $0.value = newValue } }
    }

    /// dLoss/dValue, accumulated by backward passes (nil until one reaches this variable).
    public var grad: Tensor? {
        get { state.withLock { $0.grad } }
        set { state.withLock { $0.grad = newValue } }
    }

    /// Changes the value in place (the optimizers' updates), without copying its storage when the
    /// variable holds the only reference.
    public func updateValue(_ body: (inout Tensor) -> Void) {
        state.withLock { body(&$0.value) }
    }

    /// The value's shape.
    public var shape: [Int] { value.shape }

    /// Adds to the gradient.
    func accumulate(_ g: Tensor) {
        guard requiresGrad else { return }
        state.withLock { s in
            if s.grad == nil { s.grad = g } else { s.grad!.add(g) }
        }
    }

    /// Forgets the accumulated gradient.
    public func zeroGradient() { grad = nil }
}

/// Records differentiable operations in execution order so that `backward` can replay them in
/// reverse (reverse-mode automatic differentiation). One tape per forward pass; operations on
/// variables that need no gradient are computed without being recorded, and a `nil` tape (see
/// the tensor-level kernels) gives inference with no bookkeeping at all.
public final class Tape {
    private var steps: [() -> Void] = []
    /// False for inference: nothing is recorded and outputs never require gradients.
    public let recording: Bool

    /// - Parameter recording: false gives inference mode (no tape, intermediates freed at once).
    public init(recording: Bool = true) { self.recording = recording }

    /// Number of recorded operations.
    public var count: Int { steps.count }

    /// Makes the output variable of an operation and records its backward step when any input
    /// needs a gradient. `backward` receives dLoss/dOutput.
    func record(_ value: Tensor, inputs: [Variable], backward: @escaping (Tensor) -> Void) -> Variable {
        let needs = recording && inputs.contains { $0.requiresGrad }
        let out = Variable(value, requiresGrad: needs)
        if needs {
            steps.append { [unowned out] in
                if let g = out.grad { backward(g) }
            }
            retained.append(out)
        }
        return out
    }

    /// Outputs kept alive until the tape is released, so their gradients survive to their step.
    private var retained: [Variable] = []

    /// Backpropagates from a scalar loss (seeding dLoss/dLoss = 1), accumulating `grad` on every
    /// variable that requires it. The tape is spent afterwards.
    public func backward(_ loss: Variable, seed: Float = 1) {
        precondition(loss.value.count == 1, "backward needs a scalar loss, not \(loss.shape)")
        loss.accumulate(Tensor(repeating: seed, shape: loss.shape))
        for step in steps.reversed() { step() }
        steps.removeAll()
        retained.removeAll()
    }
}
