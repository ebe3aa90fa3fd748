import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import Voxels

/// How `tomostore serve` listens and whom it answers.
public struct ServeOptions: Sendable {
    public var host = "127.0.0.1"
    public var port = 8000
    /// When set, every request needs `Authorization: Bearer TOKEN`.
    public var token: String?
    /// The value of `Access-Control-Allow-Origin` (none when nil).
    public var cors: String?
    /// Open connections beyond this are closed at once.
    public var maxConnections = 256
    /// Threads computing answers that need work (derived chunks, samples, padded chunks).
    public var workers = max(2, System.coreCount)
    /// Threads answering requests (one event loop each).
    public var eventLoops = System.coreCount
    /// Seconds a connection may stay silent (no request) before it is closed.
    public var idleSeconds: Int64 = 60

    public init() {}

    /// True for addresses only this machine can reach (127.0.0.0/8, ::1, localhost).
    public static func isLoopback(_ host: String) -> Bool {
        host == "localhost" || host == "::1" || host.hasPrefix("127.")
    }
}

/// The HTTP front of a `ZarrService` on SwiftNIO: HTTP/1.1 with keep-alive, read-only (GET, HEAD;
/// OPTIONS for CORS preflights; anything else 405), bearer-token check in constant time, single
/// byte ranges, a JSON body on every error, bounded connections and idle time. Request line and
/// headers are parsed by NIO's HTTP decoder, which refuses more than 80 KiB of them (400).
public final class ZarrHTTPServer: Sendable {
    /// The address bound (the port chosen when 0 was asked for).
    public let address: SocketAddress
    private let channel: any Channel
    private let group: MultiThreadedEventLoopGroup
    private let pool: NIOThreadPool

    private init(address: SocketAddress, channel: any Channel, group: MultiThreadedEventLoopGroup, pool: NIOThreadPool)
    {
        self.address = address
        self.channel = channel
        self.group = group
        self.pool = pool
    }

    /// Binds and starts serving on one event loop per core.
    public static func start(service: ZarrService, options: ServeOptions) throws -> ZarrHTTPServer {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: options.eventLoops)
        let pool = NIOThreadPool(numberOfThreads: options.workers)
        pool.start()
        let connections = Locked(0)
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.backlog, value: 256)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(ChannelOptions.maxMessagesPerRead, value: 16)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    try sync.addHandler(ConnectionLimit(open: connections, limit: options.maxConnections))
                    try sync.addHandler(IdleStateHandler(readTimeout: .seconds(options.idleSeconds)))
                    try sync.configureHTTPServerPipeline(withErrorHandling: false)
                    try sync.addHandler(ZarrRequestHandler(service: service, options: options, pool: pool))
                }
            }
        do {
            let channel = try bootstrap.bind(host: options.host, port: options.port).wait()
            guard let address = channel.localAddress else { throw ServeError(500, "the socket has no address") }
            return ZarrHTTPServer(address: address, channel: channel, group: group, pool: pool)
        } catch {
            try? group.syncShutdownGracefully()
            try? pool.syncShutdownGracefully()
            throw ServeError(0, "cannot listen on \(options.host):\(options.port): \(error)")
        }
    }

    /// Blocks until the server is closed.
    public func wait() throws { try channel.closeFuture.wait() }

    /// Stops listening, closes every connection and ends the threads.
    public func close() throws {
        try? channel.close().wait()
        try group.syncShutdownGracefully()
        try pool.syncShutdownGracefully()
    }
}

/// Closes connections beyond the limit as soon as they open.
final class ConnectionLimit: ChannelInboundHandler {
    typealias InboundIn = NIOAny
    let open: Locked<Int>
    let limit: Int
    private var counted = false

    init(open: Locked<Int>, limit: Int) {
        self.open = open
        self.limit = limit
    }

    func channelActive(context: ChannelHandlerContext) {
        let n = open.withLock { n -> Int in
            n += 1
            return n
        }
        counted = true
        if n > limit {
            context.close(promise: nil)
            return
        }
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        if counted { open.withLock { $0 -= 1 } }
        counted = false
        context.fireChannelInactive()
    }
}

