#!/usr/bin/env python3
"""Cross-checks Zarr / OME-Zarr exchange against zarr-python and TensorStore.

Usage: python3 tools/zarr_crosscheck.py [path/to/tomostore]

export-zarr (plain, sharded, OME multiscale, labels) is read back by zarr-python, TensorStore and ome-zarr;
import-zarr reads arrays zarr-python wrote (v3 plain and sharded, v2 with zstd and none) and
TensorStore wrote. Values compared exactly. Prints 'N passed, M failed' last.
Requires: pip install numpy mrcfile zarr tensorstore ome-zarr
"""
import os
import sys
import tempfile

import mrcfile
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from checklib import Tally, run  # noqa: E402

tally = Tally()
check = tally.check


def main():
    import tensorstore as ts
    import zarr
    rng = np.random.default_rng(3)
    w = tempfile.mkdtemp(prefix="tomostore-zarr-check-")
    vol = rng.standard_normal((33, 41, 50)).astype(np.float32)
    lab = (rng.random((33, 41, 50)) * 4).astype(np.uint16)
    S = os.path.join(w, "s.store")
    run("init", S)
    for name, a, kind in (("v", vol, "tomogram"), ("l", lab, "labels")):
        p = os.path.join(w, name + ".mrc")
        with mrcfile.new(p) as m:
            m.set_data(a)
            m.voxel_size = 7.5
        check(run("ingest", S, p, "--name", name, "--kind", kind, "--chunk", "16").returncode == 0, f"ingest {name}")
    for label, args, expect in (("plain", [], vol), ("sharded", ["--shard", "2"], vol)):
        out = os.path.join(w, f"{label}.zarr")
        r = run("export-zarr", S, "v", "-o", out, *args)
        check(r.returncode == 0, f"export {label}: {r.stderr.strip()[:150]}")
        check(np.array_equal(zarr.open_array(out, mode="r")[:], expect), f"zarr-python reads {label} export differently")
        t = ts.open({"driver": "zarr3", "kvstore": {"driver": "file", "path": out}}).result()
        check(np.array_equal(t.read().result(), expect), f"TensorStore reads {label} export differently")
    out = os.path.join(w, "ome.zarr")
    check(run("export-zarr", S, "l", "-o", out, "--levels", "3").returncode == 0, "export labels OME")
    g = zarr.open_group(out, mode="r")
    ome = g.attrs["ome"]
    check(np.array_equal(g["0"][:], lab), "OME level 0 differs")
    check(g["1"].shape == (17, 21, 25) and "image-label" in ome, f"OME level 1 shape {g['1'].shape} or no image-label")
    check(np.allclose(ome["multiscales"][0]["datasets"][1]["coordinateTransformations"][0]["scale"], [15, 15, 15]), "level 1 scale")
    from ome_zarr.io import parse_url
    from ome_zarr.reader import Reader
    nodes = list(Reader(parse_url(out))())
    check(len(nodes) >= 1 and np.array_equal(np.asarray(nodes[0].data[0]), lab) and len(nodes[0].data) == 3,
          "the ome-zarr package does not read the OME-Zarr export")
    # imports
    cases = []
    a = zarr.create_array(store=os.path.join(w, "in3.zarr"), shape=vol.shape, chunks=(8, 16, 32), dtype="float32"); a[:] = vol; cases.append(("v3", "in3.zarr", vol))
    a = zarr.create_array(store=os.path.join(w, "in3s.zarr"), shape=lab.shape, chunks=(8, 8, 8), shards=(16, 16, 32), dtype="uint16"); a[:] = lab; cases.append(("v3 sharded", "in3s.zarr", lab))
    from numcodecs import Zstd
    a = zarr.create_array(store=os.path.join(w, "in2.zarr"), shape=vol.shape, chunks=(10, 20, 30), dtype="float32", zarr_format=2, compressors=Zstd(level=3)); a[:] = vol; cases.append(("v2 zstd", "in2.zarr", vol))
    a = zarr.create_array(store=os.path.join(w, "in2n.zarr"), shape=vol.shape, chunks=(10, 20, 30), dtype="float32", zarr_format=2, compressors=None); a[:] = vol; cases.append(("v2 raw", "in2n.zarr", vol))
    t = ts.open({"driver": "zarr3", "kvstore": {"driver": "file", "path": os.path.join(w, "ts.zarr")}, "metadata": {"shape": list(vol.shape), "data_type": "float32",
                "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": [16, 16, 16]}}, "codecs": [{"name": "bytes", "configuration": {"endian": "little"}}, {"name": "zstd", "configuration": {"level": 3}}]}}, create=True).result()
    t.write(vol).result(); cases.append(("TensorStore", "ts.zarr", vol))
    for i, (label, path, expect) in enumerate(cases):
        r = run("import-zarr", S, os.path.join(w, path), "--name", f"imp{i}")
        check(r.returncode == 0, f"import {label}: {r.stderr.strip()[:150]}")
        o = os.path.join(w, "o.npy")
        r = run("get", S, f"imp{i}", "-o", o)
        check(r.returncode == 0 and np.array_equal(np.load(o), expect), f"import {label}: values differ")
    bad = os.path.join(w, "gz.zarr")
    from numcodecs import GZip
    a = zarr.create_array(store=bad, shape=(4, 4, 4), chunks=(4, 4, 4), dtype="float32", zarr_format=2, compressors=GZip()); a[:] = 1
    r = run("import-zarr", S, bad, "--name", "gz")
    check(r.returncode != 0 and "gzip" in r.stderr and len(r.stderr.strip().splitlines()) == 1, f"unsupported codec not refused clearly: {r.stderr[:150]}")
    return tally.finish()


if __name__ == "__main__":
    sys.exit(main())
