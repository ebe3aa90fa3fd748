import ArgumentParser
import Catalog
import Engine
import Foundation
import Operators
import Store
import Transfer
import Voxels

/// `tomostore preview STORE NAME -o OUT.png`: a slice or projection as an 8-bit PNG.
struct Preview: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a slice (or a projection) of one or more datasets as an 8-bit PNG with robust contrast.",
        discussion: """
            Contrast stretches the 1st–99th percentiles of each panel to black–white. --with adds panels
            side by side (e.g. raw | denoised | truth); --spectrum adds the log power spectrum of the
            first panel's slice (the missing wedge shows in an xz slice, --axis y).

            Examples:
              tomostore preview s.store s1/tomogram --axis z -o slice.png
              tomostore preview s.store s1/tomogram --with s1/dual,s1/grand-model --axis y --spectrum -o compare.png
            """
    )

    @OptionGroup var dataset: DatasetArguments
    /// An axis of a volume.
    enum Axis: String, ExpressibleByArgument, CaseIterable { case x, y, z }

    @Option(help: "Axis normal to the slice: x, y or z.") var axis: Axis = .z
    @Option(help: "Slice index along the axis (default: the middle).") var index: Int?
    @Flag(help: "Average through the whole axis (a projection) instead of one slice.") var project = false
    @Option(help: "More datasets to show side by side (same shape), comma-separated.") var with: String?
    @Flag(help: "Add a log power-spectrum panel of the first slice.") var spectrum = false
    @Option(name: .shortAndLong, help: "Output .png.") var output: String

    func validate() throws {
        guard output.lowercased().hasSuffix(".png") else { throw ValidationError("-o \(output) must end in .png") }
    }

    func run() throws {
        let store = try Workspace(path: dataset.store)
        let names = [dataset.name] + (with?.split(separator: ",").map(String.init) ?? [])
        let image = try Self.render(
            try names.map { try store.open($0) }, axis: axis, index: index, project: project, spectrum: spectrum)
        try PNGWriter.write(width: image.width, height: image.height, pixels: image.pixels, to: output)
        print(
            "wrote \(output): \(image.width)×\(image.height) pixels, \(image.panels) panel(s), "
                + "\(project ? "projection" : "slice \(image.index)") along \(axis.rawValue)"
        )
    }

    /// An 8-bit image of the same slice (or projection) of `sets` side by side, with the first one's
    /// log power spectrum after them when `spectrum`; rows top to bottom, as viewers show volumes.
    static func render(
        _ sets: [any VolumeSource], axis: Axis, index: Int? = nil, project: Bool = false, spectrum: Bool = false
    ) throws -> (pixels: [UInt8], width: Int, height: Int, panels: Int, index: Int) {
        let shape = sets[0].shape
        if let bad = sets.first(where: { $0.shape != shape }) {
            throw CommandError("\(bad.name) is \(bad.shape), not \(shape) like \(sets[0].name)")
        }
        let n = axis == .x ? shape.x : axis == .y ? shape.y : shape.z
        let i = index ?? n / 2
        guard i >= 0 && i < n else { throw CommandError("--index \(i) is outside 0..<\(n) along \(axis.rawValue)") }
        // Panel geometry: rows and columns of the image.
        let (w, h) = axis == .z ? (shape.x, shape.y) : axis == .y ? (shape.x, shape.z) : (shape.y, shape.z)
        var panels: [[Float]] = []
        for d in sets {
            let box: Box3
            switch axis {
            case .z: box = project ? Box3(shape: shape) : Box3(x: 0..<shape.x, y: 0..<shape.y, z: i..<(i + 1))
            case .y: box = project ? Box3(shape: shape) : Box3(x: 0..<shape.x, y: i..<(i + 1), z: 0..<shape.z)
            case .x: box = project ? Box3(shape: shape) : Box3(x: i..<(i + 1), y: 0..<shape.y, z: 0..<shape.z)
            }
            let v = try d.read(box).converted(to: .float32)
            let s = v.shape
            var panel = [Float](repeating: 0, count: w * h)
            v.withUnsafeValues(as: Float.self) { p in
                for z in 0..<s.z {
                    for y in 0..<s.y {
                        for x in 0..<s.x {
                            let value = p[(z * s.y + y) * s.x + x]
                            let (c, r) = axis == .z ? (x, y) : axis == .y ? (x, z) : (y, z)
                            panel[r * w + c] += value
                        }
                    }
                }
            }
            panels.append(panel)
        }
        if spectrum {
            var slice = Volume(shape: Extent3(x: w, y: h, z: 1), values: panels[0])
            let mean = Float(VoxelStatistics.of(slice).mean)
            slice.withUnsafeMutableValues(as: Float.self) { p in for k in p.indices { p[k] -= mean } }
            let wc = w / 2 + 1
            var out = [Float](repeating: 0, count: 2 * h * wc)
            slice.withUnsafeMutableValues(as: Float.self) { p in
                out.withUnsafeMutableBufferPointer { o in
                    FFTPlans.shared.forward([1, h, w], p.baseAddress!, o.baseAddress!)
                }
            }
            var power = [Float](repeating: 0, count: w * h)
            for r in 0..<h {
                for c in 0..<w {
                    // Centred display: frequency (c − w/2, r − h/2), mirrored for the half not stored.
                    let fx = c - w / 2
                    let fy = r - h / 2
                    let (kx, ky) = fx >= 0 ? (fx, (fy + h) % h) : (-fx, (-fy + h) % h)
                    guard kx < wc else { continue }
                    let re = out[2 * (ky * wc + kx)]
                    let im = out[2 * (ky * wc + kx) + 1]
                    power[r * w + c] = log(re * re + im * im + 1e-12)
                }
            }
            panels.append(power)
        }
        // Robust contrast per panel, then side by side with a 4-pixel gap.
        let gap = 4
        let total = panels.count * w + (panels.count - 1) * gap
        var pixels = [UInt8](repeating: 0, count: total * h)
        for (k, panel) in panels.enumerated() {
            let sorted = panel.sorted()
            let lo = sorted[Int(0.01 * Double(sorted.count - 1))]
            let hi = sorted[Int(0.99 * Double(sorted.count - 1))]
            let scale = hi > lo ? 255 / (hi - lo) : 0
            for r in 0..<h {
                for c in 0..<w {
                    pixels[r * total + k * (w + gap) + c] = UInt8(
                        max(0, min(255, ((panel[r * w + c] - lo) * scale).rounded())))
                }
            }
        }
        // Image rows top to bottom = decreasing y (or z), as viewers show volumes.
        var flipped = [UInt8](repeating: 0, count: pixels.count)
        for r in 0..<h { flipped[(r * total)..<((r + 1) * total)] = pixels[((h - 1 - r) * total)..<((h - r) * total)] }
        return (flipped, total, h, panels.count, i)
    }
}
