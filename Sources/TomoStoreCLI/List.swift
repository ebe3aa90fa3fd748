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
        let (infos, unreadable) = try store.catalog()
        if json {
            let entries = try infos.map { try infoDictionary(try store.dataset(named: $0.name, allowIncomplete: true)) }
            print(try jsonText(any: entries))
        } else if infos.isEmpty && unreadable.isEmpty {
            print("(no datasets)")
        } else {
            for info in infos {
                let state = info.complete ? "" : "  INCOMPLETE"
                print(
                    "\(info.name)  \(info.kind.rawValue)  \(info.dtype.rawValue)  "
                        + "\(info.shape.map(String.init).joined(separator: "×"))  \(info.codec)\(state)"
                )
            }
        }
        // One damaged entry must not hide the others: they are listed, then it is reported.
        for entry in unreadable {
            printError("catalog entry \(entry.id) cannot be read (not listed): \(entry.reason); run `tomostore verify`")
        }
        if !unreadable.isEmpty { throw ExitCode(1) }
    }
}
