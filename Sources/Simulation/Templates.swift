import Foundation
import Voxels

/// A pseudo-macromolecule: a density made of Gaussian blobs (centres and widths in Å, relative
/// weights), centred on its centre of mass. Stands in for real structures at the resolution of
/// cryo-ET (10–30 nm particles, 1 nm voxels).
public struct Template: Sendable {
    public struct Blob: Sendable { public var x, y, z, sigma, weight: Double }
    /// A density sampled on a cubic grid, centred on its centre of mass (user maps and atomic models).
    public struct Grid: Sendable {
        /// Values [z][y][x], x fastest.
        public let values: [Float]
        public let size: Extent3
        /// Grid spacing in Å.
        public let spacing: Double
        /// Position (Å, template frame) of voxel (0, 0, 0)'s centre.
        public let origin: (x: Double, y: Double, z: Double)

        /// Trilinear sample at a point in Å (template frame); 0 outside.
        func sample(_ x: Double, _ y: Double, _ z: Double) -> Double {
            let gx = (x - origin.x) / spacing
            let gy = (y - origin.y) / spacing
            let gz = (z - origin.z) / spacing
            guard gx >= 0, gy >= 0, gz >= 0, gx <= Double(size.x - 1), gy <= Double(size.y - 1),
                gz <= Double(size.z - 1)
            else { return 0 }
            let x0 = min(Int(gx), max(0, size.x - 2))
            let y0 = min(Int(gy), max(0, size.y - 2))
            let z0 = min(Int(gz), max(0, size.z - 2))
            let fx = gx - Double(x0)
            let fy = gy - Double(y0)
            let fz = gz - Double(z0)
            let x1 = min(x0 + 1, size.x - 1)
            let y1 = min(y0 + 1, size.y - 1)
            let z1 = min(z0 + 1, size.z - 1)
            func v(_ x: Int, _ y: Int, _ z: Int) -> Double { Double(values[(z * size.y + y) * size.x + x]) }
            let c00 = v(x0, y0, z0) * (1 - fx) + v(x1, y0, z0) * fx
            let c10 = v(x0, y1, z0) * (1 - fx) + v(x1, y1, z0) * fx
            let c01 = v(x0, y0, z1) * (1 - fx) + v(x1, y0, z1) * fx
            let c11 = v(x0, y1, z1) * (1 - fx) + v(x1, y1, z1) * fx
            return (c00 * (1 - fy) + c10 * fy) * (1 - fz) + (c01 * (1 - fy) + c11 * fy) * fz
        }
    }
    public let name: String
    public let blobs: [Blob]
    /// Set for templates defined by a sampled density instead of blobs.
    public let grid: Grid?
    /// Radius of a sphere (Å) containing the particle, used for non-overlapping packing.
    public let radius: Double

    /// A template from a density grid (values [z][y][x], spacing in Å): normalized to a peak of 1,
    /// centred on its centre of mass (negative values count as zero).
    public init(name: String, grid values: [Float], size: Extent3, spacing: Double) {
        let peak = Double(values.max() ?? 1)
        let scale = peak > 0 ? 1 / peak : 1
        var mass = 0.0
        var cx = 0.0
        var cy = 0.0
        var cz = 0.0
        for z in 0..<size.z {
            for y in 0..<size.y {
                for x in 0..<size.x {
                    let v = max(0, Double(values[(z * size.y + y) * size.x + x]))
                    mass += v
                    cx += v * Double(x)
                    cy += v * Double(y)
                    cz += v * Double(z)
                }
            }
        }
        if mass > 0 {
            cx /= mass
            cy /= mass
            cz /= mass
        }
        let normalized = values.map { Float(max(0, Double($0)) * scale) }
        let origin = (x: -cx * spacing, y: -cy * spacing, z: -cz * spacing)
        var radius = 0.0
        for z in 0..<size.z {
            for y in 0..<size.y {
                for x in 0..<size.x where normalized[(z * size.y + y) * size.x + x] > 0.05 {
                    let dx = Double(x) * spacing + origin.x
                    let dy = Double(y) * spacing + origin.y
                    let dz = Double(z) * spacing + origin.z
                    radius = max(radius, (dx * dx + dy * dy + dz * dz).squareRoot())
                }
            }
        }
        self.name = name
        blobs = []
        grid = Grid(values: normalized, size: size, spacing: spacing, origin: origin)
        self.radius = radius + spacing
    }

