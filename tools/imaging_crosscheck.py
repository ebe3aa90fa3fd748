#!/usr/bin/env python3
"""Cross-checks the imaging module against scipy and scikit-image through the CLI.

Usage: python3 tools/imaging_crosscheck.py [path/to/tomostore]

- `tomostore filter --gaussian σ` / `--dog σ` (computed tile by tile with a halo; small chunks so
  that many tiles meet) against scipy.ndimage.gaussian_filter(mode="reflect"): relative error < 1e-5;
- `derive --op wedge-mask` (hard and raised-cosine edges, beam z and x, asymmetric ranges: the weight
  `compensate` uses) against numpy's rfftn with the weight computed here: relative error < 1e-5;
- `tomostore eval` against the paper's definitions computed with numpy and
  skimage.metrics.structural_similarity(win_size=7, data_range=R): |Δ| < 1e-4 (SSIM), 1e-6 (PSNR).
Prints 'N passed, M failed' last. Requires: pip install numpy scipy scikit-image mrcfile
"""
import json
import os
import sys
import tempfile

import mrcfile
import numpy as np
import scipy.ndimage as ndi
from skimage.metrics import structural_similarity

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from checklib import Tally, run, wedge_weight  # noqa: E402

tally = Tally()
check = tally.check


def main():
    rng = np.random.default_rng(21)
    w = tempfile.mkdtemp(prefix="tomostore-imaging-check-")
    truth = ndi.gaussian_filter(rng.standard_normal((37, 45, 52)), 2).astype(np.float32)
    test = (truth + 0.05 * rng.standard_normal(truth.shape)).astype(np.float32)
    S = os.path.join(w, "s.store")
    run("init", S)
    for name, a in (("truth", truth), ("test", test)):
        p = os.path.join(w, name + ".mrc")
        with mrcfile.new(p) as m:
            m.set_data(a)
        r = run("ingest", S, p, "--name", name, "--chunk", "16", "--quiet")
        check(r.returncode == 0, f"ingest {name}: {r.stderr.strip()[:200]}")
    out = os.path.join(w, "f.npy")
    for sigma in (0.8, 1.3, 3.0):
        for kind in ("gaussian", "dog"):
            name = f"{kind}{sigma}"
            r = run("filter", S, "test", f"--{kind}", str(sigma), "--name", name, "--quiet")
            check(r.returncode == 0, f"filter {name}: {r.stderr.strip()[:200]}")
            r = run("get", S, name, "-o", out)
            if r.returncode != 0:
                check(False, f"get {name}: {r.stderr.strip()[:200]}"); continue
            a = test.astype(np.float64)
            ref = ndi.gaussian_filter(a, sigma, mode="reflect")
            if kind == "dog":
                ref = ref - ndi.gaussian_filter(a, 1.1 * sigma, mode="reflect")
            got = np.load(out)
            err = float(np.abs(got - ref).max() / np.abs(ref).max())
            check(err < 1e-5, f"{name}: relative error {err:.2e} vs scipy")
    # the missing wedge, hard and smooth (compensate's weight), against numpy's FFT
    for lo, hi, beam, transition in ((-60, 60, "z", 0), (-50, 60, "z", 8), (-45, 55, "x", 6)):
        name = f"wedge{lo}{hi}{beam}{transition}"
        r = run("derive", S, name, "--op", "wedge-mask", "--input", "test", "--param", f"tilt_min={lo}", "--param", f"tilt_max={hi}",
                "--param", f"beam={beam}", "--param", f"transition={transition}")
        check(r.returncode == 0, f"derive {name}: {r.stderr.strip()[:200]}")
        r = run("get", S, name, "-o", out)
        if r.returncode != 0:
            check(False, f"get {name}: {r.stderr.strip()[:200]}"); continue
        ref = np.fft.irfftn(np.fft.rfftn(test.astype(np.float64)) * (1 - wedge_weight(test.shape, lo, hi, beam, transition, half=True)), s=test.shape, axes=(0, 1, 2))
        err = float(np.abs(np.load(out) - ref).max() / np.abs(ref).max())
        check(err < 1e-5, f"{name}: relative error {err:.2e} vs numpy")
    r = run("eval", S, "--truth", "truth", "--test", "test", "--json")
    e = json.loads(r.stdout) if r.returncode == 0 else {}
    g = (truth.astype(np.float64) - truth.mean()) / truth.std()
    q = (test.astype(np.float64) - test.mean()) / test.std()
    R = float(g.max() - g.min())
    ssim = structural_similarity(g, q, win_size=7, data_range=R)
    psnr = 10 * np.log10(R ** 2 / np.mean((g - q) ** 2))
    check(abs(e.get("ssim", 9) - ssim) < 1e-4, f"SSIM {e.get('ssim')} vs skimage {ssim}")
    check(abs(e.get("psnr", 99) - psnr) < 1e-6 * max(1, abs(psnr)), f"PSNR {e.get('psnr')} vs {psnr}")
    print(f"SSIM {e.get('ssim')} (skimage {ssim}), PSNR {e.get('psnr')} (numpy {psnr})")
    # preview PNGs decode with Python's zlib: right size, every CRC right
    import struct, zlib
    png = os.path.join(w, "p.png")
    r = run("preview", S, "truth", "--with", "test", "--axis", "y", "--spectrum", "-o", png)
    check(r.returncode == 0, f"preview: {r.stderr.strip()[:200]}")
    if r.returncode == 0:
        data = open(png, "rb").read()
        pos, idat, width, height, crc_ok = 8, b"", 0, 0, True
        while pos < len(data):
            n, kind = struct.unpack(">I4s", data[pos:pos + 8]); body = data[pos + 8:pos + 8 + n]
            crc_ok &= zlib.crc32(kind + body) == struct.unpack(">I", data[pos + 8 + n:pos + 12 + n])[0]
            if kind == b"IHDR": width, height = struct.unpack(">II", body[:8])
            if kind == b"IDAT": idat += body
            pos += 12 + n
        raw = zlib.decompress(idat)
        check(crc_ok and width == 3 * 52 + 2 * 4 and height == 37 and len(raw) == height * (width + 1), f"preview PNG: {width}x{height}, crc {crc_ok}")
    return tally.finish()


if __name__ == "__main__":
    sys.exit(main())
