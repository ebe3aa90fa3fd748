/// Reference-counted, 64-byte-aligned bytes: the storage behind `Volume` (copied on write).
public final class AlignedBytes: @unchecked Sendable {
    // @unchecked: raw memory with an immutable address; `Volume` writes it only while it holds the
    // sole reference (copy on write), or through disjoint regions in `Parallel` loops.
    /// Start of the bytes; valid for `count` bytes while this object lives.
    public let pointer: UnsafeMutableRawPointer
    /// Size in bytes.
    public let count: Int

    /// Allocates `count` bytes, zeroed unless `zeroed` is false (then the caller fills every byte).
    public init(count: Int, zeroed: Bool = true) {
        self.count = count
        pointer = LargeAllocation.allocate(byteCount: count)
        if zeroed { pointer.initializeMemory(as: UInt8.self, repeating: 0, count: max(count, 1)) }
    }

    /// Allocates a copy of other bytes.
    public init(copying source: UnsafeRawBufferPointer) {
        count = source.count
        pointer = LargeAllocation.allocate(byteCount: count)
        if let base = source.baseAddress, count > 0 { pointer.copyMemory(from: base, byteCount: count) }
    }

    deinit { pointer.deallocate() }
}

/// A dense 3D array of voxels in memory: layout [z][y][x], x fastest (as MRC with axes 1,2,3),
/// element type `dtype`, native (little-endian) byte order. Value semantics (copy on write).
public struct Volume: Sendable {
    /// Size in voxels along x, y, z.
    public let shape: Extent3
    /// Element type.
    public let dtype: DType
    private var storage: AlignedBytes

    /// A volume of the given shape and dtype with every voxel zero.
    public init(shape: Extent3, dtype: DType) {
        precondition(shape.x >= 0 && shape.y >= 0 && shape.z >= 0, "negative volume shape")
        self.shape = shape
        self.dtype = dtype
        storage = AlignedBytes(count: shape.count * dtype.byteCount)
    }

    /// A volume with every voxel `pattern` (one voxel's bytes in `dtype`, native order).
    public init(shape: Extent3, dtype: DType, repeating pattern: [UInt8]) {
        precondition(pattern.count == dtype.byteCount, "a fill pattern is one voxel")
        if pattern.allSatisfy({ $0 == 0 }) {
            self.init(shape: shape, dtype: dtype)  // new volumes are zeroed
            return
        }
        self.init(uninitializedShape: shape, dtype: dtype)
        withUnsafeMutableBytes { raw in
            guard let base = raw.baseAddress, raw.count >= pattern.count else { return }
            // One voxel, then doubling copies.
            pattern.withUnsafeBytes { base.copyMemory(from: $0.baseAddress!, byteCount: pattern.count) }
            var filled = pattern.count
            while filled < raw.count {
                let n = min(filled, raw.count - filled)
                (base + filled).copyMemory(from: base, byteCount: n)
                filled += n
            }
        }
    }

    /// A volume whose bytes the caller overwrites entirely before reading (skips zeroing).
    init(uninitializedShape shape: Extent3, dtype: DType) {
        self.shape = shape
        self.dtype = dtype
        storage = AlignedBytes(count: shape.count * dtype.byteCount, zeroed: false)
    }

    /// A volume holding a copy of the given raw bytes ([z][y][x], x fastest, native byte order).
    public init(shape: Extent3, dtype: DType, bytes: UnsafeRawBufferPointer) {
        precondition(bytes.count == shape.count * dtype.byteCount, "byte count does not match shape and dtype")
        self.shape = shape
        self.dtype = dtype
        storage = AlignedBytes(copying: bytes)
    }

    /// A volume holding the given values ([z][y][x], x fastest).
    public init<T: VoxelScalar>(shape: Extent3, values: [T]) {
        precondition(values.count == shape.count, "value count does not match shape")
        self.shape = shape
        dtype = T.dtype
        storage = values.withUnsafeBytes { AlignedBytes(copying: $0) }
    }

    /// Number of voxels.
    public var count: Int { shape.count }
    /// Size of the voxel data in bytes.
    public var byteCount: Int { storage.count }

