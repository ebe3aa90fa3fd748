#!/usr/bin/env python3
"""Cross-checks TomoStore's MRC reader and writer against the independent `mrcfile` package.

Usage: python3 tools/mrc_crosscheck.py [path/to/tomostore]

For files written by mrcfile (every mode it supports, both byte orders, all six axis orders,
extended headers, image stacks, 2D images) it checks that `tomostore inspect --json` reports the
canonical shape, dtype, voxel size, origin and statistics numpy computes, and that
`tomostore convert` produces a file that mrcfile validates and reads back with identical values.
Files TomoStore writes (demo output, converted files in every mode) must pass mrcfile.validate.
Tolerances: integer data and shapes exactly; mean and rms within 1e-6 relative (float64 sums);
float min/max exactly. Prints 'N passed, M failed' last; exit status 1 on any failure.
"""
import io
import json
import os
import sys
import tempfile

import mrcfile
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from checklib import Tally, run  # noqa: E402

tally = Tally()
check = tally.check


def canonical(path):
    """(data [z][y][x], voxel size xyz, origin xyz) read by mrcfile, applying mapc/mapr/maps."""
    with mrcfile.open(path, permissive=True) as m:
        a = np.asarray(m.data)
        a = a[None] if a.ndim == 2 else a
        h = m.header
        axes = [int(h.mapc), int(h.mapr), int(h.maps)]
        where = {axes[2]: 0, axes[1]: 1, axes[0]: 2}  # spatial axis -> index in [section][row][col]
        data = np.transpose(a, (where[3], where[2], where[1]))
        vs = m.voxel_size
        org = h.origin
        return data, [float(vs.x), float(vs.y), float(vs.z)], [float(org.x), float(org.y), float(org.z)]


def write_permuted(path, canon, axes, byteorder, voxel=(2.5, 3.0, 4.0), ext=None, exttyp=b"FEI1", stack=False):
    """Writes canonical data [z][y][x] with mrcfile in the file axis order `axes` (mapc, mapr, maps)."""
    # file array is [section][row][col]; section axis = maps, row = mapr, col = mapc (1=x, 2=y, 3=z)
    index_of = {3: 0, 2: 1, 1: 2}  # spatial axis -> index in canonical [z][y][x]
    file_data = np.transpose(canon, (index_of[axes[2]], index_of[axes[1]], index_of[axes[0]]))
    file_data = np.ascontiguousarray(file_data).astype(file_data.dtype.newbyteorder(byteorder))
    with mrcfile.new(path, overwrite=True) as m:
        m.set_data(file_data)
        if stack:
            m.set_image_stack()
        m.header.mapc, m.header.mapr, m.header.maps = axes
        # mx/my/mz and cella are spatial: voxel size per x, y, z
        sizes = [canon.shape[2], canon.shape[1], canon.shape[0]]
        m.header.mx, m.header.my, m.header.mz = sizes[0], sizes[1], (1 if stack else sizes[2])
        m.header.cella = (voxel[0] * sizes[0], voxel[1] * sizes[1], voxel[2] * (1 if stack else sizes[2]))
        m.header.origin = (10.5, -20.0, 30.25)
        if ext is not None:
            m.set_extended_header(np.frombuffer(ext, dtype=np.uint8))
            m.header.exttyp = exttyp


def compare_inspect(path, what):
    data, vs, org = canonical(path)
    r = run("inspect", path, "--json")
    check(r.returncode == 0, f"{what}: inspect failed: {r.stderr.strip()[:150]}")
    if r.returncode != 0:
        return
    j = json.loads(r.stdout)
    check(j["shape"] == [data.shape[2], data.shape[1], data.shape[0]], f"{what}: shape {j['shape']} vs {data.shape[::-1]}")
    check(j["dtype"] == data.dtype.name.replace(">", "").replace("<", "") or j["dtype"] == np.dtype(data.dtype.type).name,
          f"{what}: dtype {j['dtype']} vs {data.dtype}")
    check(np.allclose(j["voxel_size"], vs, rtol=1e-6), f"{what}: voxel size {j['voxel_size']} vs {vs}")
    check(np.allclose(j["origin"], org, rtol=1e-6), f"{what}: origin {j['origin']} vs {org}")
    d = data.astype(np.float64)
    st = j["stats"]
    check(st["min"] == d.min() and st["max"] == d.max(), f"{what}: min/max {st['min']},{st['max']} vs {d.min()},{d.max()}")
    check(abs(st["mean"] - d.mean()) <= 1e-6 * max(1.0, abs(d.mean())), f"{what}: mean {st['mean']} vs {d.mean()}")
    check(abs(st["rms"] - d.std()) <= 1e-6 * max(1e-12, d.std()), f"{what}: rms {st['rms']} vs {d.std()}")


