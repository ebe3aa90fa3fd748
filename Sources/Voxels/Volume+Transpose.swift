/// Swapping the x and z axes: the view used for missing-wedge compensation, where the transposed
/// tomogram (beam along x instead of z) is a second domain whose missing wedge does not overlap the
/// original's (DUAL paper, section 2.5).
extension Volume {
    /// The volume with x and z swapped: voxel (x, y, z) of the result is voxel (z, y, x) of this one,
    /// so a shape (nx, ny, nz) becomes (nz, ny, nx). Any dtype; the bytes of each voxel are kept.
    public func swappingXZ() -> Volume {
        let s = shape
        var out = Volume(uninitializedShape: Extent3(x: s.z, y: s.y, z: s.x), dtype: dtype)
        let bpv = dtype.byteCount
        withUnsafeBytes { src in
            out.withUnsafeMutableBytes { dst in
                let from = src.baseAddress!
                let to = dst.baseAddress!
                // Output index (x'=z, y, z'=x): ((x * ny + y) * nz + z).
                for z in 0..<s.z {
                    for y in 0..<s.y {
                        for x in 0..<s.x {
                            (to + ((x * s.y + y) * s.z + z) * bpv).copyMemory(
                                from: from + ((z * s.y + y) * s.x + x) * bpv, byteCount: bpv)
                        }
                    }
                }
            }
        }
        return out
    }
}

extension Box3 {
    /// The same box with its x and z ranges swapped (the box's place in the x↔z transposed volume).
    public var swappingXZ: Box3 { Box3(x: zRange, y: yRange, z: xRange) }
}
