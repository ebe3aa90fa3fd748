import Foundation
import MRC
import Testing
import Voxels

@testable import Simulation

@Suite("User templates")
struct TemplateLoaderTests {
    func directory() throws -> String {
        let d = NSTemporaryDirectory() + "tomostore-templates-\(getpid())-\(UUID().uuidString.prefix(6))"
        try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        return d
    }

    @Test("PDB atoms become a density centred on their centre of mass, heavier atoms denser")
    func pdb() throws {
        let pdb = """
            HEADER    TEST
            ATOM      1  CA  ALA A   1      10.000  10.000  10.000  1.00  0.00           C
            ATOM      2  O   ALA A   1      30.000  10.000  10.000  1.00  0.00           O
            HETATM    3  S   SUL A   2      20.000  30.000  10.000  1.00  0.00           S
            END
            """
        let atoms = TemplateLoader.parsePDB(pdb)
        #expect(atoms.count == 3 && atoms[2].weight == 16 && atoms[1].x == 30)
        let dir = try directory()
        try pdb.write(toFile: dir + "/three.pdb", atomically: true, encoding: .utf8)
        let t = try TemplateLoader.load(dir + "/three.pdb", voxelSize: 4)
        #expect(t.name == "three" && t.grid != nil)
        // Centre of mass of weights 6, 8, 16 at the three positions.
        let comX: Double = (6.0 * 10 + 8.0 * 30 + 16.0 * 20) / 30
        let comY: Double = (6.0 * 10 + 8.0 * 10 + 16.0 * 30) / 30
        let com = (comX, comY, 10.0)
        let sulfur = t.density(20 - com.0, 30 - com.1, 10 - com.2)
        let carbon = t.density(10 - com.0, 10 - com.1, 10 - com.2)
        #expect(sulfur > carbon && carbon > 5 * t.density(0 - com.0, 40 - com.1, 10 - com.2))
    }

    @Test("mmCIF _atom_site loops are read")
    func mmcif() throws {
        let cif = """
            data_test
            loop_
            _atom_site.group_PDB
            _atom_site.id
            _atom_site.type_symbol
            _atom_site.label_atom_id
            _atom_site.Cartn_x
            _atom_site.Cartn_y
            _atom_site.Cartn_z
            ATOM 1 N N 1.0 2.0 3.0
            ATOM 2 P P 4.0 5.0 6.0
            #
            """
        let atoms = try TemplateLoader.parseMMCIF(cif, path: "test.cif")
        #expect(atoms.count == 2 && atoms[1].weight == 15 && atoms[1].z == 6)
    }

    @Test("an MRC map is resampled to the simulation's voxel size and packs like a built-in")
    func map() throws {
        let dir = try directory()
        let s = Extent3(x: 24, y: 24, z: 24)
        var values = [Float](repeating: 0, count: s.count)
        for z in 0..<24 {
            for y in 0..<24 {
                for x in 0..<24 {
                    let r2 = Double((x - 12) * (x - 12) + (y - 12) * (y - 12) + (z - 12) * (z - 12))
                    values[(z * 24 + y) * 24 + x] = Float(exp(-r2 / 18))
                }
            }
        }
        var o = MRCWriteOptions()
        o.voxelSize = Triple(5, 5, 5)
        try MRCWriter.write(Volume(shape: s, values: values), to: dir + "/blob.mrc", options: o)
        let t = try TemplateLoader.load(dir + "/blob.mrc", voxelSize: 10)
        #expect(t.grid?.size == Extent3(x: 12, y: 12, z: 12) && t.grid?.spacing == 10)
        #expect(abs(t.density(0, 0, 0) - 1) < 0.05, "peak at the centre of mass")
        var p = GrandModelParameters(shape: Extent3(x: 64, y: 64, z: 32))
        p.templates = [t]
        p.seed = 2
        let model = GrandModel.make(p)
        #expect(model.particles.count >= 5 && model.classes[3] == "blob")
        let labels = model.labels.values(as: UInt8.self)
        for q in model.particles {
            #expect(labels[(Int(q.z.rounded()) * 64 + Int(q.y.rounded())) * 64 + Int(q.x.rounded())] == 3)
        }
        #expect(throws: TemplateError.self) { try TemplateLoader.load(dir + "/blob.txt", voxelSize: 10) }
    }
}
