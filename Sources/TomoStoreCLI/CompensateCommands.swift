import ArgumentParser
import Catalog
import DUAL
import Foundation
import Operators
import Store
import Voxels

/// A tilt range in degrees, from `--tilt MIN:MAX` (a step, as synth writes it, is allowed and ignored).
struct TiltRange: Hashable {
    var min: Double, max: Double

    init(min: Double, max: Double) {
        self.min = min
        self.max = max
    }

    /// A range from two recorded values, or nil when either is missing or they make no range.
    init?(checking lo: Double?, _ hi: Double?) {
        guard let lo, let hi, lo >= -90, hi <= 90, lo < hi else { return nil }
        self.init(min: lo, max: hi)
    }

    init(parsing text: String, option: String = "--tilt") throws {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false).map { Double($0) }
        guard (2...3).contains(parts.count), let lo = parts[0], let hi = parts[1], lo >= -90, hi <= 90, lo < hi else {
            throw CommandError(
                "\(option) \(text) is not a tilt range: write MIN:MAX in degrees within -90…90 with MIN < MAX, e.g. "
                    + "\(option)=-60:60"
            )
        }
        self.init(min: lo, max: hi)
    }

    /// The range recorded in a dataset's attributes (tilt_min, tilt_max, as synth and `ingest --attr` write them).
    init?(attributes: [String: JSONValue]) {
        func number(_ key: String) -> Double? {
            switch attributes[key] {
            case .number(let v)?: return v
            case .string(let s)?: return Double(s)
            default: return nil
            }
        }
        self.init(checking: number("tilt_min"), number("tilt_max"))
    }

    var text: String { "\(Self.format(min)):\(Self.format(max))" }
    static func format(_ v: Double) -> String { v == v.rounded() ? String(Int(v)) : String(v) }
}

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

    /// The settings train-compensate starts from before --config.
    static var baseConfig: DUALConfig {
        var c = DUALConfig()
        c.reconstruction = "plain"
        c.lambdaAdversarial = 0.3
        c.learningRate = 2e-4
        return c
    }

    func run() throws {
        let config = try training.config(from: Self.baseConfig)
        let s = try Store(path: store)
        let sets = try datasets(input, in: s)
        let range: TiltRange
        if let tilt {
            range = try TiltRange(parsing: tilt)
        } else {
            let recorded = Set(sets.compactMap { TiltRange(attributes: $0.info.attributes) })
            guard recorded.count <= 1 else {
                throw CommandError(
                    "the input datasets record different tilt ranges "
                        + "(\(recorded.map(\.text).sorted().joined(separator: ", "))); train one model per range or "
                        + "pass --tilt"
                )
            }
            range = recorded.first ?? TiltRange(min: -60, max: 60)
        }
        let original = sets.map(\.patchVolume)
        try training.train(
            store: s, config: config, clean: original.map { $0.transposedXZ() }, noisy: original,
            metadata: [
                "task": "compensate", "input": input, "tilt_min": TiltRange.format(range.min),
                "tilt_max": TiltRange.format(range.max),
            ])
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
        let (explicit, width, edge, scaling) = (try tilt.map { try TiltRange(parsing: $0) }, transition, tile, gain)
        try NetworkOperatorCommand.run(
            store: store, input: input, modelReference: model, task: "compensate", destination: destination,
            op: "compensate", seed: nil
        ) { source, metadata in
            let trained = TiltRange(
                checking: metadata["tilt_min"].flatMap(Double.init), metadata["tilt_max"].flatMap(Double.init))
            let range =
                explicit ?? TiltRange(attributes: source.info.attributes) ?? trained ?? TiltRange(min: -60, max: 60)
            let shortest = min(source.shape.x, source.shape.y, source.shape.z)
            let edge = edge ?? min(64, max(8, (2 * shortest - 1) / 8 * 8))
            return [
                "tilt_min": .number(range.min), "tilt_max": .number(range.max), "transition": .number(width),
                "tile": .number(Double(edge)), "gain": .string(scaling),
            ]
        }
    }
}
