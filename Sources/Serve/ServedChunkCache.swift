import Codecs
import Dispatch
import NIOCore
import Store
import Voxels

/// Chunks as sent (Zarr v3 bytes), kept in memory up to a byte budget and evicted least recently
/// used first. Each entry remembers the identity of the stored value it was made from; a lookup
/// hands it out only while the store still holds that value, so a chunk rewritten by another
/// process (or recomputed after an input changed) is never served stale.
final class ServedChunkCache: Sendable {
    struct Key: Hashable, Sendable {
        let dataset: String
        let level: Int
        let index: Extent3
    }

    private struct Entry {
        let identity: ZarrChunk.Identity
        let bytes: ByteBuffer
        var tick: UInt64
    }

    private struct State {
        var entries: [Key: Entry] = [:]
        var bytes = 0
        var tick: UInt64 = 0
    }

    /// The budget in bytes (0: nothing is kept).
    let capacity: Int
    private let state = Locked(State())

    init(capacity: Int) { self.capacity = capacity }

    /// The bytes made from the stored value with `identity`, if kept.
    func get(_ key: Key, identity: ZarrChunk.Identity) -> ByteBuffer? {
        state.withLock { s in
            guard var e = s.entries[key], e.identity == identity else { return nil }
            s.tick += 1
            e.tick = s.tick
            s.entries[key] = e
            return e.bytes
        }
    }

    /// Keeps `bytes`, evicting the least recently used entries beyond the budget.
    func put(_ key: Key, identity: ZarrChunk.Identity, bytes: ByteBuffer) {
        guard bytes.readableBytes <= capacity / 4 else { return }
        state.withLock { s in
            if let old = s.entries.removeValue(forKey: key) { s.bytes -= old.bytes.readableBytes }
            s.tick += 1
            s.entries[key] = Entry(identity: identity, bytes: bytes, tick: s.tick)
            s.bytes += bytes.readableBytes
            while s.bytes > capacity, let victim = s.entries.min(by: { $0.value.tick < $1.value.tick }) {
                s.entries.removeValue(forKey: victim.key)
                s.bytes -= victim.value.bytes.readableBytes
            }
        }
    }

    /// Bytes held now.
    var heldBytes: Int { state.withLock { $0.bytes } }
}

/// Runs one computation per key at a time: callers asking for a key already being computed wait
/// for that computation and share its outcome (a chunk of a derived dataset is computed once,
/// however many clients ask for it at the same moment).
final class SingleFlight<Key: Hashable & Sendable>: Sendable {
    private final class Flight: Sendable {
        let outcome = Locked<Result<Void, any Error>?>(nil)
        /// Entered while the computation runs.
        let running = DispatchGroup()
        init() { running.enter() }
    }
    private let flights = Locked<[Key: Flight]>([:])

    /// Runs `work` for `key`, or waits for the run already under way and returns (or throws) as it did.
    func run(_ key: Key, _ work: () throws -> Void) throws {
        var mine = false
        let flight = flights.withLock { table -> Flight in
            if let f = table[key] { return f }
            let f = Flight()
            table[key] = f
            mine = true
            return f
        }
        if mine {
            let result = Result { try work() }
            flights.withLock { table in table[key] = nil }
            flight.outcome.withLock { $0 = result }
            flight.running.leave()
            return try result.get()
        }
        flight.running.wait()
        try flight.outcome.withLock { $0! }.get()
    }
}
