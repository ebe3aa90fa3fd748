import Foundation
import Voxels

/// Particle positions read from a picks file, in voxels of one tomogram (x, y, z; 0-based, voxel
/// centres at integers).
///
/// Formats (formats/picks.md):
/// - STAR (RELION): a `data_` block with a loop holding `_rlnCoordinateX/Y/Z` (RELION 3: voxels of
///   the tomogram) or `_rlnCenteredCoordinateXAngst/YAngst/ZAngst` (RELION 5: Å from the tomogram's
///   centre, voxel = Å / voxel size + size / 2); rows are filtered by `_rlnTomoName` when asked.
/// - CSV: a header row naming columns `x`, `y`, `z` (voxels), or `x_angstrom`, `y_angstrom`,
///   `z_angstrom` (Å from the volume's first voxel) when those are absent.
/// - copick JSON: an object with `points`, each with `location` {x, y, z} in Å.
public enum PickFile {
    /// Reads the picks for a tomogram of `shape` voxels at `voxelSize` Å from `path` (format from the
    /// extension: .star, .csv, .json). `tomogram`: the `rlnTomoName` to keep (STAR files naming more
    /// than one tomogram need it).
    public static func read(
        _ path: String, shape: Extent3, voxelSize: Double, tomogram: String? = nil
    ) throws -> [(x: Double, y: Double, z: Double)] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw TransferError("cannot read picks file \(path)")
        }
        let text = String(decoding: data, as: UTF8.self)
        switch URL(fileURLWithPath: path).pathExtension.lowercased() {
        case "star": return try star(text, path: path, shape: shape, voxelSize: voxelSize, tomogram: tomogram)
        case "csv": return try csv(text, path: path, voxelSize: voxelSize)
        case "json": return try copick(data, path: path, voxelSize: voxelSize)
        default: throw TransferError("\(path): unknown picks format; use .star (RELION), .csv or .json (copick)")
        }
    }

    static func star(
        _ text: String, path: String, shape: Extent3, voxelSize: Double, tomogram: String?
    ) throws -> [(x: Double, y: Double, z: Double)] {
        var columns: [String] = []
        var rows: [[Substring]] = []
        var inLoop = false
        var out: [(x: Double, y: Double, z: Double)] = []
        var names = Set<String>()
        func flush() throws {
            defer { (columns, rows, inLoop) = ([], [], false) }
            guard !columns.isEmpty else { return }
            func index(_ name: String) -> Int? { columns.firstIndex(of: name) }
            let relion3 = ["_rlnCoordinateX", "_rlnCoordinateY", "_rlnCoordinateZ"].map(index)
            let relion5 = [
                "_rlnCenteredCoordinateXAngst", "_rlnCenteredCoordinateYAngst",
                "_rlnCenteredCoordinateZAngst",
            ].map(index)
            let centred: Bool
            let axes: [Int]
            if relion3.allSatisfy({ $0 != nil }) {
                (centred, axes) = (false, relion3.map { $0! })
            } else if relion5.allSatisfy({ $0 != nil }) {
                (centred, axes) = (true, relion5.map { $0! })
            } else {
                return
            }
            let name = index("_rlnTomoName")
            let centre = [Double(shape.x / 2), Double(shape.y / 2), Double(shape.z / 2)]
            for (n, row) in rows.enumerated() {
                guard row.count == columns.count else {
                    throw TransferError(
                        "\(path): a row of the loop has \(row.count) fields, the loop \(columns.count) "
                            + "columns (row \(n + 1))")
                }
                if let name {
                    let tomo = String(row[name])
                    names.insert(tomo)
                    if let tomogram, tomo != tomogram { continue }
                }
                var p = [0.0, 0.0, 0.0]
                for a in 0..<3 {
                    guard let v = Double(row[axes[a]]), v.isFinite else {
                        throw TransferError("\(path): \(row[axes[a]]) is not a coordinate (row \(n + 1))")
                    }
                    p[a] = centred ? v / voxelSize + centre[a] : v
                }
                out.append((p[0], p[1], p[2]))
            }
        }
        for raw in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline) {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            if line.hasPrefix("data_") {
                try flush()
                continue
            }
            if line == "loop_" {
                try flush()
                inLoop = true
                continue
            }
            guard inLoop else { continue }
            if line.hasPrefix("_") {
                if !rows.isEmpty { try flush() }
                columns.append(String(line.split(separator: " ", maxSplits: 1)[0].split(separator: "\t")[0]))
            } else {
                rows.append(line.split(whereSeparator: { $0 == " " || $0 == "\t" }))
            }
        }
        try flush()
        if tomogram == nil && names.count > 1 {
            throw TransferError(
                "\(path) names \(names.count) tomograms (\(names.sorted().prefix(3).joined(separator: ", "))"
                    + "…); choose one with --tomo NAME")
        }
        guard !out.isEmpty else {
            throw TransferError(
                "\(path): no picks found (a STAR loop with _rlnCoordinateX/Y/Z or "
                    + "_rlnCenteredCoordinateX/Y/ZAngst\(tomogram.map { " for rlnTomoName \($0)" } ?? ""))")
        }
        return out
    }

    static func csv(_ text: String, path: String, voxelSize: Double) throws -> [(x: Double, y: Double, z: Double)] {
        let lines = text.split(whereSeparator: \.isNewline).filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty }
        guard let header = lines.first else { throw TransferError("\(path) is empty") }
        let names = header.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        let (columns, scale): ([Int?], Double) =
            ["x", "y", "z"].allSatisfy(names.contains)
            ? (["x", "y", "z"].map { names.firstIndex(of: $0) }, 1)
            : (["x_angstrom", "y_angstrom", "z_angstrom"].map { names.firstIndex(of: $0) }, 1 / voxelSize)
        guard columns.allSatisfy({ $0 != nil }) else {
            throw TransferError(
                "\(path): the header needs columns x, y, z (voxels) or x_angstrom, y_angstrom, "
                    + "z_angstrom; it has \(names.joined(separator: ","))")
        }
        return try lines.dropFirst().enumerated().map { n, line in
            let fields = line.split(separator: ",", omittingEmptySubsequences: false)
            let values = columns.map { c -> Double? in
                c! < fields.count ? Double(fields[c!].trimmingCharacters(in: .whitespaces)) : nil
            }
            guard let x = values[0], let y = values[1], let z = values[2], x.isFinite, y.isFinite, z.isFinite else {
                throw TransferError("\(path): line \(n + 2) has no numeric x, y, z")
            }
            return (x * scale, y * scale, z * scale)
        }
    }

    static func copick(_ data: Data, path: String, voxelSize: Double) throws -> [(x: Double, y: Double, z: Double)] {
        struct Location: Decodable { let x, y, z: Double }
        struct Point: Decodable { let location: Location }
        struct Picks: Decodable { let points: [Point]? }
        let picks: Picks
        do { picks = try JSONDecoder().decode(Picks.self, from: data) } catch {
            throw TransferError("\(path) is not copick picks JSON (an object with points[].location {x, y, z} in Å)")
        }
        let points = picks.points ?? []
        guard !points.isEmpty else { throw TransferError("\(path): no points") }
        return points.map { ($0.location.x / voxelSize, $0.location.y / voxelSize, $0.location.z / voxelSize) }
    }
}