/// Answers one request at a time per connection (NIO's pipelining handler queues the rest).
final class ZarrRequestHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let service: ZarrService
    let options: ServeOptions
    let pool: NIOThreadPool
    private let token: [UInt8]?
    private var request: HTTPRequestHead?
    /// True from a request's end until its answer is written.
    private var answering = false

    init(service: ZarrService, options: ServeOptions, pool: NIOThreadPool) {
        self.service = service
        self.options = options
        self.pool = pool
        token = options.token.map { Array($0.utf8) }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head): request = head
        case .body: break  // read-only: bodies are ignored
        case .end:
            guard let head = request else { return }
            request = nil
            answering = true
            handle(head, context: context)
        }
    }

    private func handle(_ head: HTTPRequestHead, context: ChannelHandlerContext) {
        if head.method == .OPTIONS {
            return send(Reply(status: 204, contentType: "text/plain", body: ByteBuffer()), to: head, context: context)
        }
        guard head.method == .GET || head.method == .HEAD else {
            return send(.error(405, "the store is served read-only: use GET or HEAD"), to: head, context: context)
        }
        if let token, !Self.bearer(head.headers, matches: token) {
            return send(
                .error(401, "this server needs the header Authorization: Bearer TOKEN (tomostore serve --token)"),
                to: head, context: context)
        }
        guard let path = ZarrPath(target: head.uri) else {
            return send(.error(404, "no such node: \(head.uri.prefix(200))"), to: head, context: context)
        }
        if case .chunk(let name, let level, let index) = path,
            let reply = service.quickChunk(name, level: level, index: index)
        {
            return send(reply, to: head, context: context)
        }
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        let service = self.service
        pool.runIfActive(eventLoop: context.eventLoop) { service.reply(to: path) }.whenComplete { result in
            let (handler, context) = bound.value
            switch result {
            case .success(let reply): handler.send(reply, to: head, context: context)
            case .failure(let error): handler.send(.error(503, "\(error)"), to: head, context: context)
            }
        }
    }

    /// Constant-time comparison of the bearer token (the time taken does not depend on where a
    /// wrong token differs).
    static func bearer(_ headers: HTTPHeaders, matches token: [UInt8]) -> Bool {
        guard let value = headers.first(name: "authorization") else { return false }
        let given = Array(value.utf8)
        let expected = Array("Bearer ".utf8) + token
        var difference = UInt8(given.count == expected.count ? 0 : 1)
        for i in expected.indices { difference |= expected[i] ^ (i < given.count ? given[i] : 0) }
        return difference == 0
    }

    private func send(_ reply: Reply, to head: HTTPRequestHead, context: ChannelHandlerContext) {
        var reply = reply
        var headers = HTTPHeaders()
        if reply.status == 200, let range = head.headers.first(name: "range") {
            switch Self.byteRange(range, length: reply.body.readableBytes) {
            case .some(let r):
                headers.add(
                    name: "Content-Range",
                    value: "bytes \(r.lowerBound)-\(r.upperBound - 1)/\(reply.body.readableBytes)")
                reply.body = reply.body.getSlice(at: reply.body.readerIndex + r.lowerBound, length: r.count)!
                reply.status = 206
            case .none:
                headers.add(name: "Content-Range", value: "bytes */\(reply.body.readableBytes)")
                reply = .error(416, "range \"\(range.prefix(100))\" is not satisfiable")
            }
        }
        headers.add(name: "Content-Type", value: reply.contentType)
        headers.add(name: "Content-Length", value: String(reply.body.readableBytes))
        if reply.status == 405 || head.method == .OPTIONS { headers.add(name: "Allow", value: "GET, HEAD, OPTIONS") }
        if reply.status == 401 { headers.add(name: "WWW-Authenticate", value: "Bearer") }
        if let origin = options.cors {
            headers.add(name: "Access-Control-Allow-Origin", value: origin)
            headers.add(name: "Access-Control-Expose-Headers", value: "Content-Length, Content-Range")
            if head.method == .OPTIONS {
                headers.add(name: "Access-Control-Allow-Methods", value: "GET, HEAD, OPTIONS")
                headers.add(name: "Access-Control-Allow-Headers", value: "Authorization, Range")
                headers.add(name: "Access-Control-Max-Age", value: "600")
            }
        }
        let keepAlive = head.isKeepAlive
        if !keepAlive { headers.add(name: "Connection", value: "close") }
        let status = HTTPResponseStatus(statusCode: reply.status)
        context.write(
            wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))),
            promise: nil)
        if head.method != .HEAD && reply.body.readableBytes > 0 {
            context.write(wrapOutboundOut(.body(.byteBuffer(reply.body))), promise: nil)
        }
        answering = false
        let written = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        if !keepAlive { written.assumeIsolated().whenComplete { _ in context.close(promise: nil) } }
    }

    /// The one range a `Range: bytes=…` header asks for (`a-b`, `a-`, `-n`), clamped to the body;
    /// nil when unsatisfiable or not understood.
    static func byteRange(_ header: String, length: Int) -> Range<Int>? {
        guard header.hasPrefix("bytes="), !header.contains(",") else { return nil }
        let spec = header.dropFirst(6).split(separator: "-", omittingEmptySubsequences: false)
        guard spec.count == 2 else { return nil }
        if spec[0].isEmpty {
            guard let n = Int(spec[1]), n > 0 else { return nil }
            return max(0, length - n)..<length
        }
        guard let a = Int(spec[0]), a < length else { return nil }
        let b = spec[1].isEmpty ? length - 1 : min(length - 1, Int(spec[1]) ?? -1)
        return b >= a ? a..<(b + 1) : nil
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // Malformed requests (NIO's decoder): one JSON 400, then the connection is closed.
        if error is HTTPParserError && !answering {
            answering = true
            let body = Reply.error(400, "malformed HTTP request: \(error)").body
            var headers = HTTPHeaders()
            headers.add(name: "Content-Type", value: "application/json")
            headers.add(name: "Content-Length", value: String(body.readableBytes))
            headers.add(name: "Connection", value: "close")
            context.write(
                wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .badRequest, headers: headers))),
                promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in
                context.close(promise: nil)
            }
            return
        }
        context.close(promise: nil)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent, !answering {
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }
}
