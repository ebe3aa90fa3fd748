import Catalog
import Codecs
import Foundation
import NIOCore
import NIOHTTP1
import Operators
import Store
import TestSupport
import Testing
import Voxels

@testable import Serve

/// A volume of counter-based normal noise in a store (`name`, 10 Å voxels).
@discardableResult
func storedVolume(
    _ store: Store, name: String, shape: Extent3, chunk: Extent3, seed: UInt64 = 1, codec: String = "zstd:3"
) throws -> Volume {
    let rng = CounterRNG(seed: seed)
    let v = Volume(shape: shape, values: (0..<shape.count).map { Float(rng.normal(counter: UInt64($0))) })
    var spec = Store.NewDataset(name: name, kind: .tomogram, dtype: .float32, shape: shape)
    spec.chunk = chunk
    spec.voxelSize = [10, 10, 10]
    spec.codec = CodecChain(parsing: codec, dtype: .float32)
    try store.createDataset(spec).write(v, at: Extent3(x: 0, y: 0, z: 0))
    return v
}

/// Decodes served chunk bytes the way formats/zarr.md describes them, independently of the
/// store's codec code: blosc header fields, zstd, byte unshuffle.
func decodeServed(_ bytes: [UInt8], codecs: [[String: Any]], count: Int) throws -> [Float] {
    let name = codecs.last?["name"] as? String
    var raw: [UInt8]
    func i32(_ at: Int) -> Int {
        Int(Int32(littleEndian: bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: at, as: Int32.self) }))
    }
    switch name {
    case "bytes": raw = bytes
    case "zstd": raw = try bytes.withUnsafeBytes { try ZstdCodec.decompress($0, size: count * 4) }
    case "blosc":
        #expect(bytes[0] == 2 && bytes[1] == 1 && bytes[3] == 4)
        #expect(i32(4) == count * 4 && i32(8) == count * 4 && i32(12) == bytes.count)
        if bytes[2] & 0x02 != 0 {
            raw = Array(bytes[16...])
        } else {
            #expect(bytes[2] == 0x91 && i32(16) == 20 && i32(20) == bytes.count - 24)
            let shuffled = try Array(bytes[24...]).withUnsafeBytes { try ZstdCodec.decompress($0, size: count * 4) }
            raw = [UInt8](repeating: 0, count: count * 4)
            for i in 0..<count { for j in 0..<4 { raw[i * 4 + j] = shuffled[j * count + i] } }
        }
    default: throw ServeError(0, "unexpected codec \(name ?? "none")")
    }
    return raw.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
}

func body(_ reply: Reply) -> [UInt8] { Array(reply.body.readableBytesView) }

func json(_ reply: Reply) throws -> [String: Any] {
    try #require(try JSONSerialization.jsonObject(with: Data(body(reply))) as? [String: Any])
}

@Suite("Serve: request paths")
struct ZarrPathTests {
    @Test("metadata and chunk paths parse; anything that could leave the store names nothing")
    func parsing() {
        #expect(ZarrPath(target: "/zarr.json") == .metadata([]))
        #expect(ZarrPath(target: "//exp//t1/zarr.json?x=1") == .metadata(["exp", "t1"]))
        #expect(ZarrPath(target: "/exp/t1/0/zarr.json") == .metadata(["exp", "t1", "0"]))
        #expect(
            ZarrPath(target: "/exp/t1/2/c/3/4/5") == .chunk(name: "exp/t1", level: 2, index: Extent3(x: 5, y: 4, z: 3)))
        for bad in [
            "/../../etc/passwd", "/exp/%2e%2e/etc/passwd", "/exp/t1/0/c/0/0/-1", "exp/zarr.json", "/a/./zarr.json",
            "/t1/0/c/0/0", "/t1/x/c/0/0/0", "/t1/0/c/0/0/1234567890", "/a b/zarr.json", "/t1/0/.zarray",
            "/%2Fetc/zarr.json", "/" + String(repeating: "a", count: 2000) + "/zarr.json",
        ] {
            #expect(ZarrPath(target: bad) == nil, "\(bad)")
        }
    }
}

