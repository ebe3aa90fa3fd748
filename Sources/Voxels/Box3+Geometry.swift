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

extension Extent3 {
    /// The boxes of a volume of this shape in its storage order (x fastest, then y, then z), each a
    /// contiguous run of at most `maxVoxels` voxels: see `StorageOrderRuns`.
    public func storageOrderRuns(maxVoxels: Int) -> StorageOrderRuns {
        StorageOrderRuns(shape: self, maxVoxels: maxVoxels)
    }
}

/// A volume cut into boxes that follow its storage order (x fastest, then y, then z), each a contiguous
/// run of at most `maxVoxels` voxels (at least one): whole planes when a plane fits, else whole rows of
/// one plane when a row fits, else pieces of one row (an even number of voxels, so 4-bit packed rows are
/// cut on byte boundaries). Together the boxes cover every voxel once, in order; a streaming reader or
/// writer holds one at a time. Boxes are computed as they are iterated (nothing is listed up front).
public struct StorageOrderRuns: Sequence {
    public let shape: Extent3
    /// Planes per box (plane mode), rows per box (row mode) or voxels per box (piece mode).
    private let step: Int
    private let mode: Mode
    private enum Mode { case planes, rows, pieces }

    public init(shape: Extent3, maxVoxels: Int) {
        self.shape = shape
        let budget = Swift.max(1, maxVoxels)
        if shape.x * shape.y <= budget {
            mode = .planes
            step = Swift.max(1, budget / Swift.max(1, shape.x * shape.y))
        } else if shape.x <= budget {
            mode = .rows
            step = Swift.max(1, budget / shape.x)
        } else {
            mode = .pieces
            step = Swift.max(2, budget & ~1)
        }
    }

    public struct Iterator: IteratorProtocol {
        let runs: StorageOrderRuns
        /// The next box's first voxel (x, y, z).
        var first = Extent3.zero

        public mutating func next() -> Box3? {
            let s = runs.shape
            guard s.isNonEmpty, first.z < s.z else { return nil }
            let box: Box3
            switch runs.mode {
            case .planes:
                box = Box3(x: 0..<s.x, y: 0..<s.y, z: first.z..<Swift.min(s.z, first.z + runs.step))
                first = Extent3(x: 0, y: 0, z: box.upper.z)
            case .rows:
                box = Box3(x: 0..<s.x, y: first.y..<Swift.min(s.y, first.y + runs.step), z: first.z..<(first.z + 1))
                first =
                    box.upper.y < s.y ? Extent3(x: 0, y: box.upper.y, z: first.z) : Extent3(x: 0, y: 0, z: first.z + 1)
            case .pieces:
                box = Box3(
                    x: first.x..<Swift.min(s.x, first.x + runs.step), y: first.y..<(first.y + 1),
                    z: first.z..<(first.z + 1))
                if box.upper.x < s.x {
                    first.x = box.upper.x
                } else if first.y + 1 < s.y {
                    first = Extent3(x: 0, y: first.y + 1, z: first.z)
                } else {
                    first = Extent3(x: 0, y: 0, z: first.z + 1)
                }
            }
            return box
        }
    }

    public func makeIterator() -> Iterator { Iterator(runs: self) }
}
