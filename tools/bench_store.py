#!/usr/bin/env python3
"""Side-by-side store benchmark: TomoStore vs TensorStore (zarr3), zarr-python v3 and raw MRC (mrcfile
mmap), on the same volume, in one run.

Usage: python3 tools/bench_store.py [path/to/tomostore] [--boxes 200] [--seed 5] [--shape 512,512,256]
       [--codecs zstd:3,zstd:1] [--baseline path/to/older/tomostore]

--codecs runs TomoStore once per codec (byte shuffle on); --baseline adds an older TomoStore build with
the same codecs, for before/after comparisons in one sitting.

Makes a tomogram-like float32 volume (Gaussian-smoothed noise, σ = 3, standardized, plus white noise of
σ = 0.5), writes it as MRC, and measures for each peer: ingest (from memory for the Python peers, from
the MRC file for TomoStore), full read, and the median time of N random unaligned 64³ box reads with
caches off and with a cache (TomoStore: its default 512 MiB decoded-chunk cache; TensorStore: a
512 MiB cache pool; zarr/mrcfile have none). All stores use 64³ chunks and zstd level 3, byte shuffle
where the peer supports it (TomoStore, zarr's blosc). Prints a Markdown table and JSON.
Requires: pip install numpy scipy mrcfile tensorstore zarr
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import mrcfile
import numpy as np
import scipy.ndimage as ndi


def median_ms(times):
    return float(np.median(times) * 1e3)


def boxes(shape, n, seed, size=64):
    rng = np.random.default_rng(seed)
    z, y, x = shape
    return [(rng.integers(0, z - size), rng.integers(0, y - size), rng.integers(0, x - size)) for _ in range(n)]


def bench_tensorstore(vol, d, box_list):
    import tensorstore as ts
    spec = {"driver": "zarr3", "kvstore": {"driver": "file", "path": d},
            "metadata": {"shape": list(vol.shape), "data_type": "float32",
                         "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": [64, 64, 64]}},
                         "codecs": [{"name": "bytes", "configuration": {"endian": "little"}},
                                    {"name": "zstd", "configuration": {"level": 3}}]}}
    t = time.perf_counter(); s = ts.open(spec, create=True).result(); s.write(vol).result(); ingest = time.perf_counter() - t
    out = {"ingest_s": ingest}
    for cache in (0, 512 << 20):
        ctx = ts.Context({"cache_pool": {"total_bytes_limit": cache}, "data_copy_concurrency": {"limit": 2}})
        s = ts.open({"driver": "zarr3", "kvstore": {"driver": "file", "path": d}}, context=ctx).result()
        if cache == 0:
            t = time.perf_counter(); s.read().result(); out["full_read_s"] = time.perf_counter() - t
        times = []
        for z, y, x in box_list:
            t = time.perf_counter(); s[z:z + 64, y:y + 64, x:x + 64].read().result(); times.append(time.perf_counter() - t)
        out["random_box_cached_ms" if cache else "random_box_ms"] = median_ms(times)
    size = sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(d) for f in fs)
    out["compression_ratio"] = vol.nbytes / size
    return out


def bench_zarr(vol, d, box_list):
    import zarr
    from zarr.codecs import BloscCodec, BloscShuffle
    t = time.perf_counter()
    a = zarr.create_array(store=d, shape=vol.shape, chunks=(64, 64, 64), dtype="float32",
                          compressors=BloscCodec(cname="zstd", clevel=3, shuffle=BloscShuffle.shuffle))
    a[:] = vol
    ingest = time.perf_counter() - t
    a = zarr.open_array(d, mode="r")
    t = time.perf_counter(); a[:]; full = time.perf_counter() - t
    times = []
    for z, y, x in box_list:
        t = time.perf_counter(); a[z:z + 64, y:y + 64, x:x + 64]; times.append(time.perf_counter() - t)
    size = sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(d) for f in fs)
    return {"ingest_s": ingest, "full_read_s": full, "random_box_ms": median_ms(times), "compression_ratio": vol.nbytes / size}


def bench_mrc(path, box_list):
    times = []
    with mrcfile.mmap(path, mode="r") as m:
        t = time.perf_counter(); np.array(m.data); full = time.perf_counter() - t
        for z, y, x in box_list:
            t = time.perf_counter(); np.array(m.data[z:z + 64, y:y + 64, x:x + 64]); times.append(time.perf_counter() - t)
    return {"full_read_s": full, "random_box_ms": median_ms(times), "compression_ratio": 1.0}


def main():
    args = sys.argv[1:]
    tomo = args[0] if args and not args[0].startswith("--") else ".build/release/tomostore"
    opt = lambda name, default: args[args.index(name) + 1] if name in args else default
    n, seed = int(opt("--boxes", 200)), int(opt("--seed", 5))
    nx, ny, nz = (int(v) for v in opt("--shape", "512,512,256").split(","))
    w = tempfile.mkdtemp(prefix="tomostore-bench-")
    rng = np.random.default_rng(12)
    vol = ndi.gaussian_filter(rng.standard_normal((nz, ny, nx)).astype(np.float32), 3)
    vol = (vol / vol.std() + 0.5 * rng.standard_normal(vol.shape)).astype(np.float32)
    path = os.path.join(w, "bench.mrc")
    with mrcfile.new(path) as m:
        m.set_data(vol)
    box_list = boxes(vol.shape, n, seed)
    results = {}
    codecs = opt("--codecs", "zstd:3").split(",")
    builds = [("TomoStore", tomo)] + ([("TomoStore baseline", opt("--baseline", ""))] if "--baseline" in args else [])
    for label, binary in builds:
        for codec in codecs:
            r = subprocess.run([binary, "bench", "store", "--input", path, "--boxes", str(n), "--box-size", "64",
                                "--seed", str(seed), "--codec", codec, "--json"], capture_output=True, text=True)
            if r.returncode != 0:
                sys.exit(f"tomostore bench failed: {r.stderr}")
            results[label if len(codecs) == 1 else f"{label} {codec}"] = json.loads(r.stdout)
    if "TomoStore" not in results:
        results["TomoStore"] = results[f"TomoStore {codecs[0]}"]
    results["TensorStore (zarr3)"] = bench_tensorstore(vol, os.path.join(w, "ts"), box_list)
    results["zarr-python 3 (blosc zstd)"] = bench_zarr(vol, os.path.join(w, "zarr"), box_list)
    results["MRC via mrcfile mmap"] = bench_mrc(path, box_list)
    shutil.rmtree(w, ignore_errors=True)
    def f(v, fmt):
        return format(v, fmt) if isinstance(v, (int, float)) else "—"
    print(f"volume {nx}×{ny}×{nz} float32, 64³ chunks, zstd 3, {n} random unaligned 64³ boxes (seed {seed})\n")
    print("| store | ingest s | full read s | random box ms (cache off) | random box ms (cache on) | compression ratio |")
    print("|---|---|---|---|---|---|")
    for name, m in results.items():
        print(f"| {name} | {f(m.get('ingest_s'), '.3f')} | {f(m.get('full_read_s'), '.3f')} | {f(m.get('random_box_ms'), '.3f')} | "
              f"{f(m.get('random_box_cached_ms'), '.3f')} | {f(m.get('compression_ratio'), '.3f')} |")
    ts_ = results["TensorStore (zarr3)"]
    for name, me in results.items():
        if not name.startswith("TomoStore"):
            continue
        print(f"\n{name} vs TensorStore: ingest ×{ts_['ingest_s'] / me['ingest_s']:.2f}, random box ×{ts_['random_box_ms'] / me['random_box_ms']:.2f} "
              f"(cache off), ×{ts_['random_box_cached_ms'] / me['random_box_cached_ms']:.2f} (cache on), ratio {me['compression_ratio']:.3f}")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