    /// Reads the raw bytes ([z][y][x], x fastest, native byte order).
    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeRawBufferPointer(start: storage.pointer, count: storage.count))
    }

    /// Writes the raw bytes in place (copies first if the storage is shared).
    public mutating func withUnsafeMutableBytes<R>(_ body: (UnsafeMutableRawBufferPointer) throws -> R) rethrows -> R {
        if !isKnownUniquelyReferenced(&storage) {
            storage = AlignedBytes(copying: UnsafeRawBufferPointer(start: storage.pointer, count: storage.count))
        }
        return try body(UnsafeMutableRawBufferPointer(start: storage.pointer, count: storage.count))
    }

    /// Reads the voxels as typed values; `T.dtype` must equal `dtype`.
    public func withUnsafeValues<T: VoxelScalar, R>(as type: T.Type, _ body: (UnsafeBufferPointer<T>) throws -> R)
        rethrows -> R
    {
        precondition(T.dtype == dtype, "volume is \(dtype), not \(T.dtype)")
        let typed = storage.pointer.bindMemory(to: T.self, capacity: count)
        return try body(UnsafeBufferPointer(start: typed, count: count))
    }

    /// Writes the voxels as typed values in place; `T.dtype` must equal `dtype`.
    public mutating func withUnsafeMutableValues<T: VoxelScalar, R>(
        as type: T.Type, _ body: (UnsafeMutableBufferPointer<T>) throws -> R
    ) rethrows -> R {
        precondition(T.dtype == dtype, "volume is \(dtype), not \(T.dtype)")
        let n = count
        return try withUnsafeMutableBytes { raw in
            let typed = raw.baseAddress!.bindMemory(to: T.self, capacity: n)
            return try body(UnsafeMutableBufferPointer(start: typed, count: n))
        }
    }

    /// The voxels as an array of `T` (must match `dtype`).
    public func values<T: VoxelScalar>(as type: T.Type) -> [T] {
        withUnsafeValues(as: T.self) { Array($0) }
    }

    /// Linear index of voxel (x, y, z) in [z][y][x] order.
    @inlinable
    public func index(x: Int, y: Int, z: Int) -> Int { (z * shape.y + y) * shape.x + x }

    /// The value of voxel (x, y, z) as a Double, whatever the dtype.
    public func value(x: Int, y: Int, z: Int) -> Double {
        precondition(x >= 0 && x < shape.x && y >= 0 && y < shape.y && z >= 0 && z < shape.z, "voxel out of bounds")
        let i = index(x: x, y: y, z: z)
        return withUnsafeBytes { VoxelScalarDispatch.load(dtype, $0.baseAddress!, i) }
    }

    /// The whole volume converted to another dtype (see `VoxelScalar.init(converting:)` for rounding
    /// and clamping); returns self when the dtype already matches.
    public func converted(to target: DType) -> Volume {
        if target == dtype { return self }
        var out = Volume(shape: shape, dtype: target)
        let n = count
        withUnsafeBytes { src in
            out.withUnsafeMutableBytes { dst in
                VoxelScalarDispatch.convert(from: dtype, src.baseAddress!, to: target, dst.baseAddress!, count: n)
            }
        }
        return out
    }

    /// Copies the voxels of `box` (in this volume's coordinates) into a new volume.
    public func extracting(_ box: Box3) -> Volume {
        precondition(box.isInside(shape), "box \(box) is outside the volume \(shape)")
        var out = Volume(uninitializedShape: box.shape, dtype: dtype)
        out.copyRegion(from: self, sourceBox: box, destinationOrigin: Extent3(x: 0, y: 0, z: 0))
        return out
    }

    /// Copies `sourceBox` of `source` into this volume at `destinationOrigin` (same dtype).
    public mutating func copyRegion(from source: Volume, sourceBox: Box3, destinationOrigin: Extent3) {
        precondition(source.dtype == dtype, "dtype mismatch in copyRegion")
        let size = sourceBox.shape
        precondition(sourceBox.isInside(source.shape), "source box outside source")
        precondition(
            Box3(
                lower: destinationOrigin,
                upper: Extent3(
                    x: destinationOrigin.x + size.x, y: destinationOrigin.y + size.y, z: destinationOrigin.z + size.z)
            ).isInside(shape), "destination outside volume")
        if sourceBox.isEmpty { return }
        let bpv = dtype.byteCount
        let rowBytes = size.x * bpv
        let dstShape = shape
        source.withUnsafeBytes { src in
            withUnsafeMutableBytes { dst in
                for z in 0..<size.z {
                    for y in 0..<size.y {
                        let s =
                            source.index(x: sourceBox.lower.x, y: sourceBox.lower.y + y, z: sourceBox.lower.z + z) * bpv
                        let d =
                            ((destinationOrigin.z + z) * dstShape.y + destinationOrigin.y + y) * dstShape.x
                            + destinationOrigin.x
                        (dst.baseAddress! + d * bpv).copyMemory(from: src.baseAddress! + s, byteCount: rowBytes)
                    }
                }
            }
        }
    }
}

extension Volume {
    /// Negates every voxel of a float32 volume in place (the other contrast polarity).
    public mutating func negate() {
        precondition(dtype == .float32, "negate() needs float32 voxels, not \(dtype)")
        withUnsafeMutableValues(as: Float.self) { v in for i in v.indices { v[i] = -v[i] } }
    }
}

extension Volume: Equatable {
    /// Two volumes are equal when shape, dtype and every byte match.
    public static func == (a: Volume, b: Volume) -> Bool {
        guard a.shape == b.shape, a.dtype == b.dtype else { return false }
        return a.withUnsafeBytes { x in b.withUnsafeBytes { y in x.elementsEqual(y) } }
    }
}
