#!/usr/bin/env python3
"""Memory follows the request, not the data (issue 22, defect 7): peak RSS of real tomostore processes
(`/usr/bin/time -f %M`) on inputs far larger than their bounds, with every output compared to numpy.

- inspect and convert of a 2²⁷×1×1 float32 row (512 MiB): one row longer than the slab is read in pieces;
- convert of a 16384×16384×1 float32 section (1 GiB) with --slab-mi-b 16: rows of one plane at a time;
- import-zarr of an all-fill 1024×1024×512 float32 Zarr array (2 GiB, no chunk files) and of a sharded
  array with data: chunk by chunk, never the whole array;
- with --thorough, `denoise -o` of 1024×1024×32 and 2048×2048×32 tomograms: the peak must not grow
  with the xy area (bands of ~16 Mvoxel).

Inputs are sparse files (holes read as zeros) with a few rows of random values written in, so they take
little disk. Usage: tools/memory_check.py [TOMOSTORE] [--thorough]"""
import os, shutil, struct, subprocess, sys, tempfile
import numpy as np
from checklib import TOMO, Tally

THOROUGH = "--thorough" in sys.argv
t = Tally()
W = tempfile.mkdtemp(prefix="tomostore-memory-")
MIB = 1 << 20


def path(*p): return os.path.join(W, *p)


peaks = []


def peak(*args):
    """Runs tomostore; returns (CompletedProcess, peak RSS in MiB), and keeps the figure for the summary."""
    r = subprocess.run(["/usr/bin/time", "-f", "%M", TOMO, *args], capture_output=True, text=True, timeout=1800)
    lines = r.stderr.strip().splitlines()
    rss = int(lines[-1]) / 1024 if lines and lines[-1].isdigit() else float("inf")
    peaks.append(f"{rss:.0f} MiB  tomostore {' '.join(os.path.basename(a) for a in args)}")
    return r, rss


def sparse_mrc(name, nx, ny, nz, rows):
    """A float32 MRC2014 file of nx×ny×nz voxels, zero except `rows`: {(y, z): values of length nx}."""
    h = bytearray(1024)
    struct.pack_into("<10i", h, 0, nx, ny, nz, 2, 0, 0, 0, nx, ny, nz)
    struct.pack_into("<3f", h, 40, nx * 10.0, ny * 10.0, nz * 10.0)
    struct.pack_into("<3i", h, 64, 1, 2, 3)
    h[208:212] = b"MAP "
    h[212:216] = bytes([0x44, 0x44, 0, 0])
    struct.pack_into("<i", h, 108, 20140)
    p = path(name)
    with open(p, "wb") as f:
        f.write(h)
        f.truncate(1024 + nx * ny * nz * 4)
        for (y, z), values in rows.items():
            f.seek(1024 + ((z * ny) + y) * nx * 4)
            f.write(np.asarray(values, dtype="<f4").tobytes())
    return p


def data(p, shape):
    """The voxels of a canonical float32 MRC file as a (z, y, x) memmap."""
    return np.memmap(p, dtype="<f4", mode="r", offset=1024, shape=shape)


rng = np.random.default_rng(2207)
# --- a row longer than the slab -------------------------------------------------------------------
n = 1 << 27
values = rng.standard_normal(1 << 20).astype(np.float32)
row = sparse_mrc("row.mrc", n, 1, 1, {})
with open(row, "r+b") as f:
    for k in (0, 37, 127):  # 4 MiB of values at three places
        f.seek(1024 + k * (1 << 20) * 4)
        f.write(values.tobytes())
r, rss = peak("inspect", row, "--json")
t.check(r.returncode == 0 and rss < 128, f"inspect of a 512 MiB row: rc {r.returncode}, peak {rss:.0f} MiB (want < 128)")
if r.returncode == 0:
    import json
    stats = json.loads(r.stdout)["stats"]
    want = np.concatenate([values, values, values, np.zeros(n - 3 * values.size, np.float32)])
    t.check(abs(stats["mean"] - float(want.mean(dtype=np.float64))) < 1e-9 and stats["max"] == float(values.max()),
            f"inspect of a long row: stats {stats}")
    del want
r, rss = peak("convert", row, path("row2.mrc"), "--slab-mi-b", "16")
t.check(r.returncode == 0 and rss < 160, f"convert of a 512 MiB row: rc {r.returncode}, peak {rss:.0f} MiB (want < 160)")
if r.returncode == 0:
    t.check(np.array_equal(data(row, (1, 1, n)), data(path("row2.mrc"), (1, 1, n))), "convert of a long row: voxels")
    os.remove(path("row2.mrc"))
