#!/usr/bin/env python3
"""An independent reader of TomoStore stores, written from formats/store.md alone.

Needs `lmdb`, `zstandard` and `numpy` (pip). Use it as a library:

    from read_store import TomoStoreReader
    with TomoStoreReader("/data/cryo.store") as s:
        print(s.datasets())                              # names
        info = s.info("tomo1")                           # the catalog entry (dict)
        box = s.read("tomo1", (0, 64), (0, 64), (10, 20))  # numpy array, shape (nz, ny, nx)

or from the shell:

    python3 tools/read_store.py STORE                      # list datasets
    python3 tools/read_store.py STORE NAME [x0:x1,y0:y1,z0:z1] [-o out.npy] [--verify]

Every catalog entry's XXH64 is checked; zstd frames are checked by their content checksum; with
`verify=True` (`--verify`) the header's XXH64 of the raw voxel bytes is recomputed too (pure Python,
slow: use it on small boxes or for tests).
"""
import json
import struct
import sys

import lmdb
import numpy as np
import zstandard

DTYPES = {0: "u1", 1: "i1", 2: "<u2", 3: "<i2", 4: "<f2", 5: "<f4", 6: "<u4"}
DTYPE_NAMES = {"uint8": 0, "int8": 1, "uint16": 2, "int16": 3, "float16": 4, "float32": 5, "uint32": 6}
MASK = (1 << 64) - 1
P1, P2, P3, P4, P5 = (0x9E3779B185EBCA87, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9,
                      0x85EBCA77C2B2AE63, 0x27D4EB2F165667C5)


def _rotl(x, r):
    return ((x << r) | (x >> (64 - r))) & MASK


def _round(acc, lane):
    return (_rotl((acc + lane * P2) & MASK, 31) * P1) & MASK


