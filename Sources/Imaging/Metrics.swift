import Foundation
import Voxels

/// Image-quality metrics as the DUAL paper defines them: both volumes standardized (zero mean, unit
/// population standard deviation) first; PSNR = 10·log10(R² / MSE) with R the standardized truth's
/// value range; SSIM as `skimage.metrics.structural_similarity(truth, test, win_size=7,
/// data_range=R)`: uniform 7³ windows, sample covariances (N/(N−1)), K1 = 0.01, K2 = 0.03, mean over
/// the volume cropped by 3 voxels on every side.
public enum Metrics {
    /// The volume as float64 values standardized to mean 0, std 1.
    static func standardized(_ v: Volume) -> [Double] {
        let s = VoxelStatistics.of(v)
        let values = v.converted(to: .float32).values(as: Float.self)
        let inv = s.rms > 0 ? 1 / s.rms : 1
        return values.map { (Double($0) - s.mean) * inv }
    }

    /// PSNR (dB) of `test` against `truth` (same shape).
    public static func psnr(truth: Volume, test: Volume) -> Double {
        precondition(truth.shape == test.shape, "PSNR needs equal shapes")
        let g = standardized(truth)
        let q = standardized(test)
        let range = g.max()! - g.min()!
        var mse = 0.0
        for i in 0..<g.count { mse += (g[i] - q[i]) * (g[i] - q[i]) }
        mse /= Double(g.count)
        return 10 * log10(range * range / mse)
    }

    /// SSIM of `test` against `truth` (same shape, each axis at least 7 voxels).
    public static func ssim(truth: Volume, test: Volume, window: Int = 7) -> Double {
        precondition(truth.shape == test.shape, "SSIM needs equal shapes")
        let s = truth.shape
        precondition(s.x >= window && s.y >= window && s.z >= window, "SSIM needs every axis ≥ \(window) voxels")
        let g = standardized(truth)
        let q = standardized(test)
        let range = g.max()! - g.min()!
        let c1 = (0.01 * range) * (0.01 * range)
        let c2 = (0.03 * range) * (0.03 * range)
        let n = Double(window * window * window)
        let covNorm = n / (n - 1)
        let r = window / 2
        // Box sums over 7³ windows of x, y, x², y², xy, via separable running sums in Double; only
        // windows entirely inside the volume are needed (the crop removes the others).
        let (nx, ny, nz) = (s.x, s.y, s.z)
        let ox = nx - 2 * r
        let oy = ny - 2 * r
        let oz = nz - 2 * r
        var total = 0.0
        let planes = oz
        var partial = [Double](repeating: 0, count: planes)
        partial.withUnsafeMutableBufferPointer { part in
            let partBase = part.baseAddress!
            Parallel.forEach(planes) { zo in
                // Sum over the 7 planes z0 … z0+6 of the five products, per (y, x), then box along y and x.
                var acc = [Double](repeating: 0, count: 5 * ny * nx)
                for z in zo..<(zo + window) {
                    for y in 0..<ny {
                        let row = (z * ny + y) * nx
                        let o = y * nx
                        for x in 0..<nx {
                            let a = g[row + x]
                            let b = q[row + x]
                            acc[o + x] += a
                            acc[ny * nx + o + x] += b
                            acc[2 * ny * nx + o + x] += a * a
                            acc[3 * ny * nx + o + x] += b * b
                            acc[4 * ny * nx + o + x] += a * b
                        }
                    }
                }
                // Sliding sums along x, then along y (each window sum updated in O(1)).
                var ax = [Double](repeating: 0, count: 5 * ny * ox)
                for m in 0..<5 {
                    for y in 0..<ny {
                        let src = m * ny * nx + y * nx
                        let dst = m * ny * ox + y * ox
                        var t = 0.0
                        for x in 0..<window { t += acc[src + x] }
                        ax[dst] = t
                        for xo in 1..<max(1, ox) {
                            t += acc[src + xo + window - 1] - acc[src + xo - 1]
                            ax[dst + xo] = t
                        }
                    }
                }
                var sum = 0.0
                var box = [Double](repeating: 0, count: 5 * ox)
                for m in 0..<5 {
                    for xo in 0..<ox {
                        var t = 0.0
                        for y in 0..<window { t += ax[m * ny * ox + y * ox + xo] }
                        box[m * ox + xo] = t
                    }
                }
                for yo in 0..<oy {
                    if yo > 0 {
                        for m in 0..<5 {
                            for xo in 0..<ox {
                                box[m * ox + xo] +=
                                    ax[m * ny * ox + (yo + window - 1) * ox + xo] - ax[m * ny * ox + (yo - 1) * ox + xo]
                            }
                        }
                    }
                    for xo in 0..<ox {
                        let ux = box[xo] / n
                        let uy = box[ox + xo] / n
                        let uxx = box[2 * ox + xo] / n
                        let uyy = box[3 * ox + xo] / n
                        let uxy = box[4 * ox + xo] / n
                        let vx = covNorm * (uxx - ux * ux)
                        let vy = covNorm * (uyy - uy * uy)
                        let vxy = covNorm * (uxy - ux * uy)
                        sum += ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2))
                    }
                }
                partBase[zo] = sum
            }
        }
        total = partial.reduce(0, +)
        return total / Double(ox * oy * oz)
    }
}
