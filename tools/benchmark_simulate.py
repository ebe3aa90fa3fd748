#!/usr/bin/env python3
"""How realistic are simulated tomograms? Compares three simulations of one grand model against a noisy
data set: (a) DUAL's Gs(v + P·Gn(z)) (`tomostore simulate`), (b) the physics simulator (`tomostore synth`)
with its SNR, tilt range and defocus fitted to the data set here (the fitted values are printed), (c) the
grand model plus white Gaussian noise at the fitted SNR. Each column is a distance to the data set
(lower is closer; README, "How real is a simulation"):

  (and, for DUAL, the correlation of two simulations with different seeds: 1 = no random noise at all)
  radial     RMS difference of the radially averaged log power spectra (24 shells, 0.02-0.5 cycles/voxel,
             each spectrum's mean log removed), both volumes standardized
  wedge      RMS difference of the angular power profiles: mean log power against the angle from x in
             the xz plane (9 bins over 0-90 deg, |k| 0.05-0.35, |ky| < 0.05, mean removed): the missing wedge
  hist       L1 distance of the voxel histograms after standardization (64 bins over +-5 sd)
  peak       the largest excess of the simulation's radially detrended log power (3^3 box-smoothed) over
             the data set's largest: a periodic artefact (checkerboard, tile grid) the data lacks
  classifier held-out accuracy (5-fold) of a gradient-boosted tree classifier (scikit-learn's
             HistGradientBoostingClassifier, 150 iterations) telling the data set's 32^3 patches from the
             simulation's, on per-patch features: radial log power (10 bands), angular power (6 bands),
             7 percentiles, skewness and kurtosis; 0.5 = indistinguishable, 1.0 = always told apart.
             With --real, the same classifier between the data set's own two halves (split across z, y
             and x) is printed below the table: what the data set scores against itself

Usage:
  python3 tools/benchmark_simulate.py [path/to/tomostore] --real tomo.mrc --model own.safetensors[,other…]
      [--seed 8001] [--sim-seed 3] [--json]
  python3 tools/benchmark_simulate.py [path/to/tomostore] [--model default] [--size 160,160,80] [--seed 2345]
The second form has no data set: the "real" data is the physics simulation of a held-out sample (the
shipped model's own noisy domain), as in docs/dual-runs.md.
"""
import json
import os
import shutil
import sys
import tempfile

import numpy as np
import scipy.ndimage as ndi

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from checklib import run  # noqa: E402


def standardized(v):
    v = np.asarray(v, np.float64)
    return (v - v.mean()) / (v.std() + 1e-12)


def power_and_frequencies(v):
    """|FFT|² of the standardized volume (z, y, x), centred, and per voxel |k|, the angle from x in xz
    (degrees, 0-90) and ky, in cycles/voxel."""
    power = np.abs(np.fft.fftshift(np.fft.fftn(standardized(v)))) ** 2
    kz, ky, kx = np.meshgrid(*[np.fft.fftshift(np.fft.fftfreq(n)) for n in v.shape], indexing="ij")
    k = np.sqrt(kz**2 + ky**2 + kx**2)
    angle = np.degrees(np.arctan2(np.abs(kz), np.abs(kx) + 1e-18))
    return power, k, angle, ky


def radial_profile(v, shells=24):
    power, k, _, _ = power_and_frequencies(v)
    edges = np.linspace(0.02, 0.5, shells + 1)
    log = np.array([np.log(power[(k >= a) & (k < b)].mean() + 1e-12) for a, b in zip(edges[:-1], edges[1:])])
    return log - log.mean()


def angular_profile(v, bins=9):
    power, k, angle, ky = power_and_frequencies(v)
    band = (k > 0.05) & (k < 0.35) & (np.abs(ky) < 0.05)
    edges = np.linspace(0, 90, bins + 1)
    log = np.array([np.log(power[band & (angle >= a) & (angle < b)].mean() + 1e-12) for a, b in zip(edges[:-1], edges[1:])])
    return log - log.mean()


def histogram(v, bins=64):
    h, edges = np.histogram(np.clip(standardized(v), -5, 5), np.linspace(-5, 5, bins + 1), density=True)
    return h * (edges[1] - edges[0])


def detrended_log_power(v):
    """Log power minus its mean over |k| shells (40 up to the corner), smoothed over 3³ neighbours."""
    power, k, _, _ = power_and_frequencies(v)
    log = np.log(power + 1e-12)
    shell = np.clip(np.digitize(k, np.linspace(0, 0.87, 40)) - 1, 0, 38)
    sums, counts = np.bincount(shell.ravel(), log.ravel(), 39), np.bincount(shell.ravel(), None, 39)
    means = sums / np.maximum(counts, 1)
    return ndi.uniform_filter(log - means[shell], 3)


