import Voxels

/// Writes 8-bit grayscale PNG images (RFC 2083) without a compression library: the image data are
/// zlib "stored" (uncompressed) deflate blocks, with the CRC-32 of each chunk and the Adler-32 of
/// the data computed here.
public enum PNGWriter {
    /// CRC-32 (IEEE 802.3, as PNG uses) of bytes.
    static let crcTable: [UInt32] = (0..<256).map { n -> UInt32 in
        var c = UInt32(n)
        for _ in 0..<8 { c = (c & 1) != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    public static func crc32(_ bytes: [UInt8]) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        for b in bytes { c = crcTable[Int((c ^ UInt32(b)) & 0xff)] ^ (c >> 8) }
        return c ^ 0xFFFF_FFFF
    }

    static func adler32(_ bytes: [UInt8]) -> UInt32 {
        var a: UInt32 = 1
        var b: UInt32 = 0
        for x in bytes {
            a = (a + UInt32(x)) % 65521
            b = (b + a) % 65521
        }
        return b << 16 | a
    }

    static func be32(_ v: UInt32) -> [UInt8] {
        [UInt8(v >> 24), UInt8((v >> 16) & 0xff), UInt8((v >> 8) & 0xff), UInt8(v & 0xff)]
    }

    static func chunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
        let body = Array(type.utf8) + data
        return be32(UInt32(data.count)) + body + be32(crc32(body))
    }

    /// PNG bytes of a width × height image, `pixels` row-major (top row first), 0 black … 255 white.
    public static func encode(width: Int, height: Int, pixels: [UInt8]) -> [UInt8] {
        precondition(pixels.count == width * height)
        var raw: [UInt8] = []
        raw.reserveCapacity((width + 1) * height)
        for y in 0..<height {
            raw.append(0)
            raw += pixels[(y * width)..<((y + 1) * width)]
        }
        var z: [UInt8] = [0x78, 0x01]
        var offset = 0
        repeat {
            let n = min(65535, raw.count - offset)
            let last: UInt8 = offset + n == raw.count ? 1 : 0
            z += [last, UInt8(n & 0xff), UInt8(n >> 8), UInt8(~n & 0xff), UInt8((~n >> 8) & 0xff)]
            z += raw[offset..<(offset + n)]
            offset += n
        } while offset < raw.count
        z += be32(adler32(raw))
        let header = be32(UInt32(width)) + be32(UInt32(height)) + [8, 0, 0, 0, 0]  // 8-bit grayscale
        return [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] + chunk("IHDR", header) + chunk("IDAT", z)
            + chunk("IEND", [])
    }

    /// Writes a PNG file (replaced atomically).
    public static func write(width: Int, height: Int, pixels: [UInt8], to path: String) throws {
        let bytes = encode(width: width, height: height, pixels: pixels)
        try PosixFile.checkOutput(path)
        let temporary = PosixFile.temporaryPath(for: path)
        let file = try PosixFile(creating: temporary)
        try bytes.withUnsafeBytes { try file.write($0, at: 0) }
        try PosixFile.rename(temporary, to: path)
    }
}
