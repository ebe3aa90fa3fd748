import ArgumentParser
import Catalog
import Store

/// `tomostore ls STORE [--json]`: the datasets of a store.
struct List: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ls",
        abstract: "List the datasets of a store.",
        discussion: "Examples:\n  tomostore ls s.store\n  tomostore ls s.store --json"
    )

    @Argument(help: "The store directory.") var store: String
    @Flag(help: "Print a JSON array of dataset entries.") var json = false

    func run() throws {
        let store = try Store(path: self.store)
        let infos = try store.datasets()
        if json {
            let entries = try infos.map { try infoDictionary(try store.dataset(named: $0.name, allowIncomplete: true)) }
            print(try jsonText(any: entries))
            return
        }
        if infos.isEmpty {
            print("(no datasets)")
            return
        }
        for info in infos {
            let state = info.complete ? "" : "  INCOMPLETE"
            print(
                "\(info.name)  \(info.kind.rawValue)  \(info.dtype.rawValue)  "
                    + "\(info.shape.map(String.init).joined(separator: "×"))  \(info.codec)\(state)"
            )
        }
    }
}
