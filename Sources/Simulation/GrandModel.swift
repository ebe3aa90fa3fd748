import Foundation
import Voxels

/// One object placed in a grand model.
public struct Particle: Sendable, Codable, Equatable {
    /// Value of the object's voxels in the labels volume.
    public var classID: Int
    public var className: String
    /// Instance number, 1… in placement order.
    public var instance: Int
    /// Centre (the template's centre of mass) in voxels, x, y, z.
    public var x: Double, y: Double, z: Double
    /// ZYZ Euler angles in degrees (rot, tilt, psi).
    public var rot: Double, tilt: Double, psi: Double

    public init(
        classID: Int, className: String, instance: Int, x: Double, y: Double, z: Double, rot: Double, tilt: Double,
        psi: Double
    ) {
        self.classID = classID
        self.className = className
        self.instance = instance
        self.x = x
        self.y = y
        self.z = z
        self.rot = rot
        self.tilt = tilt
        self.psi = psi
    }
}

/// What to pack into a grand model.
public struct GrandModelParameters: Sendable {
    /// Size in voxels (x, y, z).
    public var shape: Extent3
    /// Voxel size in Å.
    public var voxelSize: Double = 10
    public var seed: UInt64 = 1
    public var templates: [Template] = Template.builtIn
    /// Target fraction of the volume filled by particles' bounding spheres.
    public var crowding: Double = 0.2
    /// Vesicles per µm³ (radii `vesicleRadii`, 4 nm bilayers); at least one when the volume fits one.
    public var vesiclesPerCubicMicron: Double = 0.5
    /// Range of vesicle radii in Å (default 20–50 nm), to the bilayer's mid-plane.
    public var vesicleRadii: ClosedRange<Double> = 200...500
    /// Vesicles per grand model, replacing `vesiclesPerCubicMicron` when set (as many as fit: each is
    /// tried at 50 random places).
    public var vesicleCount: Int? = nil
    /// Render Gaussian profiles (membrane leaflets, template blobs) integrated over their voxels
    /// rather than sampled at voxel centres: each profile's variance grows by a voxel's v²/12 per axis
    /// with its integral kept. At coarse voxel sizes (a 7 Å-σ leaflet on a 27 Å grid) point samples
    /// alias into specks; off by default, which keeps the bytes of every sample made before.
    public var voxelIntegrated = false
    /// Gold fiducials (10 nm beads) per µm³.
    public var fiducialsPerCubicMicron: Double = 0.6

    public init(shape: Extent3) { self.shape = shape }
}

/// A noise-free density map with its labels and particle table: the clean domain of DUAL and the
/// ground truth of a synthetic sample. Density: protein ≈ 1 per blob, bilayers 0.7, gold 4
/// (positive = more scattering; the simulated tomogram shows protein dark).
public struct GrandModel: Sendable {
    public let density: Volume
    /// uint8 classes: 0 background, 1 membrane, 2 fiducial, 3… one per template.
    public let labels: Volume
    public let particles: [Particle]
    /// Class id → name.
    public let classes: [Int: String]
    public let voxelSize: Double

    static let membrane = 1, fiducial = 2, firstTemplate = 3

