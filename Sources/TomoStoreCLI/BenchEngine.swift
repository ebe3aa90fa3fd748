import ArgumentParser
import Engine
import Foundation

/// `tomostore bench engine`: sgemm ceiling, reference U-Net forward and training step.
struct BenchEngine: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "engine",
        abstract: "Measure the engine: sgemm GFLOP/s, the reference 3D U-Net's forward speed and training step.",
        discussion: """
            The reference U-Net: input 1×1×D³; per level two 3×3×3 convolutions (+bias, LeakyReLU 0.2)
            with base, 2·base, 4·base channels; max pooling between levels; transposed convolution k2 s2
            halving channels; skip concatenation; a final 1×1×1 convolution. Times are medians.

            Example:
              tomostore bench engine --json
            """
    )

    @Option(help: "Edge of the cubic input volume.") var size = 64
    @Option(help: "Base channels of the U-Net.") var base = 16
    @Option(help: "Forward passes to time (median reported).") var repeats = 15
    @Option(help: "Training steps to time (median reported).") var steps = 5
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        // sgemm 2048³ with OpenBLAS on all cores: the ceiling for convolution GEMMs.
        let n = 2048
        let a = Tensor.uniform([n, n], seed: 1)
        let b = Tensor.uniform([n, n], seed: 2)
        var c = Tensor(zeros: [n, n])
        let cores = ProcessInfo.processInfo.activeProcessorCount
        let previous = BLAS.threads
        BLAS.threads = cores
        var sgemmTimes: [Double] = []
        for _ in 0..<3 {
            let t = Date()
            a.withUnsafeBufferPointer { ap in
                b.withUnsafeBufferPointer { bp in
                    c.withUnsafeMutableBufferPointer { cp in
                        BLAS.sgemm(
                            m: n, n: n, k: n, a: ap.baseAddress!, lda: n, b: bp.baseAddress!, ldb: n,
                            c: cp.baseAddress!, ldc: n)
                    }
                }
            }
            sgemmTimes.append(Date().timeIntervalSince(t))
        }
        BLAS.threads = previous
        let sgemm = 2 * pow(Double(n), 3) / sgemmTimes.min()! / 1e9

        let net = UNet3D(base: base, depth: 3, seed: 7)
        let x = Tensor.normal([1, 1, size, size, size], seed: 3)
        _ = net.infer(x)
        var forward: [Double] = []
        for _ in 0..<repeats {
            let t = Date()
            _ = net.infer(x)
            forward.append(Date().timeIntervalSince(t))
        }
        let fwd = forward.sorted()[forward.count / 2]
        let voxels = Double(size * size * size)
        let flops = net.flops(voxels: voxels)

        // Per-layer view: each convolution shape of the network on its own (median of 3).
        var layers: [[String: Any]] = []
        let levels = [
            (1, base, size), (base, base, size), (base, 2 * base, size / 2), (2 * base, 2 * base, size / 2),
            (2 * base, 4 * base, size / 4), (4 * base, 4 * base, size / 4), (4 * base, 2 * base, size / 2),
            (2 * base, base, size),
        ]
        for (cin, cout, edge) in levels {
            let input = Tensor.normal([1, cin, edge, edge, edge], seed: 5)
            let w = Initializers.heNormal([cout, cin, 3, 3, 3], seed: 6)
            let bias = Tensor(zeros: [cout])
            var times: [Double] = []
            for _ in 0..<3 {
                let t = Date()
                _ = Convolution.forward(input, weight: w, bias: bias, leakySlope: 0.2)
                times.append(Date().timeIntervalSince(t))
            }
            let best = times.sorted()[1]
            let gflop = 2 * 27 * Double(cin * cout) * pow(Double(edge), 3) / 1e9
            layers.append(["cin": cin, "cout": cout, "edge": edge, "ms": best * 1000, "gflops": gflop / best])
        }

        let optimizer = AdamW(net.parameters)
        var stepTimes: [Double] = []
        for _ in 0..<max(1, steps) {
            let t = Date()
            let tape = Tape()
            let y = net(Variable(x), tape: tape)
            let loss = tape.mean(tape.mul(y, y))
            tape.backward(loss)
            optimizer.update()
            stepTimes.append(Date().timeIntervalSince(t))
        }
        let step = stepTimes.sorted()[stepTimes.count / 2]
        let result: [String: Any] = [
            "sgemm_gflops": sgemm, "unet_mvoxel_s": voxels / fwd / 1e6, "unet_gflops": flops / fwd / 1e9,
            "unet_forward_s": fwd, "unet_forward_gflop": flops / 1e9, "train_step_s": step,
            "size": size, "base": base, "threads": cores, "parameters": net.parameterCount, "layers": layers,
        ]
        if json {
            print(try jsonText(any: result))
        } else {
            print(
                String(
                    format:
                        "sgemm 2048³: %.1f GFLOP/s; U-Net %d³ (base %d): forward %.3f s = %.2f Mvoxel/s, %.1f "
                        + "GFLOP/s (%.1f%% of sgemm); training step %.3f s",
                    sgemm, size, base, fwd, voxels / fwd / 1e6, flops / fwd / 1e9, 100 * flops / fwd / 1e9 / sgemm, step
                ))
            for l in layers {
                print(
                    String(
                        format: "  conv %3d → %3d at %d³: %.1f ms, %.1f GFLOP/s", l["cin"] as! Int,
                        l["cout"] as! Int, l["edge"] as! Int, l["ms"] as! Double, l["gflops"] as! Double))
            }
        }
    }
}
