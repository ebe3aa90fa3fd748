import ArgumentParser
import Catalog
import Foundation
import Imaging
import Operators
import Store
import Voxels

/// `tomostore eval STORE --truth A --test B [--json]`: PSNR and SSIM as the DUAL paper defines them.
struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "PSNR and SSIM of one dataset against another (both standardized first, as in the DUAL paper).",
        discussion: """
            SSIM equals skimage.metrics.structural_similarity(truth, test, win_size=7, data_range=R) on
            the standardized volumes, R being the standardized truth's range; PSNR = 10·log10(R²/MSE).
            --box restricts both to a box.

            Example:
              tomostore eval s.store --truth s/grand-model --test s/tomogram --json
            """
    )

    @Argument(help: "The store directory.") var store: String
    @Option(help: "Ground-truth dataset.") var truth: String
    @Option(help: "Dataset to score.") var test: String
    @Option(help: "x0:x1,y0:y1,z0:z1 (default: whole volume).") var box: String?
    @Flag(help: "Print JSON with keys psnr and ssim.") var json = false

    func run() throws {
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