    /// Packs a grand model: vesicles first, then fiducials, then particles at random non-overlapping
    /// positions (bounding spheres 1 nm apart) and uniformly random orientations, until the crowding
    /// is reached or placements keep failing. Deterministic in the parameters and seed.
    public static func make(_ p: GrandModelParameters) -> GrandModel {
        let s = p.shape
        let v = p.voxelSize
        let rng = CounterRNG(seed: p.seed)
        var density = [Float](repeating: 0, count: s.count)
        var labels = [UInt8](repeating: 0, count: s.count)
        var spheres: [(Double, Double, Double, Double)] = []  // centre (voxels), radius (voxels)
        var particles: [Particle] = []
        var classes: [Int: String] = [0: "background", membrane: "membrane", fiducial: "fiducial"]
        for (i, t) in p.templates.enumerated() { classes[firstTemplate + i] = t.name }
        let cubicMicrons = Double(s.count) * pow(v / 10_000, 3)
        var counter: UInt64 = 0

        func free(_ c: (Double, Double, Double), _ r: Double) -> Bool {
            spheres.allSatisfy { o in
                let d = ((o.0 - c.0) * (o.0 - c.0) + (o.1 - c.1) * (o.1 - c.1) + (o.2 - c.2) * (o.2 - c.2)).squareRoot()
                return d >= o.3 + r + 10 / v
            }
        }
        func randomCentre(margin r: Double) -> (Double, Double, Double)? {
            counter += 1
            let lo = (min(r, Double(s.x) / 2), min(r, Double(s.y) / 2), min(r, Double(s.z) / 2))
            guard Double(s.x) > 2 * lo.0, Double(s.y) > 2 * lo.1, Double(s.z) > 2 * lo.2 else { return nil }
            return (
                lo.0 + rng.uniform(stream: 1, counter: counter) * (Double(s.x) - 2 * lo.0),
                lo.1 + rng.uniform(stream: 2, counter: counter) * (Double(s.y) - 2 * lo.1),
                lo.2 + rng.uniform(stream: 3, counter: counter) * (Double(s.z) - 2 * lo.2)
            )
        }

        // Vesicles.
        let vesicles =
            p.vesicleCount ?? max(Int((p.vesiclesPerCubicMicron * cubicMicrons).rounded()), cubicMicrons > 0.5 ? 1 : 0)
        for _ in 0..<vesicles {
            for _ in 0..<50 {
                counter += 1
                let (lo, hi) = (p.vesicleRadii.lowerBound, p.vesicleRadii.upperBound)
                let radius = (lo + (hi - lo) * rng.uniform(stream: 4, counter: counter)) / v
                guard let c = randomCentre(margin: radius + 30 / v), free(c, radius + 30 / v) else { continue }
                spheres.append((c.0, c.1, c.2, radius + 30 / v))
                renderShell(
                    centre: c, radius: radius * v, voxelSize: v, broadening: p.voxelIntegrated ? v * v / 12 : 0,
                    shape: s, density: &density, labels: &labels)
                break
            }
        }
        // Gold fiducials, listed in the particle table as class "fiducial".
        let fiducials = Int((p.fiducialsPerCubicMicron * cubicMicrons).rounded())
        for _ in 0..<fiducials {
            for _ in 0..<50 {
                let r = 50 / v
                guard let c = randomCentre(margin: r + 1), free(c, r) else { continue }
                spheres.append((c.0, c.1, c.2, r))
                renderBead(centre: c, radius: 50, voxelSize: v, shape: s, density: &density, labels: &labels)
                particles.append(
                    Particle(
                        classID: fiducial, className: "fiducial", instance: particles.count + 1, x: c.0, y: c.1, z: c.2,
                        rot: 0, tilt: 0, psi: 0))
                break
            }
        }
        // Macromolecules, cycling through the templates in a seeded random order.
        let meanVolume =
            p.templates.map { 4.0 / 3 * Double.pi * pow($0.radius / v, 3) }.reduce(0, +)
            / Double(max(1, p.templates.count))
        let target = Int(p.crowding * Double(s.count) / max(meanVolume, 1))
        var failures = 0
        var placed = 0
        while placed < target && failures < 200 && !p.templates.isEmpty {
            counter += 1
            let k = Int(rng.uniform(stream: 5, counter: counter) * Double(p.templates.count)) % p.templates.count
            let t = p.templates[k]
            let r = t.radius / v
            guard let c = randomCentre(margin: r * 0.6), free(c, r) else {
                failures += 1
                continue
            }
            failures = 0
            let rotation = Rotation.random(rng, stream: 6, counter: counter)
            spheres.append((c.0, c.1, c.2, r))
            renderTemplate(
                t, centre: c, rotation: rotation, classID: firstTemplate + k, voxelSize: v,
                broadening: p.voxelIntegrated ? v * v / 12 : 0, shape: s, density: &density, labels: &labels)
            let e = rotation.eulerZYZ
            particles.append(
                Particle(
                    classID: firstTemplate + k, className: t.name, instance: particles.count + 1, x: c.0, y: c.1,
                    z: c.2, rot: e.rot, tilt: e.tilt, psi: e.psi))
            placed += 1
        }
        return GrandModel(
            density: Volume(shape: s, values: density), labels: Volume(shape: s, values: labels),
            particles: particles, classes: classes, voxelSize: v)
    }

    /// Voxel index range of a box around a centre, clipped to the volume.
    static func range(_ c: Double, _ r: Double, _ n: Int) -> Range<Int> {
        max(0, Int((c - r).rounded(.down)))..<min(n, Int((c + r).rounded(.up)) + 1)
    }

