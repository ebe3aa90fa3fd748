import Foundation
import Voxels

/// Estimates a tomogram's contrast from the asymmetry of its band-passed voxel values.
///
/// Most of a tomogram is solvent; protein, membranes and gold are sparse and denser than the solvent,
/// so after a band-pass that keeps features of 2–8 σ (σ = max(1 voxel, 20 Å)) and removes both the
/// shot noise and slow ice gradients, their side of the value distribution has the long tail. The
/// sample skewness of the band-passed values is therefore negative for protein dark and positive for
/// protein bright. |skewness| below `threshold` is undetermined (a volume with little content).
public struct ContrastEstimate: Sendable, Equatable {
    /// The decided contrast, nil when undetermined.
    public let contrast: Contrast?
    /// Skewness of the band-passed values.
    public let skewness: Double
    /// Number of voxels the skewness was measured on.
    public let voxels: Int

    /// Below this |skewness| the estimate is undetermined.
    public static let threshold = 0.1

    /// One line saying how the estimate was decided.
    public var explanation: String {
        let measured = String(format: "skewness %+.2f of the band-passed voxel values over %d voxels", skewness, voxels)
        guard let contrast else { return "undetermined (\(measured), |skewness| < \(Self.threshold))" }
        return "estimated \(contrast.rawValue): \(measured) (\(contrast == .dark ? "dark" : "bright") tail)"
    }

    /// Estimates the contrast of a volume of `shape` voxels at `voxelSize` Å, reading at most
    /// `boxes` boxes (x, y, z voxel ranges) of about 64³ voxels plus margins through `read`, at fixed
    /// positions spread over the volume: memory stays bounded for any volume size, and the same
    /// volume always gives the same estimate.
    public static func estimate(
        shape: Extent3, voxelSize: Double, boxes: Int = 8, read: (Box3) throws -> Volume
    ) throws -> ContrastEstimate {
        let sigma = max(1, 20 / max(voxelSize, 1e-6))
        let wide = 4 * sigma
        let margin = Int((2 * wide).rounded(.up))
        let core = 64
        // Box origins per axis: evenly spread, at most two per axis (up to eight boxes).
        func starts(_ n: Int) -> [Int] {
            let edge = min(n, core + 2 * margin)
            if n <= edge { return [0] }
            return boxes >= 8 ? [(n - edge) / 4, (3 * (n - edge)) / 4] : [(n - edge) / 2]
        }
        // Pooled central moments, each box about its own mean (slow gradients between boxes are not content).
        var (count, s2, s3) = (0.0, 0.0, 0.0)
        for z in starts(shape.z) {
            for y in starts(shape.y) {
                for x in starts(shape.x) {
                    let box = Box3(
                        x: x..<min(shape.x, x + core + 2 * margin), y: y..<min(shape.y, y + core + 2 * margin),
                        z: z..<min(shape.z, z + core + 2 * margin))
                    let passed = GaussianFilter.differenceOfGaussians(
                        try read(box).converted(to: .float32), sigma1: sigma, sigma2: wide)
                    let b = box.shape
                    // Interior only, where the filters saw real voxels (unless the axis is too short).
                    func interior(_ n: Int) -> Range<Int> { n > 2 * margin + 8 ? margin..<(n - margin) : 0..<n }
                    var values: [Double] = []
                    passed.withUnsafeValues(as: Float.self) { a in
                        for zz in interior(b.z) {
                            for yy in interior(b.y) {
                                let row = (zz * b.y + yy) * b.x
                                for xx in interior(b.x) { values.append(Double(a[row + xx])) }
                            }
                        }
                    }
                    let mean = values.reduce(0, +) / Double(max(values.count, 1))
                    for v in values {
                        let d = v - mean
                        s2 += d * d
                        s3 += d * d * d
                    }
                    count += Double(values.count)
                }
            }
        }
        let variance = s2 / max(count, 1)
        let skewness = variance > 0 ? (s3 / max(count, 1)) / pow(variance, 1.5) : 0
        let contrast: Contrast? = abs(skewness) < threshold ? nil : (skewness < 0 ? .dark : .bright)
        return ContrastEstimate(contrast: contrast, skewness: skewness, voxels: Int(count))
    }
}
