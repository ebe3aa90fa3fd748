/// Three numbers along x, y, z (or columns, rows, sections, where stated).
public struct Triple<T: Sendable & Equatable>: Sendable, Equatable {
    public var x: T, y: T, z: T
    public init(_ x: T, _ y: T, _ z: T) {
        self.x = x
        self.y = y
        self.z = z
    }
    /// The values as [x, y, z].
    public var array: [T] { [x, y, z] }
}

/// The 1024-byte MRC2014 main header, every field, as stored in the file (file axis order for
/// nx/ny/nz and the starts; spatial x, y, z order for mx/my/mz, cella, cellb and origin).
///
/// Byte offsets (0-based) follow MRC2014; see formats/mrc.md for the complete table.
public struct MRCHeader: Sendable, Equatable {
    /// Header size in bytes.
    public static let size = 1024
    /// IMOD's stamp in `imodStamp` (bytes 152–155): the ASCII-ish constant 1146047817.
    public static let imodStampValue: Int32 = 1_146_047_817

    /// Columns, rows, sections (file order; nx is the fastest-varying).
    public var nx: Int32 = 0, ny: Int32 = 0, nz: Int32 = 0
    /// Data mode (see `MRCMode`).
    public var mode: Int32 = 2
    /// Index of the first column, row, section (file order).
    public var nxstart: Int32 = 0, nystart: Int32 = 0, nzstart: Int32 = 0
    /// Sampling intervals along spatial x, y, z (voxels per cell).
    public var mx: Int32 = 0, my: Int32 = 0, mz: Int32 = 0
    /// Cell dimensions in Å along x, y, z.
    public var cella = Triple<Float>(0, 0, 0)
    /// Cell angles in degrees.
    public var cellb = Triple<Float>(90, 90, 90)
    /// Which spatial axis (1 = x, 2 = y, 3 = z) runs along columns, rows and sections.
    public var mapc: Int32 = 1, mapr: Int32 = 2, maps: Int32 = 3
    /// Minimum, maximum and mean density as recorded (not necessarily true).
    public var dmin: Float = 0, dmax: Float = -1, dmean: Float = -2
    /// Space group: 0 image or image stack, 1 volume, 401–630 volume stack.
    public var ispg: Int32 = 1
    /// Size of the extended header in bytes.
    public var nsymbt: Int32 = 0
    /// The 100 "extra" bytes (offsets 96–195) as found in the file, byte for byte.
    public var extra = [UInt8](repeating: 0, count: 100)
    /// Extended header type (bytes 104–107), e.g. "FEI1", "SERI", "CCP4", "AGAR"; "" when blank.
    public var exttyp: String = ""
    /// MRC format version (bytes 108–111): 20140 for MRC2014.
    public var nversion: Int32 = 0
    /// IMOD/SerialEM: integers (or bytes) per section in the extended header (int16, bytes 128–129).
    public var nint: Int16 = 0
    /// IMOD/SerialEM: reals per section, or SerialEM's flags (int16, bytes 130–131).
    public var nreal: Int16 = 0
    /// IMOD stamp (bytes 152–155): `imodStampValue` when IMOD wrote the file.
    public var imodStamp: Int32 = 0
    /// IMOD flags (bytes 156–159); bit 0 set means mode-0 bytes are signed.
    public var imodFlags: Int32 = 0
    /// Origin in Å along x, y, z.
    public var origin = Triple<Float>(0, 0, 0)
    /// The map identifier (bytes 208–211), "MAP " in MRC2000 and later.
    public var map: [UInt8] = Array("MAP ".utf8)
    /// Machine stamp (bytes 212–215): 0x44 0x44 0 0 (or 0x44 0x41) little-endian, 0x11 0x11 big-endian.
    public var machineStamp: [UInt8] = [0x44, 0x44, 0, 0]
    /// RMS deviation of the densities from their mean (negative when not determined).
    public var rms: Float = -1
    /// Number of labels in use.
    public var nlabl: Int32 = 0
    /// The ten 80-character labels, trailing spaces and NULs removed.
    public var labels: [String] = Array(repeating: "", count: 10)

    public init() {}

    /// True when `map` holds "MAP" (with a space or NUL after it), i.e. an MRC2000-or-later header.
    public var hasMapIdentifier: Bool { Array(map.prefix(3)) == Array("MAP".utf8) }

    /// The byte order the machine stamp declares, or nil when the stamp is not one of the standard ones.
    public var stampedByteOrder: ByteOrder? {
        switch machineStamp[0] {
        case 0x44, 0x41: return .little
        case 0x11: return .big
        default: return nil
        }
    }

    /// True when IMOD wrote the header (its stamp is present).
    public var hasIMODStamp: Bool { imodStamp == Self.imodStampValue }

