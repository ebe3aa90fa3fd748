extension Extent3 {
    /// (0, 0, 0).
    public static let zero = Extent3(x: 0, y: 0, z: 0)

    /// Component-wise sum.
    public static func + (a: Extent3, b: Extent3) -> Extent3 { Extent3(x: a.x + b.x, y: a.y + b.y, z: a.z + b.z) }

    /// Component-wise difference.
    public static func - (a: Extent3, b: Extent3) -> Extent3 { Extent3(x: a.x - b.x, y: a.y - b.y, z: a.z - b.z) }
}

extension Box3 {
    /// The box moved by `offset` voxels.
    public func translated(by offset: Extent3) -> Box3 { Box3(lower: lower + offset, upper: upper + offset) }

    /// The box in the coordinates of a frame whose origin is `origin` (e.g. a chunk or a read box).
    public func relative(to origin: Extent3) -> Box3 { translated(by: .zero - origin) }

    /// The box in the coordinates of `frame`'s lower corner.
    public func relative(to frame: Box3) -> Box3 { relative(to: frame.lower) }

    /// The box grown by `margin` voxels on every side (may leave any volume; see `clamped(to:)`).
    public func grown(by margin: Int) -> Box3 {
        let m = Extent3(x: margin, y: margin, z: margin)
        return Box3(lower: lower - m, upper: upper + m)
    }

    /// The part of the box inside a volume of `shape` (empty boxes stay empty).
    public func clamped(to shape: Extent3) -> Box3 {
        func clamp(_ v: Int, _ n: Int) -> Int { min(max(v, 0), n) }
        return Box3(
            lower: Extent3(x: clamp(lower.x, shape.x), y: clamp(lower.y, shape.y), z: clamp(lower.z, shape.z)),
            upper: Extent3(x: clamp(upper.x, shape.x), y: clamp(upper.y, shape.y), z: clamp(upper.z, shape.z)))
    }

    /// The smallest box holding both.
    public func union(_ other: Box3) -> Box3 {
        Box3(
            lower: Extent3(
                x: min(lower.x, other.lower.x), y: min(lower.y, other.lower.y), z: min(lower.z, other.lower.z)),
            upper: Extent3(
                x: max(upper.x, other.upper.x), y: max(upper.y, other.upper.y), z: max(upper.z, other.upper.z)))
    }

    /// Calls `body` for each x-row of this box (which must lie inside both `source` and
    /// `destination`) with the voxel offsets of the row's first voxel in a volume covering `source`
    /// and in one covering `destination` ([z][y][x], x fastest), and the row length in voxels.
    @inlinable
    public func forEachRow(
        within source: Box3, into destination: Box3,
        _ body: (_ source: Int, _ destination: Int, _ count: Int) throws -> Void
    ) rethrows {
        let s = source.shape
        let d = destination.shape
        let n = upper.x - lower.x
        for z in lower.z..<upper.z {
            for y in lower.y..<upper.y {
                let from = ((z - source.lower.z) * s.y + (y - source.lower.y)) * s.x + (lower.x - source.lower.x)
                let to =
                    ((z - destination.lower.z) * d.y + (y - destination.lower.y)) * d.x
                    + (lower.x - destination.lower.x)
                try body(from, to, n)
            }
        }
    }
}
