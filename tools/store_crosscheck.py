#!/usr/bin/env python3
"""Cross-checks TomoStore's store against the independent Python reader (tools/read_store.py),
numpy and mrcfile.

Usage: python3 tools/store_crosscheck.py [path/to/tomostore]

Builds a store with the CLI from MRC files written by mrcfile (float32, big-endian int16 with a
permuted axis order, sparse uint16 labels, raw and unshuffled codecs, odd chunk shapes), then checks
that read_store.py, reading only what formats/store.md specifies, returns exactly the data mrcfile
reads, that every chunk's XXH64 verifies, that `tomostore get` .npy files equal the same boxes, that
catalog entries agree with `tomostore info --json`, and that a flipped bit is caught by both readers.
Prints 'N passed, M failed' last; exit status 1 on any failure.
"""
import json
import os
import shutil
import struct
import sys
import tempfile

import lmdb
import mrcfile
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from checklib import Tally, run  # noqa: E402
from read_store import CorruptStore, TomoStoreReader  # noqa: E402

tally = Tally()
check = tally.check


def main():
    rng = np.random.default_rng(33)
    w = tempfile.mkdtemp(prefix="tomostore-store-crosscheck-")
    vol = rng.standard_normal((37, 70, 83)).astype(np.float32)
    lab = np.zeros((40, 64, 96), np.uint16)
    lab[5:12, 10:30, 20:40] = 3
    lab[30:33, 50:60, 70:90] = 7
    perm = rng.integers(-3000, 3000, (23, 31, 19)).astype(np.int16)
    files = {}
    for name, a in [("vol", vol), ("lab", lab)]:
        files[name] = os.path.join(w, name + ".mrc")
        with mrcfile.new(files[name]) as m:
            m.set_data(a)
            m.voxel_size = (13.48, 13.48, 13.48)
    # big-endian, stored with axes (mapc, mapr, maps) = (2, 3, 1): canonical [z][y][x] -> file [x][z][y]
    files["perm"] = os.path.join(w, "perm.mrc")
    with mrcfile.new(files["perm"]) as m:
        m.set_data(np.ascontiguousarray(np.transpose(perm, (2, 0, 1))).astype(">i2"))
        m.header.mapc, m.header.mapr, m.header.maps = 2, 3, 1
    S = os.path.join(w, "s.store")
    check(run("init", S).returncode == 0, "init")
    plans = [("vol", "vol", ["--chunk", "32,16,8"]), ("vol_raw", "vol", ["--codec", "raw"]),
             ("vol_noshuffle", "vol", ["--codec", "zstd:7", "--no-shuffle", "--chunk", "50"]),
             ("lab", "lab", ["--kind", "labels", "--chunk", "32"]), ("perm", "perm", ["--chunk", "8,8,8"])]
    for ds, src, extra in plans:
        r = run("ingest", S, files[src], "--name", ds, "--quiet", *extra)
        check(r.returncode == 0, f"ingest {ds}: {r.stderr.strip()[:200]}")
    truth = {"vol": vol, "vol_raw": vol, "vol_noshuffle": vol, "lab": lab, "perm": perm}
    with TomoStoreReader(S) as s:
        check(s.datasets() == [p[0] for p in plans], f"datasets {s.datasets()}")
        for ds, a in truth.items():
            info = s.info(ds)
            cli = json.loads(run("info", S, ds, "--json").stdout or "{}")
            for key in ("id", "name", "kind", "dtype", "shape", "chunk", "codec", "shuffle", "complete", "voxel_size"):
                check(info.get(key) == cli.get(key), f"{ds}: catalog {key} {info.get(key)} vs info --json {cli.get(key)}")
            whole = s.read(ds, verify=True)
            check(whole.dtype == a.dtype and np.array_equal(whole, a), f"{ds}: whole volume differs")
            nz, ny, nx = a.shape
            for _ in range(8):
                x0, y0, z0 = rng.integers(0, nx), rng.integers(0, ny), rng.integers(0, nz)
                x1, y1, z1 = rng.integers(x0 + 1, nx + 1), rng.integers(y0 + 1, ny + 1), rng.integers(z0 + 1, nz + 1)
                box = s.read(ds, (x0, x1), (y0, y1), (z0, z1))
                check(np.array_equal(box, a[z0:z1, y0:y1, x0:x1]), f"{ds}: box {x0}:{x1},{y0}:{y1},{z0}:{z1} differs")
                out = os.path.join(w, "g.npy")
                r = run("get", S, ds, "--box", f"{x0}:{x1},{y0}:{y1},{z0}:{z1}", "-o", out)
                check(r.returncode == 0 and np.array_equal(np.load(out), box), f"{ds}: tomostore get differs from read_store")
            st = info.get("stats", {})
            check(abs(st.get("mean", 1e9) - a.astype(np.float64).mean()) <= 1e-9 * max(1, abs(a.mean())) and st.get("max") == float(a.max()),
                  f"{ds}: catalog stats {st} vs numpy")
        lab_info = s.info("lab")
        counts = {str(int(k)): int(v) for k, v in zip(*np.unique(lab, return_counts=True))}
        check(lab_info.get("class_voxels") == counts, f"labels class_voxels {lab_info.get('class_voxels')} vs {counts}")
        # Format 2: an ingested dataset stores every chunk; all-fill chunks as constant values (header + 1 voxel).
        lj = json.loads(run("info", S, "lab", "--json").stdout)
        check(lj["stored_chunks"] == 2 * 2 * 3 and lab_info.get("all_chunks_stored") is True,
              f"labels: {lj['stored_chunks']} chunks stored of 12, all_chunks_stored {lab_info.get('all_chunks_stored')}")
        with s.env.begin() as txn:
            ident = struct.pack(">I", lab_info["id"])
            sizes = [len(v) for k, v in txn.cursor(db=s.db["chunks"]) if k[:4] == ident]
        width = np.dtype(lab_info["dtype"]).itemsize
        check(min(sizes) == 40 + width, f"labels: the smallest chunk value has {min(sizes)} bytes, want a constant value")
    # a flipped bit, found through LMDB, is caught by both readers
    S2 = os.path.join(w, "flip.store")
    shutil.copytree(S, S2)
    env = lmdb.open(S2, max_dbs=16)
    chunks = env.open_db(b"chunks")
    with env.begin(write=True) as txn:
        key, value = next(iter(txn.cursor(db=chunks)))
        v = bytearray(value); v[len(v) // 2] ^= 0x01
        txn.put(key, bytes(v), db=chunks)
    env.close()
    with TomoStoreReader(S2) as s:
        try:
            s.read("vol", verify=True); check(False, "read_store missed a flipped bit")
        except CorruptStore:
            check(True, "")
    r = run("verify", S2)
    check(r.returncode != 0 and "vol" in r.stdout, f"tomostore verify missed a flipped bit: {r.stdout[-200:]}")
    shutil.rmtree(w, ignore_errors=True)
    return tally.finish()


if __name__ == "__main__":
    sys.exit(main())
