import ArgumentParser
import Engine
import Foundation
import Transfer

/// `tomostore engine …`: run the engine's building blocks on .npy arrays (for cross-checks with
/// Python and for debugging models).
struct EngineCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "engine",
        abstract: "Run engine layers and the reference U-Net on .npy arrays.",
        subcommands: [EngineConv.self, EngineUNet.self]
    )
}

/// `tomostore engine conv`: one (transposed) convolution with weights from a safetensors file.
struct EngineConv: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "conv",
        abstract:
            "Apply one 3D convolution (tensors 'weight' and optional 'bias' of a safetensors file) to a float32 "
            + ".npy [N, C, D, H, W].",
        discussion: "Example:\n  tomostore engine conv --weights conv.safetensors --input x.npy --stride 2 -o y.npy"
    )

    @Option(
        help:
            ArgumentHelp(
                "safetensors file with 'weight' ([Cout, Cin, k, k, k], or [Cin, Cout, 2, 2, 2] with --transposed) and "
                    + "'bias'.")
    ) var weights: String
    @Option(help: "Input .npy, float32 [N, C, D, H, W].") var input: String
    @Option(name: .shortAndLong, help: "Output .npy.") var output: String
    @Option(help: "Stride (1 or 2).") var stride = 1
    @Flag(help: "Transposed convolution, kernel 2, stride 2.") var transposed = false

    func run() throws {
        let (tensors, _) = try Safetensors.read(weights)
        guard let w = tensors["weight"] else { throw CommandError("\(weights) has no tensor named 'weight'") }
        let (shape, values) = try NPYReader.readFloat32(input)
        guard shape.count == 5 else {
            throw CommandError("\(input): expected a 5D array [N, C, D, H, W], got shape \(shape)")
        }
        let x = Tensor(shape: shape, values: values)
        guard w.rank == 5, (transposed ? w.shape[0] : w.shape[1]) == shape[1] else {
            throw CommandError("weight \(w.shape) does not match \(shape[1]) input channels")
        }
        let y =
            transposed
            ? TransposedConvolution.forward(x, weight: w, bias: tensors["bias"])
            : Convolution.forward(x, weight: w, bias: tensors["bias"], stride: stride)
        try NPYReader.writeFloat32(y.scalars, shape: y.shape, to: output)
        print("wrote \(output): \(y.shape)")
    }
}

/// `tomostore engine unet`: the reference U-Net forward pass.
struct EngineUNet: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "unet",
        abstract: "Run the reference 3D U-Net on a float32 .npy [N, 1, D, H, W].",
        discussion: """
            Weights come from --weights (names as in formats/weights.md) or are initialized from --seed
            and saved with --save-weights.

            Example:
              tomostore engine unet --seed 7 --save-weights unet.safetensors --input x.npy -o y.npy
            """
    )

    @Option(help: "Weights to load (safetensors).") var weights: String?
    @Option(help: "Initialize weights from this seed (orthogonal) when --weights is not given.") var seed: UInt64 = 7
    @Option(help: "Save the weights used here.") var saveWeights: String?
    @Option(help: "Base channels.") var base = 16
    @Option(help: "Levels.") var depth = 3
    @Option(help: "Input .npy.") var input: String
    @Option(name: .shortAndLong, help: "Output .npy.") var output: String

    func run() throws {
        let net = UNet3D(base: base, depth: depth, seed: seed)
        if let weights { _ = try Safetensors.load(into: net, from: weights) }
        if let saveWeights {
            try Safetensors.save(
                net, metadata: ["model": "unet3d", "base": "\(base)", "depth": "\(depth)"], to: saveWeights)
        }
        let (shape, values) = try NPYReader.readFloat32(input)
        let multiple = 1 << (depth - 1)
        guard shape.count == 5, shape[1] == 1, shape[2] % multiple == 0, shape[3] % multiple == 0,
            shape[4] % multiple == 0
        else {
            throw CommandError("\(input): expected [N, 1, D, H, W] with D, H, W multiples of \(multiple), got \(shape)")
        }
        let y = net.infer(Tensor(shape: shape, values: values))
        try NPYReader.writeFloat32(y.scalars, shape: y.shape, to: output)
        print("wrote \(output): \(y.shape)")
    }
}
