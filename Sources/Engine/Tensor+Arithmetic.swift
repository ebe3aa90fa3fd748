import Foundation
import Voxels

/// Splits 0..<count into one range per core when the work is large enough to be worth it.
@usableFromInline
func elementwiseRanges(_ count: Int, _ body: (Range<Int>) -> Void) {
    let parts = count >= 1 << 17 ? EngineThreads.count : 1
    if parts == 1 {
        body(0..<count)
        return
    }
    Parallel.forEach(parts) { p in body((p * count / parts)..<((p + 1) * count / parts)) }
}

extension Tensor {
    /// Applies `f` to every element, giving a new tensor of the same shape (in parallel for large tensors).
    @inlinable
    public func map(_ f: (Float) -> Float) -> Tensor {
        var out = Tensor(uninitialized: shape)
        withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                let s = src.baseAddress!
                let d = dst.baseAddress!
                elementwiseRanges(src.count) { range in for i in range { d[i] = f(s[i]) } }
            }
        }
        return out
    }

    /// Combines two tensors of the same shape element by element (in parallel for large tensors).
    @inlinable
    public func zip(_ other: Tensor, _ f: (Float, Float) -> Float) -> Tensor {
        precondition(shape == other.shape, "shapes \(shape) and \(other.shape) differ")
        var out = Tensor(uninitialized: shape)
        withUnsafeBufferPointer { a in
            other.withUnsafeBufferPointer { b in
                out.withUnsafeMutableBufferPointer { o in
                    let ap = a.baseAddress!
                    let bp = b.baseAddress!
                    let op = o.baseAddress!
                    elementwiseRanges(a.count) { range in for i in range { op[i] = f(ap[i], bp[i]) } }
                }
            }
        }
        return out
    }

    /// self += other (same shape), in place.
    public mutating func add(_ other: Tensor, scaledBy alpha: Float = 1) {
        precondition(count == other.count, "shapes \(shape) and \(other.shape) differ")
        other.withUnsafeBufferPointer { b in
            withUnsafeMutableBufferPointer { a in
                for i in 0..<a.count { a[i] += alpha * b[i] }
            }
        }
    }

    public static func + (a: Tensor, b: Tensor) -> Tensor { a.zip(b, +) }
    public static func - (a: Tensor, b: Tensor) -> Tensor { a.zip(b, -) }
    public static func * (a: Tensor, b: Tensor) -> Tensor { a.zip(b, *) }
    public static func * (a: Tensor, s: Float) -> Tensor { a.map { $0 * s } }

    /// Sum of all elements (accumulated in Double).
    public var sum: Double {
        withUnsafeBufferPointer { p in
            var acc = 0.0
            for v in p { acc += Double(v) }
            return acc
        }
    }

    /// Mean of all elements.
    public var mean: Double { count > 0 ? sum / Double(count) : 0 }

    /// Largest absolute difference to another tensor of the same shape.
    public func maxAbsDifference(_ other: Tensor) -> Float {
        precondition(count == other.count)
        return withUnsafeBufferPointer { a in
            other.withUnsafeBufferPointer { b in
                var m: Float = 0
                for i in 0..<a.count { m = Swift.max(m, abs(a[i] - b[i])) }
                return m
            }
        }
    }

    /// Largest absolute value.
    public var maxAbs: Float { withUnsafeBufferPointer { $0.reduce(0) { Swift.max($0, abs($1)) } } }
}
