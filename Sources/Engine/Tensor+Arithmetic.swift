import Foundation

extension Tensor {
    /// Applies `f` to every element, giving a new tensor of the same shape.
    @inlinable
    public func map(_ f: (Float) -> Float) -> Tensor {
        var out = Tensor(uninitialized: shape)
        withUnsafeBufferPointer { src in out.withUnsafeMutableBufferPointer { dst in
            for i in 0..<src.count { dst[i] = f(src[i]) }
        } }
        return out
    }

    /// Combines two tensors of the same shape element by element.
    @inlinable
    public func zip(_ other: Tensor, _ f: (Float, Float) -> Float) -> Tensor {
        precondition(shape == other.shape, "shapes \(shape) and \(other.shape) differ")
        var out = Tensor(uninitialized: shape)
        withUnsafeBufferPointer { a in other.withUnsafeBufferPointer { b in out.withUnsafeMutableBufferPointer { o in
            for i in 0..<a.count { o[i] = f(a[i], b[i]) }
        } } }
        return out
    }

    /// self += other (same shape), in place.
    public mutating func add(_ other: Tensor, scaledBy alpha: Float = 1) {
        precondition(count == other.count, "shapes \(shape) and \(other.shape) differ")
        other.withUnsafeBufferPointer { b in withUnsafeMutableBufferPointer { a in
            for i in 0..<a.count { a[i] += alpha * b[i] }
        } }
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
        return withUnsafeBufferPointer { a in other.withUnsafeBufferPointer { b in
            var m: Float = 0
            for i in 0..<a.count { m = Swift.max(m, abs(a[i] - b[i])) }
            return m
        } }
    }

    /// Largest absolute value.
    public var maxAbs: Float { withUnsafeBufferPointer { $0.reduce(0) { Swift.max($0, abs($1)) } } }
}
