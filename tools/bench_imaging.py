#!/usr/bin/env python3
"""Gaussian filter σ = 2 on a 256³ float32 cube: `tomostore bench filter` against
scipy.ndimage.gaussian_filter in the same run (median of 3 each).

Usage: python3 tools/bench_imaging.py [path/to/tomostore] [--size 256] [--sigma 2]
"""
import json
import os
import subprocess
import sys
import time

import numpy as np
import scipy.ndimage as ndi

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from checklib import TOMO  # noqa: E402


def main():
    args = sys.argv[1:]
    opt = lambda name, default: args[args.index(name) + 1] if name in args else default
    size, sigma = int(opt("--size", 256)), float(opt("--sigma", 2))
    mine = json.loads(subprocess.run([TOMO, "bench", "filter", "--size", str(size), "--sigma", str(sigma), "--json"],
                                     capture_output=True, text=True, check=True).stdout)
    a = np.random.default_rng(1).random((size, size, size)).astype(np.float32)
    times = []
    for _ in range(3):
        t = time.perf_counter(); ndi.gaussian_filter(a, sigma); times.append(time.perf_counter() - t)
    scipy_s = sorted(times)[1]
    print(f"Gaussian σ={sigma:g} on {size}³ float32\n")
    print("| implementation | seconds | Mvoxel/s |\n|---|---|---|")
    print(f"| TomoStore (all cores) | {mine['gaussian_s']:.3f} | {mine['gaussian_mvoxel_s']:.1f} |")
    print(f"| scipy.ndimage.gaussian_filter | {scipy_s:.3f} | {a.size / scipy_s / 1e6:.1f} |")
    print(f"\nTomoStore ×{scipy_s / mine['gaussian_s']:.2f} faster than scipy")


if __name__ == "__main__":
    main()
