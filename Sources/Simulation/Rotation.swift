import Foundation
import Voxels

/// A 3D rotation as a row-major 3×3 matrix acting on (x, y, z) column vectors, with ZYZ Euler
/// angles (RELION's convention: R = Rz(ψ) · Ry(θ) · Rz(φ), angles in degrees).
public struct Rotation: Sendable, Equatable {
    public var m: [Double]  // 9 elements, row-major

    public static let identity = Rotation(m: [1, 0, 0, 0, 1, 0, 0, 0, 1])

    public init(m: [Double]) { self.m = m }

    /// From ZYZ Euler angles in degrees (rot φ, tilt θ, psi ψ).
    public init(rot: Double, tilt: Double, psi: Double) {
        func rz(_ a: Double) -> [Double] {
            let c = cos(a)
            let s = sin(a)
            return [c, -s, 0, s, c, 0, 0, 0, 1]
        }
        func ry(_ a: Double) -> [Double] {
            let c = cos(a)
            let s = sin(a)
            return [c, 0, s, 0, 1, 0, -s, 0, c]
        }
        let d = Double.pi / 180
        self = Rotation(m: rz(psi * d)) * Rotation(m: ry(tilt * d)) * Rotation(m: rz(rot * d))
    }

    public static func * (a: Rotation, b: Rotation) -> Rotation {
        var r = [Double](repeating: 0, count: 9)
        for i in 0..<3 { for j in 0..<3 { for k in 0..<3 { r[i * 3 + j] += a.m[i * 3 + k] * b.m[k * 3 + j] } } }
        return Rotation(m: r)
    }

    /// R · v.
    public func apply(_ v: (Double, Double, Double)) -> (Double, Double, Double) {
        (
            m[0] * v.0 + m[1] * v.1 + m[2] * v.2, m[3] * v.0 + m[4] * v.1 + m[5] * v.2,
            m[6] * v.0 + m[7] * v.1 + m[8] * v.2
        )
    }

    /// ZYZ Euler angles (rot, tilt, psi) in degrees that give this matrix.
    public var eulerZYZ: (rot: Double, tilt: Double, psi: Double) {
        let tilt = acos(max(-1, min(1, m[8])))
        let d = 180 / Double.pi
        if abs(sin(tilt)) < 1e-9 {
            // Gimbal lock: only rot + psi (or rot − psi) is defined; put it all in rot.
            let rot = atan2(m[3], m[0]) * (m[8] > 0 ? 1 : -1)
            return (rot * d, tilt * d, 0)
        }
        let rot = atan2(m[7], -m[6])
        let psi = atan2(m[5], m[2])
        return (rot * d, tilt * d, psi * d)
    }

    /// A uniformly random rotation (Shoemake's method from three uniforms).
    public static func random(_ rng: CounterRNG, stream: UInt64, counter: UInt64) -> Rotation {
        let u1 = rng.uniform(stream: stream, counter: 3 * counter)
        let u2 = rng.uniform(stream: stream, counter: 3 * counter + 1)
        let u3 = rng.uniform(stream: stream, counter: 3 * counter + 2)
        let a = (1 - u1).squareRoot()
        let b = u1.squareRoot()
        let (w, x, y, z) = (
            a * sin(2 * Double.pi * u2), a * cos(2 * Double.pi * u2), b * sin(2 * Double.pi * u3),
            b * cos(2 * Double.pi * u3)
        )
        return Rotation(m: [
            1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
            2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
            2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y),
        ])
    }
}
