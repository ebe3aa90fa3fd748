import Catalog
import Foundation
import Simulation
import Store
import Voxels

/// Particle tables of synthetic samples: the CSV stored with a sample (blob `particles.csv` of
/// `NAME/labels`, formats/store.md), and its RELION 5 STAR and copick picks renderings. Positions in
/// voxels (x, y, z) and Å; angles ZYZ Euler in degrees (RELION's rot, tilt, psi).
public enum ParticleTable {
    /// The CSV header.
    public static let header = "class_id,class,instance,x,y,z,x_angstrom,y_angstrom,z_angstrom,rot,tilt,psi"

    /// The CSV of `particles` at voxel size `v` Å.
    public static func csv(_ particles: [Particle], voxelSize v: Double) -> String {
        header + "\n"
            + particles.map { p in
                String(
                    format: "%d,%@,%d,%.3f,%.3f,%.3f,%.2f,%.2f,%.2f,%.3f,%.3f,%.3f", p.classID, p.className, p.instance,
                    p.x, p.y, p.z, p.x * v, p.y * v, p.z * v, p.rot, p.tilt, p.psi)
            }.joined(separator: "\n") + "\n"
    }

    /// Rows of a CSV as dictionaries keyed by the header's names.
    public static func rows(_ text: String) -> [[String: String]] {
        let lines = text.split(whereSeparator: \.isNewline).map(String.init)
        guard let head = lines.first?.split(separator: ",").map(String.init) else { return [] }
        return lines.dropFirst().map { line in
            Dictionary(
                uniqueKeysWithValues: zip(
                    head, line.split(separator: ",", omittingEmptySubsequences: false).map(String.init)))
        }
    }

    /// The particles of a CSV.
    public static func particles(_ text: String) -> [Particle] {
        rows(text).map { r in
            func number(_ key: String) -> Double { Double(r[key] ?? "") ?? 0 }
            return Particle(
                classID: Int(number("class_id")), className: r["class"] ?? "", instance: Int(number("instance")),
                x: number("x"), y: number("y"), z: number("z"), rot: number("rot"), tilt: number("tilt"),
                psi: number("psi"))
        }
    }

    /// The particle table of a synthetic sample (stored with NAME/labels).
    /// - Throws: `CorpusError` when the sample has none.
    public static func load(_ store: Store, sample: String) throws -> String {
        let labels = try store.info(named: "\(sample)/labels")
        guard let bytes = try store.blob(dataset: labels.id, name: "particles.csv") else {
            throw CorpusError("sample \"\(sample)\" has no particle table (expected with dataset \(sample)/labels)")
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// A CSV table as a RELION STAR file (data_particles: coordinates in voxels, angles, class).
    public static func star(_ text: String) -> String {
        var out = "\n# version 30001\n\ndata_particles\n\nloop_\n"
        let fields = [
            ("_rlnCoordinateX", "x"), ("_rlnCoordinateY", "y"), ("_rlnCoordinateZ", "z"), ("_rlnAngleRot", "rot"),
            ("_rlnAngleTilt", "tilt"), ("_rlnAnglePsi", "psi"), ("_rlnClassNumber", "class_id"),
        ]
        for (i, f) in fields.enumerated() { out += "\(f.0) #\(i + 1)\n" }
        for row in rows(text) { out += fields.map { row[$0.1] ?? "0" }.joined(separator: "\t") + "\n" }
        return out
    }

    /// A CSV table as a copick picks object (JSONSerialization-ready): locations in Å and a 4×4
    /// transformation (rotation, no shift) per point.
    public static func copick(_ text: String, session: String, voxelSize: Double) -> [String: Any] {
        let points = rows(text).map { row -> [String: Any] in
            func number(_ key: String) -> Double { Double(row[key] ?? "") ?? 0 }
            let location = ["x": number("x_angstrom"), "y": number("y_angstrom"), "z": number("z_angstrom")]
            let r = Rotation(rot: number("rot"), tilt: number("tilt"), psi: number("psi")).m
            let transformation: [[Double]] = [
                [r[0], r[1], r[2], 0], [r[3], r[4], r[5], 0], [r[6], r[7], r[8], 0], [0, 0, 0, 1],
            ]
            return [
                "location": location, "transformation_": transformation, "instance_id": Int(number("instance")),
                "score": 1.0, "object_type": row["class"] ?? "", "class_id": Int(number("class_id")),
            ]
        }
        return [
            "pickable_object_name": "particles", "user_id": "tomostore", "session_id": session, "run_name": session,
            "voxel_spacing": voxelSize, "unit": "angstrom", "trust_orientation": true, "points": points,
        ]
    }
}
