import ArgumentParser
import Foundation
import Operators
import Serve
import Store

/// `tomostore serve STORE`: the store as Zarr v3 / OME-Zarr 0.5 over HTTP, read-only.
struct ServeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract:
            "Serve a store read-only over HTTP as Zarr v3 (OME-Zarr 0.5 images), derived datasets computed on request.",
        discussion: """
            The root is a Zarr v3 group; dataset NAME is an OME-Zarr image at /NAME with arrays 0, 1, …
            (pyramid levels), chunks at /NAME/LEVEL/c/Z/Y/X. Chunks of derived datasets and samples of
            corpora (/CORPUS/NNNNNN/tomogram, /grand-model, /labels) are computed when first asked for and
            stored. Binds 127.0.0.1 unless told otherwise; any other address needs --token. Runs until
            killed (SIGINT or SIGTERM); it writes only computed chunks, in transactions.

            Examples:
              tomostore serve s.store --port 8000
              tomostore serve s.store --host 0.0.0.0 --token "$(openssl rand -hex 16)" --cors '*'
            """
    )

    @Argument(help: "The store directory.") var store: String
    @Option(help: "Address to listen on.") var host = "127.0.0.1"
    @Option(help: "TCP port (0: any free port, printed).") var port = 8000
    @Option(help: "Require `Authorization: Bearer TOKEN` on every request.") var token: String?
    @Option(help: "Send Access-Control-Allow-Origin: ORIGIN (`*` for any; browsers' viewers need it).")
    var cors: String?
    @Option(help: "MiB of chunks kept in memory as sent.") var cacheMib = 256
    @Option(help: "Most connections open at once.") var maxConnections = 256

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port must be 0…65535, got \(port)") }
        guard cacheMib >= 0 else { throw ValidationError("--cache-mib must be ≥ 0") }
        guard maxConnections >= 1 else { throw ValidationError("--max-connections must be ≥ 1") }
        if let token, token.isEmpty || token.utf8.contains(where: { $0 <= 32 || $0 >= 127 }) {
            throw ValidationError("--token needs printable ASCII characters without spaces")
        }
        if !ServeOptions.isLoopback(host) && token == nil {
            throw ValidationError(
                "binding \(host) lets other machines read the store: give --token TOKEN (or bind 127.0.0.1)")
        }
    }

    func run() throws {
        let workspace = try Workspace(path: store, cacheBytes: 64 << 20)
        let service = ZarrService(workspace: workspace, cacheBytes: cacheMib << 20)
        var options = ServeOptions()
        options.host = host
        options.port = port
        options.token = token
        options.cors = cors
        options.maxConnections = maxConnections
        let count = try workspace.store.datasets().count
        if let token, token.utf8.count < 16 {
            FileHandle.standardError.write(
                Data("warning: a --token of \(token.utf8.count) characters is easy to guess; use 16 or more\n".utf8))
        }
        let server = try ZarrHTTPServer.start(service: service, options: options)
        let address = server.address
        let shown = address.ipAddress.map { $0.contains(":") ? "[\($0)]" : $0 } ?? "localhost"
        FileHandle.standardError.write(
            Data("serving \(store) (\(count) datasets) at http://\(shown):\(address.port ?? 0)/\n".utf8))
        try server.wait()
    }
}
