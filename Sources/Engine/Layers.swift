/// A network component with named parameters (names join with "." like PyTorch's state_dict keys).
public protocol Module: AnyObject, Sendable {
    /// Every parameter with its dotted name, in a fixed order.
    var namedParameters: [(String, Variable)] { get }
}

extension Module {
    /// The parameters in `namedParameters` order.
    public var parameters: [Variable] { namedParameters.map(\.1) }

    /// Total number of scalar parameters.
    public var parameterCount: Int { parameters.reduce(0) { $0 + $1.value.count } }

    /// A hex FNV-1a 64 digest of `header` (e.g. the canonical JSON of a configuration), then every
    /// parameter's name and float32 bytes in `namedParameters` order: identifies a model.
    public func parameterDigest(header: [UInt8]) -> String {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        func mix<S: Sequence>(_ bytes: S) where S.Element == UInt8 {
            for b in bytes { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        }
        mix(header)
        for (name, p) in namedParameters {
            mix(name.utf8)
            p.value.withUnsafeBufferPointer { mix(UnsafeRawBufferPointer($0)) }
        }
        return String(h, radix: 16)
    }

    /// Prefixes a child's parameter names.
    public func prefixed(_ prefix: String, _ child: Module) -> [(String, Variable)] {
        child.namedParameters.map { ("\(prefix).\($0.0)", $0.1) }
    }
}

/// Weight initialization schemes for layers.
public enum WeightInit: Sendable {
    case orthogonal
    case heNormal
}

/// 3D convolution layer with cubic kernel, "same" zero padding and bias. Weight [Cout, Cin, k, k, k].
public final class Conv3d: Module {
    public let weight: Variable
    public let bias: Variable
    public let stride: Int

    public init(
        _ cin: Int, _ cout: Int, kernel: Int = 3, stride: Int = 1, initializer: WeightInit = .orthogonal, seed: UInt64
    ) {
        let shape = [cout, cin, kernel, kernel, kernel]
        weight = Variable(
            initializer == .orthogonal
                ? Initializers.orthogonal(shape, seed: seed) : Initializers.heNormal(shape, seed: seed),
            requiresGrad: true)
        bias = Variable(Tensor(zeros: [cout]), requiresGrad: true)
        self.stride = stride
    }

    public var namedParameters: [(String, Variable)] { [("weight", weight), ("bias", bias)] }

    public func callAsFunction(_ x: Variable, tape: Tape) -> Variable { tape.conv3d(x, weight, bias, stride: stride) }
}

/// Transposed 3D convolution, kernel 2, stride 2. Weight [Cin, Cout, 2, 2, 2].
public final class ConvTranspose3d: Module {
    public let weight: Variable
    public let bias: Variable

    public init(_ cin: Int, _ cout: Int, initializer: WeightInit = .orthogonal, seed: UInt64) {
        let shape = [cin, cout, 2, 2, 2]
        weight = Variable(
            initializer == .orthogonal
                ? Initializers.orthogonal(shape, seed: seed) : Initializers.heNormal(shape, seed: seed),
            requiresGrad: true)
        bias = Variable(Tensor(zeros: [cout]), requiresGrad: true)
    }

    public var namedParameters: [(String, Variable)] { [("weight", weight), ("bias", bias)] }

    public func callAsFunction(_ x: Variable, tape: Tape) -> Variable { tape.convTranspose3d(x, weight, bias) }
}

/// Instance normalization with affine γ (ones) and β (zeros), per channel.
public final class InstanceNorm3d: Module {
    public let gamma: Variable
    public let beta: Variable

    public init(_ channels: Int) {
        gamma = Variable(Tensor(repeating: 1, shape: [channels]), requiresGrad: true)
        beta = Variable(Tensor(zeros: [channels]), requiresGrad: true)
    }

    public var namedParameters: [(String, Variable)] { [("weight", gamma), ("bias", beta)] }

    public func callAsFunction(_ x: Variable, tape: Tape) -> Variable { tape.instanceNorm(x, gamma: gamma, beta: beta) }
}

/// Dense layer: [N, in] → [N, out]. Weight [out, in].
public final class Linear: Module {
    public let weight: Variable
    public let bias: Variable

    public init(_ fin: Int, _ fout: Int, initializer: WeightInit = .orthogonal, seed: UInt64) {
        let shape = [fout, fin]
        weight = Variable(
            initializer == .orthogonal
                ? Initializers.orthogonal(shape, seed: seed) : Initializers.heNormal(shape, seed: seed),
            requiresGrad: true)
        bias = Variable(Tensor(zeros: [fout]), requiresGrad: true)
    }

    public var namedParameters: [(String, Variable)] { [("weight", weight), ("bias", bias)] }

    public func callAsFunction(_ x: Variable, tape: Tape) -> Variable { tape.linear(x, weight, bias) }
}
