import Engine
import Foundation
import Testing
import Voxels

@testable import DUAL

/// Unit normal noise of a shape, from a seed.
func noiseVolume(_ shape: Extent3, seed: UInt64) -> Volume {
    let rng = CounterRNG(seed: seed)
    return Volume(shape: shape, values: (0..<shape.count).map { Float(rng.normal(counter: UInt64($0))) })
}

/// The mirrored, standardizing tile reader of unit normal noise of a shape (as overlap-tile inference reads).
func noiseReader(_ shape: Extent3, seed: UInt64, mean: Double = 0, std: Double = 1) -> (Box3) throws -> Volume {
    let volume = noiseVolume(shape, seed: seed)
    return DUALInference.mirroredReader(shape: shape, mean: mean, std: std) { volume.extracting($0) }
}

@Suite("DUAL")
struct DUALTests {
    var small: DUALConfig {
        var c = DUALConfig()
        c.base = 4
        c.patch = 16
        c.batch = 2
        c.codeLength = 4
        c.discriminatorBase = 4
        return c
    }

    @Test("one alternating step: finite losses, every generator and discriminator parameter moves")
    func step() {
        let model = DUALModel(config: small, seed: 3)
        let trainer = DUALTrainer(model: model, seed: 3)
        let before = model.namedParameters.map { $0.1.value.scalars }
        let batch = DUALBatch(
            clean: Tensor.normal([2, 1, 16, 16, 16], seed: 1), noisy: Tensor.normal([2, 1, 16, 16, 16], seed: 2))
        let losses = trainer.step(batch)
        #expect(
            losses.reconstruction.isFinite && losses.adversarial.isFinite && losses.kl.isFinite
                && losses.discriminator.isFinite)
        let moved = zip(before, model.namedParameters).filter { $0.0 != $0.1.1.value.scalars }.count
        #expect(moved == model.namedParameters.count, "\(model.namedParameters.count - moved) parameters did not move")
        #expect(trainer.iteration == 1)
    }

    @Test("denoiser_learning_rate: at 0 the denoiser stays put while the other generators learn")
    func denoiserLearningRate() throws {
        var config = small
        try config.apply("denoiser_learning_rate", "0")
        #expect(config.denoiserLearningRate == 0)
        let model = DUALModel(config: config, seed: 3)
        let trainer = DUALTrainer(model: model, seed: 3)
        let before = model.namedParameters.map { $0.1.value.scalars }
        _ = trainer.step(
            DUALBatch(
                clean: Tensor.normal([2, 1, 16, 16, 16], seed: 1), noisy: Tensor.normal([2, 1, 16, 16, 16], seed: 2)))
        for ((name, p), old) in zip(model.namedParameters, before) {
            #expect((p.value.scalars == old) == name.hasPrefix("dn."), "\(name)")
        }
    }

    @Test("cycle flips: each iteration mirrors a drawn subset of the axes (its own inverse); off by default")
    func cycleFlips() throws {
        var config = small
        let off = DUALTrainer(model: DUALModel(config: config, seed: 3), seed: 3)
        #expect(off.cycleFlip(4) == nil)
        try config.apply("cycle_flips", "true")
        #expect(throws: DUALError.self) { try config.apply("cycle_flips", "yes") }
        let trainer = DUALTrainer(model: DUALModel(config: config, seed: 3), seed: 3)
        let p = 4
        var seen = Set<[Bool]>()
        for iteration in 0..<40 {
            trainer.resume(at: iteration)
            guard let flip = trainer.cycleFlip(p) else {
                seen.insert([false, false, false])
                continue
            }
            // Which axes moved, read off where voxel (x, y, z) = (0, 0, 0) lands.
            let corner = Int(flip[0])
            let axes = [corner % p == p - 1, (corner / p) % p == p - 1, corner / (p * p) == p - 1]
            seen.insert(axes)
            for z in 0..<p {
                for y in 0..<p {
                    for x in 0..<p {
                        let mirrored =
                            ((axes[2] ? p - 1 - z : z) * p + (axes[1] ? p - 1 - y : y)) * p + (axes[0] ? p - 1 - x : x)
                        #expect(Int(flip[(z * p + y) * p + x]) == mirrored)
                    }
                }
            }
            #expect(flip.indices.allSatisfy { Int(flip[Int(flip[$0])]) == $0 }, "a flip must be its own inverse")
        }
        #expect(seen.count == 8, "all eight subsets of axes should occur in 40 iterations, saw \(seen.count)")
        // A step with a flip drawn trains every parameter, as without flips.
        let flipped = (0..<40).first {
            trainer.resume(at: $0)
            return trainer.cycleFlip(config.patch) != nil
        }!
        trainer.resume(at: flipped)
        let before = trainer.model.namedParameters.map { $0.1.value.scalars }
        let losses = trainer.step(
            DUALBatch(
                clean: Tensor.normal([2, 1, 16, 16, 16], seed: 1), noisy: Tensor.normal([2, 1, 16, 16, 16], seed: 2)))
        #expect(losses.reconstruction.isFinite && losses.adversarial.isFinite)
        #expect(zip(before, trainer.model.namedParameters).allSatisfy { $0.0 != $0.1.1.value.scalars })
    }

    @Test("training is deterministic for a seed")
    func determinism() {
        func run() -> [Float] {
            let model = DUALModel(config: small, seed: 5)
            let trainer = DUALTrainer(model: model, seed: 5)
            for i in 0..<2 {
                trainer.step(
                    DUALBatch(
                        clean: Tensor.normal([2, 1, 16, 16, 16], seed: UInt64(10 + i)),
                        noisy: Tensor.normal([2, 1, 16, 16, 16], seed: UInt64(20 + i))))
            }
            return model.denoiser.parameters[0].value.scalars
        }
        #expect(run() == run())
    }

    @Test("the sin² window of half-overlapping tiles sums to one")
    func window() {
        let w = DUALInference.window(16)
        for i in 0..<8 { #expect(abs(w[i] + w[i + 8] - 1) < 1e-15) }
    }

    @Test(
        "windows of tiles overlapping by o voxels: ramps sum to one, 1 between; o = P/2 is the sin² window"
    )
    func partialOverlapWindow() {
        for (p, o) in [(32, 8), (16, 4), (24, 5)] {
            let w = DUALInference.window(p, overlap: o)
            let s = p - o
            for i in 0..<o { #expect(abs(w[i] + w[s + i] - 1) < 1e-15, "P \(p), o \(o), i \(i)") }
            for i in o..<s { #expect(w[i] == 1) }
        }
        #expect(DUALInference.window(16, overlap: 8) == DUALInference.window(16))
    }

    @Test("with a quarter overlap, any box still equals the same voxels of the whole volume, and fewer tiles run")
    func partialOverlapInvariance() throws {
        let shape = Extent3(x: 37, y: 21, z: 19)
        let net = UNet3D(base: 2, depth: 2, seed: 4)
        let reader = noiseReader(shape, seed: 5)
        var tiles = [0, 0]
        func run(_ box: Box3, overlap: Int, count: Int) throws -> Volume {
            try DUALInference.apply(box: box, shape: shape, tile: 16, overlap: overlap, input: reader) { x, origins in
                tiles[count] += origins.count
                return net.infer(x)
            }
        }
        let whole = try run(Box3(shape: shape), overlap: 4, count: 0)
        _ = try run(Box3(shape: shape), overlap: 8, count: 1)
        #expect(tiles[0] * 2 < tiles[1], "\(tiles[0]) tiles at a quarter overlap, \(tiles[1]) at a half")
        for box in [
            Box3(x: 0..<5, y: 3..<21, z: 2..<9), Box3(x: 11..<37, y: 0..<1, z: 18..<19),
            Box3(x: 23..<24, y: 11..<12, z: 12..<13),
        ] {
            #expect(try run(box, overlap: 4, count: 0) == whole.extracting(box), "\(box)")
        }
        // A constant network output blends to exactly that constant everywhere (a flat background
        // stays flat to the bit, which DoG picking's strict maxima need): weights and sums in Float64.
        for c: Float in [1, 0.0019803, -0.2817, 3.1e5] {
            for overlap in [4, 8] {
                let flat = try DUALInference.apply(
                    box: Box3(shape: shape), shape: shape, tile: 16, overlap: overlap, input: reader
                ) { x, _ in Tensor(repeating: c, shape: x.shape) }
                #expect(flat.values(as: Float.self).allSatisfy { $0 == c }, "constant \(c), overlap \(overlap)")
            }
        }
    }

    @Test("statistics matching: the spectrum and histogram terms are finite, logged, and 0 against themselves")
    func statisticsMatching() {
        var c = small
        c.lambdaSpectrum = 1
        c.lambdaHistogram = 1
        let trainer = DUALTrainer(model: DUALModel(config: c, seed: 3), seed: 3)
        let (bins, count) = DUALTrainer.spectralBins(16)
        #expect(bins.count == 16 * 16 * 9 && count == 48)
        #expect(bins.allSatisfy { $0 >= -1 && $0 < 48 } && Set(bins.filter { $0 >= 0 }).count >= 44, "bins filled")
        #expect(bins[0] == -1, "the origin is left out")
        let x = Variable(Tensor.normal([2, 1, 16, 16, 16], seed: 4))
        let same = trainer.statisticsMatching(Tape(recording: false), fake: x, real: x)
        #expect(same.spectrum?.value.scalar == 0 && same.histogram?.value.scalar == 0)
        let scaled = trainer.statisticsMatching(Tape(recording: false), fake: x, real: Variable(x.value * 2))
        // Sorted values: the mean squared difference of x and 2x is the mean of x².
        let meanSquare = x.value.scalars.map { Double($0 * $0) }.reduce(0, +) / Double(x.value.count)
        #expect(abs(Double(scaled.histogram!.value.scalar) - meanSquare) < 1e-4 * meanSquare)
        let losses = trainer.step(
            DUALBatch(
                clean: Tensor.normal([2, 1, 16, 16, 16], seed: 1), noisy: Tensor.normal([2, 1, 16, 16, 16], seed: 2)))
        #expect(losses.spectrum.map { $0.isFinite && $0 > 0 } == true && losses.histogram.map { $0 > 0 } == true)
        #expect(
            DUALTrainer(model: DUALModel(config: small, seed: 3), seed: 3).statisticsMatching(
                Tape(recording: false), fake: x, real: x
            ).spectrum == nil, "off by default")
    }

    /// Latent regression asks the simulation to carry its code: with it, steps on one batch shrink
    /// ‖E(Gs(v + P·Gn(z))) − z‖², and it is off (nil) by default.
    @Test("latent regression: logged, off by default, and training reduces it; the diversity term is logged")
    func latentRegression() {
        var c = small
        c.lambdaLatent = 10
        let trainer = DUALTrainer(model: DUALModel(config: c, seed: 5), seed: 5)
        let batch = DUALBatch(
            clean: Tensor.normal([2, 1, 16, 16, 16], seed: 1), noisy: Tensor.normal([2, 1, 16, 16, 16], seed: 2))
        let first = trainer.step(batch).latent
        var last = first
        for _ in 0..<24 { last = trainer.step(batch).latent }
        #expect(first.map { $0.isFinite && $0 > 0 } == true)
        #expect(last! < 0.8 * first!, "latent loss \(first!) → \(last!)")
        let plain = DUALTrainer(model: DUALModel(config: small, seed: 5), seed: 5)
        let off = plain.step(batch)
        #expect(off.latent == nil && off.diversity == nil)
        var d = small
        d.lambdaDiversity = 1
        let diverse = DUALTrainer(model: DUALModel(config: d, seed: 5), seed: 5).step(batch).diversity
        #expect(diverse.map { $0.isFinite } == true, "diversity \(String(describing: diverse))")
    }

    /// noisy_cycle=lowpass compares the noisy cycle on 4³ block means: a difference that averages out
    /// within each block costs nothing there, and the full comparison charges it.
    @Test("noisy_cycle: lowpass ignores voxel-scale differences, full does not; values checked")
    func noisyCycleLowpass() throws {
        var c = small
        c.reconstruction = "plain"
        try c.apply("noisy_cycle", "lowpass")
        #expect(c.noisyCycle == "lowpass")
        #expect(throws: DUALError.self) { try c.apply("noisy_cycle", "blur") }
        let base = Tensor.normal([1, 1, 16, 16, 16], seed: 4)
        let checker = Tensor(
            shape: base.shape,
            values: (0..<4096).map { i in
                let (x, y, z) = (i % 16, i / 16 % 16, i / 256)
                return (x + y + z) % 2 == 0 ? 0.5 : -0.5
            })
        let other = Tensor(shape: base.shape, values: zip(base.scalars, checker.scalars).map { $0 + $1 })
        let t = Tape(recording: false)
        let lowpass = DUALTrainer(model: DUALModel(config: c, seed: 1), seed: 1)
            .noisyCycleLoss(t, Variable(other), Variable(base)).value.scalar
        try c.apply("noisy_cycle", "full")
        #expect(c.noisyCycle == nil)
        let full = DUALTrainer(model: DUALModel(config: c, seed: 1), seed: 1)
            .noisyCycleLoss(t, Variable(other), Variable(base)).value.scalar
        #expect(abs(lowpass) < 1e-4, "lowpass \(lowpass)")
        #expect(full > 0.2, "full \(full)")
    }

    /// noise_diversity=bandpass rewards differences spread over the patch over the same total difference
    /// in a few voxels, and ignores a patch-wide offset; the plain term cannot tell the first two apart.
    @Test("noise_diversity: bandpass prefers spread differences and ignores offsets; values checked")
    func diversityBandpass() throws {
        var c = small
        #expect(throws: DUALError.self) { try c.apply("noise_diversity", "laplace") }
        let n = 16 * 16 * 16
        let zero = Variable(Tensor(shape: [1, 1, 16, 16, 16], values: [Float](repeating: 0, count: n)))
        // Mean |difference| 0.16 each: everywhere (normal, sd 0.2), in 4 voxels, and a patch-wide offset.
        let spread = Variable(Tensor.normal([1, 1, 16, 16, 16], seed: 9) * 0.2)
        let few = Variable(
            Tensor(
                shape: [1, 1, 16, 16, 16], values: (0..<n).map { i in i % 1024 == 0 ? (i % 2048 == 0 ? 164 : -164) : 0 }
            ))
        let offset = Variable(Tensor(shape: [1, 1, 16, 16, 16], values: [Float](repeating: 0.16, count: n)))
        let t = Tape(recording: false)
        let plain = DUALTrainer(model: DUALModel(config: c, seed: 1), seed: 1)
        let (plainSpread, plainFew) = (
            plain.diversityLoss(t, spread, zero).value.scalar, plain.diversityLoss(t, few, zero).value.scalar
        )
        #expect(abs(plainSpread - plainFew) < 0.05, "plain \(plainSpread) vs \(plainFew)")
        try c.apply("noise_diversity", "bandpass")
        let band = DUALTrainer(model: DUALModel(config: c, seed: 1), seed: 1)
        let (spreadLoss, fewLoss) = (
            band.diversityLoss(t, spread, zero).value.scalar, band.diversityLoss(t, few, zero).value.scalar
        )
        #expect(spreadLoss < fewLoss - 0.5, "bandpass spread \(spreadLoss) vs few \(fewLoss)")
        // A patch-wide offset has no Laplacian inside the patch: only its faces count.
        let offsetLoss = band.diversityLoss(t, offset, zero).value.scalar
        #expect(offsetLoss > spreadLoss + 0.5, "offset \(offsetLoss) vs spread \(spreadLoss)")
        #expect(abs(plain.diversityLoss(t, offset, zero).value.scalar - plainSpread) < 0.05)
    }

    @Test("the noise field: a voxel's noise depends only on the seed and its position; blocks of the patch size")
    func noiseField() {
        let model = DUALModel(config: small, seed: 5)
        let field = NoiseField(model: model, seed: 7)
        let whole = Box3(x: -20..<30, y: -3..<20, z: 0..<17)
        let all = Volume(shape: whole.shape, values: field.values(whole))
        for box in [Box3(x: -20 ..< -19, y: 5..<6, z: 3..<4), Box3(x: 3..<29, y: -3..<1, z: 15..<17)] {
            let fresh = NoiseField(model: model, seed: 7).values(box)
            #expect(
                fresh == all.extracting(box.translated(by: Extent3(x: 20, y: 3, z: 0))).values(as: Float.self), "\(box)"
            )
        }
        // Within one block the values are a permutation of one Gn(z) patch; another seed, other noise.
        let block = field.values(Box3(x: 0..<16, y: 0..<16, z: 0..<16))
        let mask = model.noiseDecoder(
            Variable(
                Tensor(
                    shape: [1, 4],
                    values: (0..<4).map { k in
                        Float(CounterRNG(seed: 7 ^ 0).normal(stream: 1, counter: UInt64(k)))
                    })), tape: Tape(recording: false))
        #expect(block.sorted() == mask.value.scalars.sorted())
        #expect(NoiseField(model: model, seed: 8).values(Box3(x: 0..<16, y: 0..<16, z: 0..<16)) != block)
    }

    @Test("a tile's result does not depend on the tiles batched with it (bit for bit)")
    func batchInvariance() throws {
        let shape = Extent3(x: 40, y: 24, z: 24)
        let net = UNet3D(base: 4, depth: 3, seed: 2)
        let reader = noiseReader(shape, seed: 6)
        let results = try [1, 3, 4, 7].map { batch in
            try DUALInference.apply(box: Box3(shape: shape), shape: shape, tile: 16, batch: batch, input: reader) {
                x, _ in net.infer(x)
            }
        }
        for r in results.dropFirst() { #expect(r == results[0]) }
    }

    @Test("overlap-tile inference: any box equals the same voxels of the whole volume")
    func tileInvariance() throws {
        let shape = Extent3(x: 23, y: 17, z: 11)
        let net = UNet3D(base: 2, depth: 2, seed: 4)
        let reader = noiseReader(shape, seed: 2, mean: 0.1, std: 1.2)
        func run(_ box: Box3) throws -> Volume {
            try DUALInference.apply(box: box, shape: shape, tile: 8, input: reader) { x, _ in net.infer(x) }
        }
        let whole = try run(Box3(shape: shape))
        for box in [
            Box3(x: 0..<5, y: 3..<17, z: 2..<9), Box3(x: 11..<23, y: 0..<1, z: 10..<11),
            Box3(x: 7..<8, y: 8..<9, z: 5..<6),
        ] {
            #expect(try run(box) == whole.extracting(box), "\(box)")
        }
    }
}

@Suite("Training patches")
struct PatchTests {
    @Test("a transposed view reads the transposed patch of the original; samples depend only on (seed, iteration)")
    func transposedView() throws {
        let shape = Extent3(x: 20, y: 18, z: 12)
        let volume = noiseVolume(shape, seed: 9)
        var reads: [Box3] = []
        let original = PatchVolume(name: "v", shape: shape, mean: 0.5, std: 2) {
            reads.append($0)
            return volume.extracting($0)
        }
        let view = original.transposedXZ()
        #expect(view.shape == Extent3(x: 12, y: 18, z: 20))
        let box = Box3(x: 2..<10, y: 3..<11, z: 5..<13)
        #expect(try view.read(box) == volume.swappingXZ().extracting(box))
        #expect(reads == [box.swappingXZ], "the view reads only the original's box")
        let sampler = PatchSampler(volumes: [view], seed: 3, stream: 1)
        let a = try sampler.batch(iteration: 4, batch: 2, patch: 8)
        let b = try sampler.batch(iteration: 4, batch: 2, patch: 8)
        #expect(a.shape == [2, 1, 8, 8, 8] && a.scalars == b.scalars)
        #expect(try sampler.batch(iteration: 5, batch: 2, patch: 8).scalars != a.scalars)
        // Each patch is standardized with the volume's mean and std and comes from a box of the view.
        let t = volume.swappingXZ().values(as: Float.self).map { ($0 - 0.5) / 2 }
        let first = Array(a.scalars[0..<512])
        let found = (0...(12 - 8)).contains { x in
            (0...(18 - 8)).contains { y in
                (0...(20 - 8)).contains { z in
                    (0..<512).allSatisfy { i in
                        abs(t[((z + i / 64) * 18 + y + (i / 8) % 8) * 12 + x + i % 8] - first[i]) < 1e-6
                    }
                }
            }
        }
        #expect(found)
    }

    @Test("training refuses volumes smaller than the patch")
    func tooSmall() {
        var c = DUALConfig()
        c.base = 2
        c.patch = 16
        c.batch = 1
        c.codeLength = 2
        c.discriminatorBase = 2
        let trainer = DUALTrainer(model: DUALModel(config: c, seed: 1), seed: 1)
        let small = PatchVolume(name: "tiny", shape: Extent3(x: 20, y: 20, z: 8), mean: 0, std: 1) {
            Volume(shape: $0.shape, dtype: .float32)
        }
        #expect(throws: DUALError.self) {
            try trainer.train(
                until: 1, clean: [small], noisy: [small],
                checkpointEvery: 1, checkpoint: {}, progress: { _ in })
        }
    }

    @Test("a training run starts from given weights, writes their moving average, and stops at its time budget")
    func runOptions() throws {
        let dir = NSTemporaryDirectory() + "tomostore-run-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let volume = PatchVolume(name: "noise", shape: Extent3(x: 20, y: 20, z: 20), mean: 0, std: 1) { box in
            noiseVolume(Extent3(x: 20, y: 20, z: 20), seed: 3).extracting(box)
        }
        var small = DUALConfig()
        (small.base, small.patch, small.batch, small.codeLength, small.discriminatorBase) = (2, 16, 1, 2, 2)
        let start = DUALModel(config: small, seed: 9)
        let startBytes = try DUALModelFile.save(start, to: dir + "/start.safetensors")
        func run(decay: Double?, time: Double? = nil, iterations: Int = 2) throws -> DUALTrainingRun.Result {
            var schedule = TrainingSchedule(iterations: iterations, checkpointEvery: 10, output: dir + "/m.safetensors")
            schedule.timeLimit = time
            var r = DUALTrainingRun(config: small, seed: 1, schedule: schedule)
            r.initialWeights = (startBytes, "start")
            r.averageDecay = decay
            return try r.run(clean: [volume], noisy: [volume], metadata: [:])
        }
        let values = { (m: DUALModel) in m.parameters.map(\.value.scalars) }
        // Decay 1 keeps the starting weights exactly; no average gives the last (moved) ones.
        #expect(values(try run(decay: 1).model) == values(start))
        let last = try run(decay: nil)
        #expect(values(last.model) != values(start))
        let averaged = try run(decay: 0.5)
        #expect(values(averaged.model) != values(last.model) && values(averaged.model) != values(start))
        #expect(try DUALModelFile.decode(bytes: averaged.bytes, source: "m").metadata["average_decay"] == "0.5")
        // A budget already spent stops after the first iteration.
        #expect(try run(decay: nil, time: 1e-9, iterations: 50).iterationsRun == 1)
    }
}
