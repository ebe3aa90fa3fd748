#!/usr/bin/env python3
"""Where a volume's score at the picks is won or lost: CNR/AUC definitions of `tomostore eval` (README,
Real data), split by the angle of each pick's surface normal to the beam (z). Picks whose normal points
along z sit on surfaces the missing wedge blurs (tops and bottoms of shells).

Also prints the mean profile of the standardized volume along the pick normals (−4…+4 voxels): where
it peaks says whether the volume's surface sits on the picks or beside them.

Usage: tools/picks_by_orientation.py PICKS.csv RAW.mrc [OTHER.mrc …]
PICKS.csv has columns x, y, z (voxels) and normal_x, normal_y, normal_z (as ../shared/data/real/hiv-ts01/
picks.csv). RAW.mrc is scored as is and after the Gaussian (σ 0.5…4) with the best CNR, both signs."""
import sys
import numpy as np, mrcfile, scipy.ndimage as ndi
from scipy.stats import rankdata


def standardize(v):
    v = np.asarray(v, np.float64)
    return (v - v.mean()) / (v.std() + 1e-12)


def auc(s, b):
    r = rankdata(np.concatenate([s, b]))
    return (r[: len(s)].sum() - len(s) * (len(s) + 1) / 2) / (len(s) * len(b))


def main():
    picks_path, raw_path, *others = sys.argv[1:]
    with open(picks_path) as f:
        header = f.readline().strip().split(",")
    table = np.loadtxt(picks_path, delimiter=",", skiprows=1)
    col = {name: i for i, name in enumerate(header)}
    pos = table[:, [col["z"], col["y"], col["x"]]]
    normal = table[:, [col["normal_z"], col["normal_y"], col["normal_x"]]]
    raw = np.asarray(mrcfile.read(raw_path), np.float64)
    idx = np.round(pos).astype(int)
    inside = np.all((idx >= 0) & (idx < np.array(raw.shape)), axis=1)
    idx, pos, normal = idx[inside], pos[inside], normal[inside]
    near = np.zeros(raw.shape, bool)
    near[tuple(idx.T)] = True
    far = ndi.distance_transform_edt(~near) > 4
    along_beam = np.abs(normal[:, 0])

    def score(v):
        s, b = v[tuple(idx.T)], v[far]
        return (s.mean() - b.mean()) / b.std(), auc(s, b)

    best = max(((score(standardize(sign * ndi.gaussian_filter(raw, sigma))), sign * sigma)
                for sigma in (0.5, 1, 1.5, 2, 3, 4) for sign in (1, -1)), key=lambda x: x[0][0])
    volumes = [("raw", standardize(raw)),
               (f"Gaussian σ {best[1]:+g}", standardize(np.sign(best[1]) * ndi.gaussian_filter(raw, abs(best[1]))))]
    volumes += [(p, standardize(np.asarray(mrcfile.read(p), np.float64))) for p in others]
    bins = ((0, 0.3), (0.3, 0.6), (0.6, 0.85), (0.85, 1.01))
    print(f"{len(idx)} picks; AUC by |normal · z| (n per bin: "
          + ", ".join(str(int(((along_beam >= lo) & (along_beam < hi)).sum())) for lo, hi in bins) + ")")
    print("volume | CNR | AUC | " + " | ".join(f"AUC |nz| {lo}–{min(hi, 1)}" for lo, hi in bins)
          + " | background 99th pct | profile along the normal (−4…+4 voxels)")
    ts = np.arange(-4, 4.01, 1.0)
    for name, v in volumes:
        s, b = v[tuple(idx.T)], v[far]
        cnr, a = (s.mean() - b.mean()) / b.std(), auc(s, b)
        per_bin = [auc(s[(along_beam >= lo) & (along_beam < hi)], b) for lo, hi in bins]
        profile = [ndi.map_coordinates(v, (pos + t * normal).T, order=1).mean() for t in ts]
        print(f"{name} | {cnr:+.2f} | {a:.3f} | " + " | ".join(f"{x:.3f}" for x in per_bin)
              + f" | {np.percentile(b, 99):.2f} | " + " ".join(f"{x:+.2f}" for x in profile))


if __name__ == "__main__":
    main()
