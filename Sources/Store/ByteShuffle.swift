/// Blosc-style byte shuffle: for `count` elements of `width` bytes, byte j of element i moves to
/// position j·count + i, so the bytes of equal significance lie together (better for zstd).
public enum ByteShuffle {
    /// Shuffles `count` elements of `width` bytes from `src` into `dst` (no overlap).
    public static func shuffle(_ src: UnsafeRawPointer, _ dst: UnsafeMutableRawPointer, count: Int, width: Int) {
        let s = src.assumingMemoryBound(to: UInt8.self), d = dst.assumingMemoryBound(to: UInt8.self)
        switch width {
        case 4:
            let w = src.assumingMemoryBound(to: UInt32.self)
            for i in 0..<count {
                let v = UInt32(littleEndian: w[i])
                d[i] = UInt8(truncatingIfNeeded: v)
                d[count + i] = UInt8(truncatingIfNeeded: v >> 8)
                d[2 * count + i] = UInt8(truncatingIfNeeded: v >> 16)
                d[3 * count + i] = UInt8(truncatingIfNeeded: v >> 24)
            }
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
        let s = src.assumingMemoryBound(to: UInt8.self), d = dst.assumingMemoryBound(to: UInt8.self)
        switch width {
        case 4:
            let w = dst.assumingMemoryBound(to: UInt32.self)
            for i in 0..<count {
                let v = UInt32(s[i]) | UInt32(s[count + i]) << 8 | UInt32(s[2 * count + i]) << 16 | UInt32(s[3 * count + i]) << 24
                w[i] = UInt32(littleEndian: v)
            }
        case 2:
            let w = dst.assumingMemoryBound(to: UInt16.self)
            for i in 0..<count { w[i] = UInt16(littleEndian: UInt16(s[i]) | UInt16(s[count + i]) << 8) }
        default:
            for i in 0..<count { for j in 0..<width { d[i * width + j] = s[j * count + i] } }
        }
    }
}
