#!/usr/bin/env python3
"""Side-by-side engine benchmark: `tomostore bench engine` against ONNX Runtime (and PyTorch when
installed) on the identical reference 3D U-Net (1×1×64³, base 16, depth 3), in one run.

Usage: python3 tools/bench_engine.py [path/to/tomostore] [--repeats 3]

ONNX Runtime runs the network built with onnx.helper (CPU, 2 intra-op threads); PyTorch (2 threads)
times forward and one training step (forward + backward + AdamW) when `torch` is importable. Prints
a Markdown table and the ratios. Requires: pip install numpy onnx onnxruntime
"""
import json
import subprocess
import sys
import time

import numpy as np


def onnx_forward(base=16, d=64):
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper
    rng = np.random.default_rng(0)
    nodes, inits, n = [], [], [0]
    def name(p):
        n[0] += 1
        return f"{p}{n[0]}"
    def conv(x, cin, cout, k=3, act=True):
        w, b, y = name("w"), name("b"), name("c")
        inits.append(numpy_helper.from_array((rng.standard_normal((cout, cin, k, k, k)) * (2 / (cin * k ** 3)) ** .5).astype(np.float32), w))
        inits.append(numpy_helper.from_array(np.zeros(cout, np.float32), b))
        nodes.append(helper.make_node("Conv", [x, w, b], [y], pads=[k // 2] * 6, kernel_shape=[k] * 3))
        if not act:
            return y
        z = name("a"); nodes.append(helper.make_node("LeakyRelu", [y], [z], alpha=0.2)); return z
    def block(x, cin, cout): return conv(conv(x, cin, cout), cout, cout)
    def pool(x): y = name("p"); nodes.append(helper.make_node("MaxPool", [x], [y], kernel_shape=[2] * 3, strides=[2] * 3)); return y
    def up(x, cin, cout):
        w, y = name("w"), name("u")
        inits.append(numpy_helper.from_array((rng.standard_normal((cin, cout, 2, 2, 2)) * 0.1).astype(np.float32), w))
        nodes.append(helper.make_node("ConvTranspose", [x, w], [y], kernel_shape=[2] * 3, strides=[2] * 3)); return y
    def cat(a, b): y = name("k"); nodes.append(helper.make_node("Concat", [a, b], [y], axis=1)); return y
    B = base
    e0 = block("x", 1, B); e1 = block(pool(e0), B, 2 * B); e2 = block(pool(e1), 2 * B, 4 * B)
    d1 = block(cat(up(e2, 4 * B, 2 * B), e1), 4 * B, 2 * B); d0 = block(cat(up(d1, 2 * B, B), e0), 2 * B, B)
    y = conv(d0, B, 1, k=1, act=False)
    g = helper.make_graph(nodes, "unet3d", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, d, d, d])],
                          [helper.make_tensor_value_info(y, TensorProto.FLOAT, [1, 1, d, d, d])], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]); m.ir_version = 8
    so = ort.SessionOptions(); so.intra_op_num_threads = 2
    s = ort.InferenceSession(m.SerializeToString(), so, providers=["CPUExecutionProvider"])
    x = rng.standard_normal((1, 1, d, d, d)).astype(np.float32)
    s.run(None, {"x": x})
    ts = []
    for _ in range(5):
        t = time.perf_counter(); s.run(None, {"x": x}); ts.append(time.perf_counter() - t)
    return sorted(ts)[2]


def torch_times(base=16, d=64):
    try:
        import torch, torch.nn as nn, torch.nn.functional as F
    except ImportError:
        return None
    torch.set_num_threads(2); torch.manual_seed(0)
    B = base
    def blk(i, o): return nn.Sequential(nn.Conv3d(i, o, 3, 1, 1), nn.LeakyReLU(.2), nn.Conv3d(o, o, 3, 1, 1), nn.LeakyReLU(.2))
    class U(nn.Module):
        def __init__(s):
            super().__init__(); s.e0, s.e1, s.e2 = blk(1, B), blk(B, 2 * B), blk(2 * B, 4 * B)
            s.u1, s.d1 = nn.ConvTranspose3d(4 * B, 2 * B, 2, 2), blk(4 * B, 2 * B); s.u0, s.d0 = nn.ConvTranspose3d(2 * B, B, 2, 2), blk(2 * B, B); s.o = nn.Conv3d(B, 1, 1)
        def forward(s, x):
            e0 = s.e0(x); e1 = s.e1(F.max_pool3d(e0, 2)); e2 = s.e2(F.max_pool3d(e1, 2))
            return s.o(s.d0(torch.cat([s.u0(s.d1(torch.cat([s.u1(e2), e1], 1))), e0], 1)))
    m = U(); x = torch.randn(1, 1, d, d, d)
    with torch.no_grad():
        m(x); ts = []
        for _ in range(5):
            t = time.perf_counter(); m(x); ts.append(time.perf_counter() - t)
    opt = torch.optim.AdamW(m.parameters(), 1e-4); ts2 = []
    for _ in range(4):
        t0 = time.perf_counter(); opt.zero_grad(); m(x).square().mean().backward(); opt.step(); ts2.append(time.perf_counter() - t0)
    return sorted(ts)[2], sorted(ts2)[1]


def main():
    tomo = sys.argv[1] if len(sys.argv) > 1 and not sys.argv[1].startswith("--") else ".build/release/tomostore"
    mine = json.loads(subprocess.run([tomo, "bench", "engine", "--json"], capture_output=True, text=True, check=True).stdout)
    voxels = 64 ** 3
    flop = mine["unet_forward_gflop"] * 1e9
    onnx = onnx_forward()
    torch = torch_times()
    print("reference 3D U-Net, 1×1×64³, base 16, depth 3, 2 threads\n")
    print("| engine | forward s | Mvoxel/s | effective GFLOP/s | training step s |")
    print("|---|---|---|---|---|")
    print(f"| TomoStore engine | {mine['unet_forward_s']:.3f} | {mine['unet_mvoxel_s']:.2f} | {mine['unet_gflops']:.0f} | {mine['train_step_s']:.3f} |")
    print(f"| ONNX Runtime | {onnx:.3f} | {voxels / onnx / 1e6:.2f} | {flop / onnx / 1e9:.0f} | — |")
    if torch:
        print(f"| PyTorch CPU | {torch[0]:.3f} | {voxels / torch[0] / 1e6:.2f} | {flop / torch[0] / 1e9:.0f} | {torch[1]:.3f} |")
    print(f"\nsgemm 2048³ ceiling: {mine['sgemm_gflops']:.0f} GFLOP/s; forward vs ONNX Runtime ×{onnx / mine['unet_forward_s']:.2f}"
          + (f"; training step vs PyTorch ×{torch[1] / mine['train_step_s']:.2f}" if torch else "; PyTorch not installed"))


if __name__ == "__main__":
    main()
