#!/usr/bin/env python3
"""How low can tools/benchmark_simulate.py's patch classifier go on a data set? Scores volumes built from the
data set itself, which no simulation of another grand model can beat (README, "How real is a simulation"):

  halves      the data set's two halves, split across z, y and x
  residual    the data set minus a·denoised (a by least squares): its noise, with its structure removed
  stationary  a·denoised + a stationary Gaussian noise with the residual's exact 3D power spectrum, mapped
              onto the residual's histogram: the data's content, the data's noise spectrum
  per-z       the same noise scaled per z plane to the residual's sd there
  local       the same noise scaled to the residual's local sd (9^3 box)

Usage: python3 tools/classifier_floor.py tomo.mrc denoised.mrc [--seed 5]
(denoised.mrc: e.g. `tomostore denoise STORE tomo --model M -o denoised.mrc`). Both volumes (z, y, x).
"""
import sys

import mrcfile
import numpy as np
import scipy.ndimage as ndi

from benchmark_simulate import classifier_accuracy, halves_accuracy, standardized


def quantile_mapped(v, reference, levels=256):
    q = np.linspace(0, 100, levels)
    return np.interp(v, np.percentile(v, q), np.percentile(reference, q))


def main():
    args = sys.argv[1:]
    if len(args) < 2:
        sys.exit("usage: classifier_floor.py tomo.mrc denoised.mrc [--seed N]")
    seed = int(args[args.index("--seed") + 1]) if "--seed" in args else 5
    real = np.asarray(mrcfile.read(args[0]), np.float64)
    denoised = standardized(np.asarray(mrcfile.read(args[1]), np.float64))
    if denoised.shape != real.shape:
        sys.exit(f"{args[1]} is {denoised.shape} voxels and {args[0]} {real.shape}: give the same grid")
    r = standardized(real)
    a = float((r * denoised).sum() / (denoised * denoised).sum())
    residual = r - a * denoised
    white = np.random.default_rng(seed).standard_normal(r.shape)
    noise = np.real(np.fft.ifftn(np.abs(np.fft.fftn(residual)) * np.fft.fftn(white) / np.sqrt(r.size)))
    noise = standardized(quantile_mapped(noise, residual))
    per_z = residual.std(axis=(1, 2))[:, None, None]
    local = np.sqrt(ndi.uniform_filter(residual**2, 9))
    print(f"a = {a:.3f}: the denoised volume carries {100 * (a * denoised).var() / r.var():.1f}% of the variance")
    print("halves  " + ", ".join(f"{k} {v:.3f}" for k, v in halves_accuracy(real).items()))
    for name, v in (("residual", residual), ("stationary", a * denoised + noise * residual.std()),
                    ("per-z", a * denoised + noise * per_z), ("local", a * denoised + noise * local)):
        print(f"{name:10s} {classifier_accuracy(real, v):.3f}", flush=True)


if __name__ == "__main__":
    main()
