#!/usr/bin/env python3
"""Segmenters trained on a DUAL-simulated and on a physics-simulated corpus, scored on a real tomogram.

The paper's evidence (section 2.3, Figure 4), run with `tomostore` only:
  1. ingest the real tomogram; fit the physics simulator's SNR to it (the `synth --snr` whose radially
     averaged log power is closest to the tomogram's, over 0.02-1);
  2. a DUAL model trained on the tomogram (`train --noisy --time`), or one given with --dual-model;
  3. two corpora with one recipe (128^3 samples at the tomogram's voxel size, vesicles 100-150 nm):
     simulator dual:MODEL and physics with the fitted SNR;
  4. `segment train` on each for the same time budget and seed; `segment apply` to the tomogram;
  5. `eval --picks` of the membrane class, the raw tomogram, the best Gaussian, the default denoise.
Prints a Markdown table and writes a preview PNG of the classes over the tomogram (`tomostore preview`).

Usage: python3 tools/segment_evidence.py TOMO.mrc PICKS.star --work DIR [--budget 30m] [--dual-model M]
       [--noise-augmentation SD]
"""
import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np


def run(tomo, *args, timeout=7200):
    t0 = time.time()
    r = subprocess.run([tomo, *args], capture_output=True, text=True, timeout=timeout)
    if r.returncode:
        sys.exit(f"tomostore {' '.join(args)} failed: {r.stderr.strip()[-400:]}")
    return r, time.time() - t0


