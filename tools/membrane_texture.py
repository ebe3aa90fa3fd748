#!/usr/bin/env python3
"""How a volume's membranes look against its background, in a real tomogram (at its picks) or in a corpus
sample (at its membrane labels): the numbers that tell whether a segmenter trained on one will recognise
the other (README, "Segmentation"):

  CNR, AUC   of the standardized voxel values at the membrane points against voxels farther than 4 voxels
             (`tomostore eval --picks`'s definitions)
  HF ratio   local high-frequency sd at the membrane points over the background's: the volume minus its
             Gaussian (sigma 1.5 voxels), squared, Gaussian-smoothed (sigma 1.5), square root. Above 1: the
             membranes are rougher than the background (sharp shells plus noise); below 1: smoother

Usage: python3 tools/membrane_texture.py VOLUME.{mrc,npy} (--picks PICKS.csv | --labels LABELS.{mrc,npy}
       [--class 1]) [--invert] [--points 1000]
PICKS.csv has x, y, z columns in voxels (as ../shared/data/real/hiv-ts01/picks.csv); LABELS a label volume of
the same grid (`tomostore corpus get … --volume labels`), class 1 = membrane in corpora. --invert scores
the negated volume (a dark-contrast corpus against bright-contrast data). Volumes are (z, y, x).
"""
import argparse

import mrcfile
import numpy as np
import scipy.ndimage as ndi
from scipy.stats import rankdata


def load(path):
    return np.load(path) if path.endswith(".npy") else np.asarray(mrcfile.read(path))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("volume")
    ap.add_argument("--picks")
    ap.add_argument("--labels")
    ap.add_argument("--class", dest="label_class", type=int, default=1)
    ap.add_argument("--invert", action="store_true")
    ap.add_argument("--points", type=int, default=1000, help="membrane voxels drawn from the labels")
    a = ap.parse_args()
    if (a.picks is None) == (a.labels is None):
        ap.error("give either --picks PICKS.csv or --labels LABELS")
    v = np.asarray(load(a.volume), np.float64)
    v = (v - v.mean()) / (v.std() + 1e-12) * (-1 if a.invert else 1)
    if a.picks:
        with open(a.picks) as f:
            col = {name: i for i, name in enumerate(f.readline().strip().split(","))}
        table = np.loadtxt(a.picks, delimiter=",", skiprows=1, ndmin=2)
        points = np.round(table[:, [col["z"], col["y"], col["x"]]]).astype(int)
    else:
        labels = load(a.labels)
        if labels.shape != v.shape:
            raise SystemExit(f"{a.labels} is {labels.shape} voxels and {a.volume} {v.shape}: give the same grid")
        points = np.argwhere(labels == a.label_class)
        points = points[np.random.default_rng(0).permutation(len(points))[: a.points]]
    points = points[np.all((points >= 0) & (points < np.array(v.shape)), axis=1)]
    if len(points) == 0:
        raise SystemExit("no membrane point inside the volume: check the picks' axes or the label class")
    idx = tuple(points.T)
    near = np.zeros(v.shape, bool)
    near[idx] = True
    far = ndi.distance_transform_edt(~near) > 4
    s, b = v[idx], v[far]
    cnr = (s.mean() - b.mean()) / b.std()
    ranks = rankdata(np.concatenate([s, b]))
    auc = (ranks[: len(s)].sum() - len(s) * (len(s) + 1) / 2) / (len(s) * len(b))
    high = v - ndi.gaussian_filter(v, 1.5)
    local = np.sqrt(ndi.gaussian_filter(high**2, 1.5))
    print(f"{a.volume}: {len(s)} membrane points, CNR {cnr:+.2f}, AUC {auc:.3f}, "
          f"HF ratio {local[idx].mean() / local[far].mean():.3f}")


if __name__ == "__main__":
    main()