@Suite("Serve: chunks and metadata")
struct ZarrServiceTests {
    @Test("full and edge chunks decode to the stored voxels (edges padded with the fill value), all three chains")
    func chunks() throws {
        for codec in ["zstd:3", "raw"] {
            for shuffle in [true, false] where !(codec == "raw" && shuffle) {
                let store = try TemporaryStore.inMemory()
                let shape = Extent3(x: 20, y: 13, z: 9)
                let chunk = Extent3(x: 8, y: 8, z: 8)
                var spec = Store.NewDataset(name: "a/t", kind: .tomogram, dtype: .float32, shape: shape)
                spec.chunk = chunk
                spec.fillValue = -2
                spec.codec = CodecChain(parsing: codec, dtype: .float32, shuffle: shuffle)
                let rng = CounterRNG(seed: 4)
                let v = Volume(shape: shape, values: (0..<shape.count).map { Float(rng.normal(counter: UInt64($0))) })
                try store.createDataset(spec).write(v, at: Extent3(x: 0, y: 0, z: 0))
                let service = ZarrService(workspace: Workspace(store: store), cacheBytes: 1 << 20)
                let meta = try json(service.reply(to: .metadata(["a", "t", "0"])))
                #expect(meta["shape"] as? [Int] == [9, 13, 20])
                #expect(meta["fill_value"] as? Double == -2)
                let codecs = try #require(meta["codecs"] as? [[String: Any]])
                let grid = ChunkGrid(shape: shape, chunk: chunk)
                for index in grid.allChunks {
                    let reply = service.reply(to: .chunk(name: "a/t", level: 0, index: index))
                    #expect(reply.status == 200)
                    let got = try decodeServed(body(reply), codecs: codecs, count: chunk.count)
                    let box = grid.box(of: index)
                    var expected = [Float](repeating: -2, count: chunk.count)
                    let part = v.extracting(box).values(as: Float.self)
                    let e = box.shape
                    for z in 0..<e.z {
                        for y in 0..<e.y {
                            for x in 0..<e.x {
                                expected[(z * chunk.y + y) * chunk.x + x] = part[(z * e.y + y) * e.x + x]
                            }
                        }
                    }
                    #expect(got == expected, "\(codec) shuffle \(shuffle) chunk \(index)")
                    // The quick path (event loop) gives the same bytes once the chunk is kept or whole.
                    if let quick = service.quickChunk("a/t", level: 0, index: index) {
                        #expect(body(quick) == body(reply))
                    }
                }
                #expect(
                    service.reply(to: .chunk(name: "a/t", level: 0, index: Extent3(x: 3, y: 0, z: 0))).status == 404)
                #expect(
                    service.reply(to: .chunk(name: "a/t", level: 1, index: Extent3(x: 0, y: 0, z: 0))).status == 404)
                #expect(
                    service.reply(to: .chunk(name: "nope", level: 0, index: Extent3(x: 0, y: 0, z: 0))).status == 404)
            }
        }
    }

    @Test("a stored chunk's framing is its payload behind a 24-byte blosc header, no re-encoding")
    func framing() throws {
        let store = try TemporaryStore.inMemory()
        try storedVolume(store, name: "t", shape: Extent3(x: 16, y: 16, z: 16), chunk: Extent3(x: 16, y: 16, z: 16))
        let dataset = try store.dataset(named: "t")
        let stored = try store.kv.read { txn in
            Array(try #require(try dataset.storedValue(Extent3(x: 0, y: 0, z: 0), in: txn)))
        }
        let service = ZarrService(workspace: Workspace(store: store), cacheBytes: 1 << 20)
        #expect(service.quickChunk("t", level: 0, index: Extent3(x: 0, y: 0, z: 0)) == nil, "not opened yet")
        let first = body(service.reply(to: .chunk(name: "t", level: 0, index: Extent3(x: 0, y: 0, z: 0))))
        let served = body(try #require(service.quickChunk("t", level: 0, index: Extent3(x: 0, y: 0, z: 0))))
        #expect(first == served)
        #expect(served.count == stored.count - 40 + 24)
        #expect(Array(served[24...]) == Array(stored[40...]))
    }

    @Test("metadata: root lists datasets, groups nest by name, images carry OME multiscales with Å scales")
    func metadata() throws {
        let store = try TemporaryStore.inMemory()
        try storedVolume(
            store, name: "exp/t1", shape: Extent3(x: 32, y: 24, z: 16), chunk: Extent3(x: 16, y: 16, z: 16))
        try store.dataset(named: "exp/t1").buildPyramid(levels: 2, reduction: .mean)
        let service = ZarrService(workspace: Workspace(store: store), cacheBytes: 1 << 20)
        let root = try json(service.reply(to: .metadata([])))
        let listed = (root["attributes"] as? [String: Any])?["tomostore"] as? [String: Any]
        #expect((listed?["datasets"] as? [[String: Any]])?.map { $0["name"] as? String } == ["exp/t1"])
        #expect(try json(service.reply(to: .metadata(["exp"])))["node_type"] as? String == "group")
        let image = try json(service.reply(to: .metadata(["exp", "t1"])))
        let ome = try #require((image["attributes"] as? [String: Any])?["ome"] as? [String: Any])
        let datasets = try #require((ome["multiscales"] as? [[String: Any]])?.first?["datasets"] as? [[String: Any]])
        #expect(datasets.map { $0["path"] as? String } == ["0", "1"])
        let level1 = try #require(datasets[1]["coordinateTransformations"] as? [[String: Any]])
        #expect(level1[0]["scale"] as? [Double] == [20, 20, 20])
        #expect(level1[1]["translation"] as? [Double] == [5, 5, 5])
        #expect(try json(service.reply(to: .metadata(["exp", "t1", "1"])))["shape"] as? [Int] == [8, 12, 16])
        #expect(service.reply(to: .metadata(["exp", "t1", "2"])).status == 404)
        #expect(service.reply(to: .metadata(["ex"])).status == 404)
        let missing = try json(service.reply(to: .metadata(["nope"])))
        #expect((missing["error"] as? String)?.contains("nope") == true)
    }

    @Test("derived chunks are computed on request, stored, equal the view's voxels; a changed input recomputes them")
    func derived() throws {
        let store = try TemporaryStore.inMemory()
        let shape = Extent3(x: 24, y: 24, z: 16)
        let chunk = Extent3(x: 16, y: 16, z: 16)
        try storedVolume(store, name: "t", shape: shape, chunk: chunk)
        let workspace = Workspace(store: store)
        try workspace.define(name: "g", op: "gaussian", inputs: ["t"], params: ["sigma": .number(1.5)])
        let service = ZarrService(workspace: workspace, cacheBytes: 1 << 20)
        let codecs = try #require(try json(service.reply(to: .metadata(["g", "0"])))["codecs"] as? [[String: Any]])
        let index = Extent3(x: 1, y: 0, z: 0)
        // Eight clients ask for the same chunk at once: one computation, eight equal answers.
        let answers = Locked<[[UInt8]]>([])
        DispatchQueue.concurrentPerform(iterations: 8) { _ in
            let reply = service.reply(to: .chunk(name: "g", level: 0, index: index))
            answers.withLock { $0.append(body(reply)) }
        }
        let all = answers.withLock { $0 }
        #expect(Set(all).count == 1)
        #expect(try store.dataset(named: "g").storedChunks().map(\.index) == [index])
        let box = ChunkGrid(shape: shape, chunk: chunk).box(of: index)
        let expected = try workspace.derived("g").read(box)
        let got = try decodeServed(all[0], codecs: codecs, count: chunk.count)
        let e = box.shape
        let values = expected.values(as: Float.self)
        for z in 0..<e.z {
            for y in 0..<e.y {
                for x in 0..<e.x {
                    #expect(got[(z * chunk.y + y) * chunk.x + x] == values[(z * e.y + y) * e.x + x])
                }
            }
        }
        // Re-ingest the input: the served chunk follows it (never the stale stored one).
        try store.remove(named: "t")
        let changed = try storedVolume(store, name: "t", shape: shape, chunk: chunk, seed: 9)
        let after = body(service.reply(to: .chunk(name: "g", level: 0, index: index)))
        #expect(after != all[0])
        let fresh = try Workspace(store: store).derived("g").read(box)
        #expect(changed.shape == shape)
        let decoded = try decodeServed(after, codecs: codecs, count: chunk.count)
        let freshValues = fresh.values(as: Float.self)
        #expect(decoded[0] == freshValues[0])
    }

    @Test("single flight: concurrent callers of one key share one run and its outcome")
    func singleFlight() throws {
        let flights = SingleFlight<Int>()
        let runs = Locked(0)
        let callers = DispatchGroup()
        for _ in 0..<6 {
            callers.enter()
            Thread {
                try? flights.run(1) {
                    runs.withLock { $0 += 1 }
                    Thread.sleep(forTimeInterval: 0.5)  // the other five threads start meanwhile
                }
                callers.leave()
            }.start()
        }
        callers.wait()
        #expect(runs.withLock { $0 } == 1)
        struct Failure: Error {}
        #expect(throws: Failure.self) { try flights.run(2) { throw Failure() } }
    }

    @Test("the chunk cache keeps entries within its budget, least recently used out first")
    func cacheBudget() throws {
        let cache = ServedChunkCache(capacity: 4000)
        let id = [UInt8](repeating: 1, count: 40).withUnsafeBytes { ZarrChunk.Identity($0) }
        let other = [UInt8](repeating: 2, count: 40).withUnsafeBytes { ZarrChunk.Identity($0) }
        func key(_ i: Int) -> ServedChunkCache.Key { .init(dataset: "d", level: 0, index: Extent3(x: i, y: 0, z: 0)) }
        for i in 0..<10 { cache.put(key(i), identity: id, bytes: ByteBuffer(bytes: [UInt8](repeating: 0, count: 900))) }
        #expect(cache.heldBytes <= 4000)
        #expect(cache.get(key(9), identity: id) != nil)
        #expect(cache.get(key(0), identity: id) == nil)
        #expect(cache.get(key(9), identity: other) == nil, "another stored value: not served from memory")
    }
}

@Suite("Serve: HTTP")
struct HTTPServerTests {
    /// One raw HTTP exchange on a new connection.
    func exchange(_ port: Int, _ request: String) throws -> String {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        #expect(rc == 0)
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let bytes = Array((request + "Connection: close\r\n\r\n").utf8)
        _ = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
        var out: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = recv(fd, &buffer, buffer.count, 0)
            if n <= 0 { break }
            out += buffer[0..<n]
        }
        return String(decoding: out, as: UTF8.self)
    }

    @Test("methods, token, ranges, CORS and errors as formats/zarr.md says")
    func protocolRules() throws {
        let store = try TemporaryStore.inMemory()
        try storedVolume(store, name: "t", shape: Extent3(x: 16, y: 16, z: 16), chunk: Extent3(x: 16, y: 16, z: 16))
        var options = ServeOptions()
        options.port = 0
        options.token = "secret-token"
        options.cors = "*"
        let server = try ZarrHTTPServer.start(
            service: ZarrService(workspace: Workspace(store: store), cacheBytes: 1 << 20), options: options)
        defer { try? server.close() }
        let port = try #require(server.address.port)
        let auth = "Authorization: Bearer secret-token\r\n"
        #expect(try exchange(port, "GET /t/zarr.json HTTP/1.1\r\n").hasPrefix("HTTP/1.1 401"))
        #expect(
            try exchange(port, "GET /t/zarr.json HTTP/1.1\r\nAuthorization: Bearer secret-tokem\r\n").hasPrefix(
                "HTTP/1.1 401"))
        let ok = try exchange(port, "GET /t/0/zarr.json HTTP/1.1\r\n\(auth)")
        #expect(ok.hasPrefix("HTTP/1.1 200") && ok.contains("Access-Control-Allow-Origin: *"))
        #expect(try exchange(port, "DELETE /t/zarr.json HTTP/1.1\r\n\(auth)").hasPrefix("HTTP/1.1 405"))
        let preflight = try exchange(port, "OPTIONS /t/zarr.json HTTP/1.1\r\n")
        #expect(preflight.hasPrefix("HTTP/1.1 204") && preflight.contains("Access-Control-Allow-Headers"))
        let partial = try exchange(port, "GET /t/0/c/0/0/0 HTTP/1.1\r\n\(auth)Range: bytes=0-3\r\n")
        #expect(partial.hasPrefix("HTTP/1.1 206") && partial.contains("Content-Length: 4"))
        #expect(
            try exchange(port, "GET /t/0/c/0/0/0 HTTP/1.1\r\n\(auth)Range: bytes=99999999-\r\n").hasPrefix(
                "HTTP/1.1 416"))
        let head = try exchange(port, "HEAD /t/0/c/0/0/0 HTTP/1.1\r\n\(auth)")
        #expect(head.hasPrefix("HTTP/1.1 200") && head.hasSuffix("\r\n\r\n"))
        let traversal = try exchange(port, "GET /t/%2e%2e/%2e%2e/etc/passwd HTTP/1.1\r\n\(auth)")
        #expect(traversal.hasPrefix("HTTP/1.1 404") && traversal.contains("\"error\""))
        let garbage = try exchange(port, "\u{1}\u{2}\u{3} nonsense\r\n")
        #expect(garbage.hasPrefix("HTTP/1.1 400") && garbage.contains("\"error\""))
        #expect(try exchange(port, "GET /t/zarr.json HTTP/1.1\r\n\(auth)").hasPrefix("HTTP/1.1 200"), "still serving")
    }

    @Test("bearer tokens compare in full")
    func bearer() {
        func headers(_ value: String?) -> HTTPHeaders {
            var h = HTTPHeaders()
            if let value { h.add(name: "Authorization", value: value) }
            return h
        }
        #expect(!ZarrRequestHandler.bearer(headers(nil), matches: Array("abc".utf8)))
        #expect(ZarrRequestHandler.bearer(headers("Bearer abc"), matches: Array("abc".utf8)))
        #expect(!ZarrRequestHandler.bearer(headers("Bearer abcd"), matches: Array("abc".utf8)))
        #expect(!ZarrRequestHandler.bearer(headers("Bearer ab"), matches: Array("abc".utf8)))
        #expect(ZarrRequestHandler.byteRange("bytes=2-", length: 10) == 2..<10)
        #expect(ZarrRequestHandler.byteRange("bytes=-3", length: 10) == 7..<10)
        #expect(ZarrRequestHandler.byteRange("bytes=5-100", length: 10) == 5..<10)
        #expect(ZarrRequestHandler.byteRange("bytes=0-1,4-5", length: 10) == nil)
        #expect(ZarrRequestHandler.byteRange("bytes=10-", length: 10) == nil)
    }
}