def compare_convert(path, what, mode=None, expect=None):
    out = path + f".conv{mode}.mrc"
    args = ["convert", path, out] + (["--mode", str(mode)] if mode is not None else [])
    r = run(*args)
    check(r.returncode == 0, f"{what}: convert failed: {r.stderr.strip()[:150]}")
    if r.returncode != 0:
        return
    check(mrcfile.validate(out, print_file=io.StringIO()), f"{what}: converted file fails mrcfile.validate")
    data, vs, org = canonical(path)
    out_data, out_vs, out_org = canonical(out)
    want = data if expect is None else expect(data)
    check(out_data.shape == want.shape and np.array_equal(out_data.astype(np.float64), want.astype(np.float64)),
          f"{what}: converted values differ")
    check(np.allclose(out_vs, vs, rtol=1e-6) and np.allclose(out_org, org), f"{what}: converted geometry {out_vs} {out_org} vs {vs} {org}")
    with mrcfile.open(out, permissive=True) as m:
        check(int(m.header.mapc) == 1 and int(m.header.mapr) == 2 and int(m.header.maps) == 3, f"{what}: converted axes not 1,2,3")
        check(bytes(m.header.machst) == b"\x44\x44\x00\x00", f"{what}: converted machine stamp {bytes(m.header.machst)}")


def main():
    rng = np.random.default_rng(2026)
    w = tempfile.mkdtemp(prefix="tomostore-crosscheck-")
    canon = {
        "int8": rng.integers(-128, 128, (5, 7, 9)).astype(np.int8),
        "int16": rng.integers(-30000, 30000, (5, 7, 9)).astype(np.int16),
        "uint16": rng.integers(0, 65535, (5, 7, 9)).astype(np.uint16),
        "float16": (rng.standard_normal((5, 7, 9)) * 3).astype(np.float16),
        "float32": rng.standard_normal((5, 7, 9)).astype(np.float32),
    }
    permutations = [(1, 2, 3), (1, 3, 2), (2, 1, 3), (2, 3, 1), (3, 1, 2), (3, 2, 1)]
    for name, data in canon.items():
        for order in "<>":
            for axes in permutations:
                p = os.path.join(w, f"{name}_{'le' if order == '<' else 'be'}_{''.join(map(str, axes))}.mrc")
                write_permuted(p, data, axes, order)
                what = os.path.basename(p)
                compare_inspect(p, what)
                compare_convert(p, what)
    # extended header and image stack
    p = os.path.join(w, "ext.mrc")
    write_permuted(p, canon["float32"], (1, 2, 3), "<", ext=bytes(range(256)) * 4)
    compare_inspect(p, "extended header")
    compare_convert(p, "extended header")
    with mrcfile.open(p + ".convNone.mrc", permissive=True) as m:
        check(bytes(m.extended_header.tobytes()) == bytes(range(256)) * 4 and m.header.exttyp == b"FEI1",
              "extended header not carried by convert")
    p = os.path.join(w, "stack.mrc")
    write_permuted(p, canon["int16"], (1, 2, 3), ">", stack=True)
    compare_inspect(p, "image stack")
    compare_convert(p, "image stack")
    with mrcfile.open(p + ".convNone.mrc", permissive=True) as m:
        check(m.is_image_stack(), "image stack not kept as a stack")
    p = os.path.join(w, "image2d.mrc")
    with mrcfile.new(p, overwrite=True) as m:
        m.set_data(canon["float32"][0])
        m.voxel_size = 1.5
    compare_inspect(p, "2D image")
    compare_convert(p, "2D image")
    # mode changes, checked against numpy's rounding (half away from zero) and clamping
    src = os.path.join(w, "float32_le_123.mrc")
    scaled = os.path.join(w, "scaled.mrc")
    with mrcfile.new(scaled, overwrite=True) as m:
        m.set_data((canon["float32"] * 1000).astype(np.float32))
    rnd = lambda a: np.trunc(a.astype(np.float64) + np.copysign(0.5, a.astype(np.float64)))
    compare_convert(scaled, "float32->int16", 1, lambda a: np.clip(rnd(a), -32768, 32767).astype(np.int16))
    compare_convert(scaled, "float32->int8", 0, lambda a: np.clip(rnd(a), -128, 127).astype(np.int8))
    compare_convert(scaled, "float32->uint16", 6, lambda a: np.clip(rnd(a), 0, 65535).astype(np.uint16))
    compare_convert(src, "float32->float16", 12, lambda a: a.astype(np.float16))
    compare_convert(os.path.join(w, "int16_be_312.mrc"), "int16->float32", 2, lambda a: a.astype(np.float32))
    # files TomoStore writes on its own
    demo = os.path.join(w, "demo")
    r = run("demo", "--dir", demo)
    check(r.returncode == 0, f"demo failed: {r.stderr.strip()[:150]}")
    for f in sorted(x for x in os.listdir(demo) if x.endswith(".mrc")) if os.path.isdir(demo) else []:
        check(mrcfile.validate(os.path.join(demo, f), print_file=io.StringIO()), f"demo output {f} fails mrcfile.validate")
    return tally.finish()


if __name__ == "__main__":
    sys.exit(main())
