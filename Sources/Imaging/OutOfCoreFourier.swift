import Engine
import Foundation
import Voxels

#if canImport(Glibc)
    import Glibc
#endif

/// Fourier-space filtering of a volume of any size in bounded memory: the exact transform of
/// `FourierFilter.apply` (periodic boundaries, the spectrum multiplied by a real, even mask), computed
/// out of core in three passes over two scratch files (unlinked as soon as they are opened, so a
/// crash leaves nothing behind):
/// 1. each xy plane, read a slab of planes at a time, is transformed in 2D (r2c) into the complex
///    file ([z][ky][kx], kx in 0…nx/2);
/// 2. bands of ky rows are read for every z, transformed along z, multiplied by the mask (with the
///    1/(nx·ny·nz) normalization), transformed back and written in place;
/// 3. each plane is transformed back in 2D (c2r) into the real file ([z][y][x] float32), which is
///    handed out in boxes of whole x rows.
/// Memory: about `memoryBytes` of buffers (and what `read` holds), whatever the volume's size.
/// Scratch: 12 bytes per voxel, in `directory`.
public struct OutOfCoreFourierFilter {
    /// Volume size in voxels (x, y, z).
    public let shape: Extent3
    /// Bytes of working buffers to aim for (at least one plane or one row of every plane is used).
    public var memoryBytes = 64 << 20
    /// Where the scratch files go (default: $TMPDIR or /tmp).
    public var directory = ProcessInfo.processInfo.environment["TMPDIR"] ?? "/tmp"

    public init(shape: Extent3) { self.shape = shape }

    /// Filters the volume `read` gives — `read(z0..<z1)` returns those whole xy planes, shape (nx, ny,
    /// z1−z0) — multiplying its spectrum by `mask(kx, ky, kz)` (cycles/voxel, signed), and hands the
    /// float32 result to `deliver` in boxes of all x, `rows` y and `planes` z, in (z, y) order.
    public func apply(
        read: (Range<Int>) throws -> Volume, mask: (Double, Double, Double) -> Double, rows: Int, planes: Int,
        deliver: (Box3, Volume) throws -> Void
    ) throws {
        let (d, h, w) = (shape.z, shape.y, shape.x)
        let wc = w / 2 + 1
        let planeComplex = h * wc  // complex values per transformed plane
        let spectrum = try ScratchFile(directory: directory, purpose: "spectrum")
        let real = try ScratchFile(directory: directory, purpose: "result")

        // Pass 1: 2D transforms of the planes.
        let slab = max(1, min(d, memoryBytes / max(1, h * w * 4 * 2)))
        var transformed = [Float](repeating: 0, count: 2 * planeComplex)
        for z0 in stride(from: 0, to: d, by: slab) {
            let z1 = min(d, z0 + slab)
            var planesIn = try read(z0..<z1).converted(to: .float32)
            precondition(planesIn.shape == Extent3(x: w, y: h, z: z1 - z0), "read gave the wrong planes")
            try planesIn.withUnsafeMutableValues(as: Float.self) { values in
                for z in z0..<z1 {
                    try transformed.withUnsafeMutableBufferPointer { out in
                        FFTPlans.shared.forward([1, h, w], values.baseAddress! + (z - z0) * h * w, out.baseAddress!)
                        try spectrum.write(UnsafeRawBufferPointer(out), at: z * planeComplex * 8)
                    }
                }
            }
        }

        // Pass 2: along z, the mask, and back along z, a band of ky rows at a time.
        let band = max(1, min(h, memoryBytes / max(1, d * wc * 8)))
        let scale = 1 / Double(d * h * w)
        var columns = [Float]()
        for r0 in stride(from: 0, to: h, by: band) {
            let r1 = min(h, r0 + band)
            let m = (r1 - r0) * wc
            columns = [Float](repeating: 0, count: 2 * d * m)
            try columns.withUnsafeMutableBufferPointer { buffer in
                let base = buffer.baseAddress!
                for z in 0..<d {
                    try spectrum.read(
                        into: UnsafeMutableRawBufferPointer(start: base + 2 * z * m, count: m * 8),
                        at: (z * planeComplex + r0 * wc) * 8)
                }
                FFTPlans.shared.columns(length: d, count: m, inverse: false, base)
                Parallel.forEach(d) { kz in
                    let fz = FourierFilter.frequency(kz, d)
                    for row in 0..<(r1 - r0) {
                        let fy = FourierFilter.frequency(r0 + row, h)
                        for kx in 0..<wc {
                            let factor = Float(mask(Double(kx) / Double(w), fy, fz) * scale)
                            let i = kz * m + row * wc + kx
                            base[2 * i] *= factor
                            base[2 * i + 1] *= factor
                        }
                    }
                }
                FFTPlans.shared.columns(length: d, count: m, inverse: true, base)
                for z in 0..<d {
                    try spectrum.write(
                        UnsafeRawBufferPointer(start: base + 2 * z * m, count: m * 8),
                        at: (z * planeComplex + r0 * wc) * 8)
                }
            }
        }
        columns = []

        // Pass 3: inverse 2D transforms of the planes.
        var plane = [Float](repeating: 0, count: h * w)
        for z in 0..<d {
            try transformed.withUnsafeMutableBufferPointer { c in
                try spectrum.read(into: UnsafeMutableRawBufferPointer(c), at: z * planeComplex * 8)
                try plane.withUnsafeMutableBufferPointer { p in
                    FFTPlans.shared.inverse([1, h, w], c.baseAddress!, p.baseAddress!)
                    try real.write(UnsafeRawBufferPointer(p), at: z * h * w * 4)
                }
            }
        }

        // Delivery in boxes of all x, `rows` y, `planes` z.
        for z0 in stride(from: 0, to: d, by: max(1, planes)) {
            let z1 = min(d, z0 + max(1, planes))
            for y0 in stride(from: 0, to: h, by: max(1, rows)) {
                let y1 = min(h, y0 + max(1, rows))
                var out = Volume(shape: Extent3(x: w, y: y1 - y0, z: z1 - z0), dtype: .float32)
                try out.withUnsafeMutableBytes { bytes in
                    let rowBytes = (y1 - y0) * w * 4
                    for z in z0..<z1 {
                        try real.read(
                            into: UnsafeMutableRawBufferPointer(
                                rebasing: bytes[((z - z0) * rowBytes)...].prefix(rowBytes)),
                            at: (z * h + y0) * w * 4)
                    }
                }
                try deliver(Box3(x: 0..<w, y: y0..<y1, z: z0..<z1), out)
            }
        }
    }
}

/// A scratch file, unlinked as soon as it is made (its space is freed when it is closed, or when the
/// process ends however it ends), read and written at offsets through `PosixFile`.
final class ScratchFile {
    let file: PosixFile

    init(directory: String, purpose: String) throws {
        var template = Array("\(directory)/.tomostore-\(purpose)-XXXXXX".utf8CString)
        let descriptor = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        let path = String(cString: template)
        guard descriptor >= 0 else {
            throw FileError(path: path, operation: "make a scratch file (set TMPDIR elsewhere)", errno: errno)
        }
        close(descriptor)
        file = try PosixFile(creating: path)
        unlink(path)
    }

    func write(_ bytes: UnsafeRawBufferPointer, at offset: Int) throws { try file.write(bytes, at: offset) }

    func read(into bytes: UnsafeMutableRawBufferPointer, at offset: Int) throws {
        try file.read(into: bytes.baseAddress!, count: bytes.count, at: offset)
    }
}
