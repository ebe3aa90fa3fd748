#!/usr/bin/env python3
"""How a volume's power spreads over the angle to the beam, band by band: the mean log10 power of the
standardized volume in the xz plane (|ky| < 0.05 cycles/voxel) against the angle of k from x (0 deg: across
the beam, 90 deg: along it; 9 bins of 10 deg), in three |k| bands (cycles/voxel): low 0.05-0.2, mid
0.2-0.35, high 0.35-0.5. A tomogram whose tilts reach +-60 deg about y has the missing wedge above 60 deg.
"rise" is a band's mean over 30-60 deg minus its mean over 0-30 deg: how much more power lies near the
wedge's edge than across the beam (real noise: about 0; streaks along the wedge's edges: positive).

Usage: python3 tools/angular_power.py VOLUME.{mrc,npy} [...]   (arrays z, y, x)
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchmark_simulate import power_and_frequencies  # noqa: E402

BANDS = (("low", 0.05, 0.2), ("mid", 0.2, 0.35), ("high", 0.35, 0.5))


def load(path):
    if path.endswith(".npy"):
        return np.load(path)
    import mrcfile
    return mrcfile.read(path)


def profiles(v):
    """{band: 9 mean log10 powers over 0-90 deg} for a volume (z, y, x)."""
    power, k, angle, ky = power_and_frequencies(np.asarray(v, np.float64))
    plane = np.abs(ky) < 0.05
    out = {}
    for name, lo, hi in BANDS:
        band = plane & (k >= lo) & (k < hi)
        out[name] = [float(np.log10(power[band & (angle >= a) & (angle < a + 10)].mean() + 1e-30)) for a in range(0, 90, 10)]
    return out


def main():
    paths = sys.argv[1:]
    if not paths or any(p in ("-h", "--help") for p in paths):
        print(__doc__.strip())
        sys.exit(0 if paths else 2)
    for path in paths:
        try:
            v = load(path)
        except Exception as e:  # one clear line, then the next file
            print(f"{path}: cannot read: {e}", file=sys.stderr)
            sys.exit(1)
        if v.ndim != 3:
            print(f"{path}: needs a 3D volume (z, y, x), got shape {v.shape}", file=sys.stderr)
            sys.exit(1)
        p = profiles(v)
        parts = []
        for name, _, _ in BANDS:
            row = p[name]
            rise = np.mean(row[3:6]) - np.mean(row[0:3])
            parts.append(f"{name} " + " ".join(f"{x:+.2f}" for x in row) + f" (rise {rise:+.2f})")
        print(f"{path}: " + " | ".join(parts))


if __name__ == "__main__":
    main()
