/// The byte order of the numbers in an MRC file.
public enum ByteOrder: String, Sendable, Codable {
    case little, big

    /// This machine's byte order.
    public static var native: ByteOrder { 1.littleEndian == 1 ? .little : .big }
}

/// Reads little- or big-endian numbers from a byte array at byte offsets.
struct EndianReader {
    let bytes: [UInt8]
    let order: ByteOrder

    func uint32(_ offset: Int) -> UInt32 {
        let b = bytes[offset..<offset + 4].map(UInt32.init)
        return order == .little
            ? b[0] | b[1] << 8 | b[2] << 16 | b[3] << 24
            : b[3] | b[2] << 8 | b[1] << 16 | b[0] << 24
    }
    func int32(_ offset: Int) -> Int32 { Int32(bitPattern: uint32(offset)) }
    func int16(_ offset: Int) -> Int16 {
        let a = UInt16(bytes[offset])
        let b = UInt16(bytes[offset + 1])
        return Int16(bitPattern: order == .little ? a | b << 8 : b | a << 8)
    }
    func float32(_ offset: Int) -> Float { Float(bitPattern: uint32(offset)) }
}

/// Appends little-endian numbers to a byte array at fixed offsets.
struct LittleEndianWriter {
    var bytes: [UInt8]

    init(count: Int) { bytes = [UInt8](repeating: 0, count: count) }

    mutating func put(_ value: UInt32, at offset: Int) {
        for i in 0..<4 { bytes[offset + i] = UInt8(truncatingIfNeeded: value >> (8 * UInt32(i))) }
    }
    mutating func put(_ value: Int32, at offset: Int) { put(UInt32(bitPattern: value), at: offset) }
    mutating func put(_ value: Int16, at offset: Int) {
        let v = UInt16(bitPattern: value)
        bytes[offset] = UInt8(v & 0xff)
        bytes[offset + 1] = UInt8(v >> 8)
    }
    mutating func put(_ value: Float, at offset: Int) { put(value.bitPattern, at: offset) }
    mutating func put(_ raw: [UInt8], at offset: Int) {
        for (i, b) in raw.enumerated() { bytes[offset + i] = b }
    }
}

/// Reverses the byte order of `count` elements of `width` bytes (2 or 4) in place.
func swapBytes(_ base: UnsafeMutableRawPointer, count: Int, width: Int) {
    switch width {
    case 2:
        let p = base.assumingMemoryBound(to: UInt16.self)
        for i in 0..<count { p[i] = p[i].byteSwapped }
    case 4:
        let p = base.assumingMemoryBound(to: UInt32.self)
        for i in 0..<count { p[i] = p[i].byteSwapped }
    default:
        break
    }
}