    /// Builds a template, moving the centre of mass to the origin.
    public init(name: String, blobs: [Blob]) {
        let total = blobs.reduce(0) { $0 + $1.weight * pow($1.sigma, 3) }
        let cx = blobs.reduce(0) { $0 + $1.x * $1.weight * pow($1.sigma, 3) } / total
        let cy = blobs.reduce(0) { $0 + $1.y * $1.weight * pow($1.sigma, 3) } / total
        let cz = blobs.reduce(0) { $0 + $1.z * $1.weight * pow($1.sigma, 3) } / total
        self.name = name
        grid = nil
        self.blobs = blobs.map { Blob(x: $0.x - cx, y: $0.y - cy, z: $0.z - cz, sigma: $0.sigma, weight: $0.weight) }
        radius = self.blobs.map { ($0.x * $0.x + $0.y * $0.y + $0.z * $0.z).squareRoot() + 2 * $0.sigma }.max() ?? 0
    }

    /// Density of the template at a point (Å, template frame).
    public func density(_ x: Double, _ y: Double, _ z: Double) -> Double {
        if let grid { return grid.sample(x, y, z) }
        var d = 0.0
        for b in blobs {
            let r2 = (x - b.x) * (x - b.x) + (y - b.y) * (y - b.y) + (z - b.z) * (z - b.z)
            if r2 < 16 * b.sigma * b.sigma { d += b.weight * exp(-r2 / (2 * b.sigma * b.sigma)) }
        }
        return d
    }

    /// The built-in set: eight shapes spanning about 10–30 nm.
    public static let builtIn: [Template] = {
        func ring(_ n: Int, radius r: Double, z: Double, sigma: Double, phase: Double = 0) -> [Blob] {
            (0..<n).map { i in
                let a = 2 * Double.pi * Double(i) / Double(n) + phase
                return Blob(x: r * cos(a), y: r * sin(a), z: z, sigma: sigma, weight: 1)
            }
        }
        let core = { (s: Double) in Blob(x: 0, y: 0, z: 0, sigma: s, weight: 0.6) }
        return [
            // Two unequal lobes, like a ribosome (≈ 25 nm).
            Template(
                name: "two-lobed",
                blobs: [
                    Blob(x: 0, y: 0, z: 0, sigma: 38, weight: 1), Blob(x: 55, y: 10, z: 0, sigma: 28, weight: 1),
                    Blob(x: -20, y: -25, z: 15, sigma: 22, weight: 0.8),
                ]),
            // A barrel of four stacked heptameric rings, like a proteasome core (≈ 15 × 11 nm).
            Template(
                name: "barrel",
                blobs: ring(7, radius: 42, z: -45, sigma: 13) + ring(7, radius: 42, z: -15, sigma: 13, phase: 0.45)
                    + ring(7, radius: 42, z: 15, sigma: 13) + ring(7, radius: 42, z: 45, sigma: 13, phase: 0.45) + [
                        core(20)
                    ]),
            // Two stacked heptameric rings, like GroEL (≈ 14 nm).
            Template(
                name: "double-ring",
                blobs: ring(7, radius: 48, z: -25, sigma: 17) + ring(7, radius: 48, z: 25, sigma: 17) + [core(22)]),
            // A compact tetrahedral oligomer (≈ 10 nm).
            Template(
                name: "tetramer",
                blobs: [
                    Blob(x: 20, y: 20, z: 20, sigma: 14, weight: 1), Blob(x: -20, y: -20, z: 20, sigma: 14, weight: 1),
                    Blob(x: -20, y: 20, z: -20, sigma: 14, weight: 1),
                    Blob(x: 20, y: -20, z: -20, sigma: 14, weight: 1), core(14),
                ]),
            // An elongated rod (≈ 30 nm × 6 nm).
            Template(
                name: "rod", blobs: (0..<7).map { Blob(x: Double($0 - 3) * 38, y: 0, z: 0, sigma: 17, weight: 1) }),
            // A flat trimer (≈ 12 nm).
            Template(name: "trimer", blobs: ring(3, radius: 30, z: 0, sigma: 19) + [core(15)]),
            // A hexameric ring (≈ 15 nm).
            Template(name: "hexamer-ring", blobs: ring(6, radius: 50, z: 0, sigma: 16) + [core(18)]),
            // A dumbbell: two equal heads joined by a thin stalk (≈ 20 nm).
            Template(
                name: "dumbbell",
                blobs: [
                    Blob(x: -65, y: 0, z: 0, sigma: 26, weight: 1), Blob(x: 65, y: 0, z: 0, sigma: 26, weight: 1),
                    Blob(x: 0, y: 0, z: 0, sigma: 12, weight: 0.8), Blob(x: -30, y: 0, z: 0, sigma: 12, weight: 0.8),
                    Blob(x: 30, y: 0, z: 0, sigma: 12, weight: 0.8),
                ]),
            // A short helical filament segment (≈ 28 nm).
            Template(
                name: "helix",
                blobs: (0..<12).map { i in
                    let a = Double(i) * 2 * Double.pi / 5.5
                    return Blob(x: 30 * cos(a), y: 30 * sin(a), z: Double(i - 6) * 22, sigma: 14, weight: 1)
                } + [core(18)]),
        ]
    }()
}
