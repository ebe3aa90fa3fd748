import Foundation

/// A value shared between threads, only reached while its lock is held. Used instead of the
/// standard library's `Mutex`, whose futex-based lock on Linux ThreadSanitizer cannot see (every
/// access under it is reported as a race); this one is a pthread mutex, which ThreadSanitizer models.
public final class Locked<Value>: @unchecked Sendable {
    // @unchecked: wraps a pthread mutex (NSLock); `value` is only touched while it is held.
    private let lock = NSLock()
    private var value: Value

    public init(_ value: Value) { self.value = value }

    /// Runs `body` with exclusive access to the value.
    public func withLock<R>(_ body: (inout Value) throws -> R) rethrows -> R {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }
}
