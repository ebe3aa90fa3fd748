import Foundation
import MRC
import Voxels

/// Why a user template cannot be loaded.
public struct TemplateError: TomoStoreError {
    public let description: String
}

/// User templates: density maps (MRC, resampled to the simulation's voxel size) and atomic models
/// (PDB or mmCIF coordinates, each atom a Gaussian weighted by its atomic number, σ = half a voxel
/// but at least 1 Å, sampled on a grid at the simulation's voxel size).
public enum TemplateLoader {
    /// The file extensions templates are read from, lower case: maps, then atomic models.
    public static let mapExtensions: Set = ["mrc", "map", "rec", "ccp4"]
    public static let atomExtensions: Set = ["pdb", "ent", "cif", "mmcif"]

    /// Loads `path` (.mrc/.map/.rec, .pdb/.ent, .cif/.mmcif) as a template for `voxelSize` Å.
    public static func load(_ path: String, voxelSize: Double) throws -> Template {
        let name = URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent
        let ext = URL(fileURLWithPath: path).pathExtension.lowercased()
        if mapExtensions.contains(ext) { return try fromMap(path, name: name, voxelSize: voxelSize) }
        guard atomExtensions.contains(ext) else { throw unknownType(path, ext) }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw TemplateError(description: "\(path): cannot read the file")
        }
        return try fromAtoms(text: [UInt8](data), ext: ext, name: name, source: path, voxelSize: voxelSize)
    }

    /// Loads a template from a file's bytes (as kept in a store), `ext` its lower-case extension; `source`
    /// names it in messages. Maps go through a temporary file (the MRC reader reads files).
    public static func load(
        bytes: [UInt8], ext: String, name: String, source: String, voxelSize: Double
    ) throws -> Template {
        if mapExtensions.contains(ext) {
            let temporary = NSTemporaryDirectory() + "tomostore-template-\(getpid())-\(UUID().uuidString).\(ext)"
            try Data(bytes).write(to: URL(fileURLWithPath: temporary))
            defer { try? FileManager.default.removeItem(atPath: temporary) }
            return try fromMap(temporary, name: name, voxelSize: voxelSize)
        }
        guard atomExtensions.contains(ext) else { throw unknownType(source, ext) }
        return try fromAtoms(text: bytes, ext: ext, name: name, source: source, voxelSize: voxelSize)
    }

    static func unknownType(_ source: String, _ ext: String) -> TemplateError {
        TemplateError(
            description: "\(source): unknown template type .\(ext); use an MRC map (.mrc, .map) or atoms (.pdb, .cif)")
    }

    /// An atomic model's text (PDB, or mmCIF when `ext` is cif/mmcif) as a template.
    static func fromAtoms(text bytes: [UInt8], ext: String, name: String, source: String, voxelSize: Double) throws
        -> Template
    {
        let text = String(decoding: bytes, as: UTF8.self)
        let atoms = ext == "cif" || ext == "mmcif" ? try parseMMCIF(text, path: source) : parsePDB(text)
        guard !atoms.isEmpty else { throw TemplateError(description: "\(source): no ATOM/HETATM coordinates found") }
        return fromAtoms(atoms, name: name, voxelSize: voxelSize)
    }

    /// A map resampled (trilinear) to the target voxel size.
    static func fromMap(_ path: String, name: String, voxelSize: Double) throws -> Template {
        let reader = try MRCReader(path: path)
        let source = reader.voxelSize.x > 0 ? reader.voxelSize.x : voxelSize
        let volume = try reader.readAll().converted(to: .float32)
        let s = volume.shape
        let original = Template(name: name, grid: volume.values(as: Float.self), size: s, spacing: source)
        guard let g = original.grid else { return original }
        let factor = source / voxelSize
        let size = Extent3(
            x: max(1, Int((Double(s.x) * factor).rounded())), y: max(1, Int((Double(s.y) * factor).rounded())),
            z: max(1, Int((Double(s.z) * factor).rounded())))
        var values = [Float](repeating: 0, count: size.count)
        for z in 0..<size.z {
            for y in 0..<size.y {
                for x in 0..<size.x {
                    let p = (
                        Double(x) * voxelSize + g.origin.x, Double(y) * voxelSize + g.origin.y,
                        Double(z) * voxelSize + g.origin.z
                    )
                    values[(z * size.y + y) * size.x + x] = Float(g.sample(p.0, p.1, p.2))
                }
            }
        }
        return Template(name: name, grid: values, size: size, spacing: voxelSize)
    }

    /// Atom positions (Å) and weights (atomic numbers).
    typealias Atom = (x: Double, y: Double, z: Double, weight: Double)

    static let atomicNumbers: [String: Double] = [
        "H": 1, "C": 6, "N": 7, "O": 8, "P": 15, "S": 16, "MG": 12, "CA": 20, "FE": 26, "ZN": 30, "NA": 11, "K": 19,
        "CL": 17, "MN": 25,
    ]

    static func weight(_ element: String, atomName: String) -> Double {
        let e = element.trimmingCharacters(in: .whitespaces).uppercased()
        if let w = atomicNumbers[e] { return w }
        let first = atomName.trimmingCharacters(in: .whitespaces).uppercased().prefix(1)
        return atomicNumbers[String(first)] ?? 6
    }

    /// ATOM/HETATM records of a PDB file (fixed columns).
    static func parsePDB(_ text: String) -> [Atom] {
        text.split(whereSeparator: \.isNewline).compactMap { line in
            let l = Array(line.utf8)
            guard l.count >= 54, line.hasPrefix("ATOM") || line.hasPrefix("HETATM") else { return nil }
            func field(_ a: Int, _ b: Int) -> String {
                String(decoding: l[min(a, l.count)..<min(b, l.count)], as: UTF8.self)
            }
            guard let x = Double(field(30, 38).trimmingCharacters(in: .whitespaces)),
                let y = Double(field(38, 46).trimmingCharacters(in: .whitespaces)),
                let z = Double(field(46, 54).trimmingCharacters(in: .whitespaces))
            else { return nil }
            return (x, y, z, weight(l.count >= 78 ? field(76, 78) : "", atomName: field(12, 16)))
        }
    }

    /// The `_atom_site` loop of an mmCIF file.
    static func parseMMCIF(_ text: String, path: String) throws -> [Atom] {
        var columns: [String] = []
        var atoms: [Atom] = []
        var inLoop = false
        for raw in text.split(whereSeparator: \.isNewline) {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.hasPrefix("_atom_site.") {
                columns.append(String(line.dropFirst("_atom_site.".count)).components(separatedBy: " ")[0])
                inLoop = true
                continue
            }
            guard inLoop, !columns.isEmpty else { continue }
            if line.hasPrefix("#") || line.hasPrefix("loop_") || line.hasPrefix("_") {
                if !atoms.isEmpty || line.hasPrefix("_") { inLoop = false }
                continue
            }
            let f = line.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
            guard f.count == columns.count, let ix = columns.firstIndex(of: "Cartn_x"),
                let iy = columns.firstIndex(of: "Cartn_y"),
                let iz = columns.firstIndex(of: "Cartn_z"), let x = Double(f[ix]), let y = Double(f[iy]),
                let z = Double(f[iz])
            else { continue }
            let element = columns.firstIndex(of: "type_symbol").map { f[$0] } ?? ""
            let atomName = columns.firstIndex(of: "label_atom_id").map { f[$0] } ?? ""
            atoms.append((x, y, z, weight(element, atomName: atomName)))
        }
        if columns.isEmpty { throw TemplateError(description: "\(path): no _atom_site loop") }
        return atoms
    }

    /// Splats atoms as Gaussians onto a grid at the voxel size.
    static func fromAtoms(_ atoms: [Atom], name: String, voxelSize v: Double) -> Template {
        let sigma = max(1.0, v / 2)
        let lo = (
            atoms.map(\.x).min()! - 4 * sigma, atoms.map(\.y).min()! - 4 * sigma, atoms.map(\.z).min()! - 4 * sigma
        )
        let hi = (
            atoms.map(\.x).max()! + 4 * sigma, atoms.map(\.y).max()! + 4 * sigma, atoms.map(\.z).max()! + 4 * sigma
        )
        let size = Extent3(
            x: Int(((hi.0 - lo.0) / v).rounded(.up)) + 1, y: Int(((hi.1 - lo.1) / v).rounded(.up)) + 1,
            z: Int(((hi.2 - lo.2) / v).rounded(.up)) + 1)
        var values = [Float](repeating: 0, count: size.count)
        let reach = Int((4 * sigma / v).rounded(.up))
        for a in atoms {
            let gx = (a.x - lo.0) / v
            let gy = (a.y - lo.1) / v
            let gz = (a.z - lo.2) / v
            for z in max(0, Int(gz) - reach)...min(size.z - 1, Int(gz) + reach + 1) {
                for y in max(0, Int(gy) - reach)...min(size.y - 1, Int(gy) + reach + 1) {
                    for x in max(0, Int(gx) - reach)...min(size.x - 1, Int(gx) + reach + 1) {
                        let d2 = (pow(Double(x) - gx, 2) + pow(Double(y) - gy, 2) + pow(Double(z) - gz, 2)) * v * v
                        values[(z * size.y + y) * size.x + x] += Float(a.weight * exp(-d2 / (2 * sigma * sigma)))
                    }
                }
            }
        }
        return Template(name: name, grid: values, size: size, spacing: v)
    }
}
