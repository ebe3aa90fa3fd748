#!/usr/bin/env python3
"""Writes Tests/Fixtures/v1.store: a small store made by TomoStore store format version 1, kept in git
so that every later version is tested on reading it (TransferTests "format 1 fixture").

Voxels follow closed formulas (fixture_values below; the Swift test recomputes them), so the test
checks the bytes read against an independent definition, not against a copy of an earlier output.
Usage: python3 tools/make_fixture.py TOMOSTORE_BINARY
"""
import os, shutil, subprocess, sys, tempfile
import numpy as np, mrcfile

def tomogram():
    # float32 [z][y][x], 28×36×40: t = sin(0.3x) + cos(0.2y)·0.5 + 0.01·z·x − 0.25
    z, y, x = np.meshgrid(np.arange(28), np.arange(36), np.arange(40), indexing="ij")
    return (np.sin(0.3 * x) + 0.5 * np.cos(0.2 * y) + 0.01 * z * x - 0.25).astype(np.float32)

def labels():
    # uint8 [z][y][x], 28×36×40: 1 inside the sphere |p − (20,18,14)| < 9, 2 where x < 5, else 0
    z, y, x = np.meshgrid(np.arange(28), np.arange(36), np.arange(40), indexing="ij")
    out = np.zeros((28, 36, 40), np.uint8)
    out[(x - 20) ** 2 + (y - 18) ** 2 + (z - 14) ** 2 < 81] = 1
    out[x < 5] = 2
    return out

def main():
    exe = sys.argv[1]
    root = os.path.join(os.path.dirname(__file__), "..", "Tests", "Fixtures")
    store = os.path.join(root, "v1.store")
    shutil.rmtree(store, ignore_errors=True)
    tmp = tempfile.mkdtemp()
    t, l = os.path.join(tmp, "t.mrc"), os.path.join(tmp, "l.mrc")
    with mrcfile.new(t) as m:
        m.set_data(tomogram()); m.voxel_size = 12.5
    with mrcfile.new(l) as m:
        m.set_data(labels()); m.voxel_size = 12.5
    def run(*args):
        subprocess.run([exe, *args], check=True, stdout=subprocess.DEVNULL)
    run("init", store)
    run("ingest", store, t, "--name", "t1", "--chunk", "16", "--attr", "tilt_min=-60", "--attr", "tilt_max=60")
    run("ingest", store, l, "--name", "lab", "--kind", "labels", "--chunk", "16", "--classes", "1=sphere,2=slab")
    run("ingest", store, t, "--name", "raw", "--chunk", "16", "--codec", "raw")
    run("pyramid", store, "t1", "--levels", "2")
    run("derive", store, "t1/g", "--op", "gaussian", "--input", "t1", "--param", "sigma=1")
    run("materialize", store, "t1/g", "--box", "0:16,0:16,0:16")
    run("denoise", store, "t1", "--model", "default", "--name", "t1/den")
    # A compacted copy (python-lmdb, mdb_env_copy2 with MDB_CP_COMPACT): same keys and values, no free
    # pages (each ingest leaves a 4 MiB reserve in the freelist), so the fixture stays small in git.
    import lmdb
    compact = os.path.join(tmp, "compact")
    os.mkdir(compact)
    with lmdb.open(store, max_dbs=16, readonly=True, lock=False) as env:
        env.copy(compact, compact=True)
    shutil.rmtree(store)
    os.mkdir(store)
    shutil.move(os.path.join(compact, "data.mdb"), os.path.join(store, "data.mdb"))
    shutil.rmtree(tmp)
    print("wrote", store, os.path.getsize(os.path.join(store, "data.mdb")), "bytes")

if __name__ == "__main__":
    main()
