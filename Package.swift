// swift-tools-version:6.0
// TomoStore: a chunked, compressed LMDB volume store for cryo-electron tomography.
import PackageDescription

let package = Package(
    name: "TomoStore",
    products: [
        .executable(name: "tomostore", targets: ["TomoStoreCLI"]),
        .library(name: "Voxels", targets: ["Voxels"]),
        .library(name: "MRC", targets: ["MRC"]),
        .library(name: "KV", targets: ["KV"]),
        .library(name: "Codecs", targets: ["Codecs"]),
        .library(name: "Store", targets: ["Store"]),
        .library(name: "Catalog", targets: ["Catalog"]),
        .library(name: "Engine", targets: ["Engine"]),
        .library(name: "Imaging", targets: ["Imaging"]),
        .library(name: "Simulation", targets: ["Simulation"]),
        .library(name: "Operators", targets: ["Operators"]),
        .library(name: "DUAL", targets: ["DUAL"]),
        .library(name: "Segmentation", targets: ["Segmentation"]),
        .library(name: "Corpus", targets: ["Corpus"]),
        .library(name: "Serve", targets: ["Serve"]),
        .library(name: "Cluster", targets: ["Cluster"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.81.0"),
    ],
    targets: [
        // C libraries from Debian, found through pkg-config (which adds the -l flags).
        .systemLibrary(name: "CLMDB", pkgConfig: "lmdb", providers: [.apt(["liblmdb-dev"])]),
        .systemLibrary(name: "CZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"])]),
        .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CFFTW", pkgConfig: "fftw3f", providers: [.apt(["libfftw3-dev"])]),

        // Dense volumes, boxes, dtypes and statistics: the vocabulary every other module speaks.
        .target(name: "Voxels"),
        // MRC2014 reading (every mode, byte order, axis order, extended header) and writing.
        .target(name: "MRC", dependencies: ["Voxels"]),
        // Key-value stores that move bytes only: a protocol, LMDB behind it, and one in memory.
        .target(name: "KV", dependencies: ["Voxels", "CLMDB"]),
        // Chunk codec chains in Zarr v3 terms (byte shuffle, bytes, zstd), prepared per chunk shape.
        .target(name: "Codecs", dependencies: ["Voxels", "CZstd"]),
        // Chunked arrays on a key-value store: typed catalog, datasets, chunk grid, cache, blobs, verify.
        .target(name: "Store", dependencies: ["Voxels", "KV", "Codecs"]),
        // What datasets mean: kinds, class tables, MRC source fields, provenance of derived datasets.
        .target(name: "Catalog", dependencies: ["Voxels", "Store"]),
        // Helpers shared by the test targets (temporary directories and stores).
        .target(name: "TestSupport", dependencies: ["Voxels", "Store", "KV"]),
        // Tensors, reverse-mode autodiff, 3D convolutions on OpenBLAS, FFTs on FFTW, optimizers, safetensors.
        .target(name: "Engine", dependencies: ["Voxels", "COpenBLAS", "CFFTW"]),
        // Filters, Fourier masks (missing wedge), CTF, metrics (PSNR, SSIM), DoG particle picking.
        .target(name: "Imaging", dependencies: ["Voxels", "Engine"]),
        // Grand models (templates, membranes, fiducials, labels) and the tilt-series simulator.
        .target(name: "Simulation", dependencies: ["Voxels", "MRC", "Imaging", "Engine"]),
        // DUAL: the six networks, losses, trainer and overlap-tile inference.
        .target(name: "DUAL", dependencies: ["Voxels", "Engine"], resources: [.copy("Resources")]),
        // Segmentation: a multi-class 3D U-Net segmenter, its training on labelled tiles, its model files.
        .target(name: "Segmentation", dependencies: ["Voxels", "Engine"]),
        // Synthetic training corpora: stored recipes, samples on demand, labelled tiles.
        .target(
            name: "Corpus", dependencies: ["Voxels", "Codecs", "Store", "Catalog", "Imaging", "Simulation", "DUAL"]),
        // Lazy derived datasets: operators, their registry, the chunk materializer, provenance.
        .target(
            name: "Operators",
            dependencies: ["Voxels", "Codecs", "Store", "Catalog", "Imaging", "Engine", "DUAL", "Segmentation"]),
        // Moving volumes between the store and files: MRC ingest and export, .npy output.
        .target(name: "Transfer", dependencies: ["Voxels", "MRC", "Codecs", "Store", "Catalog"]),
        // A store served read-only over HTTP as Zarr v3 / OME-Zarr 0.5 (SwiftNIO), derived datasets and
        // corpus samples computed on request.
        .target(
            name: "Serve",
            dependencies: [
                "Voxels", "Codecs", "KV", "Store", "Catalog", "Operators", "Corpus", "Transfer",
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]),
        // Work on Slurm: job files, array tasks writing shard stores, the merge, sbatch/squeue.
        .target(name: "Cluster", dependencies: ["Voxels", "Codecs", "KV", "Store", "Catalog", "Operators"]),
        // The `tomostore` command: parses, calls the modules, prints.
        .executableTarget(
            name: "TomoStoreCLI",
            dependencies: [
                "Voxels", "MRC", "KV", "Codecs", "Store", "Catalog", "Transfer", "Engine", "Imaging", "Simulation",
                "Operators", "DUAL", "Segmentation", "Corpus", "Serve", "Cluster", "CLMDB", "CZstd", "COpenBLAS",
                "CFFTW",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),

        // Fuzz targets: `tools/fuzz` builds this with -sanitize=fuzzer -D FUZZING (libFuzzer's main);
        // built plainly, it replays inputs given as files (the seed corpora in Tests/Fuzz).
        .executableTarget(
            name: "TomoStoreFuzz", dependencies: ["Voxels", "MRC", "Codecs", "Store", "Transfer", "Engine"]),
        .testTarget(name: "VoxelsTests", dependencies: ["Voxels"]),
        .testTarget(name: "MRCTests", dependencies: ["MRC", "Voxels"]),
        .testTarget(name: "KVTests", dependencies: ["KV", "CLMDB", "TestSupport", "Voxels"]),
        .testTarget(name: "CodecsTests", dependencies: ["Codecs", "Voxels", "CZstd"]),
        .testTarget(name: "CatalogTests", dependencies: ["Catalog", "Store", "Voxels", "TestSupport"]),
        .testTarget(name: "StoreTests", dependencies: ["Store", "KV", "Codecs", "Voxels", "TestSupport"]),
        .testTarget(name: "EngineTests", dependencies: ["Engine", "Voxels"]),
        .testTarget(name: "ImagingTests", dependencies: ["Imaging", "Voxels"]),
        .testTarget(name: "SimulationTests", dependencies: ["Simulation", "Imaging", "MRC", "Voxels", "TestSupport"]),
        .testTarget(name: "DUALTests", dependencies: ["DUAL", "Engine", "Voxels", "TestSupport"]),
        .testTarget(name: "SegmentationTests", dependencies: ["Segmentation", "Engine", "Voxels"]),
        .testTarget(
            name: "CorpusTests", dependencies: ["Corpus", "Store", "Catalog", "TestSupport", "Simulation", "Voxels"]),
        .testTarget(
            name: "OperatorsTests",
            dependencies: [
                "Operators", "Store", "Catalog", "KV", "TestSupport", "Imaging", "DUAL", "Segmentation", "Engine",
                "Voxels",
            ]),
        .testTarget(
            name: "TransferTests", dependencies: ["Transfer", "Store", "Catalog", "TestSupport", "MRC", "Voxels"]),
        .testTarget(
            name: "ServeTests",
            dependencies: [
                "Serve", "Store", "Catalog", "Codecs", "KV", "TestSupport", "Voxels", "Operators",
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOHTTP1", package: "swift-nio"),
            ]),
        .testTarget(
            name: "ClusterTests",
            dependencies: ["Cluster", "Store", "Catalog", "Operators", "TestSupport", "Voxels", "KV"]),
        .testTarget(name: "TomoStoreCLITests", dependencies: ["TomoStoreCLI", "MRC", "Voxels"]),
    ]
)
