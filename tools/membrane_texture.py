#!/usr/bin/env python3
"""How a volume's membranes look against its background, in a real tomogram (at its picks) or in a corpus
sample (at its membrane labels): the numbers that tell whether a segmenter trained on one will recognise
the other (README, "Segmentation"):

  CNR, AUC   of the standardized voxel values at the membrane points against voxels farther than 4 voxels
             (`tomostore eval --picks`'s definitions)
  HF ratio   local high-frequency sd at the membrane points over the background's: the volume minus its
             Gaussian (sigma 1.5 voxels), squared, Gaussian-smoothed (sigma 1.5), square root. Above 1: the
             membranes are rougher than the background (sharp shells plus noise); below 1: smoother
  AUC by |n·z| the AUC of the membrane points whose surface normal makes |n·z| < 0.3 (normal across the
             beam), 0.3–0.6, 0.6–0.85 and > 0.85 (along the beam: tops and bottoms of shells, which the
             missing wedge blurs), against the same background. Normals: the picks' normal_x/y/z columns, or
             for labels the Hessian's most negative eigenvector of the membrane mask smoothed with sigma 2

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
        normals = table[:, [col["normal_z"], col["normal_y"], col["normal_x"]]] if "normal_z" in col else None
    else:
        labels = load(a.labels)
        if labels.shape != v.shape:
            raise SystemExit(f"{a.labels} is {labels.shape} voxels and {a.volume} {v.shape}: give the same grid")
        points = np.argwhere(labels == a.label_class)
        points = points[np.random.default_rng(0).permutation(len(points))[: a.points]]
        normals = label_normals(labels == a.label_class, points)
    inside = np.all((points >= 0) & (points < np.array(v.shape)), axis=1)
    points = points[inside]
    normals = None if normals is None else normals[inside]
    if len(points) == 0:
        raise SystemExit("no membrane point inside the volume: check the picks' axes or the label class")
    idx = tuple(points.T)
    near = np.zeros(v.shape, bool)
    near[idx] = True
    far = ndi.distance_transform_edt(~near) > 4
    s, b = v[idx], v[far]
    cnr = (s.mean() - b.mean()) / b.std()
    high = v - ndi.gaussian_filter(v, 1.5)
    local = np.sqrt(ndi.gaussian_filter(high**2, 1.5))
    line = (f"{a.volume}: {len(s)} membrane points, CNR {cnr:+.2f}, AUC {auc(s, b):.3f}, "
            f"HF ratio {local[idx].mean() / local[far].mean():.3f}")
    if normals is not None:
        nz = np.abs(normals[:, 0]) / (np.linalg.norm(normals, axis=1) + 1e-12)
        parts = []
        for lo, hi in ORIENTATION_BINS:
            inbin = (nz >= lo) & (nz < hi)
            parts.append(f"{lo}-{hi}: {auc(s[inbin], b):.3f} ({inbin.sum()})" if inbin.any() else f"{lo}-{hi}: -")
        line += ", AUC by |n·z| " + ", ".join(parts)
    print(line)


ORIENTATION_BINS = [(0, 0.3), (0.3, 0.6), (0.6, 0.85), (0.85, 1.01)]


def auc(s, b):
    """ROC AUC of s against b, ties counted one half."""
    ranks = rankdata(np.concatenate([s, b]))
    return (ranks[: len(s)].sum() - len(s) * (len(s) + 1) / 2) / (len(s) * len(b))


def label_normals(mask, points, sigma=2.0):
    """Surface normals (z, y, x) at `points` of a thin membrane mask: the eigenvector of the most negative
    eigenvalue of the smoothed mask's Hessian (the direction across the sheet)."""
    m = ndi.gaussian_filter(mask.astype(np.float64), sigma)
    grads = np.gradient(m)
    idx = tuple(points.T)
    h = np.empty((len(points), 3, 3))
    for i in range(3):
        gi = np.gradient(grads[i])
        for j in range(3):
            h[:, i, j] = gi[j][idx]
    h = (h + h.transpose(0, 2, 1)) / 2
    _, vecs = np.linalg.eigh(h)
    return vecs[:, :, 0]


if __name__ == "__main__":
    main()
