import Store
import Voxels

/// The MRC header fields of the file a dataset was ingested from (catalog key `mrc`).
public struct MRCSourceInfo: Codable, Equatable, Sendable {
    public var path: String = ""
    public var fileSize: Int = 0
    /// XXH64 of the 1024 header bytes (identifies the source when resuming).
    public var headerDigest: String = ""
    public var mode: Int32 = 0
    public var fileShape: [Int] = []
    public var axisOrder: [Int] = []
    public var endianness: String = ""
    public var start: [Int] = []
    public var cellA: [Float] = []
    public var cellB: [Float] = []
    public var sampling: [Int32] = []
    public var ispg: Int32 = 0
    public var nsymbt: Int32 = 0
    public var exttyp: String = ""
    public var nversion: Int32 = 0
    public var nint: Int16 = 0
    public var nreal: Int16 = 0
    public var imodStamp: Int32 = 0
    public var imodFlags: Int32 = 0
    public var headerStats: [Float] = []
    public var labels: [String] = []
    /// Size of the extended header kept in the blobs table (0 when none).
    public var extendedHeaderBytes: Int = 0

    public init() {}
}