def patch_features(v, edge=32, step=16):
    v = standardized(v)
    kz, ky, kx = np.meshgrid(*[np.fft.fftfreq(edge)] * 3, indexing="ij")
    k = np.sqrt(kz**2 + ky**2 + kx**2)
    angle = np.degrees(np.arctan2(np.abs(kz), np.abs(kx) + 1e-9))
    radial_masks = [(k >= a) & (k < a + 0.05) for a in np.arange(0.03, 0.5, 0.05)]
    angular_masks = [(k > 0.05) & (k < 0.35) & (angle >= a) & (angle < a + 15) for a in range(0, 90, 15)]
    out = []
    for z in range(0, v.shape[0] - edge + 1, step):
        for y in range(0, v.shape[1] - edge + 1, step):
            for x in range(0, v.shape[2] - edge + 1, step):
                p = v[z:z + edge, y:y + edge, x:x + edge]
                p = (p - p.mean()) / (p.std() + 1e-9)
                f = np.abs(np.fft.fftn(p)) ** 2
                spectral = [np.log(f[m].mean() + 1e-12) for m in radial_masks + angular_masks]
                out.append(spectral + list(np.percentile(p, [1, 5, 25, 50, 75, 95, 99])) + [(p**3).mean(), (p**4).mean()])
    return np.array(out)


def classifier_accuracy(real, sim, seed=0):
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.model_selection import cross_val_score
    a, b = patch_features(real), patch_features(sim)
    n = min(len(a), len(b))
    rng = np.random.default_rng(seed)
    a, b = a[rng.permutation(len(a))[:n]], b[rng.permutation(len(b))[:n]]
    clf = HistGradientBoostingClassifier(max_iter=150, random_state=seed)
    return float(cross_val_score(clf, np.concatenate([a, b]), np.r_[np.zeros(n), np.ones(n)], cv=5).mean())


def halves_accuracy(real):
    """The classifier between the data set's own two halves, split across z, y and x (the middle plane of an
    odd extent is left out): the accuracy that the data set reaches against itself, a floor for a simulation."""
    out = {}
    for axis, name in enumerate("zyx"):
        n, extent = real.shape[axis] // 2, real.shape[axis]
        first, last = np.take(real, range(n), axis=axis), np.take(real, range(extent - n, extent), axis=axis)
        out[name] = classifier_accuracy(first, last)
    return out


class Reference:
    """The data set's statistics, computed once."""

    def __init__(self, real):
        self.real = real
        self.radial, self.wedge, self.hist = radial_profile(real), angular_profile(real), histogram(real)
        self.peak = detrended_log_power(real).max()

    def radial_distance(self, v):
        return float(np.sqrt(np.mean((radial_profile(v) - self.radial) ** 2)))

    def wedge_distance(self, v):
        return float(np.sqrt(np.mean((angular_profile(v) - self.wedge) ** 2)))

    def distances(self, v):
        return {
            "radial": self.radial_distance(v),
            "wedge": self.wedge_distance(v),
            "hist": float(np.abs(histogram(v) - self.hist).sum()),
            "peak": float(detrended_log_power(v).max() - self.peak),
            "classifier": classifier_accuracy(self.real, v),
        }


def fail(r, what):
    if r.returncode:
        sys.exit(f"benchmark_simulate: {what} failed: {r.stderr.strip()[-300:]}")
    return r


class Session:
    def __init__(self, work):
        self.work = work
        self.store = os.path.join(work, "s.store")
        fail(run("init", self.store), "init")

    def volume(self, dataset):
        out = os.path.join(self.work, dataset.replace("/", "_") + ".npy")
        fail(run("get", self.store, dataset, "-o", out), f"get {dataset}")
        return np.load(out).astype(np.float64)

    def mrc(self, path):
        import mrcfile
        return np.asarray(mrcfile.read(path), np.float64)

    def contrast(self, dataset):
        j = json.loads(fail(run("info", self.store, dataset, "--json"), f"info {dataset}").stdout)
        return j.get("contrast")


def fit_physics(session, ref, size, seed, voxel, sign):
    """Coordinate search over SNR, then tilt range, then defocus, then SNR again: SNR and defocus by the
    radial distance, the tilt range by the wedge distance. Returns (parameters, tomogram)."""
    cache = {}

    def simulate(snr, tilt, defocus):
        key = (snr, tilt, defocus)
        if key not in cache:
            name = f"p{len(cache)}"
            fail(run("synth", session.store, "--name", name, "--size", size, "--seed", seed, "--voxel", str(voxel),
                     "--snr", str(snr), "--tilt", f"-{tilt}:{tilt}:3", "--defocus", str(defocus)), "synth")
            cache[key] = sign * session.volume(f"{name}/tomogram")
        return cache[key]

    snr, tilt, defocus = 0.1, 60, 3.0
    snrs, tilts, defoci = (0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0), (40, 50, 60, 70, 80), (0.5, 1.0, 2.0, 3.0, 5.0)
    snr = min(snrs, key=lambda s: ref.radial_distance(simulate(s, tilt, defocus)))
    tilt = min(tilts, key=lambda t: ref.wedge_distance(simulate(snr, t, defocus)))
    defocus = min(defoci, key=lambda d: ref.radial_distance(simulate(snr, tilt, d)))
    snr = min(snrs, key=lambda s: ref.radial_distance(simulate(s, tilt, defocus)))
    return {"snr": snr, "tilt": f"-{tilt}:{tilt}", "defocus_um": defocus}, simulate(snr, tilt, defocus)


