import Foundation
import Voxels

/// Band-limited resampling between two isotropic grids of one physical space: a source grid of
/// `from` Å per voxel and a target grid of `to` Å per voxel, voxel i's centre at i × spacing on both.
///
/// Each target voxel is a Lanczos-3 weighted sum of source voxels, separable in x, y, z. Upsampling
/// (to < from) interpolates; downsampling widens the kernel by to/from so that it also low-passes to
/// the target's Nyquist frequency (no aliasing). Weights are normalized to sum 1, so a constant stays
/// that constant. A target voxel depends only on source voxels within `radius(…)` of its position:
/// resampling any box gives the voxels of resampling the whole volume.
public struct Resampler: Sendable, Equatable {
    /// Source spacing in Å.
    public let from: Double
    /// Target spacing in Å.
    public let to: Double
    /// Lanczos lobes.
    public static let lobes = 3

    public init(from: Double, to: Double) {
        precondition(from > 0 && to > 0, "voxel sizes must be positive")
        self.from = from
        self.to = to
    }

    /// The target grid's length for a source axis of `n` voxels covering n × from Å.
    public func targetLength(_ n: Int) -> Int { max(1, Int((Double(n) * from / to).rounded())) }

    /// Kernel width in source voxels: 1 when upsampling, to/from when downsampling.
    var width: Double { max(1, to / from) }

    /// The source voxels target voxel `j` is computed from: the first index and the weights.
    func weights(_ j: Int) -> (first: Int, weights: [Double]) {
        let position = Double(j) * to / from
        let reach = Double(Self.lobes) * width
        let first = Int((position - reach).rounded(.up))
        let last = Int((position + reach).rounded(.down))
        var w = (first...last).map { Self.lanczos((Double($0) - position) / width) }
        let total = w.reduce(0, +)
        if total != 0 { w = w.map { $0 / total } }
        return (first, w)
    }

    /// The source index range needed for target indices `target`.
    public func sourceRange(for target: Range<Int>) -> Range<Int> {
        guard !target.isEmpty else { return 0..<0 }
        let lo = weights(target.lowerBound)
        let hi = weights(target.upperBound - 1)
        return lo.first..<(hi.first + hi.weights.count)
    }

    /// The source box needed for a target box.
    public func sourceBox(for target: Box3) -> Box3 {
        Box3(x: sourceRange(for: target.xRange), y: sourceRange(for: target.yRange), z: sourceRange(for: target.zRange))
    }

    /// Resamples `source` (float32 voxels of the source grid covering `sourceBox`, which must contain
    /// `sourceBox(for: target)`) onto the target box `target`.
    public func apply(_ source: Volume, covering sourceBox: Box3, to target: Box3) -> Volume {
        precondition(source.shape == sourceBox.shape, "source volume and box differ in shape")
        var values = source.converted(to: .float32).values(as: Float.self).map(Double.init)
        var shape = (x: sourceBox.shape.x, y: sourceBox.shape.y, z: sourceBox.shape.z)
        // x, then y, then z: each pass replaces one axis of the working array by the target's.
        for axis in 0..<3 {
            let (lower, range) =
                axis == 0
                ? (sourceBox.lower.x, target.xRange)
                : axis == 1
                    ? (sourceBox.lower.y, target.yRange)
                    : (sourceBox.lower.z, target.zRange)
            let table = range.map { weights($0) }
            let n = range.count
            let (sx, sy, sz) = shape
            let outShape = axis == 0 ? (n, sy, sz) : axis == 1 ? (sx, n, sz) : (sx, sy, n)
            var out = [Double](repeating: 0, count: outShape.0 * outShape.1 * outShape.2)
            let stride = axis == 0 ? 1 : axis == 1 ? sx : sx * sy
            let outStride = axis == 0 ? 1 : axis == 1 ? outShape.0 : outShape.0 * outShape.1
            // Lines along the axis: every combination of the other two coordinates.
            let (countA, countB) = axis == 0 ? (sy, sz) : axis == 1 ? (sx, sz) : (sx, sy)
            values.withUnsafeBufferPointer { src in
                out.withUnsafeMutableBufferPointer { dst in
                    for b in 0..<countB {
                        for a in 0..<countA {
                            let (base, outBase): (Int, Int)
                            switch axis {
                            case 0: (base, outBase) = ((b * sy + a) * sx, (b * sy + a) * n)
                            case 1: (base, outBase) = (b * sx * sy + a, b * sx * n + a)
                            default: (base, outBase) = (b * sx + a, b * sx + a)
                            }
                            for (t, (first, w)) in table.enumerated() {
                                var sum = 0.0
                                let offset = first - lower
                                for k in 0..<w.count { sum += w[k] * src[base + (offset + k) * stride] }
                                dst[outBase + t * outStride] = sum
                            }
                        }
                    }
                }
            }
            values = out
            shape = outShape
        }
        return Volume(shape: target.shape, values: values.map { Float($0) })
    }

    /// sinc(t) sinc(t / lobes) for |t| < lobes, else 0.
    static func lanczos(_ t: Double) -> Double {
        if t == 0 { return 1 }
        let a = Double(lobes)
        guard abs(t) < a else { return 0 }
        let p = Double.pi * t
        return a * sin(p) * sin(p / a) / (p * p)
    }
}

extension Resampler {
    /// A volume read box by box on another grid: `source` (voxels of `from` Å, defined at every
    /// position, e.g. a mirrored reader, over `shape`) resampled onto a grid of `to` Å (left as it is
    /// where the two are equal), then Gaussian-filtered there with `lowpassSigma` voxels of that grid
    /// when given. Returns that grid's extent and its reader; any box reads the voxels of the whole.
    /// The network operators and DUAL corpora show a model its input through this one view.
    public static func view(
        shape: Extent3, from: Double, to: Double, lowpassSigma: Double?,
        source: @escaping (Box3) throws -> Volume
    ) -> (shape: Extent3, read: (Box3) throws -> Volume) {
        var view = (shape: shape, read: source)
        if from != to {
            let toGrid = Resampler(from: from, to: to)
            view.shape = Extent3(
                x: toGrid.targetLength(shape.x), y: toGrid.targetLength(shape.y), z: toGrid.targetLength(shape.z))
            view.read = { box in
                let needed = toGrid.sourceBox(for: box)
                return toGrid.apply(try source(needed), covering: needed, to: box)
            }
        }
        if let lowpassSigma { view.read = GaussianFilter.reader(sigma: lowpassSigma, of: view.read) }
        return view
    }
}
