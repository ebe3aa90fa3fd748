import Voxels

/// What a request path names in the served hierarchy (formats/zarr.md, "Served stores"): a node's
/// `zarr.json`, or a chunk `NAME/LEVEL/c/Z/Y/X` of level LEVEL of dataset NAME. Paths are taken
/// literally: any `%` (percent-encoding), `.` or `..` component, or character outside dataset
/// names' `A–Z a–z 0–9 - _ . /` names nothing, so no request can reach outside the store.
public enum ZarrPath: Equatable, Sendable {
    /// The `zarr.json` of the node at these path components (none: the root group).
    case metadata([String])
    /// A chunk: the dataset's name, the pyramid level, the chunk index (x, y, z).
    case chunk(name: String, level: Int, index: Extent3)

    /// Longest path accepted, in bytes.
    public static let maxLength = 1024

    /// Parses the path part of a request target (a query is ignored); nil when it names nothing.
    public init?(target: String) {
        var path = Substring(target)
        if let q = path.firstIndex(where: { $0 == "?" || $0 == "#" }) { path = path[..<q] }
        guard path.first == "/", path.utf8.count <= Self.maxLength else { return nil }
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./".utf8)
        guard path.utf8.allSatisfy({ allowed.contains($0) }) else { return nil }
        let parts = path.split(separator: "/").map(String.init)  // empty components are dropped
        guard !parts.contains(where: { $0 == "." || $0 == ".." }) else { return nil }
        if parts.last == "zarr.json" {
            self = .metadata(Array(parts.dropLast()))
            return
        }
        let n = parts.count
        guard n >= 6, parts[n - 4] == "c", let level = Self.number(parts[n - 5]), level < 32,
            let z = Self.number(parts[n - 3]), let y = Self.number(parts[n - 2]), let x = Self.number(parts[n - 1])
        else { return nil }
        self = .chunk(name: parts[..<(n - 5)].joined(separator: "/"), level: level, index: Extent3(x: x, y: y, z: z))
    }

    /// A decimal number of at most 9 digits.
    static func number(_ s: String) -> Int? {
        guard !s.isEmpty, s.utf8.count <= 9, s.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }) else { return nil }
        return Int(s)
    }
}
