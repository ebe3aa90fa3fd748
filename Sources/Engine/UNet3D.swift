/// The reference 3D U-Net of the engine benchmark (and the shape of DUAL's U-Nets): per level two
/// 3×3×3 convolutions (+bias, LeakyReLU 0.2) with base·2^level channels, 2×2×2 max pooling between
/// levels, up-sampling by a transposed convolution (k2 s2) halving the channels, skip
/// concatenation, the same two convolutions on the way up, and a final 1×1×1 convolution
/// (optionally followed by a ReLU and a learned 1×1×1 scale and offset, `outputReLU`, so that the
/// output can be exactly constant where the head is negative: a flat background).
/// Input and output [N, Cin, D, H, W] / [N, Cout, D, H, W] with D, H, W divisible by 2^(depth−1).
public final class UNet3D: Module {
    public let depth: Int
    let down: [(Conv3d, Conv3d)]
    let ups: [ConvTranspose3d]
    let upConvs: [(Conv3d, Conv3d)]
    let head: Conv3d
    /// Scale and offset after the output ReLU (nil: the head's output is the network's).
    let tail: Conv3d?
    public let slope: Float

    /// - Parameters: depth: number of levels (3 = two poolings); base: channels of the first level.
    ///   outputReLU: end with ReLU and a learned per-channel scale and offset (1×1×1 convolution).
    public init(
        inChannels: Int = 1, outChannels: Int = 1, base: Int = 16, depth: Int = 3, slope: Float = 0.2,
        outputReLU: Bool = false,
        initializer: WeightInit = .orthogonal, seed: UInt64
    ) {
        precondition(depth >= 1)
        self.depth = depth
        self.slope = slope
        var s = seed
        func next() -> UInt64 {
            s &+= 0x9E37_79B9
            return s
        }
        var down: [(Conv3d, Conv3d)] = []
        for level in 0..<depth {
            let cin = level == 0 ? inChannels : base << (level - 1)
            let c = base << level
            down.append(
                (
                    Conv3d(cin, c, initializer: initializer, seed: next()),
                    Conv3d(c, c, initializer: initializer, seed: next())
                ))
        }
        var ups: [ConvTranspose3d] = []
        var upConvs: [(Conv3d, Conv3d)] = []
        for level in stride(from: depth - 2, through: 0, by: -1) {
            let c = base << level
            ups.append(ConvTranspose3d(2 * c, c, initializer: initializer, seed: next()))
            upConvs.append(
                (
                    Conv3d(2 * c, c, initializer: initializer, seed: next()),
                    Conv3d(c, c, initializer: initializer, seed: next())
                ))
        }
        self.down = down
        self.ups = ups
        self.upConvs = upConvs
        head = Conv3d(base, outChannels, kernel: 1, initializer: initializer, seed: next())
        tail = outputReLU ? Conv3d(outChannels, outChannels, kernel: 1, initializer: initializer, seed: next()) : nil
    }

    public var namedParameters: [(String, Variable)] {
        var out: [(String, Variable)] = []
        for (i, (a, b)) in down.enumerated() { out += prefixed("down.\(i).conv1", a) + prefixed("down.\(i).conv2", b) }
        for (i, u) in ups.enumerated() { out += prefixed("up.\(i).upsample", u) }
        for (i, (a, b)) in upConvs.enumerated() { out += prefixed("up.\(i).conv1", a) + prefixed("up.\(i).conv2", b) }
        out += prefixed("head", head)
        if let tail { out += prefixed("tail", tail) }
        return out
    }

    /// Forward pass, recorded on `tape`.
    public func callAsFunction(_ x: Variable, tape: Tape) -> Variable {
        var skips: [Variable] = []
        var h = x
        for (level, (a, b)) in down.enumerated() {
            if level > 0 { h = tape.maxPool(h) }
            h = block(a, b, h, tape)
            skips.append(h)
        }
        for (i, u) in ups.enumerated() {
            let skip = skips[depth - 2 - i]
            h = tape.concatChannels(u(h, tape: tape), skip)
            let (a, b) = upConvs[i]
            h = block(a, b, h, tape)
        }
        let y = head(h, tape: tape)
        guard let tail else { return y }
        return tail(tape.relu(y), tape: tape)
    }

    /// Two convolutions, each with a fused LeakyReLU.
    private func block(_ a: Conv3d, _ b: Conv3d, _ x: Variable, _ tape: Tape) -> Variable {
        let h = tape.conv3dLeakyReLU(x, a.weight, a.bias, slope: slope)
        return tape.conv3dLeakyReLU(h, b.weight, b.bias, slope: slope)
    }

    /// Inference without recording gradients (intermediates freed as soon as they are used).
    public func infer(_ x: Tensor) -> Tensor {
        self(Variable(x), tape: Tape(recording: false)).value
    }

    /// Forward multiply–adds ×2 (FLOPs) of the convolutions for an input of D×H×W voxels.
    public func flops(inChannels: Int = 1, voxels v: Double) -> Double {
        var total = 0.0
        for (level, (a, b)) in down.enumerated() {
            let vl = v / Double(1 << (3 * level))
            total +=
                2 * 27 * Double(a.weight.shape[1] * a.weight.shape[0]) * vl + 2 * 27
                * Double(b.weight.shape[1] * b.weight.shape[0]) * vl
        }
        for (i, u) in ups.enumerated() {
            let level = depth - 2 - i
            let vl = v / Double(1 << (3 * level))
            total += 2 * 8 * Double(u.weight.shape[0] * u.weight.shape[1]) * vl / 8
            let (a, b) = upConvs[i]
            total +=
                2 * 27 * Double(a.weight.shape[1] * a.weight.shape[0]) * vl + 2 * 27
                * Double(b.weight.shape[1] * b.weight.shape[0]) * vl
        }
        if let tail { total += 2 * Double(tail.weight.shape[0] * tail.weight.shape[1]) * v }
        return total + 2 * Double(head.weight.shape[0] * head.weight.shape[1]) * v
    }
}
