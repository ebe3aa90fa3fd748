import Engine
import Foundation
import Voxels

/// One labelled training tile: a standardized tomogram tile (P³ voxels, z, y, x order) and each
/// voxel's class index in the segmenter's channel order.
public struct SegmentTile: Sendable {
    public var values: [Float]
    public var labels: [Int32]
    public var edge: Int

    public init(values: [Float], labels: [Int32], edge: Int) {
        precondition(values.count == edge * edge * edge && labels.count == values.count, "a tile holds edge³ voxels")
        self.values = values
        self.labels = labels
        self.edge = edge
    }

    /// The tile mirrored along the axes where `flips` (x, y, z) is true. Axis flips keep the missing
    /// wedge where it is (it is symmetric about every axis of the reconstruction); the 180°
    /// rotation about the tilt axis y is the flip of x and z. A 90° rotation would carry the wedge
    /// from the beam axis z onto x, which no real tomogram has, so there are no other rotations.
    public func flipped(_ flips: (x: Bool, y: Bool, z: Bool)) -> SegmentTile {
        guard flips.x || flips.y || flips.z else { return self }
        let p = edge
        var v = values
        var l = labels
        for z in 0..<p {
            let sz = flips.z ? p - 1 - z : z
            for y in 0..<p {
                let sy = flips.y ? p - 1 - y : y
                for x in 0..<p {
                    let sx = flips.x ? p - 1 - x : x
                    let (to, from) = ((z * p + y) * p + x, (sz * p + sy) * p + sx)
                    v[to] = values[from]
                    l[to] = labels[from]
                }
            }
        }
        return SegmentTile(values: v, labels: l, edge: p)
    }
}

/// Supervised training of a `Segmenter`: AdamW on the class-weighted softmax cross-entropy of
/// batches of tiles, each mirrored along axes drawn from (seed, iteration, tile) and, when the
/// configuration asks, given noise (`noised`).
public final class SegmentTrainer {
    public let model: Segmenter
    public let optimizer: AdamW
    public private(set) var iteration = 0
    let seed: UInt64
    let weights: [Float]

    /// - Precondition: the model's configuration has class weights (`classWeights`).
    public init(model: Segmenter, seed: UInt64) {
        precondition(model.config.classWeights?.count == model.config.classes.count, "class weights are not set")
        self.model = model
        self.seed = seed
        weights = model.config.classWeights!.map { Float($0) }
        optimizer = AdamW(
            model.parameters, learningRate: Float(model.config.learningRate),
            weightDecay: Float(model.config.weightDecay))
    }

    /// Continues from a checkpoint's iteration count.
    public func resume(at iteration: Int) { self.iteration = iteration }

    /// Cross-entropy weights against class imbalance from the label counts of some tiles: class c
    /// of frequency f_c gets 1/√f_c (f_c at least 1e-4), scaled so that the weights average 1 over
    /// the voxels counted. The square root keeps rare classes from dominating the loss (a plain
    /// 1/f lets a class of 0.1% of the voxels outweigh background 1000:1 and floods predictions).
    public static func classWeights(_ tiles: [SegmentTile], classes: Int) -> [Double] {
        var counts = [Double](repeating: 0, count: classes)
        for t in tiles { for l in t.labels { counts[Int(l)] += 1 } }
        let total = max(1, counts.reduce(0, +))
        let raw = counts.map { 1 / max($0 / total, 1e-4).squareRoot() }
        let mean = zip(counts, raw).map { $0 * $1 }.reduce(0, +) / total
        return raw.map { $0 / max(mean, 1e-12) }
    }

    /// This iteration's mirror of tile `index` of the batch.
    func flips(_ index: Int) -> (x: Bool, y: Bool, z: Bool) {
        let rng = CounterRNG(seed: seed ^ 0x5e9_f11b)
        let counter = UInt64(index) * 3
        func bit(_ axis: UInt64) -> Bool { rng.uniform(stream: UInt64(iteration), counter: counter + axis) < 0.5 }
        return (bit(0), bit(1), bit(2))
    }

    /// Tile `index` of this iteration's batch with the configuration's noise augmentation
    /// (`SegmenterConfig.noiseAugmentation`), drawn from (seed, iteration, index); the tile as it is
    /// when off or not drawn.
    func noised(_ tile: SegmentTile, index: Int) -> SegmentTile {
        guard let most = model.config.noiseAugmentation, most > 0 else { return tile }
        let rng = CounterRNG(seed: seed ^ 0x5e15_e5d)
        let draw = UInt64(index) << 32
        guard rng.uniform(stream: UInt64(iteration), counter: draw) < 0.5 else { return tile }
        let sd = most * rng.uniform(stream: UInt64(iteration), counter: draw + 1)
        let scale = 1 / (1 + sd * sd).squareRoot()
        let noise = CounterRNG(seed: seed ^ 0x5e15_e5d ^ UInt64(iteration) &* 0x9E37_79B9_7F4A_7C15 ^ UInt64(index))
        var out = tile
        for i in out.values.indices {
            out.values[i] = Float((Double(tile.values[i]) + sd * noise.normal(counter: UInt64(i))) * scale)
        }
        return out
    }

    /// One update on a batch of tiles of equal edge; returns the loss before the update.
    @discardableResult
    public func step(_ tiles: [SegmentTile]) -> Float {
        precondition(!tiles.isEmpty)
        let p = tiles[0].edge
        let augmented = tiles.enumerated().map { noised($0.element.flipped(flips($0.offset)), index: $0.offset) }
        let x = Variable(Tensor(shape: [tiles.count, 1, p, p, p], values: augmented.flatMap(\.values)))
        let tape = Tape()
        let loss = tape.softmaxCrossEntropy(
            model.network(x, tape: tape), labels: augmented.flatMap(\.labels), weights: weights)
        tape.backward(loss)
        optimizer.update()
        iteration += 1
        return loss.value.scalar
    }
}

/// Which class index each value of a label volume trains: a table from the uint8 label values of a
/// corpus (its class table) to the segmenter's channels. A class named in `classes` takes its own
/// channel; `particle` gathers every template class (not background, membrane or fiducial); every
/// other value is background (0).
public struct SegmentClassMap: Sendable, Equatable {
    /// Channel of each uint8 label value.
    public let channel: [Int32]

    /// Classes the built-in grand models give that are not particles.
    public static let structural: Set<String> = ["background", "membrane", "fiducial"]

    public init(classes: [String], table: [Int: String]) {
        var channel = [Int32](repeating: 0, count: 256)
        for (value, name) in table where (0..<256).contains(value) {
            if let c = classes.firstIndex(of: name) {
                channel[value] = Int32(c)
            } else if !Self.structural.contains(name), let c = classes.firstIndex(of: "particle") {
                channel[value] = Int32(c)
            }
        }
        self.channel = channel
    }

    /// The class index of every voxel of a uint8 label volume (z, y, x order).
    public func map(_ labels: Volume) -> [Int32] {
        labels.converted(to: .uint8).withUnsafeValues(as: UInt8.self) { $0.map { channel[Int($0)] } }
    }
}
