/// A 3D size in voxels, in x, y, z terms (x is the fastest-varying axis in memory).
public struct Extent3: Hashable, Codable, Sendable, CustomStringConvertible {
    public var x: Int
    public var y: Int
    public var z: Int

    public init(x: Int, y: Int, z: Int) {
        self.x = x
        self.y = y
        self.z = z
    }

    /// Number of voxels (x·y·z).
    public var count: Int { x * y * z }

    /// The sizes as [x, y, z].
    public var array: [Int] { [x, y, z] }

    /// True when every axis has at least one voxel.
    public var isNonEmpty: Bool { x > 0 && y > 0 && z > 0 }

    public var description: String { "\(x)×\(y)×\(z)" }
}

/// A half-open box of voxels [lower, upper) in x, y, z voxel coordinates.
public struct Box3: Hashable, Codable, Sendable, CustomStringConvertible {
    public var lower: Extent3
    public var upper: Extent3

    public init(lower: Extent3, upper: Extent3) {
        self.lower = lower
        self.upper = upper
    }

    /// The box [x0, x1) × [y0, y1) × [z0, z1).
    public init(x: Range<Int>, y: Range<Int>, z: Range<Int>) {
        self.lower = Extent3(x: x.lowerBound, y: y.lowerBound, z: z.lowerBound)
        self.upper = Extent3(x: x.upperBound, y: y.upperBound, z: z.upperBound)
    }

    /// The whole volume of a given shape.
    public init(shape: Extent3) {
        self.init(lower: Extent3(x: 0, y: 0, z: 0), upper: shape)
    }

    public var xRange: Range<Int> { lower.x..<upper.x }
    public var yRange: Range<Int> { lower.y..<upper.y }
    public var zRange: Range<Int> { lower.z..<upper.z }

    /// The box's size in voxels.
    public var shape: Extent3 { Extent3(x: upper.x - lower.x, y: upper.y - lower.y, z: upper.z - lower.z) }

    /// True when the box has no voxels.
    public var isEmpty: Bool { upper.x <= lower.x || upper.y <= lower.y || upper.z <= lower.z }

    /// True when the box lies inside a volume of the given shape.
    public func isInside(_ shape: Extent3) -> Bool {
        lower.x >= 0 && lower.y >= 0 && lower.z >= 0
            && upper.x <= shape.x && upper.y <= shape.y && upper.z <= shape.z
            && lower.x <= upper.x && lower.y <= upper.y && lower.z <= upper.z
    }

    /// The overlap of two boxes, or nil when they do not overlap.
    public func intersection(_ other: Box3) -> Box3? {
        let b = Box3(
            lower: Extent3(
                x: max(lower.x, other.lower.x), y: max(lower.y, other.lower.y), z: max(lower.z, other.lower.z)),
            upper: Extent3(
                x: min(upper.x, other.upper.x), y: min(upper.y, other.upper.y), z: min(upper.z, other.upper.z)))
        return b.isEmpty ? nil : b
    }

    /// Written as `x0:x1,y0:y1,z0:z1`, the form the command line accepts.
    public var description: String {
        "\(lower.x):\(upper.x),\(lower.y):\(upper.y),\(lower.z):\(upper.z)"
    }

    /// Parses `x0:x1,y0:y1,z0:z1` (half-open voxel ranges); nil when malformed.
    public init?(parsing text: String) {
        let parts = text.split(separator: ",", omittingEmptySubsequences: false)
        guard parts.count == 3 else { return nil }
        var bounds: [(Int, Int)] = []
        for part in parts {
            let ends = part.split(separator: ":", omittingEmptySubsequences: false)
            guard ends.count == 2,
                let a = Int(ends[0]), let b = Int(ends[1]), a < b
            else { return nil }
            bounds.append((a, b))
        }
        self.init(x: bounds[0].0..<bounds[0].1, y: bounds[1].0..<bounds[1].1, z: bounds[2].0..<bounds[2].1)
    }
}
