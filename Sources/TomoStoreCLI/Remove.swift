import ArgumentParser
import Catalog
import Store

/// `tomostore rm STORE NAME`: deletes a dataset.
struct Remove: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rm",
        abstract: "Remove a dataset and its chunks (one transaction).",
        discussion: "Example:\n  tomostore rm s.store tomo1"
    )

    @OptionGroup var dataset: DatasetArguments

    func run() throws {
        let store = try Store(path: dataset.store)
        try store.remove(named: dataset.name)
        print("removed \"\(dataset.name)\"")
    }
}
