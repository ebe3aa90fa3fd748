/// Blosc-style byte shuffle: for `count` elements of `width` bytes, byte j of element i moves to
/// position j·count + i, so the bytes of equal significance lie together (better for zstd).
public enum ByteShuffle {
    /// Shuffles `count` elements of `width` bytes from `src` into `dst` (no overlap).
    public static func shuffle(_ src: UnsafeRawPointer, _ dst: UnsafeMutableRawPointer, count: Int, width: Int) {
        let s = src.assumingMemoryBound(to: UInt8.self)
        let d = dst.assumingMemoryBound(to: UInt8.self)
        switch width {
        case 4:
            // 4×4 byte transposes: four elements in, one 32-bit word out to each plane.
            let blocks = count / 4
            let raw = UnsafeMutableRawPointer(d)
            for b in 0..<blocks {
                let v0 = UInt32(littleEndian: src.loadUnaligned(fromByteOffset: b * 16, as: UInt32.self))
                let v1 = UInt32(littleEndian: src.loadUnaligned(fromByteOffset: b * 16 + 4, as: UInt32.self))
                let v2 = UInt32(littleEndian: src.loadUnaligned(fromByteOffset: b * 16 + 8, as: UInt32.self))
                let v3 = UInt32(littleEndian: src.loadUnaligned(fromByteOffset: b * 16 + 12, as: UInt32.self))
                for j in 0..<4 {
                    let shift = UInt32(8 * j)
                    let word =
                        (v0 >> shift) & 0xff | ((v1 >> shift) & 0xff) << 8 | ((v2 >> shift) & 0xff) << 16
                        | ((v3 >> shift) & 0xff) << 24
                    raw.storeBytes(of: word.littleEndian, toByteOffset: j * count + b * 4, as: UInt32.self)
                }
            }
            for i in (blocks * 4)..<count { for j in 0..<4 { d[j * count + i] = s[i * 4 + j] } }
        case 2:
            let w = src.assumingMemoryBound(to: UInt16.self)
            for i in 0..<count {
                let v = UInt16(littleEndian: w[i])
                d[i] = UInt8(truncatingIfNeeded: v)
                d[count + i] = UInt8(truncatingIfNeeded: v >> 8)
            }
        default:
            for i in 0..<count { for j in 0..<width { d[j * count + i] = s[i * width + j] } }
        }
    }

    /// Reverses `shuffle`.
    public static func unshuffle(_ src: UnsafeRawPointer, _ dst: UnsafeMutableRawPointer, count: Int, width: Int) {
        let s = src.assumingMemoryBound(to: UInt8.self)
        let d = dst.assumingMemoryBound(to: UInt8.self)
        switch width {
        case 4:
            let w = dst.assumingMemoryBound(to: UInt32.self)
            for i in 0..<count {
                let v =
                    UInt32(s[i]) | UInt32(s[count + i]) << 8 | UInt32(s[2 * count + i]) << 16 | UInt32(s[3 * count + i])
                    << 24
                w[i] = UInt32(littleEndian: v)
            }
        case 2:
            let w = dst.assumingMemoryBound(to: UInt16.self)
            for i in 0..<count { w[i] = UInt16(littleEndian: UInt16(s[i]) | UInt16(s[count + i]) << 8) }
        default:
            for i in 0..<count { for j in 0..<width { d[i * width + j] = s[j * count + i] } }
        }
    }

    /// Unshuffles `length` consecutive elements starting at element `start` of a shuffled stream of
    /// `count` elements, writing them contiguously to `dst`.
    public static func unshuffleRun(
        _ src: UnsafeRawPointer, count: Int, width: Int, from start: Int, length: Int, into dst: UnsafeMutableRawPointer
    ) {
        let s = src.assumingMemoryBound(to: UInt8.self)
        switch width {
        case 4:
            let w = dst.assumingMemoryBound(to: UInt32.self)
            let p0 = s + start
            let p1 = s + count + start
            let p2 = s + 2 * count + start
            let p3 = s + 3 * count + start
            for i in 0..<length {
                w[i] = UInt32(
                    littleEndian: UInt32(p0[i]) | UInt32(p1[i]) << 8 | UInt32(p2[i]) << 16 | UInt32(p3[i]) << 24)
            }
        case 2:
            let w = dst.assumingMemoryBound(to: UInt16.self)
            let p0 = s + start
            let p1 = s + count + start
            for i in 0..<length { w[i] = UInt16(littleEndian: UInt16(p0[i]) | UInt16(p1[i]) << 8) }
        default:
            let d = dst.assumingMemoryBound(to: UInt8.self)
            for i in 0..<length { for j in 0..<width { d[i * width + j] = s[j * count + start + i] } }
        }
    }
}
