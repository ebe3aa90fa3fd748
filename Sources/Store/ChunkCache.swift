import Foundation
import Voxels

/// A least-recently-used cache of decoded chunks, bounded in bytes, shared by the threads of one
/// process. Entries are dropped whenever any process commits to the store (the cache remembers
/// the LMDB transaction id it is valid for), so it never returns stale voxels.
final class ChunkCache: @unchecked Sendable {
    /// Capacity in bytes (0 disables the cache).
    let capacity: Int
    private var entries: [ChunkKey: (volume: Volume, tick: UInt64)] = [:]
    private var bytes = 0
    private var tick: UInt64 = 0
    private var validTransaction = -1
    private let lock = NSLock()

    init(capacity: Int) { self.capacity = capacity }

    /// Clears the cache unless it was filled at the store's current transaction id.
    func validate(transaction: Int) {
        lock.lock(); defer { lock.unlock() }
        if transaction != validTransaction {
            entries.removeAll(keepingCapacity: true)
            bytes = 0
            validTransaction = transaction
        }
    }

    func get(_ key: ChunkKey) -> Volume? {
        guard capacity > 0 else { return nil }
        lock.lock(); defer { lock.unlock() }
        guard let e = entries[key] else { return nil }
        tick += 1
        entries[key] = (e.volume, tick)
        return e.volume
    }

    func put(_ key: ChunkKey, _ volume: Volume) {
        guard capacity > 0, volume.byteCount <= capacity else { return }
        lock.lock(); defer { lock.unlock() }
        tick += 1
        if let old = entries[key] { bytes -= old.volume.byteCount }
        entries[key] = (volume, tick)
        bytes += volume.byteCount
        while bytes > capacity, let oldest = entries.min(by: { $0.value.tick < $1.value.tick }) {
            bytes -= oldest.value.volume.byteCount
            entries[oldest.key] = nil
        }
    }
}
