import Foundation
import KV
import Store
import Voxels

/// Fresh stores for tests: on disk in a temporary directory that is removed when the test process
/// exits, or in memory.
public enum TemporaryStore {
    /// Directories to remove at exit.
    private static let directories = Locked<[TemporaryDirectory]>([])

    /// The path of a new temporary directory that is removed when the test process exits.
    public static func directory(_ label: String = "test") throws -> String {
        let directory = try TemporaryDirectory(label)
        let first = directories.withLock { list in
            list.append(directory)
            return list.count == 1
        }
        if first { atexit { TemporaryStore.directories.withLock { $0.removeAll() } } }
        return directory.path
    }

    /// A new, empty store at `<temporary directory>/s.store`.
    public static func make(_ label: String = "store", cacheBytes: Int = Store.defaultCacheBytes) throws -> Store {
        let path = try directory(label) + "/s.store"
        _ = try Store.create(at: path)
        return try Store(path: path, cacheBytes: cacheBytes)
    }

    /// A new, empty store in memory.
    public static func inMemory(cacheBytes: Int = Store.defaultCacheBytes) throws -> Store {
        try Store.create(in: MemoryKeyValueStore(tables: Store.tables), cacheBytes: cacheBytes)
    }
}
