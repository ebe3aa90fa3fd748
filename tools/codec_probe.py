#!/usr/bin/env python3
"""Zstd settings on the store benchmark's volume (the same tomogram-like float32 as tools/bench_store.py,
512×512×256, cut into 64³ chunks), single-threaded with python-zstandard: compression ratio and
compression seconds of byte-shuffled chunks at several levels, as one frame per chunk (store format 1)
and as one frame per byte plane storing planes raw when zstd does not shrink them (what a format 2
could do). Usage: python3 tools/codec_probe.py
"""
import time

import numpy as np
import scipy.ndimage as ndi
import zstandard as zs


def main():
    rng = np.random.default_rng(12)
    shape = (256, 512, 512)
    v = ndi.gaussian_filter(rng.standard_normal(shape).astype(np.float32), 3)
    v = (v / v.std() + 0.5 * rng.standard_normal(shape)).astype(np.float32)
    chunks = [v[z:z + 64, y:y + 64, x:x + 64].copy()
              for z in range(0, 256, 64) for y in range(0, 512, 64) for x in range(0, 512, 64)]
    raw = sum(c.nbytes for c in chunks)
    planes = [np.ascontiguousarray(c.view(np.uint8).reshape(-1, 4).T) for c in chunks]
    print("| zstd level | ratio, one frame | s | ratio, per plane (raw when larger) | s |")
    print("|---|---|---|---|---|")
    for level in [3, 2, 1, -1, -3]:
        cctx = zs.ZstdCompressor(level=level, write_checksum=True)
        t = time.perf_counter()
        whole = sum(len(cctx.compress(p.tobytes())) for p in planes)
        t_whole = time.perf_counter() - t
        t = time.perf_counter()
        per = sum(min(len(cctx.compress(p[i].tobytes())), p[i].nbytes) for p in planes for i in range(4))
        t_per = time.perf_counter() - t
        print(f"| {level} | {raw / whole:.3f} | {t_whole:.3f} | {raw / per:.3f} | {t_per:.3f} |")


if __name__ == "__main__":
    main()
