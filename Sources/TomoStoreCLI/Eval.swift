import ArgumentParser
import Catalog
import Foundation
import Imaging
import Operators
import Store
import Transfer
import Voxels

/// `tomostore eval STORE --truth A --test B [--json]`: PSNR and SSIM as the DUAL paper defines them;
/// `tomostore eval STORE DATASET --picks FILE [--json]`: CNR and AUC at picks, without ground truth.
struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "Score a dataset: CNR and ROC AUC at particle picks (--picks, no ground truth needed), or PSNR and SSIM "
            + "against a ground truth (--truth, --test).",
        discussion: """
            With --picks (STAR: RELION 3 voxel or RELION 5 centred Å coordinates; CSV with x,y,z voxels;
            copick JSON in Å): picks are rounded to the nearest voxel and those outside the volume dropped;
            background = voxels more than --exclude voxels from every pick. CNR = (mean at the picks −
            background mean) / background standard deviation; AUC = P(pick value > background value), ties
            one half. Both are signed towards bright picks. Printed for the dataset, its raw input (the
            first input down its derivation chain) and the best Gaussian of the raw input over σ 0.5, 1,
            1.5, 2, 3, 4 voxels and both signs (best by CNR).

            With --truth and --test: SSIM equals skimage.metrics.structural_similarity(truth, test,
            win_size=7, data_range=R) on the standardized volumes, R being the standardized truth's range;
            PSNR = 10·log10(R²/MSE). --box restricts both to a box.

            Examples:
              tomostore eval s.store hiv/dual --picks picks.star --json
              tomostore eval s.store --truth s/grand-model --test s/tomogram --json
            """
    )

    @Argument(help: "The store directory.") var store: String
    @Argument(help: "The dataset to score at --picks.") var dataset: String?
    @Option(help: "Picks file: .star (RELION), .csv (x,y,z voxels) or .json (copick).") var picks: String?
    @Option(help: "With --picks: the rlnTomoName to keep from a STAR file naming several tomograms.") var tomo: String?
    @Option(help: "With --picks: background voxels are farther than this from every pick (voxels).") var exclude =
        4.0
    @Option(help: "Ground-truth dataset.") var truth: String?
    @Option(help: "Dataset to score against --truth.") var test: String?
    @Option(help: "x0:x1,y0:y1,z0:z1 (default: whole volume).") var box: String?
    @Flag(
        help:
            "Print JSON: cnr, auc, picks_used, picks_dropped, raw, gaussian_best (--picks); psnr, ssim (--truth).")
    var json = false

    func validate() throws {
        if picks != nil {
            guard dataset != nil, truth == nil, test == nil else {
                throw ValidationError("--picks scores one dataset: tomostore eval STORE DATASET --picks FILE")
            }
            guard exclude >= 0 else { throw ValidationError("--exclude must be at least 0") }
        } else {
            guard truth != nil, test != nil, dataset == nil else {
                throw ValidationError("give DATASET --picks FILE, or --truth A --test B")
            }
        }
    }

    func run() throws {
        if let picks, let dataset { return try scorePicks(dataset, picks) }
        try scoreTruth(truth!, test!)
    }

    /// The first input down a derivation chain that is not derived.
    static func rawInput(of name: String, in store: Store) throws -> String {
        var current = name
        for _ in 0..<64 {
            guard let derivation = try store.info(named: current).derivation, let first = derivation.inputs.first
            else { return current }
            current = first
        }
        return current
    }

    func scorePicks(_ name: String, _ file: String) throws {
        let workspace = try Workspace(path: store)
        let source = try workspace.open(name)
        let positions = try PickFile.read(
            file, shape: source.shape, voxelSize: source.info.voxelSize[0], tomogram: tomo)
        let volume = try source.read(Box3(shape: source.shape))
        let mine = PickScore.score(volume, picks: positions, exclude: exclude)
        let rawName = try Self.rawInput(of: name, in: workspace.store)
        let raw = rawName == name ? volume : try workspace.open(rawName).read(Box3(shape: source.shape))
        let rawScore = rawName == name ? mine : PickScore.score(raw, picks: positions, exclude: exclude)
        var best: (sigma: Double, sign: Double, score: PickScore.Result)?
        for sigma in [0.5, 1, 1.5, 2, 3, 4] {
            let smooth = GaussianFilter.apply(raw.converted(to: .float32), sigma: sigma)
            let plus = PickScore.score(smooth, picks: positions, exclude: exclude)
            // The inverted volume's CNR is the negative; its AUC the complement.
            let minus = PickScore.Result(cnr: -plus.cnr, auc: 1 - plus.auc, used: plus.used, dropped: plus.dropped)
            for (sign, score) in [(1.0, plus), (-1.0, minus)] where best == nil || score.cnr > best!.score.cnr {
                best = (sigma, sign, score)
            }
        }
        let g = best!
        if json {
            print(
                try jsonText(any: [
                    "dataset": name, "picks_file": file, "cnr": mine.cnr, "auc": mine.auc, "picks_used": mine.used,
                    "picks_dropped": mine.dropped, "exclude": exclude,
                    "contrast": (source.info.contrast?.rawValue).map { $0 as Any } ?? NSNull(),
                    "raw": ["dataset": rawName, "cnr": rawScore.cnr, "auc": rawScore.auc],
                    "gaussian_best": ["sigma": g.sigma, "sign": g.sign, "cnr": g.score.cnr, "auc": g.score.auc],
                ]))
            return
        }
        print(
            "\(mine.used) picks used, \(mine.dropped) dropped (outside the volume); background: > \(exclude) voxels away"
        )
        print(String(format: "%@: CNR %+.3f  AUC %.3f", name, mine.cnr, mine.auc))
        if rawName != name {
            print(String(format: "%@ (raw): CNR %+.3f  AUC %.3f", rawName, rawScore.cnr, rawScore.auc))
        }
        print(
            String(
                format: "best Gaussian of %@ (σ %.1f, %@): CNR %+.3f  AUC %.3f", rawName, g.sigma,
                g.sign > 0 ? "as is" : "inverted", g.score.cnr, g.score.auc))
    }

    func scoreTruth(_ truth: String, _ test: String) throws {
        let s = try Workspace(path: store)
        let a = try s.open(truth)
        let b = try s.open(test)
        guard a.shape == b.shape else {
            throw CommandError("\(truth) is \(a.shape) but \(test) is \(b.shape); they must have the same shape")
        }
        let region = try box.map { try parseBox($0, shape: a.shape) } ?? Box3(shape: a.shape)
        guard region.isInside(a.shape) else {
            throw StoreError.boxOutOfBounds(name: truth, box: region, shape: a.shape)
        }
        guard min(region.shape.x, region.shape.y, region.shape.z) >= 7 else {
            throw CommandError("SSIM needs at least 7 voxels along each axis")
        }
        let t = try a.read(region)
        let q = try b.read(region)
        let psnr = Metrics.psnr(truth: t, test: q)
        let ssim = Metrics.ssim(truth: t, test: q)
        if json {
            print(try jsonText(any: ["psnr": psnr, "ssim": ssim, "truth": truth, "test": test]))
        } else {
            print(String(format: "%@ vs %@: PSNR %.3f dB, SSIM %.4f", test, truth, psnr, ssim))
        }
    }
}
