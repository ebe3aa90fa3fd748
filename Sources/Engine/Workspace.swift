import Foundation
import Voxels

/// Per-thread scratch buffers of floats, reused across calls (im2col columns, partial sums), so
/// hot loops do not allocate.
final class Workspace: @unchecked Sendable {
    // @unchecked: raw memory used by one thread at a time (taken from and returned to the pool).
    private var pointer: UnsafeMutablePointer<Float>
    private var capacity: Int

    init() {
        capacity = 0
        pointer = UnsafeMutablePointer<Float>.allocate(capacity: 1)
    }

    deinit { pointer.deallocate() }

    /// A buffer of at least `count` floats (contents undefined).
    func floats(_ count: Int) -> UnsafeMutablePointer<Float> {
        if count > capacity {
            pointer.deallocate()
            capacity = count
            let raw = UnsafeMutableRawPointer.allocate(byteCount: count * 4, alignment: 64)
            pointer = raw.bindMemory(to: Float.self, capacity: count)
        }
        return pointer
    }

    private static let free = Locked<[Workspace]>([])

    /// Runs `body` with a workspace taken from a shared pool (one per concurrent caller).
    static func with<R>(_ body: (Workspace) throws -> R) rethrows -> R {
        let w = free.withLock { $0.popLast() } ?? Workspace()
        defer { free.withLock { $0.append(w) } }
        return try body(w)
    }
}

/// How many threads the engine's kernels split work across (all cores).
@usableFromInline
enum EngineThreads {
    @usableFromInline static let count = max(1, ProcessInfo.processInfo.activeProcessorCount)
    /// Set once: OpenBLAS runs single-threaded inside the engine's own parallel blocks.
    static let configured: Bool = {
        BLAS.threads = 1
        return true
    }()
}
