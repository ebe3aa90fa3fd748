import Dispatch
import Foundation

/// Data-parallel loops over all cores (Grand Central Dispatch's concurrentPerform). The body must
/// only touch disjoint memory per index; it need not be Sendable, which lets kernels write through
/// raw pointers into disjoint regions of one buffer.
public enum Parallel {
    /// Runs `body(i)` for i in 0..<count on all cores and waits for all of them.
    public static func forEach(_ count: Int, _ body: (Int) -> Void) {
        guard count > 0 else { return }
        if count == 1 {
            body(0)
            return
        }
        withoutActuallyEscaping(body) { escapable in
            // The body only touches disjoint memory per index (this type's contract), so running it
            // from several threads at once is safe although the closure is not Sendable.
            nonisolated(unsafe) let work = escapable
            DispatchQueue.concurrentPerform(iterations: count) { i in work(i) }
        }
    }

    /// Like `forEach`, for a throwing body: every index runs, then the first error is rethrown.
    public static func forEach(_ count: Int, _ body: (Int) throws -> Void) throws {
        let failures = FirstError()
        forEach(count) { i in
            do { try body(i) } catch { failures.record(error) }
        }
        if let error = failures.error { throw error }
    }

    /// Maps `0..<count` in parallel, keeping the order.
    public static func map<T>(_ count: Int, _ transform: (Int) throws -> T) throws -> [T] {
        var results = [T?](repeating: nil, count: count)
        try results.withUnsafeMutableBufferPointer { slots in
            let slots = slots
            try forEach(count) { i in slots[i] = try transform(i) }
        }
        return results.map { $0! }
    }
}

/// Keeps the first error recorded from parallel work.
public final class FirstError: Sendable {
    private let first = Locked<(any Error)?>(nil)

    public init() {}

    /// Records an error unless one was recorded before.
    public func record(_ error: any Error) {
        first.withLock { if $0 == nil { $0 = error } }
    }

    /// The first error recorded, if any.
    public var error: (any Error)? { first.withLock { $0 } }
}
