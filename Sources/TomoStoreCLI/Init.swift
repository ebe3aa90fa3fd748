import ArgumentParser
import Catalog
import Store

/// `tomostore init STORE`: creates an empty store.
struct Init: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create an empty store (a directory holding one LMDB environment).",
        discussion: "Example:\n  tomostore init /data/cryo.store"
    )

    @Argument(help: "Directory for the new store (created; must not already hold a store).")
    var store: String

    func run() throws {
        _ = try Store.create(at: store)
        print("created store \(store)")
    }
}
