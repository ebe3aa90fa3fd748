#!/usr/bin/env python3
"""The paper's Tables 1–2 on held-out synthetic samples: PSNR, SSIM and Pearson r against the grand
model for None, the best Gaussian (σ and contrast sign chosen on the truth, as a generous baseline),
NAD, DUAL, and a null row (the grand model of an unrelated sample); then DoG picking on each (best
polarity), two ways: a fixed protocol (σ 3, top 300 picks: precision / recall / F1), and each row at
its best σ among 2…8 with as many picks as the sample has particles (so precision = recall = F1),
the same tuning for every row, as the classical filters get their best σ. Everything runs through the
`tomostore` CLI.

Usage: python3 tools/benchmark_denoise.py [path/to/tomostore] [--model default|FILE] [--size 160,160,80] [--seeds 2345,3456] [--overlap 0.25]
Requires: pip install numpy scipy scikit-image
"""
import json
import os
import shutil
import sys
import tempfile

import numpy as np
import scipy.ndimage as ndi
from skimage.metrics import structural_similarity

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from checklib import run  # noqa: E402


def std(a):
    return (a - a.mean()) / a.std()


def score(g, v):
    q = std(v)
    R = float(g.max() - g.min())
    return (10 * np.log10(R ** 2 / np.mean((g - q) ** 2)), structural_similarity(g, q, win_size=7, data_range=R),
            float(np.corrcoef(g.ravel(), q.ravel())[0, 1]))


TUNED_SIGMAS = [2, 3, 4, 5, 6, 7, 8]


def pick_best(S, w, ds, truth, polarities, sigmas, top):
    """The best DoG picking result (highest F1) over σ and polarity, as pick --json reports it plus
    the σ used; minimum distance 8 voxels, matches within pick's default distance."""
    best = None
    for sigma in sigmas:
        for p in polarities:
            out = json.loads(run("pick", S, ds, "--sigma", str(sigma), "--top", str(top), "--min-distance", "8", "--polarity", p,
                                 "--truth", truth, "--json", "-o", os.path.join(w, "p.csv")).stdout or "{}")
            if out and (best is None or out["f1"] > best["f1"]):
                best = dict(out, sigma=sigma)
    return best


def main():
    args = sys.argv[1:]
    opt = lambda name, default: args[args.index(name) + 1] if name in args else default
    model, size, overlap = opt("--model", "default"), opt("--size", "160,160,80"), opt("--overlap", None)
    seeds = [int(s) for s in opt("--seeds", "2345").split(",")]
    nx, ny, nz = (int(v) for v in size.split(","))
    w = tempfile.mkdtemp(prefix="tomostore-bench-denoise-")
    S = os.path.join(w, "s.store")
    run("init", S)
    rows = {}
    for seed in seeds:
        for name, sd in (("h", seed), ("u", seed + 1_000_003)):
            r = run("synth", S, "--name", f"{name}{seed}", "--size", size, "--seed", str(sd), "--voxel", "10")
            if r.returncode:
                sys.exit(r.stderr)
        def npy(ds):
            out = os.path.join(w, ds.replace("/", "_") + ".npy")
            r = run("get", S, ds, "-o", out)
            if r.returncode:
                sys.exit(r.stderr)
            return np.load(out).astype(np.float64)
        truth, tomo, null = npy(f"h{seed}/grand-model"), npy(f"h{seed}/tomogram"), npy(f"u{seed}/grand-model")
        truths = len(run("particles", S, f"h{seed}").stdout.strip().splitlines()) - 1
        g = std(truth)
        cands = [(sign * s, score(g, sign * ndi.gaussian_filter(tomo, s))) for s in (0.5, 1, 1.5, 2, 3, 4) for sign in (1, -1)]
        gbest = max(cands, key=lambda c: c[1][1])
        run("filter", S, f"h{seed}/tomogram", "--nad", "--kappa", "1", "--iterations", "15", "--name", f"h{seed}/nad", "--quiet")
        nad = npy(f"h{seed}/nad")
        nad_sign = max((1, -1), key=lambda s: score(g, s * nad)[1])
        r = run("denoise", S, f"h{seed}/tomogram", "--model", model, "--name", f"h{seed}/dual", *(["--overlap", overlap] if overlap else []))
        dual = npy(f"h{seed}/dual") if r.returncode == 0 else None
        if dual is None:
            print("denoise failed:", r.stderr.strip())
        entries = [("None (raw, inverted)", -tomo, f"h{seed}/tomogram", "dark"),
                   (f"Gaussian σ {abs(gbest[0])}{' inverted' if gbest[0] < 0 else ''}", np.sign(gbest[0]) * ndi.gaussian_filter(tomo, abs(gbest[0])), None, None),
                   ("NAD" + (" inverted" if nad_sign < 0 else ""), nad_sign * nad, f"h{seed}/nad", "dark" if nad_sign < 0 else "bright"),
                   ("DUAL", dual, f"h{seed}/dual", None), ("null (unrelated grand model)", null, None, None)]
        # Gaussian picks come from a filtered dataset so the CLI can pick on it.
        run("filter", S, f"h{seed}/tomogram", "--gaussian", str(abs(gbest[0])), "--name", f"h{seed}/gauss", "--quiet")
        entries[1] = (entries[1][0], entries[1][1], f"h{seed}/gauss", "bright" if gbest[0] > 0 else "dark")
        for label, vol, ds, pol in entries:
            if vol is None:
                continue
            f1 = tuned = None
            if ds:
                pols = [pol] if pol else ["dark", "bright"]
                f1 = pick_best(S, w, ds, f"h{seed}", pols, sigmas=[3], top=300)
                tuned = pick_best(S, w, ds, f"h{seed}", pols, sigmas=TUNED_SIGMAS, top=truths)
            rows.setdefault(label.split(" σ")[0] if label.startswith("Gaussian") else label, []).append((label, score(g, vol), f1, tuned))
    print(f"held-out synthetic samples {size} at 10 Å (seeds {seeds}); model {model}\n")
    print("| method | PSNR (dB) | SSIM | Pearson r | picking precision | recall | F1 | F1, best σ, top = true count (σ per sample) |\n|---|---|---|---|---|---|---|---|")
    for key, items in rows.items():
        ps = np.mean([i[1][0] for i in items]); ss = np.mean([i[1][1] for i in items]); rr = np.mean([i[1][2] for i in items])
        picks = [i[2] for i in items if i[2]]
        pick = (f"{np.mean([p['precision'] for p in picks]):.3f} | {np.mean([p['recall'] for p in picks]):.3f} | {np.mean([p['f1'] for p in picks]):.3f}"
                if picks else "— | — | —")
        tuned = [i[3] for i in items if i[3]]
        tuned_text = f"{np.mean([p['f1'] for p in tuned]):.3f} ({', '.join(str(p['sigma']) for p in tuned)})" if tuned else "—"
        print(f"| {items[0][0]} | {ps:.2f} | {ss:.4f} | {rr:+.3f} | {pick} | {tuned_text} |")
    shutil.rmtree(w, ignore_errors=True)


if __name__ == "__main__":
    main()
