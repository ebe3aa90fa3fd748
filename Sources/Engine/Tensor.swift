import Foundation
import Voxels

/// Reference-counted, 64-byte-aligned float32 storage behind `Tensor` (copied on write).
public final class FloatStorage: @unchecked Sendable {
    // @unchecked: raw memory with an immutable address; `Tensor` writes it only when it holds the
    // sole reference (copy on write), so no two threads ever write or read-while-writing it.
    /// Start of the floats; valid for `count` elements while this object lives.
    public let pointer: UnsafeMutablePointer<Float>
    /// Number of floats.
    public let count: Int

    /// Allocates `count` floats, zeroed unless `zeroed` is false (then the caller fills them all).
    public init(count: Int, zeroed: Bool = true) {
        self.count = count
        let raw = TensorBufferPool.take(byteCount: count * 4) ?? LargeAllocation.allocate(byteCount: count * 4)
        pointer = raw.bindMemory(to: Float.self, capacity: max(count, 1))
        if zeroed { pointer.initialize(repeating: 0, count: max(count, 1)) }
    }

    deinit {
        if !TensorBufferPool.keep(UnsafeMutableRawPointer(pointer), byteCount: count * 4) {
            UnsafeMutableRawPointer(pointer).deallocate()
        }
    }
}

/// Large tensor buffers (4 MiB or more) kept after their tensor is freed, for the next tensor of the
/// same size: networks allocate the same activation sizes pass after pass, and a fresh buffer costs
/// the kernel a zeroed page per 2 MiB touched (8% of a U-Net forward here). Holds at most
/// `limitBytes`; a buffer that does not fit is freed at once. Measured on `bench engine` (U-Net 64³):
/// training step 0.35–0.42 s without the pool, 0.46 s with 128 MiB (too small for a step's
/// activations), 0.33–0.35 s with 256 MiB, 0.30–0.33 s with 512 MiB; peak RSS 859 MB without,
/// 491 MB with 512 MiB (the same sizes come back instead of fresh mappings).
enum TensorBufferPool {
    static let minimumBytes = 4 << 20

    /// Kept buffers by size, as addresses (no tensor holds them; only the pool does), their total
    /// bytes, and the most it may keep.
    private struct State {
        var free: [Int: [UInt]] = [:]
        var bytes = 0
        var limit = 512 << 20
    }
    private static let state = Locked(State())

    static var limit: Int { state.withLock { $0.limit } }

    /// Sets the limit, freeing kept buffers beyond it.
    static func setLimit(_ bytes: Int) {
        let released: [(UInt, Int)] = state.withLock { s in
            s.limit = max(0, bytes)
            var out: [(UInt, Int)] = []
            for size in s.free.keys.sorted(by: >) where s.bytes > s.limit {
                while s.bytes > s.limit, let address = s.free[size]?.popLast() {
                    out.append((address, size))
                    s.bytes -= size
                }
            }
            return out
        }
        for (address, size) in released {
            _ = size
            UnsafeMutableRawPointer(bitPattern: address)!.deallocate()
        }
    }

    /// A kept buffer of exactly `byteCount` bytes, if there is one (contents undefined).
    static func take(byteCount: Int) -> UnsafeMutableRawPointer? {
        guard byteCount >= minimumBytes else { return nil }
        return state.withLock { s in
            guard let address = s.free[byteCount]?.popLast() else { return nil }
            s.bytes -= byteCount
            return UnsafeMutableRawPointer(bitPattern: address)
        }
    }

    /// Keeps `p` (of `byteCount` bytes) for reuse; false when it is too small or the pool is full
    /// (the caller frees it).
    static func keep(_ p: UnsafeMutableRawPointer, byteCount: Int) -> Bool {
        guard byteCount >= minimumBytes else { return false }
        return state.withLock { s in
            guard s.bytes + byteCount <= s.limit else { return false }
            s.free[byteCount, default: []].append(UInt(bitPattern: p))
            s.bytes += byteCount
            return true
        }
    }
}

extension Tensor {
    /// The most bytes of freed tensor buffers kept for reuse (default 512 MiB, what training steps
    /// want). Inference over tiles needs far less; lowering it frees what is kept beyond it.
    public static var bufferPoolLimit: Int {
        get { TensorBufferPool.limit }
        set { TensorBufferPool.setLimit(newValue) }
    }
}

/// A dense float32 tensor, row-major (last axis fastest), with value semantics (copy on write).
/// Volumes are [N, C, D, H, W] with D = z, H = y, W = x, like a stack of `Volume`s.
public struct Tensor: Sendable, CustomStringConvertible {
    /// Sizes per axis.
    public let shape: [Int]
    private var storage: FloatStorage

    /// Number of elements.
    public var count: Int { storage.count }
    /// Number of axes.
    public var rank: Int { shape.count }

    /// A tensor of zeros.
    public init(zeros shape: [Int]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative tensor shape \(shape)")
        self.shape = shape
        storage = FloatStorage(count: shape.reduce(1, *))
    }

