/// XXH64 (Yann Collet's xxHash, 64-bit variant), the checksum of every stored chunk's raw bytes.
/// The same function zstd uses for its frame content checksum (whose low 32 bits it stores).
public enum XXHash64 {
    private static let p1: UInt64 = 0x9E37_79B1_85EB_CA87
    private static let p2: UInt64 = 0xC2B2_AE3D_27D4_EB4F
    private static let p3: UInt64 = 0x1656_67B1_9E37_79F9
    private static let p4: UInt64 = 0x85EB_CA77_C2B2_AE63
    private static let p5: UInt64 = 0x27D4_EB2F_1656_67C5

    @inline(__always) private static func rotl(_ x: UInt64, _ r: UInt64) -> UInt64 { (x << r) | (x >> (64 - r)) }
    @inline(__always) private static func round(_ acc: UInt64, _ input: UInt64) -> UInt64 {
        rotl(acc &+ input &* p2, 31) &* p1
    }
    @inline(__always) private static func merge(_ acc: UInt64, _ v: UInt64) -> UInt64 {
        (acc ^ round(0, v)) &* p1 &+ p4
    }

    /// The XXH64 hash of `bytes` with `seed`.
    public static func hash(_ bytes: UnsafeRawBufferPointer, seed: UInt64 = 0) -> UInt64 {
        let n = bytes.count
        guard let base = bytes.baseAddress, n > 0 else {
            return [UInt8]().withUnsafeBufferPointer { _ in finishEmpty(seed) }
        }
        var p = 0
        var h: UInt64
        if n >= 32 {
            var v1 = seed &+ p1 &+ p2
            var v2 = seed &+ p2
            var v3 = seed
            var v4 = seed &- p1
            let limit = n - 32
            while p <= limit {
                v1 = round(v1, UInt64(littleEndian: base.loadUnaligned(fromByteOffset: p, as: UInt64.self)))
                v2 = round(v2, UInt64(littleEndian: base.loadUnaligned(fromByteOffset: p + 8, as: UInt64.self)))
                v3 = round(v3, UInt64(littleEndian: base.loadUnaligned(fromByteOffset: p + 16, as: UInt64.self)))
                v4 = round(v4, UInt64(littleEndian: base.loadUnaligned(fromByteOffset: p + 24, as: UInt64.self)))
                p += 32
            }
            h = rotl(v1, 1) &+ rotl(v2, 7) &+ rotl(v3, 12) &+ rotl(v4, 18)
            h = merge(h, v1)
            h = merge(h, v2)
            h = merge(h, v3)
            h = merge(h, v4)
        } else {
            h = seed &+ p5
        }
        return finish(h, tail: base + p, count: n - p, total: n)
    }

    /// The hash of no bytes.
    private static func finishEmpty(_ seed: UInt64) -> UInt64 {
        var h = seed &+ p5
        h ^= h >> 33
        h = h &* p2
        h ^= h >> 29
        h = h &* p3
        h ^= h >> 32
        return h
    }

    @inline(__always)
    private static func finish(_ hIn: UInt64, tail: UnsafeRawPointer, count: Int, total: Int) -> UInt64 {
        var h = hIn &+ UInt64(total)
        var p = 0
        while p + 8 <= count {
            let k = round(0, UInt64(littleEndian: tail.loadUnaligned(fromByteOffset: p, as: UInt64.self)))
            h = rotl(h ^ k, 27) &* p1 &+ p4
            p += 8
        }
        if p + 4 <= count {
            let k = UInt64(UInt32(littleEndian: tail.loadUnaligned(fromByteOffset: p, as: UInt32.self)))
            h = rotl(h ^ (k &* p1), 23) &* p2 &+ p3
            p += 4
        }
        while p < count {
            let k = UInt64(tail.load(fromByteOffset: p, as: UInt8.self))
            h = rotl(h ^ (k &* p5), 11) &* p1
            p += 1
        }
        h ^= h >> 33
        h = h &* p2
        h ^= h >> 29
        h = h &* p3
        h ^= h >> 32
        return h
    }

    /// The XXH64 hash of a byte array.
    public static func hash(_ bytes: [UInt8], seed: UInt64 = 0) -> UInt64 {
        bytes.withUnsafeBytes { hash($0, seed: seed) }
    }
}
