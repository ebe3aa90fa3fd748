import Foundation
import Voxels

/// Builds MRC files byte by byte for tests, independently of the MRC module's own header code:
/// any byte order, axis order, mode, extended header and deliberate damage.
struct RawMRCBuilder {
    var little = true
    var mode: Int32 = 2
    /// File dimensions: columns, rows, sections.
    var dims: (Int32, Int32, Int32) = (4, 3, 2)
    var starts: (Int32, Int32, Int32) = (0, 0, 0)
    var sampling: (Int32, Int32, Int32)? = nil
    var cell: (Float, Float, Float)? = nil
    var axes: (Int32, Int32, Int32) = (1, 2, 3)
    var ispg: Int32 = 1
    var extended: [UInt8] = []
    var exttyp = ""
    var imodStamp: Int32 = 0
    var imodFlags: Int32 = 0
    var origin: (Float, Float, Float) = (0, 0, 0)
    var writeMapID = true
    var stamp: [UInt8]? = nil
    var labels: [String] = []
    /// Data bytes exactly as they go after the (extended) header.
    var data: [UInt8] = []

    private func int32(_ v: Int32) -> [UInt8] {
        let u = UInt32(bitPattern: v)
        let le = [UInt8(u & 0xff), UInt8((u >> 8) & 0xff), UInt8((u >> 16) & 0xff), UInt8(u >> 24)]
        return little ? le : le.reversed()
    }
    private func float(_ v: Float) -> [UInt8] { int32(Int32(bitPattern: v.bitPattern)) }

    /// The 1024-byte header.
    func header() -> [UInt8] {
        var h = [UInt8](repeating: 0, count: 1024)
        func put(_ bytes: [UInt8], _ offset: Int) { for (i, b) in bytes.enumerated() { h[offset + i] = b } }
        let m = sampling ?? (dims.0, dims.1, dims.2)
        let c = cell ?? (Float(m.0), Float(m.1), Float(m.2))
        put(int32(dims.0), 0)
        put(int32(dims.1), 4)
        put(int32(dims.2), 8)
        put(int32(mode), 12)
        put(int32(starts.0), 16)
        put(int32(starts.1), 20)
        put(int32(starts.2), 24)
        put(int32(m.0), 28)
        put(int32(m.1), 32)
        put(int32(m.2), 36)
        put(float(c.0), 40)
        put(float(c.1), 44)
        put(float(c.2), 48)
        put(float(90), 52)
        put(float(90), 56)
        put(float(90), 60)
        put(int32(axes.0), 64)
        put(int32(axes.1), 68)
        put(int32(axes.2), 72)
        put(int32(ispg), 88)
        put(int32(Int32(extended.count)), 92)
        put(Array(exttyp.utf8.prefix(4)), 104)
        put(int32(20140), 108)
        put(int32(imodStamp), 152)
        put(int32(imodFlags), 156)
        put(float(origin.0), 196)
        put(float(origin.1), 200)
        put(float(origin.2), 204)
        if writeMapID { put(Array("MAP ".utf8), 208) }
        put(stamp ?? (little ? [0x44, 0x44, 0, 0] : [0x11, 0x11, 0, 0]), 212)
        put(int32(Int32(labels.count)), 220)
        for (i, l) in labels.enumerated() { put(Array(l.utf8.prefix(80)), 224 + 80 * i) }
        return h
    }

    /// The whole file's bytes.
    func bytes() -> [UInt8] { header() + extended + data }

    /// Writes the file into a fresh temporary path and returns it.
    func write(name: String = "test.mrc") throws -> String {
        let path = TestFiles.path(name)
        try Data(bytes()).write(to: URL(fileURLWithPath: path))
        return path
    }

    /// Encodes values of a dtype in this builder's byte order.
    func encode(_ values: [Double], as dtype: DType) -> [UInt8] {
        var out: [UInt8] = []
        for v in values {
            var le: [UInt8]
            switch dtype {
            case .int8: le = [UInt8(bitPattern: Int8(v))]
            case .uint8: le = [UInt8(v)]
            case .int16:
                let u = UInt16(bitPattern: Int16(v))
                le = [UInt8(u & 0xff), UInt8(u >> 8)]
            case .uint16:
                let u = UInt16(v)
                le = [UInt8(u & 0xff), UInt8(u >> 8)]
            case .float16:
                let u = Float16(Float(v)).bitPattern
                le = [UInt8(u & 0xff), UInt8(u >> 8)]
            case .float32, .uint32:
                let u = dtype == .float32 ? Float(v).bitPattern : UInt32(v)
                le = [UInt8(u & 0xff), UInt8((u >> 8) & 0xff), UInt8((u >> 16) & 0xff), UInt8(u >> 24)]
            }
            out += little ? le : le.reversed()
        }
        return out
    }
}

/// Unique temporary file paths for a test run.
enum TestFiles {
    static let directory: String = {
        let d = NSTemporaryDirectory() + "tomostore-tests-\(getpid())"
        try? FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        return d
    }()
    nonisolated(unsafe) private static var counter = 0
    private static let lock = NSLock()
    static func path(_ name: String) -> String {
        lock.lock()
        defer { lock.unlock() }
        counter += 1
        return "\(directory)/\(counter)-\(name)"
    }
}
