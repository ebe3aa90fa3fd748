import ArgumentParser
import Catalog
import Foundation
import Imaging
import Operators
import Store
import Transfer
import Voxels

/// `tomostore filter STORE NAME --gaussian σ | --nad … --name OUT`: a filtered copy of a dataset.
struct Filter: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a Gaussian-, DoG- or NAD-filtered (Perona–Malik) copy of a dataset.",
        discussion: """
            Filters tile by tile with a halo, so memory is bounded by a tile and the result equals
            filtering the whole volume (scipy.ndimage conventions: reflected borders, kernel truncated
            at 4σ). σ in voxels; --kappa in units of the dataset's standard deviation.

            Examples:
              tomostore filter s.store t1 --gaussian 2 --name t1/gauss2
              tomostore filter s.store t1 --nad --kappa 1 --iterations 10 --name t1/nad
              tomostore filter s.store t1 --dog 3 --name t1/dog3
            """
    )

    @OptionGroup var dataset: DatasetArguments
    @Option(help: "Gaussian σ in voxels.") var gaussian: Double?
    @Option(help: "Difference of Gaussians G(σ) − G(1.1σ), σ in voxels.") var dog: Double?
    @Flag(help: "Perona–Malik anisotropic diffusion.") var nad = false
    @Option(help: "NAD edge threshold κ, in units of the dataset's standard deviation.") var kappa = 1.0
    @Option(help: "NAD iterations.") var iterations = 10
    @Option(help: "NAD step λ (≤ 1/6).") var lambda = 1.0 / 7
    @Option(help: "Name of the filtered dataset.") var name: String
    @Flag(help: "No progress bar.") var quiet = false

    func validate() throws {
        let chosen = [gaussian != nil, dog != nil, nad].filter { $0 }.count
        guard chosen == 1 else { throw ValidationError("choose exactly one of --gaussian σ, --dog σ or --nad") }
        if let g = gaussian ?? dog, !(g > 0 && g <= 100) { throw ValidationError("σ must be in (0, 100] voxels") }
        guard !nad || (lambda > 0 && lambda <= 1.0 / 6 && iterations >= 1 && kappa > 0) else {
            throw ValidationError("NAD needs --kappa > 0, --iterations ≥ 1 and 0 < --lambda ≤ 1/6")
        }
    }

    func run() throws {
        let workspace = try Workspace(path: dataset.store)
        let store = workspace.store
        let input = try workspace.open(dataset.name)
        try Store.validate(name: name)
        let sd = input.info.stats?.rms ?? 1
        var spec = Store.NewDataset(
            name: name, kind: input.info.kind == .labels ? .derived : input.info.kind, dtype: .float32,
            shape: input.shape)
        spec.chunk = input.grid.chunk
        spec.voxelSize = input.info.voxelSize
        spec.origin = input.info.origin
        var attributes: [String: JSONValue] = ["source": .string(input.name)]
        let halo: Int
        let transform: (Volume) -> Volume
        if let sigma = gaussian {
            attributes["filter"] = .string("gaussian")
            attributes["sigma"] = .number(sigma)
            halo = GaussianFilter.kernel(sigma: sigma).count / 2
            transform = { GaussianFilter.apply($0, sigma: sigma) }
        } else if let sigma = dog {
            attributes["filter"] = .string("dog")
            attributes["sigma"] = .number(sigma)
            halo = GaussianFilter.kernel(sigma: 1.1 * sigma).count / 2
            transform = { GaussianFilter.differenceOfGaussians($0, sigma1: sigma, sigma2: 1.1 * sigma) }
        } else {
            attributes["filter"] = .string("nad")
            attributes["kappa"] = .number(kappa)
            attributes["iterations"] = .number(Double(iterations))
            attributes["lambda"] = .number(lambda)
            halo = iterations
            let (k, it, l) = (kappa * sd, iterations, lambda)
            transform = { AnisotropicDiffusion.apply($0, kappa: k, lambda: l, iterations: it) }
        }
        spec.attributes = attributes
        let output = try store.createDataset(spec, complete: false)
        let bar = ProgressBar("filter \(name)", unit: "tiles", quiet: quiet)
        do {
            try TiledTransform.run(
                input: input, output: output, halo: halo, progress: { bar.update($0, $1) }, transform)
            try output.markComplete()
        } catch {
            try? store.remove(named: name)
            throw error
        }
        let what =
            gaussian.map { "Gaussian σ=\($0)" } ?? dog.map { "DoG σ=\($0)" }
            ?? "NAD κ=\(kappa)·sd, \(iterations) iterations"
        print("wrote dataset \"\(name)\": \(what) of \"\(input.name)\"")
    }
}
