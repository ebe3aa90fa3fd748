import ArgumentParser
import Catalog
import Foundation
import Operators
import Store
import Transfer
import Voxels

/// `tomostore get STORE NAME --box x0:x1,y0:y1,z0:z1 -o OUT.(mrc|npy)`: reads a subvolume.
struct Get: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Read any box of a dataset into an MRC or .npy file.",
        discussion: """
            Boxes are half-open voxel ranges in x, y, z, aligned to chunks or not. .npy files hold an
            array of shape (nz, ny, nx) in the dataset's dtype, little-endian. MRC files record the box's
            corner as nxstart, nystart, nzstart.

            Examples:
              tomostore get s.store tomo1 --box 100:164,200:264,50:114 -o sub.npy
              tomostore get s.store tomo1 -o whole.mrc
            """
    )

    @OptionGroup var dataset: DatasetArguments
    @Option(help: "x0:x1,y0:y1,z0:z1 (default: the whole volume), in the level's voxels.") var box: String?
    @Option(help: "Pyramid level (0: full resolution; see `tomostore pyramid`).") var level = 0
    @Option(name: .shortAndLong, help: "Output file ending in .mrc or .npy.") var output: String

    func validate() throws {
        let lower = output.lowercased()
        guard [".mrc", ".npy", ".map", ".rec"].contains(where: { lower.hasSuffix($0) }) else {
            throw ValidationError("output \(output) must end in .mrc (or .map, .rec) or .npy")
        }
        guard level >= 0 else { throw ValidationError("--level must be 0 or more") }
    }

    func run() throws {
        let workspace = try Workspace(path: dataset.store)
        let ds: any VolumeSource =
            level == 0
            ? try workspace.open(dataset.name) : try workspace.store.dataset(named: dataset.name).atLevel(level)
        let region = try box.map { try parseBox($0, shape: ds.shape) } ?? Box3(shape: ds.shape)
        guard region.isInside(ds.shape) else {
            throw StoreError.boxOutOfBounds(name: ds.name, box: region, shape: ds.shape)
        }
        try Export.box(ds, region, to: output)
        print("wrote \(output): box \(region) of \"\(ds.name)\" (\(region.shape), \(ds.dtype.rawValue))")
    }
}
