import ArgumentParser
import Catalog
import Foundation
import Store

/// `tomostore verify STORE [--json]`: checks every chunk and the catalog.
struct Verify: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check every chunk's checksum, the catalog's consistency and that no chunk is orphaned.",
        discussion: """
            Exits 1 and names the dataset and chunk of every problem found. Incomplete datasets
            (interrupted ingests) are listed but are not problems.

            Example:
              tomostore verify s.store --json
            """
    )

    @Argument(help: "The store directory.") var store: String
    @Flag(help: "Print a JSON report.") var json = false
    @Flag(help: "No progress on stderr.") var quiet = false

    func run() throws {
        let store = try Store(path: self.store)
        let readable = try store.catalog().datasets
        var total = 0
        for info in readable {
            if let ds = try? store.dataset(named: info.name, allowIncomplete: true), let s = try? ds.storageSummary() {
                total += s.storedChunks
            }
        }
        let bar = ProgressBar("verify", unit: "chunks", quiet: quiet)
        var report = try store.verify { bar.update(min($0, total), max(total, $0)) }
        // The catalog fields the Catalog module gives meaning to must decode, too.
        for info in readable {
            report.problems += Catalog.problems(info).map { .init(dataset: info.name, chunk: nil, problem: $0) }
        }
        if json {
            let encoder = JSONEncoder()
            encoder.keyEncodingStrategy = .convertToSnakeCase
            var dict = try JSONSerialization.jsonObject(with: try encoder.encode(report)) as! [String: Any]
            dict["ok"] = report.ok
            print(try jsonText(any: dict))
        } else {
            for p in report.problems {
                let chunk = p.chunk.map { " chunk (x \($0[0]), y \($0[1]), z \($0[2]))" } ?? ""
                print("PROBLEM: dataset \"\(p.dataset)\"\(chunk): \(p.problem)")
            }
            for name in report.incompleteDatasets {
                print("note: dataset \"\(name)\" is incomplete (interrupted ingest)")
            }
            for line in report.unfinished { print("note: \(line)") }
            print(
                "\(report.ok ? "ok" : "FAILED"): \(report.datasets) datasets, \(report.chunksChecked) chunks "
                    + "(\(report.bytesChecked) bytes) checked, \(report.problems.count) problems"
            )
        }
        if !report.ok {
            printError(
                "tomostore: error: \(self.store) has \(report.problems.count) problem(s) (listed on stdout); restore "
                    + "the store from a copy, or remove the damaged datasets with `tomostore rm` and `tomostore gc`")
            throw ExitCode(1)
        }
    }
}