def xxh64(data, seed=0):
    """XXH64 of bytes (uses the `xxhash` package when installed, else pure Python)."""
    try:
        import xxhash
        return xxhash.xxh64_intdigest(data, seed)
    except ImportError:
        pass
    n, p = len(data), 0
    if n >= 32:
        v = [(seed + P1 + P2) & MASK, (seed + P2) & MASK, seed, (seed - P1) & MASK]
        lanes = struct.unpack_from("<%dQ" % (n // 32 * 4), data)
        for i in range(0, len(lanes), 4):
            v[0] = _round(v[0], lanes[i]); v[1] = _round(v[1], lanes[i + 1])
            v[2] = _round(v[2], lanes[i + 2]); v[3] = _round(v[3], lanes[i + 3])
        p = n // 32 * 32
        h = (_rotl(v[0], 1) + _rotl(v[1], 7) + _rotl(v[2], 12) + _rotl(v[3], 18)) & MASK
        for x in v:
            h = ((h ^ _round(0, x)) * P1 + P4) & MASK
    else:
        h = (seed + P5) & MASK
    h = (h + n) & MASK
    while p + 8 <= n:
        h = (_rotl(h ^ _round(0, struct.unpack_from("<Q", data, p)[0]), 27) * P1 + P4) & MASK
        p += 8
    if p + 4 <= n:
        h = (_rotl(h ^ (struct.unpack_from("<I", data, p)[0] * P1 & MASK), 23) * P2 + P3) & MASK
        p += 4
    while p < n:
        h = (_rotl(h ^ (data[p] * P5 & MASK), 11) * P1) & MASK
        p += 1
    h ^= h >> 33; h = (h * P2) & MASK
    h ^= h >> 29; h = (h * P3) & MASK
    return h ^ (h >> 32)


class CorruptStore(Exception):
    """Raised when a catalog entry or chunk fails its checks."""


class TomoStoreReader:
    """Read-only access to a TomoStore store (formats/store.md)."""

    def __init__(self, path):
        self.env = lmdb.open(path, readonly=True, lock=False, max_dbs=16, subdir=True)
        self.db = {n: self.env.open_db(n.encode()) for n in ("meta", "catalog", "names", "chunks", "blobs")}
        with self.env.begin() as txn:
            fmt = json.loads(txn.get(b"format", db=self.db["meta"]))
        if fmt.get("format") != "tomostore" or fmt.get("version") not in (1, 2):
            raise CorruptStore(f"{path}: not a version-1 or -2 TomoStore store ({fmt})")

    def close(self):
        self.env.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @staticmethod
    def _entry(value):
        stored, body = struct.unpack_from("<Q", value)[0], bytes(value[8:])
        if xxh64(body) != stored:
            raise CorruptStore("catalog entry checksum mismatch")
        return json.loads(body)

    def datasets(self):
        """Names of all datasets, in id order."""
        with self.env.begin() as txn:
            return [self._entry(v)["name"] for _, v in txn.cursor(db=self.db["catalog"])]

    def info(self, name):
        """The catalog entry of a dataset, as a dict."""
        with self.env.begin() as txn:
            ident = txn.get(name.encode(), db=self.db["names"])
            if ident is None:
                raise KeyError(f"no dataset named {name!r}")
            return self._entry(txn.get(ident, db=self.db["catalog"]))

    def decode_chunk(self, value, info, extent, verify=False, key=b""):
        """Decodes one stored chunk value (stored under `key`) into an array of shape (ez, ey, ex).
        Header version 2 values are always checked: XXH64 of the decoded payload, seeded with XXH64 of
        header bytes 0-31 followed by the key."""
        value = bytes(value)
        if len(value) < 40 or value[:2] != b"TC" or value[2] not in (1, 2):
            raise CorruptStore("bad chunk header")
        version = value[2]
        codec, dtype_code, _level = value[3], value[4], value[5]
        ex, ey, ez = struct.unpack_from("<3I", value, 8)
        raw_size, checksum = struct.unpack_from("<QQ", value, 24)
        if dtype_code != DTYPE_NAMES[info["dtype"]] or (ex, ey, ez) != extent:
            raise CorruptStore(f"chunk header says dtype {dtype_code}, extent {(ex, ey, ez)}")
        width = np.dtype(DTYPES[dtype_code]).itemsize
        if raw_size != ex * ey * ez * width:
            raise CorruptStore("raw size does not match the extent")
        payload = value[40:]
        if codec == 0 or (codec == 3 and version == 2):
            stream = payload
        elif codec in (1, 2):
            try:
                stream = zstandard.ZstdDecompressor().decompress(payload, max_output_size=raw_size)
            except zstandard.ZstdError as e:
                raise CorruptStore(f"zstd: {e}")
        else:
            raise CorruptStore(f"unknown codec {codec}")
        if version == 2 and xxh64(stream, seed=xxh64(value[:32] + bytes(key))) != checksum:
            raise CorruptStore("checksum of the payload and its key mismatch")
        if codec == 3:
            if len(stream) != width:
                raise CorruptStore("constant payload is not one voxel")
            raw = stream * (ex * ey * ez)
        elif codec == 2:
            raw = np.frombuffer(stream, np.uint8).reshape(width, -1).T.tobytes()
        else:
            raw = stream
        if len(raw) != raw_size:
            raise CorruptStore("decoded size mismatch")
        if version == 1 and (verify or codec == 0) and xxh64(raw) != checksum:
            raise CorruptStore("raw-bytes checksum mismatch")
        return np.frombuffer(raw, DTYPES[dtype_code]).reshape(ez, ey, ex)

    def read(self, name, xr=None, yr=None, zr=None, verify=False):
        """Reads the box [x0, x1) × [y0, y1) × [z0, z1) (default: all) as an array (nz, ny, nx)."""
        info = self.info(name)
        if not info["complete"]:
            raise CorruptStore(f"dataset {name!r} is incomplete")
        nx, ny, nz = info["shape"]
        cx, cy, cz = info["chunk"]
        xr, yr, zr = xr or (0, nx), yr or (0, ny), zr or (0, nz)
        for (a, b), n in ((xr, nx), (yr, ny), (zr, nz)):
            if not (0 <= a < b <= n):
                raise ValueError(f"box outside the volume 0:{nx},0:{ny},0:{nz}")
        dtype = DTYPES[DTYPE_NAMES[info["dtype"]]]
        out = np.full((zr[1] - zr[0], yr[1] - yr[0], xr[1] - xr[0]), info["fill_value"], dtype=dtype)
        ident = struct.pack(">I", info["id"])
        with self.env.begin() as txn:
            for kz in range(zr[0] // cz, (zr[1] - 1) // cz + 1):
                for ky in range(yr[0] // cy, (yr[1] - 1) // cy + 1):
                    for kx in range(xr[0] // cx, (xr[1] - 1) // cx + 1):
                        key = ident + b"\x00" + struct.pack(">3I", kz, ky, kx)
                        value = txn.get(key, db=self.db["chunks"])
                        if value is None:
                            if info.get("all_chunks_stored"):
                                raise CorruptStore(f"dataset {name!r} chunk (x {kx}, y {ky}, z {kz}) is missing")
                            continue
                        x0, y0, z0 = kx * cx, ky * cy, kz * cz
                        extent = (min(cx, nx - x0), min(cy, ny - y0), min(cz, nz - z0))
                        try:
                            chunk = self.decode_chunk(value, info, extent, verify, key)
                        except CorruptStore as e:
                            raise CorruptStore(f"dataset {name!r} chunk (x {kx}, y {ky}, z {kz}): {e}")
                        sx = slice(max(xr[0], x0), min(xr[1], x0 + extent[0]))
                        sy = slice(max(yr[0], y0), min(yr[1], y0 + extent[1]))
                        sz = slice(max(zr[0], z0), min(zr[1], z0 + extent[2]))
                        out[sz.start - zr[0]:sz.stop - zr[0], sy.start - yr[0]:sy.stop - yr[0], sx.start - xr[0]:sx.stop - xr[0]] = \
                            chunk[sz.start - z0:sz.stop - z0, sy.start - y0:sy.stop - y0, sx.start - x0:sx.stop - x0]
        return out

    def blob(self, name, blob_name):
        """A dataset's named blob (e.g. 'mrc.extended_header'), or None."""
        ident = struct.pack(">I", self.info(name)["id"])
        with self.env.begin() as txn:
            v = txn.get(ident + blob_name.encode(), db=self.db["blobs"])
            return None if v is None else bytes(v)


def main(argv):
    if len(argv) < 2:
        print(__doc__)
        return 2
    verify = "--verify" in argv
    argv = [a for a in argv if a != "--verify"]
    out = None
    if "-o" in argv:
        i = argv.index("-o"); out = argv[i + 1]; del argv[i:i + 2]
    with TomoStoreReader(argv[1]) as s:
        if len(argv) == 2:
            for n in s.datasets():
                i = s.info(n)
                print(f"{n}\t{i['kind']}\t{i['dtype']}\t{'x'.join(map(str, i['shape']))}\t{'complete' if i['complete'] else 'INCOMPLETE'}")
            return 0
        ranges = [None, None, None]
        if len(argv) > 3:
            ranges = [tuple(int(v) for v in part.split(":")) for part in argv[3].split(",")]
        a = s.read(argv[2], *ranges, verify=verify)
        if out:
            np.save(out, a)
        print(f"{argv[2]}: array {a.shape} {a.dtype}, min {a.min()}, max {a.max()}, mean {a.astype(np.float64).mean():.6g}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