    /// A tensor whose every element the caller writes before reading (no zeroing).
    public init(uninitialized shape: [Int]) {
        self.shape = shape
        storage = FloatStorage(count: shape.reduce(1, *), zeroed: false)
    }

    /// A tensor holding `values` (row-major).
    public init(shape: [Int], values: [Float]) {
        precondition(values.count == shape.reduce(1, *), "\(values.count) values do not fill shape \(shape)")
        self.init(uninitialized: shape)
        values.withUnsafeBufferPointer { storage.pointer.update(from: $0.baseAddress!, count: values.count) }
    }

    /// A tensor with every element equal to `value`.
    public init(repeating value: Float, shape: [Int]) {
        self.init(uninitialized: shape)
        storage.pointer.update(repeating: value, count: count)
    }

    /// A scalar (shape []).
    public init(scalar: Float) { self.init(shape: [], values: [scalar]) }

    /// The same elements under another shape with the same count (shares storage until written).
    public func reshaped(_ newShape: [Int]) -> Tensor {
        precondition(newShape.reduce(1, *) == count, "cannot reshape \(shape) to \(newShape)")
        var t = self
        t.replaceShape(newShape)
        return t
    }

    private mutating func replaceShape(_ newShape: [Int]) {
        self = Tensor(shape: newShape, storage: storage)
    }

    private init(shape: [Int], storage: FloatStorage) {
        self.shape = shape
        self.storage = storage
    }

    /// Reads the elements.
    @inlinable
    public func withUnsafeBufferPointer<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
        try body(UnsafeBufferPointer(start: basePointer, count: count))
    }

    /// Writes the elements in place (copies first when the storage is shared).
    public mutating func withUnsafeMutableBufferPointer<R>(_ body: (UnsafeMutableBufferPointer<Float>) throws -> R)
        rethrows -> R
    {
        if !isKnownUniquelyReferenced(&storage) {
            let copy = FloatStorage(count: storage.count, zeroed: false)
            copy.pointer.update(from: storage.pointer, count: storage.count)
            storage = copy
        }
        return try body(UnsafeMutableBufferPointer(start: storage.pointer, count: storage.count))
    }

    /// The first element's address (read-only use).
    @usableFromInline
    var basePointer: UnsafePointer<Float> { UnsafePointer(storage.pointer) }

    /// The elements as an array.
    public var scalars: [Float] { withUnsafeBufferPointer { Array($0) } }

    /// The single element of a one-element tensor.
    public var scalar: Float {
        precondition(count == 1, "tensor of shape \(shape) is not a scalar")
        return basePointer[0]
    }

    /// Element at a multi-index.
    public subscript(_ index: Int...) -> Float {
        precondition(index.count == rank, "index \(index) does not match rank \(rank)")
        var offset = 0
        for (i, n) in Swift.zip(index, shape) {
            precondition(i >= 0 && i < n, "index \(index) out of \(shape)")
            offset = offset * n + i
        }
        return basePointer[offset]
    }

    public var description: String { "Tensor\(shape)" }
}

extension Tensor {
    /// Elements drawn from N(mean, std²) by a counter-based generator: element i is a function of
    /// (seed, i) only.
    public static func normal(_ shape: [Int], mean: Float = 0, std: Float = 1, seed: UInt64) -> Tensor {
        let rng = CounterRNG(seed: seed)
        var t = Tensor(uninitialized: shape)
        t.withUnsafeMutableBufferPointer { p in
            for i in p.indices { p[i] = mean + std * Float(rng.normal(stream: 11, counter: UInt64(i))) }
        }
        return t
    }

    /// Elements drawn uniformly from [low, high).
    public static func uniform(_ shape: [Int], low: Float = 0, high: Float = 1, seed: UInt64) -> Tensor {
        let rng = CounterRNG(seed: seed)
        var t = Tensor(uninitialized: shape)
        t.withUnsafeMutableBufferPointer { p in
            for i in p.indices { p[i] = low + (high - low) * Float(rng.uniform(stream: 12, counter: UInt64(i))) }
        }
        return t
    }

    /// A [N, C, D, H, W] tensor from a volume (N = C = 1), converted to float32.
    public init(_ volume: Volume) {
        let v = volume.converted(to: .float32)
        self.init(shape: [1, 1, v.shape.z, v.shape.y, v.shape.x], values: v.values(as: Float.self))
    }

    /// Channel `c` of sample `n` of a [N, C, D, H, W] tensor as a float32 volume.
    public func volume(n: Int = 0, c: Int = 0) -> Volume {
        precondition(rank == 5, "volume(n:c:) needs a 5D tensor, not \(shape)")
        let s = shape[2] * shape[3] * shape[4]
        let start = (n * shape[1] + c) * s
        return withUnsafeBufferPointer { p in
            Volume(shape: Extent3(x: shape[4], y: shape[3], z: shape[2]), values: Array(p[start..<(start + s)]))
        }
    }
}