    /// Parses the 1024 header bytes with the given byte order.
    public init(parsing bytes: [UInt8], order: ByteOrder) {
        precondition(bytes.count >= Self.size)
        let r = EndianReader(bytes: bytes, order: order)
        nx = r.int32(0)
        ny = r.int32(4)
        nz = r.int32(8)
        mode = r.int32(12)
        nxstart = r.int32(16)
        nystart = r.int32(20)
        nzstart = r.int32(24)
        mx = r.int32(28)
        my = r.int32(32)
        mz = r.int32(36)
        cella = Triple(r.float32(40), r.float32(44), r.float32(48))
        cellb = Triple(r.float32(52), r.float32(56), r.float32(60))
        mapc = r.int32(64)
        mapr = r.int32(68)
        maps = r.int32(72)
        dmin = r.float32(76)
        dmax = r.float32(80)
        dmean = r.float32(84)
        ispg = r.int32(88)
        nsymbt = r.int32(92)
        extra = Array(bytes[96..<196])
        exttyp = Self.text(bytes[104..<108])
        nversion = r.int32(108)
        nint = r.int16(128)
        nreal = r.int16(130)
        imodStamp = r.int32(152)
        imodFlags = r.int32(156)
        origin = Triple(r.float32(196), r.float32(200), r.float32(204))
        map = Array(bytes[208..<212])
        machineStamp = Array(bytes[212..<216])
        rms = r.float32(216)
        nlabl = r.int32(220)
        labels = (0..<10).map { i in Self.text(bytes[(224 + 80 * i)..<(224 + 80 * (i + 1))]) }
    }

    /// The header as 1024 little-endian bytes. `extra` is written first, then the named fields
    /// inside it (exttyp, nversion, nint, nreal, imodStamp, imodFlags) over it.
    public func encoded() -> [UInt8] {
        var w = LittleEndianWriter(count: Self.size)
        w.put(nx, at: 0)
        w.put(ny, at: 4)
        w.put(nz, at: 8)
        w.put(mode, at: 12)
        w.put(nxstart, at: 16)
        w.put(nystart, at: 20)
        w.put(nzstart, at: 24)
        w.put(mx, at: 28)
        w.put(my, at: 32)
        w.put(mz, at: 36)
        w.put(cella.x, at: 40)
        w.put(cella.y, at: 44)
        w.put(cella.z, at: 48)
        w.put(cellb.x, at: 52)
        w.put(cellb.y, at: 56)
        w.put(cellb.z, at: 60)
        w.put(mapc, at: 64)
        w.put(mapr, at: 68)
        w.put(maps, at: 72)
        w.put(dmin, at: 76)
        w.put(dmax, at: 80)
        w.put(dmean, at: 84)
        w.put(ispg, at: 88)
        w.put(nsymbt, at: 92)
        w.put(Array(extra.prefix(100)), at: 96)
        w.put(Self.padded(exttyp, to: 4, pad: 0x20, blankAsZero: true), at: 104)
        w.put(nversion, at: 108)
        w.put(nint, at: 128)
        w.put(nreal, at: 130)
        w.put(imodStamp, at: 152)
        w.put(imodFlags, at: 156)
        w.put(origin.x, at: 196)
        w.put(origin.y, at: 200)
        w.put(origin.z, at: 204)
        w.put(Array(map.prefix(4)), at: 208)
        w.put(Array(machineStamp.prefix(4)), at: 212)
        w.put(rms, at: 216)
        w.put(nlabl, at: 220)
        for (i, label) in labels.prefix(10).enumerated() {
            w.put(Self.padded(label, to: 80, pad: 0x20, blankAsZero: true), at: 224 + 80 * i)
        }
        return w.bytes
    }

    /// Decodes fixed-width ASCII, dropping trailing spaces and NULs and replacing non-printables.
    static func text(_ slice: ArraySlice<UInt8>) -> String {
        var chars = Array(slice)
        while let last = chars.last, last == 0 || last == 0x20 { chars.removeLast() }
        return String(decoding: chars.map { (0x20...0x7e).contains($0) ? $0 : UInt8(ascii: "?") }, as: UTF8.self)
    }

    /// Encodes ASCII into a fixed width, cut or padded with `pad`; an empty string gives zeros when
    /// `blankAsZero`.
    static func padded(_ s: String, to width: Int, pad: UInt8, blankAsZero: Bool) -> [UInt8] {
        if s.isEmpty && blankAsZero { return [UInt8](repeating: 0, count: width) }
        let ascii = s.utf8.map { (0x20...0x7e).contains($0) ? $0 : UInt8(ascii: "?") }
        return Array(ascii.prefix(width)) + [UInt8](repeating: pad, count: max(0, width - ascii.count))
    }
}