os.remove(row)

# --- a section larger than the slab ---------------------------------------------------------------
side = 16384
rows = {(y, 0): rng.standard_normal(side) for y in (0, 1, 4097, side - 1)}
sec = sparse_mrc("section.mrc", side, side, 1, rows)
r, rss = peak("convert", sec, path("section2.mrc"), "--slab-mi-b", "16")
t.check(r.returncode == 0 and rss < 160,
        f"convert of a 1 GiB section, --slab-mi-b 16: rc {r.returncode}, peak {rss:.0f} MiB (want < 160)")
if r.returncode == 0:
    a, b = data(sec, (1, side, side)), data(path("section2.mrc"), (1, side, side))
    t.check(all(np.array_equal(a[0, y], b[0, y]) for y, _ in rows) and np.array_equal(a[0, 2000:2100], b[0, 2000:2100]),
            "convert of a large section: voxels")
    os.remove(path("section2.mrc"))
os.remove(sec)

# --- import-zarr: all fill, and sharded with data --------------------------------------------------
import zarr
zarr.create_array(path("fill.zarr"), shape=(512, 1024, 1024), chunks=(64, 64, 64), dtype="float32", fill_value=0.5)
S = path("z.store")
subprocess.run([TOMO, "init", S], capture_output=True)
r, rss = peak("import-zarr", S, path("fill.zarr"), "--name", "F", "--voxel", "10", "--quiet")
t.check(r.returncode == 0 and rss < 400,
        f"import-zarr of an all-fill 2 GiB array: rc {r.returncode} {r.stderr.strip()[:120]}, peak {rss:.0f} MiB (want < 400)")
g = path("g.npy")
r = subprocess.run([TOMO, "get", S, "F", "--box", "960:1024,0:64,500:512", "-o", g], capture_output=True, text=True)
t.check(r.returncode == 0 and np.all(np.load(g) == 0.5), "import-zarr of an all-fill array: voxels are not the fill")
A = rng.standard_normal((96, 200, 150)).astype(np.float32)
z = zarr.create_array(path("shard.zarr"), shape=A.shape, chunks=(16, 32, 32), shards=(32, 64, 64), dtype="float32")
z[:] = A
r, rss = peak("import-zarr", S, path("shard.zarr"), "--name", "Sh", "--voxel", "10", "--quiet")
t.check(r.returncode == 0, f"import-zarr of a sharded array: {r.stderr.strip()[-150:]}")
r = subprocess.run([TOMO, "get", S, "Sh", "--box", "0:150,0:200,0:96", "-o", g], capture_output=True, text=True)
t.check(r.returncode == 0 and np.array_equal(np.load(g), A), "import-zarr of a sharded array: voxels")
t.check(subprocess.run([TOMO, "verify", S], capture_output=True).returncode == 0, "verify after import-zarr")
shutil.rmtree(S)

# --- denoise -o: the peak does not grow with the xy area (--thorough: minutes) --------------------
if THOROUGH:
    import mrcfile
    denoise = {}
    for side in (1024, 2048):
        with mrcfile.new(path("t.mrc"), overwrite=True) as m:
            m.set_data(rng.standard_normal((32, side, side)).astype(np.float32))
            m.voxel_size = 10
        S = path("d.store")
        shutil.rmtree(S, ignore_errors=True)
        subprocess.run([TOMO, "init", S], capture_output=True)
        subprocess.run([TOMO, "ingest", S, path("t.mrc"), "--name", "t", "--quiet"], capture_output=True)
        os.remove(path("t.mrc"))
        r, denoise[side] = peak("denoise", S, "t", "--model", "default", "-o", path("d.mrc"), "--quiet")
        t.check(r.returncode == 0, f"denoise -o {side}²: {r.stderr.strip()[-150:]}")
    t.check(denoise[2048] < 1.25 * denoise[1024] + 64 and denoise[2048] < 1024,
            f"denoise -o peak grows with the xy area: {denoise[1024]:.0f} MiB at 1024², {denoise[2048]:.0f} MiB at 2048²")

shutil.rmtree(W, ignore_errors=True)
print("peak RSS:\n  " + "\n  ".join(peaks))
sys.exit(t.finish("memory"))
