import Foundation
import Voxels

/// Separable Gaussian filtering of float32 volumes ([z][y][x], x fastest) with scipy.ndimage's
/// conventions: kernel exp(−x²/2σ²) normalized to sum 1, truncated at radius ⌊4σ + 0.5⌋, borders
/// mirrored as `mode="reflect"`. Three 1D passes (x, then y, then z), each spread over all cores;
/// the y and z passes run along contiguous x rows so the compiler vectorizes them.
public enum GaussianFilter {
    /// The normalized 1D kernel for σ (voxels), taps −r…r.
    public static func kernel(sigma: Double, truncate: Double = 4) -> [Float] {
        let radius = Int(truncate * sigma + 0.5)
        var w = (-radius...radius).map { Foundation.exp(-0.5 * Double($0 * $0) / (sigma * sigma)) }
        let sum = w.reduce(0, +)
        w = w.map { $0 / sum }
        return w.map { Float($0) }
    }

    /// Gaussian-filtered copy of a volume (converted to float32), σ in voxels per axis (x, y, z);
    /// a σ of 0 leaves that axis unfiltered.
    public static func apply(_ volume: Volume, sigma: (x: Double, y: Double, z: Double)) -> Volume {
        var v = volume.converted(to: .float32)
        let s = v.shape
        v.withUnsafeMutableValues(as: Float.self) { p in
            let base = p.baseAddress!
            if sigma.x > 0 { passX(base, s, kernel(sigma: sigma.x)) }
            if sigma.y > 0 { passY(base, s, kernel(sigma: sigma.y)) }
            if sigma.z > 0 { passZ(base, s, kernel(sigma: sigma.z)) }
        }
        return v
    }

    /// Isotropic σ.
    public static func apply(_ volume: Volume, sigma: Double) -> Volume { apply(volume, sigma: (sigma, sigma, sigma)) }

    /// A reader of boxes of the Gaussian-filtered (isotropic σ in voxels) volume that `source` reads box by
    /// box, at any position (`source` defines every position, e.g. a mirrored reader): each box is read
    /// grown by the kernel's radius, filtered and cut back, so a voxel's value does not depend on the box.
    public static func reader(
        sigma: Double, of source: @escaping (Box3) throws -> Volume
    ) -> (Box3) throws -> Volume {
        let r = kernel(sigma: sigma).count / 2
        return { box in
            let grown = Box3(
                x: (box.lower.x - r)..<(box.upper.x + r), y: (box.lower.y - r)..<(box.upper.y + r),
                z: (box.lower.z - r)..<(box.upper.z + r))
            let s = box.shape
            return apply(try source(grown), sigma: sigma).extracting(
                Box3(x: r..<(r + s.x), y: r..<(r + s.y), z: r..<(r + s.z)))
        }
    }

    /// Along x, row by row: each row is copied with reflected margins, then the output row is a sum
    /// of shifted copies (vectorized over x).
    static func passX(_ p: UnsafeMutablePointer<Float>, _ s: Extent3, _ w: [Float]) {
        let r = w.count / 2
        let n = s.x
        let rows = s.y * s.z
        let parts = min(rows, 4 * EngineThreadCount.value)
        w.withUnsafeBufferPointer { wk in
            let wp = wk.baseAddress! + r  // wp[k] for k in −r…r
            Parallel.forEach(parts) { part in
                let padded = UnsafeMutablePointer<Float>.allocate(capacity: n + 2 * r)
                defer { padded.deallocate() }
                for row in (part * rows / parts)..<((part + 1) * rows / parts) {
                    let line = p + row * n
                    for i in 0..<r {
                        padded[i] = line[reflectIndex(i - r, n)]
                        padded[n + r + i] = line[reflectIndex(n + i, n)]
                    }
                    (padded + r).update(from: line, count: n)
                    let c = padded + r
                    let w0 = wp[0]
                    for i in 0..<n { line[i] = w0 * c[i] }
                    if r == 0 { continue }
                    for k in 1...r {
                        let wk = wp[k]
                        let a = c - k
                        let b = c + k
                        for i in 0..<n { line[i] += wk * (a[i] + b[i]) }
                    }
                }
            }
        }
    }

    /// Along y, plane by plane: output rows are sums of whole input rows (vectorized over x).
    static func passY(_ p: UnsafeMutablePointer<Float>, _ s: Extent3, _ w: [Float]) {
        let (nx, ny) = (s.x, s.y)
        Parallel.forEach(s.z) { z in
            let plane = p + z * nx * ny
            let copy = UnsafeMutablePointer<Float>.allocate(capacity: nx * ny)
            defer { copy.deallocate() }
            copy.update(from: plane, count: nx * ny)
            filterRows(
                count: ny, length: nx, weights: w, source: { UnsafePointer(copy + $0 * nx) },
                destination: { plane + $0 * nx })
        }
    }

    /// Along z, in (z, x) slabs of one y row: output rows are sums of whole input rows (vectorized over x).
    static func passZ(_ p: UnsafeMutablePointer<Float>, _ s: Extent3, _ w: [Float]) {
        let (nx, ny, nz) = (s.x, s.y, s.z)
        Parallel.forEach(ny) { y in
            let slab = UnsafeMutablePointer<Float>.allocate(capacity: nx * nz)
            defer { slab.deallocate() }
            for z in 0..<nz { (slab + z * nx).update(from: p + (z * ny + y) * nx, count: nx) }
            filterRows(
                count: nz, length: nx, weights: w, source: { UnsafePointer(slab + $0 * nx) },
                destination: { p + ($0 * ny + y) * nx })
        }
    }

    /// out(i) = Σₖ w[k] · in(reflect(i + k)) for rows i in 0..<count of `length` floats each: the
    /// 1D filter across rows, run along whole rows so the inner loop vectorizes.
    static func filterRows(
        count: Int, length: Int, weights w: [Float], source: (Int) -> UnsafePointer<Float>,
        destination: (Int) -> UnsafeMutablePointer<Float>
    ) {
        let r = w.count / 2
        w.withUnsafeBufferPointer { wk in
            let wp = wk.baseAddress! + r
            for i in 0..<count {
                let out = destination(i)
                let center = source(i)
                for x in 0..<length { out[x] = wp[0] * center[x] }
                if r == 0 { continue }
                for k in 1...r {
                    let a = source(reflectIndex(i - k, count))
                    let b = source(reflectIndex(i + k, count))
                    let weight = wp[k]
                    for x in 0..<length { out[x] += weight * (a[x] + b[x]) }
                }
            }
        }
    }

    /// Difference of Gaussians G(σ1) − G(σ2) (σ in voxels).
    public static func differenceOfGaussians(_ volume: Volume, sigma1: Double, sigma2: Double) -> Volume {
        let a = apply(volume, sigma: sigma1)
        let b = apply(volume, sigma: sigma2)
        var out = a
        out.withUnsafeMutableValues(as: Float.self) { o in
            b.withUnsafeValues(as: Float.self) { bp in
                for i in 0..<o.count { o[i] -= bp[i] }
            }
        }
        return out
    }
}

/// Cores used by the imaging kernels.
enum EngineThreadCount {
    static let value = max(1, ProcessInfo.processInfo.activeProcessorCount)
}