    /// Adds a rotated template; labels voxels where its own density exceeds 25% of its peak.
    /// `broadening`: variance in Å² added to each blob's (integral kept; `voxelIntegrated`).
    static func renderTemplate(
        _ t: Template, centre c: (Double, Double, Double), rotation: Rotation, classID: Int, voxelSize v: Double,
        broadening: Double = 0, shape s: Extent3, density: inout [Float], labels: inout [UInt8]
    ) {
        let r = t.radius / v + 1
        let xs = range(c.0, r, s.x)
        let ys = range(c.1, r, s.y)
        let zs = range(c.2, r, s.z)
        guard !xs.isEmpty, !ys.isEmpty, !zs.isEmpty else { return }
        var local = [Float](repeating: 0, count: xs.count * ys.count * zs.count)
        if let grid = t.grid {
            // Sampled templates: rotate each voxel centre into the template frame and interpolate.
            let inverse = Rotation(m: [
                rotation.m[0], rotation.m[3], rotation.m[6], rotation.m[1], rotation.m[4], rotation.m[7], rotation.m[2],
                rotation.m[5], rotation.m[8],
            ])
            for z in zs {
                for y in ys {
                    for x in xs {
                        let q = inverse.apply(((Double(x) - c.0) * v, (Double(y) - c.1) * v, (Double(z) - c.2) * v))
                        local[((z - zs.lowerBound) * ys.count + (y - ys.lowerBound)) * xs.count + (x - xs.lowerBound)] =
                            Float(grid.sample(q.0, q.1, q.2))
                    }
                }
            }
        }
        // Blob by blob, each only over its own 4σ box.
        for b in t.blobs {
            let (bx, by, bz) = rotation.apply((b.x, b.y, b.z))
            let bc = (c.0 + bx / v, c.1 + by / v, c.2 + bz / v)
            let sigma = broadening > 0 ? (b.sigma * b.sigma + broadening).squareRoot() : b.sigma
            let weight = broadening > 0 ? b.weight * pow(b.sigma / sigma, 3) : b.weight
            let br = 4 * sigma / v
            let twoSigma2 = 2 * sigma * sigma
            for z in range(bc.2, br, s.z) where zs.contains(z) {
                for y in range(bc.1, br, s.y) where ys.contains(y) {
                    for x in range(bc.0, br, s.x) where xs.contains(x) {
                        let dx = (Double(x) - bc.0) * v
                        let dy = (Double(y) - bc.1) * v
                        let dz = (Double(z) - bc.2) * v
                        let r2 = dx * dx + dy * dy + dz * dz
                        if r2 > 16 * sigma * sigma { continue }
                        local[
                            ((z - zs.lowerBound) * ys.count + (y - ys.lowerBound)) * xs.count + (x - xs.lowerBound)] +=
                            Float(weight * exp(-r2 / twoSigma2))
                    }
                }
            }
        }
        let peak = local.max() ?? 0
        for z in zs {
            for y in ys {
                for x in xs {
                    let value = local[
                        ((z - zs.lowerBound) * ys.count + (y - ys.lowerBound)) * xs.count + (x - xs.lowerBound)]
                    let i = (z * s.y + y) * s.x + x
                    density[i] += value
                    if value > 0.25 * peak { labels[i] = UInt8(classID) }
                }
            }
        }
    }

    /// Adds a lipid bilayer shell: two Gaussian leaflets 3.6 nm apart (σ 0.7 nm, density 0.7);
    /// labels the 5 nm band around the mid-plane as membrane.
    /// `broadening`: variance in Å² added to the leaflets' (integral kept; `voxelIntegrated`).
    static func renderShell(
        centre c: (Double, Double, Double), radius: Double, voxelSize v: Double, broadening: Double = 0,
        shape s: Extent3, density: inout [Float], labels: inout [UInt8]
    ) {
        let variance = 49 + broadening
        let amplitude = 0.7 * (49 / variance).squareRoot()
        let reach = (radius + 40 + 4 * broadening.squareRoot()) / v
        for z in range(c.2, reach, s.z) {
            for y in range(c.1, reach, s.y) {
                for x in range(c.0, reach, s.x) {
                    let d =
                        ((Double(x) - c.0) * (Double(x) - c.0) + (Double(y) - c.1) * (Double(y) - c.1)
                        + (Double(z) - c.2) * (Double(z) - c.2)).squareRoot() * v - radius
                    if abs(d) > 40 + 4 * broadening.squareRoot() { continue }
                    let value =
                        amplitude
                        * (exp(-(d - 18) * (d - 18) / (2 * variance)) + exp(-(d + 18) * (d + 18) / (2 * variance)))
                    let i = (z * s.y + y) * s.x + x
                    density[i] += Float(value)
                    if abs(d) < 25 { labels[i] = UInt8(membrane) }
                }
            }
        }
    }

    /// Adds a gold bead (density 4 with a 0.5 nm soft edge).
    static func renderBead(
        centre c: (Double, Double, Double), radius: Double, voxelSize v: Double, shape s: Extent3,
        density: inout [Float], labels: inout [UInt8]
    ) {
        let reach = (radius + 20) / v
        for z in range(c.2, reach, s.z) {
            for y in range(c.1, reach, s.y) {
                for x in range(c.0, reach, s.x) {
                    let r =
                        ((Double(x) - c.0) * (Double(x) - c.0) + (Double(y) - c.1) * (Double(y) - c.1)
                        + (Double(z) - c.2) * (Double(z) - c.2)).squareRoot() * v
                    let value = 4 / (1 + exp((r - radius) / 5))
                    let i = (z * s.y + y) * s.x + x
                    density[i] += Float(value)
                    if r < radius { labels[i] = UInt8(fiducial) }
                }
            }
        }
    }
}
