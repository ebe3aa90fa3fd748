#!/usr/bin/env python3
"""Cross-checks the engine against independent implementations.

Usage: python3 tools/engine_crosscheck.py [path/to/tomostore]

- conv3d (kernel 1 and 3, stride 1 and 2, odd sizes) and the transposed convolution (k2 s2) against
  a float64 numpy implementation written from the definitions;
- the reference 3D U-Net (base 16, depth 3, 1×1×32³ and 1×1×48×32×64) against ONNX Runtime fed the
  same weights, read from the engine's safetensors file with Python's `safetensors` package.
Tolerance: relative error max|a − b| / max|b| < 1e-4. Prints 'N passed, M failed' last.
Requires: pip install numpy safetensors onnx onnxruntime
"""
import os
import sys
import tempfile

import numpy as np
from safetensors.numpy import load_file, save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from checklib import Tally, run  # noqa: E402

tally = Tally()
check = tally.check


def rel(a, b):
    return float(np.abs(a.astype(np.float64) - b).max() / max(np.abs(b).max(), 1e-30))


def conv_ref(x, w, b, stride):
    """Direct convolution in float64 with zero padding k // 2: x [N,Ci,D,H,W], w [Co,Ci,k,k,k]."""
    k = w.shape[2]; p = k // 2
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (p, p), (p, p), (p, p)))
    n, ci, d, h, wd = x.shape
    od, oh, ow = (d + 2 * p - k) // stride + 1, (h + 2 * p - k) // stride + 1, (wd + 2 * p - k) // stride + 1
    out = np.zeros((n, w.shape[0], od, oh, ow))
    for kz in range(k):
        for ky in range(k):
            for kx in range(k):
                patch = xp[:, :, kz:kz + stride * od:stride, ky:ky + stride * oh:stride, kx:kx + stride * ow:stride]
                out += np.einsum("ncdhw,oc->nodhw", patch, w[:, :, kz, ky, kx].astype(np.float64))
    return out + b.astype(np.float64)[None, :, None, None, None]


def tconv_ref(x, w, b):
    n, ci, d, h, wd = x.shape
    out = np.zeros((n, w.shape[1], 2 * d, 2 * h, 2 * wd))
    for a in range(2):
        for bb in range(2):
            for c in range(2):
                out[:, :, a::2, bb::2, c::2] = np.einsum("ncdhw,co->nodhw", x.astype(np.float64), w[:, :, a, bb, c].astype(np.float64))
    return out + b.astype(np.float64)[None, :, None, None, None]


