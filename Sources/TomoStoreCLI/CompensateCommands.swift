import ArgumentParser
import Catalog
import DUAL
import Foundation
import Operators
import Store
import Voxels

/// `tomostore train-compensate STORE --input DS[,DS…] -o MODEL`: DUAL between tomograms and their x↔z transposes.
struct TrainCompensate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train-compensate",
        abstract:
            "Train a DUAL missing-wedge compensation model between tomograms (beam z) and their x↔z transposes "
            + "(beam x).",
        discussion: """
            Paper section 2.5: the two domains' missing wedges do not overlap, so the translation from \
            the original domain to the transposed one supplies the components the original misses. \
            Both domains are read from the store patch by patch (the transposition is a view, not a \
            copy) and trained with the same trainer, progress, checkpoints (--resume) and --config keys \
            as `tomostore train`. The tilt range (--tilt, else the datasets' tilt_min/tilt_max \
            attributes, else -60:60) is stored with the model as the default for `compensate`. \
            Defaults differ from `train` where our runs found them steadier: reconstruction=plain, \
            lambda_adversarial=0.3, learning_rate=0.0002.

            Example:
              tomostore train-compensate s.store --input a/tomogram,b/tomogram -o mw.safetensors --iterations 300
            """
    )

    @Argument(help: "The store directory.") var store: String
    @Option(help: "Tomogram datasets (tilt axis y, beam z), comma-separated.") var input: String
    @Option(
        parsing: .unconditional, help: "Tilt range MIN:MAX in degrees (default: the datasets' attributes, else -60:60)."
    ) var tilt: String?
    @OptionGroup var training: DUALTrainingOptions

    func run() throws {
        let config = try training.config(from: .compensation)
        let s = try Store(path: store)
        let sets = try datasets(input, in: s)
        let range =
            try tilt.map { try TiltRange(argument: $0, option: "--tilt") }
            ?? TiltRange.recorded(in: sets.map(\.info.attributes))
        let original = sets.map(\.patchVolume)
        try training.train(
            store: s, config: config, clean: original.map { $0.transposedXZ() }, noisy: original,
            metadata: [
                "task": "compensate", "input": input, "tilt_min": TiltRange.format(range.min),
                "tilt_max": TiltRange.format(range.max),
            ], calibrate: false)
    }
}

/// `tomostore compensate STORE IN --model M (--name OUT | -o FILE)`.
struct Compensate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "Compensate a tomogram's missing wedge with a train-compensate model: lazily (--name) or now into an "
            + "MRC file (-o).",
        discussion: """
            On overlap tiles anchored to the volume origin (like denoise), the output keeps the observed \
            Fourier components and takes those inside the missing wedge from DUAL's translation, with a \
            raised-cosine transition --transition degrees wide at the wedge's edges; values stay in the \
            input's units. The translation's power is matched per tile, radial shell and band of angle to the \
            measured components \
            (--gain match; --gain none takes it as is). Tilt range: --tilt, else the dataset's tilt_min/tilt_max \
            attributes, else \
            the range the model was trained for.

            Examples:
              tomostore compensate s.store t1/tomogram --model mw.safetensors --name t1/compensated
              tomostore compensate s.store t1/tomogram --model mw --tilt -50:65 -o t1-compensated.mrc
            """
    )
    @Argument(help: "The store directory.") var store: String
    @Argument(help: "The tomogram dataset (tilt axis y, beam z).") var input: String
    @Option(help: "Model from train-compensate: a file, or a stored name or digest.") var model: String
    @Option(
        parsing: .unconditional,
        help: "Tilt range MIN:MAX in degrees (default: the dataset's tilt_min/tilt_max attributes, else the model's).")
    var tilt: String?
    @Option(help: "Width of the transition at the wedge's edges, degrees.") var transition = 6.0
    @Option(
        help:
            ArgumentHelp(
                "Inference tile edge in voxels, a multiple of 8 (default: 64, or the largest multiple of 8 below twice "
                    + "the shortest axis).")
    ) var tile: Int?
    @Option(
        help:
            ArgumentHelp(
                "match: scale the translation per tile, radial shell and band of angle so the filled wedge has the "
                    + "measured components' power; none: use it as is.")
    ) var gain = "match"
    @OptionGroup var destination: NetworkOutputOptions

    func run() throws {
        let explicit = try tilt.map { try TiltRange(argument: $0, option: "--tilt") }
        let (width, edge, scaling) = (transition, tile, gain)
        try NetworkOperatorCommand.run(
            store: store, input: input, modelReference: model, task: "compensate", destination: destination,
            op: "compensate", seed: nil
        ) { source, metadata in
            let range = CompensateOperator.tiltRange(
                given: explicit, attributes: source.info.attributes, modelMetadata: metadata)
            let edge = edge ?? CompensateOperator.defaultTile(for: source.shape)
            return [
                "tilt_min": .number(range.min), "tilt_max": .number(range.max), "transition": .number(width),
                "tile": .number(Double(edge)), "gain": .string(scaling),
            ]
        }
    }
}
