import ArgumentParser
import CFFTW
import CLMDB
import COpenBLAS
import CZstd
import Foundation
import Voxels

/// `tomostore version [--json]`: TomoStore's version and the C libraries it is linked with.
struct Version: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print TomoStore's version and the versions of the linked C libraries.",
        discussion: "Example:\n  tomostore version --json"
    )

    @Flag(help: "Print a JSON object instead of text.")
    var json = false

    func run() throws {
        let libraries: [String: String] = [
            "lmdb": String(cString: mdb_version(nil, nil, nil)),
            "zstd": String(cString: ZSTD_versionString()),
            "openblas": String(cString: openblas_get_config()),
            "fftw": fftwVersion(),
        ]
        if json {
            print(try jsonText(["tomostore": TomoStoreVersion.string].merging(libraries) { a, _ in a }))
        } else {
            print("tomostore \(TomoStoreVersion.string)")
            for key in libraries.keys.sorted() { print("  \(key): \(libraries[key]!)") }
        }
    }

    /// FFTW's version string: the `fftwf_version` char array, which Swift cannot import directly,
    /// looked up in the linked library (calling `fftwf_cleanup` keeps the library linked).
    private func fftwVersion() -> String {
        guard dlsym(nil, "fftwf_cleanup") != nil, let symbol = dlsym(nil, "fftwf_version") else { return "unknown" }
        return String(cString: symbol.assumingMemoryBound(to: CChar.self))
    }
}