def onnx_unet(weights, base, depth):
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    nodes, inits = [], []
    def conv(x, prefix, k=3, act=True):
        out = prefix + ".out"
        inits.append(numpy_helper.from_array(weights[prefix + ".weight"], prefix + ".weight"))
        inits.append(numpy_helper.from_array(weights[prefix + ".bias"], prefix + ".bias"))
        nodes.append(helper.make_node("Conv", [x, prefix + ".weight", prefix + ".bias"], [out], pads=[k // 2] * 6, kernel_shape=[k] * 3))
        if not act:
            return out
        nodes.append(helper.make_node("LeakyRelu", [out], [prefix + ".act"], alpha=0.2))
        return prefix + ".act"
    h, skips = "x", []
    for level in range(depth):
        if level > 0:
            nodes.append(helper.make_node("MaxPool", [h], [f"pool{level}"], kernel_shape=[2] * 3, strides=[2] * 3)); h = f"pool{level}"
        h = conv(conv(h, f"down.{level}.conv1"), f"down.{level}.conv2"); skips.append(h)
    for i in range(depth - 1):
        p = f"up.{i}.upsample"
        inits.append(numpy_helper.from_array(weights[p + ".weight"], p + ".weight"))
        inits.append(numpy_helper.from_array(weights[p + ".bias"], p + ".bias"))
        nodes.append(helper.make_node("ConvTranspose", [h, p + ".weight", p + ".bias"], [p + ".out"], kernel_shape=[2] * 3, strides=[2] * 3))
        nodes.append(helper.make_node("Concat", [p + ".out", skips[depth - 2 - i]], [f"cat{i}"], axis=1))
        h = conv(conv(f"cat{i}", f"up.{i}.conv1"), f"up.{i}.conv2")
    y = conv(h, "head", k=1, act=False)
    g = helper.make_graph(nodes, "unet", [helper.make_tensor_value_info("x", TensorProto.FLOAT, None)],
                          [helper.make_tensor_value_info(y, TensorProto.FLOAT, None)], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]); m.ir_version = 8
    import onnxruntime as ort
    return ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"]), y


def main():
    rng = np.random.default_rng(5)
    w_dir = tempfile.mkdtemp(prefix="tomostore-engine-check-")
    for i, (shape, cout, k, s) in enumerate([((1, 1, 16, 16, 16), 8, 3, 1), ((2, 3, 9, 7, 11), 5, 3, 1), ((1, 4, 10, 9, 7), 6, 3, 2),
                                             ((2, 6, 5, 6, 7), 4, 1, 1), ((1, 16, 24, 24, 24), 32, 3, 1)]):
        x = rng.standard_normal(shape).astype(np.float32)
        w = (rng.standard_normal((cout, shape[1], k, k, k)) * 0.3).astype(np.float32)
        b = rng.standard_normal(cout).astype(np.float32)
        wp, xp, yp = (os.path.join(w_dir, f"{i}-{n}") for n in ("w.safetensors", "x.npy", "y.npy"))
        save_file({"weight": w, "bias": b}, wp); np.save(xp, x)
        r = run("engine", "conv", "--weights", wp, "--input", xp, "--stride", str(s), "-o", yp)
        check(r.returncode == 0, f"conv {shape} k{k} s{s}: {r.stderr.strip()[:200]}")
        if r.returncode == 0:
            e = rel(np.load(yp), conv_ref(x, w, b, s))
            check(e < 1e-4, f"conv {shape} k{k} s{s}: relative error {e:.2e}")
    x = rng.standard_normal((2, 6, 4, 5, 3)).astype(np.float32)
    w = rng.standard_normal((6, 3, 2, 2, 2)).astype(np.float32); b = rng.standard_normal(3).astype(np.float32)
    wp, xp, yp = (os.path.join(w_dir, n) for n in ("tw.safetensors", "tx.npy", "ty.npy"))
    save_file({"weight": w, "bias": b}, wp); np.save(xp, x)
    r = run("engine", "conv", "--transposed", "--weights", wp, "--input", xp, "-o", yp)
    check(r.returncode == 0 and rel(np.load(yp), tconv_ref(x, w, b)) < 1e-4, f"transposed conv: {r.stderr.strip()[:200]}")
    for shape in [(1, 1, 32, 32, 32), (1, 1, 48, 32, 64)]:
        x = rng.standard_normal(shape).astype(np.float32)
        wp, xp, yp = (os.path.join(w_dir, n) for n in ("unet.safetensors", "ux.npy", "uy.npy"))
        np.save(xp, x)
        r = run("engine", "unet", "--seed", "11", "--save-weights", wp, "--input", xp, "-o", yp)
        check(r.returncode == 0, f"unet {shape}: {r.stderr.strip()[:200]}")
        if r.returncode != 0:
            continue
        weights = load_file(wp)
        check(weights["down.0.conv1.weight"].shape == (16, 1, 3, 3, 3) and weights["up.0.upsample.weight"].shape == (64, 32, 2, 2, 2),
              "safetensors parameter names or shapes differ from formats/weights.md")
        session, out = onnx_unet(weights, 16, 3)
        ref = session.run(None, {"x": x})[0]
        e = rel(np.load(yp), ref)
        check(e < 1e-4, f"unet {shape} vs ONNX Runtime: relative error {e:.2e}")
        print(f"unet {shape}: relative error vs ONNX Runtime {e:.2e}")
    return tally.finish()


if __name__ == "__main__":
    sys.exit(main())