def radial_logpower(v, bins=24):
    """Mean log power of the standardized volume in 24 shells of 0.02-0.5 cycles/voxel, mean removed."""
    v = (v - v.mean()) / (v.std() + 1e-12)
    f = np.abs(np.fft.fftn(v)) ** 2
    k = np.sqrt(sum(np.meshgrid(*[np.fft.fftfreq(n) ** 2 for n in v.shape], indexing="ij")))
    edges = np.linspace(0.02, 0.5, bins + 1)
    out = np.array([np.log(f[(k >= lo) & (k < hi)].mean() + 1e-12) for lo, hi in zip(edges[:-1], edges[1:])])
    return out - out.mean()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("tomogram")
    ap.add_argument("picks")
    ap.add_argument("--work", required=True)
    ap.add_argument("--budget", default="30m", help="training time of each network")
    ap.add_argument("--dual-model", help="a DUAL model trained on the tomogram (default: train one)")
    ap.add_argument("--seed", default="1")
    ap.add_argument("--noise-augmentation", default="0", help="segment train --noise-augmentation (both segmenters)")
    ap.add_argument("--tomostore", default=os.path.join(os.path.dirname(__file__), "..", ".build", "release",
                                                         "tomostore"))
    a = ap.parse_args()
    tomo = os.path.abspath(a.tomostore)
    os.makedirs(a.work, exist_ok=True)
    store = os.path.join(a.work, "e.store")
    if not os.path.exists(store):
        run(tomo, "init", store)
        run(tomo, "ingest", store, a.tomogram, "--name", "real", "--quiet")
    info = json.loads(run(tomo, "info", store, "real", "--json")[0].stdout)
    shape = info["shape"]
    voxel = info["voxel_size"][0]
    box = ",".join(f"0:{n}" for n in shape)
    run(tomo, "get", store, "real", "--box", box, "-o", os.path.join(a.work, "real.npy"))
    real = np.load(os.path.join(a.work, "real.npy")).astype(np.float64)
    # 1. the physics simulator's SNR, fitted
    best = None
    for snr in ("0.02", "0.05", "0.1", "0.2", "0.5", "1"):
        name = "fit" + snr.replace(".", "_")
        if not any(d["name"].startswith(name + "/") for d in json.loads(run(tomo, "ls", store, "--json")[0].stdout)):
            run(tomo, "synth", store, "--name", name, "--size", ",".join(map(str, shape)), "--seed", "9001",
                "--voxel", str(voxel), "--snr", snr)
        path = os.path.join(a.work, name + ".npy")
        run(tomo, "get", store, name + "/tomogram", "--box", box, "-o", path)
        d = float(np.sqrt(np.mean((radial_logpower(real) - radial_logpower(np.load(path).astype(np.float64))) ** 2)))
        print(f"physics SNR {snr}: radial log-power distance {d:.3f}", flush=True)
        if best is None or d < best[0]:
            best = (d, snr)
    print(f"fitted SNR {best[1]}", flush=True)
    # 2. the DUAL model
    model = a.dual_model
    if not model:
        model = os.path.join(a.work, "dual.safetensors")
        if not os.path.exists(model):
            _, t = run(tomo, "train", store, "--noisy", "real", "--time", a.budget, "-o", model, "--quiet")
            print(f"DUAL trained on the tomogram in {t:.0f} s", flush=True)
    # 3. the corpora, one recipe
    recipe = ["--samples", "100000", "--size", "128,128,128", "--voxel", str(voxel), "--vesicles", "4",
              "--vesicle-diameter", "100-150", "--seed", "4201"]
    for name, sim in (("dual", ["--simulator", f"dual:{model}"]), ("physics", ["--simulator", "physics",
                                                                               "--snr", best[1]])):
        r = subprocess.run([tomo, "corpus", "info", store, name], capture_output=True, text=True)
        if r.returncode:
            run(tomo, "corpus", "create", store, name, *recipe, *sim)
    # 4. segmenters
    rows = []
    for name in ("dual", "physics"):
        seg = os.path.join(a.work, f"seg-{name}.safetensors")
        if not os.path.exists(seg):
            r, t = run(tomo, "segment", "train", store, "--corpus", name, "-o", seg, "--time", a.budget,
                       "--seed", a.seed, "--noise-augmentation", a.noise_augmentation, "--quiet")
            print(r.stdout.strip(), f"({t:.0f} s)", flush=True)
        out = f"real/seg-{name}"
        if not any(d["name"] == out + "/membrane" for d in json.loads(run(tomo, "ls", store, "--json")[0].stdout)):
            run(tomo, "segment", "apply", store, "real", "--model", seg, "--name", out, "--labels", "--quiet")
        rows.append((f"segmenter trained on the {name} corpus" + (f" (SNR {best[1]})" if name == "physics" else ""),
                     json.loads(run(tomo, "eval", store, out + "/membrane", "--picks", a.picks, "--json")[0].stdout)))
    # 5. raw, Gaussian, default denoise
    if not any(d["name"] == "real/dual" for d in json.loads(run(tomo, "ls", store, "--json")[0].stdout)):
        run(tomo, "denoise", store, "real", "--name", "real/dual", "--quiet")
    den = json.loads(run(tomo, "eval", store, "real/dual", "--picks", a.picks, "--json")[0].stdout)
    print("\n| volume | CNR at the picks | ROC AUC |\n|---|---|---|")
    print(f"| raw tomogram | {den['raw']['cnr']:+.2f} | {den['raw']['auc']:.3f} |")
    g = den["gaussian_best"]
    print(f"| best Gaussian (σ {g['sigma']}) | {g['cnr']:+.2f} | {g['auc']:.3f} |")
    print(f"| default denoise | {den['cnr']:+.2f} | {den['auc']:.3f} |")
    for label, j in rows:
        print(f"| {label}, membrane class | {j['cnr']:+.2f} | {j['auc']:.3f} |")
    png = os.path.join(a.work, "segment-preview.png")
    run(tomo, "preview", store, "real", "--with", "real/seg-dual/membrane,real/seg-physics/membrane,"
        "real/seg-dual/labels", "--axis", "z", "-o", png)
    print(f"\npreview (raw | membrane, DUAL corpus | membrane, physics corpus | labels, DUAL corpus): {png}")


if __name__ == "__main__":
    main()
