extension Volume {
    /// The volume reduced 2×2×2: the mean of each cell (densities) or its most frequent value, ties
    /// to the smallest (labels). Odd sizes round up; edge cells average what they hold.
    public func downsampledByTwo(labels: Bool) -> Volume {
        let s = shape
        let o = Extent3(x: (s.x + 1) / 2, y: (s.y + 1) / 2, z: (s.z + 1) / 2)
        var out = [Double](repeating: 0, count: o.count)
        var cell: [Double] = []
        cell.reserveCapacity(8)
        for z in 0..<o.z {
            for y in 0..<o.y {
                for x in 0..<o.x {
                    cell.removeAll(keepingCapacity: true)
                    for dz in 0..<2 {
                        for dy in 0..<2 {
                            for dx in 0..<2 {
                                let (xx, yy, zz) = (2 * x + dx, 2 * y + dy, 2 * z + dz)
                                if xx < s.x && yy < s.y && zz < s.z { cell.append(value(x: xx, y: yy, z: zz)) }
                            }
                        }
                    }
                    if labels {
                        var best = cell[0]
                        var count = 0
                        for c in cell {
                            let n = cell.filter { $0 == c }.count
                            if n > count || (n == count && c < best) {
                                best = c
                                count = n
                            }
                        }
                        out[(z * o.y + y) * o.x + x] = best
                    } else {
                        out[(z * o.y + y) * o.x + x] = cell.reduce(0, +) / Double(cell.count)
                    }
                }
            }
        }
        var result = Volume(shape: o, dtype: dtype)
        let n = o.count
        result.withUnsafeMutableBytes { dst in
            out.withUnsafeBufferPointer { src in
                VoxelScalarDispatch.convertFromDouble(src.baseAddress!, to: dtype, dst.baseAddress!, count: n)
            }
        }
        return result
    }
}
