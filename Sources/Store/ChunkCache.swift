import Voxels

/// A least-recently-used cache of decoded chunks, bounded in bytes, shared by the threads of one
/// process. Entries are dropped whenever any process commits to the store (the cache remembers
/// the commit id it is valid for), so it never returns stale voxels.
final class ChunkCache: Sendable {
    /// Capacity in bytes (0 disables the cache).
    let capacity: Int
    private struct State {
        var entries: [ChunkKey: (volume: Volume, tick: UInt64)] = [:]
        var bytes = 0
        var tick: UInt64 = 0
        var validTransaction = -1
    }
    private let state = Locked(State())

    init(capacity: Int) { self.capacity = capacity }

    /// Clears the cache unless it was filled at the store's current commit id.
    func validate(transaction: Int) {
        state.withLock { s in
            if transaction != s.validTransaction {
                s.entries.removeAll(keepingCapacity: true)
                s.bytes = 0
                s.validTransaction = transaction
            }
        }
    }

    func get(_ key: ChunkKey) -> Volume? {
        guard capacity > 0 else { return nil }
        return state.withLock { s in
            guard let e = s.entries[key] else { return nil }
            s.tick += 1
            s.entries[key] = (e.volume, s.tick)
            return e.volume
        }
    }

    func put(_ key: ChunkKey, _ volume: Volume) {
        guard capacity > 0, volume.byteCount <= capacity else { return }
        state.withLock { s in
            s.tick += 1
            if let old = s.entries[key] { s.bytes -= old.volume.byteCount }
            s.entries[key] = (volume, s.tick)
            s.bytes += volume.byteCount
            while s.bytes > capacity, let oldest = s.entries.min(by: { $0.value.tick < $1.value.tick }) {
                s.bytes -= oldest.value.volume.byteCount
                s.entries[oldest.key] = nil
            }
        }
    }
}