def simulate_twice(session, grand_model, model, seed):
    """DUAL's simulation with `seed`, and the correlation with one at seed + 1: how much of the
    simulation is random noise (r = 1: none; the noise branch collapsed)."""
    out = []
    for k in (int(seed), int(seed) + 1):
        path = os.path.join(session.work, f"dual-{k}.mrc")
        fail(run("simulate", session.store, grand_model, "--model", model, "--seed", str(k), "-o", path, "--quiet"),
             f"simulate with {model}")
        out.append(session.mrc(path))
    return out[0], float(np.corrcoef(out[0].ravel(), out[1].ravel())[0, 1])


def white_noise(grand_model, reference_tomogram=None, snr=None):
    """The grand model standardized plus unit white Gaussian noise at power SNR `snr` (or the SNR of the
    grand model in `reference_tomogram`, from their correlation)."""
    if snr is None:
        r = abs(np.corrcoef(grand_model.ravel(), reference_tomogram.ravel())[0, 1])
        snr = r**2 / max(1 - r**2, 1e-6)
    return standardized(grand_model) * np.sqrt(snr) + np.random.default_rng(0).standard_normal(grand_model.shape), snr


def main():
    args = sys.argv[1:]

    def opt(name, default=None):
        return args[args.index(name) + 1] if name in args else default

    model, seed, sim_seed = opt("--model", "default"), opt("--seed"), opt("--sim-seed", "3")
    real_path = opt("--real")
    work = tempfile.mkdtemp(prefix="tomostore-bench-sim-")
    try:
        s = Session(work)
        rows, seeds_r, halves = {}, {}, None
        if real_path:
            seed = seed or "8001"
            fail(run("ingest", s.store, real_path, "--name", "real"), f"ingest {real_path}")
            real = s.volume("real")
            voxel = json.loads(run("info", s.store, "real", "--json").stdout)["voxel_size"][0]
            size = ",".join(str(n) for n in real.shape[::-1])
            # Simulations in the data set's contrast (synth tomograms are protein dark, grand models bright).
            bright = s.contrast("real") == "bright"
            ref = Reference(real)
            fail(run("synth", s.store, "--name", "h", "--size", size, "--seed", seed, "--voxel", str(voxel)), "synth")
            grand = s.volume("h/grand-model")
            for m in model.split(","):
                dual, seeds_r[m] = simulate_twice(s, "h/grand-model", m, sim_seed)
                rows["dual:" + m] = ref.distances(dual)
            fitted, physics = fit_physics(s, ref, size, seed, voxel, -1 if bright else 1)
            white, snr = white_noise(grand if bright else -grand, snr=fitted["snr"])
            label = f"{os.path.basename(real_path)} ({size} voxels, {voxel:g} A, {'bright' if bright else 'dark'})"
            rows["physics"] = ref.distances(physics)
            rows["white"] = ref.distances(white)
            halves = halves_accuracy(real)
        else:
            size, seed = opt("--size", "160,160,80"), seed or "2345"
            fail(run("synth", s.store, "--name", "h", "--size", size, "--seed", seed), "synth")
            grand, real = s.volume("h/grand-model"), s.volume("h/tomogram")
            ref = Reference(real)
            for m in model.split(","):
                dual, seeds_r[m] = simulate_twice(s, "h/grand-model", m, "1")
                rows["dual:" + m] = ref.distances(dual)
            white, snr = white_noise(-grand, real)
            label, fitted = f"held-out synth sample {size} seed {seed}", None
            rows["white"] = ref.distances(white)
        names = {
            **{"dual:" + m: f"(a) DUAL Gs(v + P·Gn(z)), model {os.path.basename(m)}" for m in model.split(",")},
            "physics": "(b) physics simulator, fitted: " + (", ".join(f"{k} {v}" for k, v in fitted.items()) if fitted else ""),
            "white": f"(c) grand model + white Gaussian noise (SNR {snr:.3f})",
        }
        if "--json" in args:
            out = {"data": label, "fitted": fitted, "rows": rows, "seeds_r": seeds_r, "halves": halves}
            print(json.dumps(out, indent=1))
            return
        print(f"distances to {label}; grand model: synth seed {seed} (lower is closer; classifier 0.5 = indistinguishable)\n")
        print("| simulation | radial | wedge | hist | peak | classifier |\n|---|---|---|---|---|---|")
        for key, d in rows.items():
            print(f"| {names[key]} | {d['radial']:.3f} | {d['wedge']:.3f} | {d['hist']:.3f} | {d['peak']:+.2f} | "
                  f"{d['classifier']:.3f} |")
        if halves:
            print("\nthe data set against itself, classifier between its two halves split across "
                  + ", ".join(f"{k} {v:.3f}" for k, v in halves.items()) + " (no simulation can be expected lower)")
        for m, r in seeds_r.items():
            print(f"\n{os.path.basename(m)}: correlation of two simulations of the grand model with different seeds "
                  f"r = {r:.7f} (random noise carries {100 * (1 - r):.4f}% of the variance)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
