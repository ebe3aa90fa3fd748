#!/usr/bin/env python3
"""Writes the fuzz seed corpora (Tests/Fuzz/TARGET/*): small valid inputs of every parser `tools/fuzz`
fuzzes, made with the independent libraries (mrcfile, zstandard, xxhash, safetensors layout by hand).
Run once; the files are committed."""
import io, json, os, struct, sys
import numpy as np, mrcfile, xxhash, zstandard

root = os.path.join(os.path.dirname(__file__), "..", "Tests", "Fuzz")

def put(target, name, data):
    d = os.path.join(root, target); os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f: f.write(data)

# mrc: tiny volumes of several modes
for mode, dtype in ((0, np.int8), (1, np.int16), (2, np.float32), (6, np.uint16)):
    a = (np.arange(3 * 4 * 5) % 7).astype(dtype).reshape(3, 4, 5)
    path = f"/tmp/seed-{mode}.mrc"
    with mrcfile.new(path, overwrite=True) as m: m.set_data(a); m.voxel_size = 10
    put("mrc", f"mode{mode}.mrc", open(path, "rb").read())

# chunk: version-2 values (formats/store.md) for the fuzzer's codecs (4x4x4 float32, key 01 02 03)
key = bytes([1, 2, 3])
def chunk(codec, dtype_code, width, raw, level):
    stream = raw if codec != 2 else bytes(raw[j * (len(raw) // width) + i] for i in range(len(raw) // width) for j in range(width))
    if codec == 2:  # shuffle: byte j of voxel i at j*n + i
        n = len(raw) // width
        stream = bytes(raw[i * width + j] for j in range(width) for i in range(n))
    payload = stream if codec in (0, 3) else zstandard.ZstdCompressor(level=3, write_checksum=True, write_content_size=True).compress(stream)
    if codec == 3: payload = raw[:width]; stream = payload
    head = b"TC" + bytes([2, codec, dtype_code, level]) + b"\0\0" + struct.pack("<III", 4, 4, 4) + b"\0" * 4 + struct.pack("<Q", len(raw))
    seed = xxhash.xxh64_intdigest(head + key)
    return head + struct.pack("<Q", xxhash.xxh64_intdigest(stream, seed=seed)) + payload
f32 = np.arange(64, dtype="<f4").tobytes()
put("chunk", "raw-f32", chunk(0, 5, 4, f32, 0))
put("chunk", "zstd-f32", chunk(1, 5, 4, f32, 3))
put("chunk", "shuffle-f32", chunk(2, 5, 4, f32, 3))
put("chunk", "constant-u8", chunk(3, 0, 1, bytes(64), 0))

# catalog: an entry's JSON (the target seals it with its checksum)
entry = {"id": 1, "name": "A", "kind": "tomogram", "dtype": "float32", "shape": [60, 50, 40], "chunk": [64, 64, 64],
         "codec": "zstd:3", "shuffle": True, "fill_value": 0, "voxel_size": [10, 10, 10], "origin": [0, 0, 0],
         "attributes": {}, "created": "2026-12-02T00:00:00Z", "software_version": "0.1.0", "complete": True,
         "all_chunks_stored": True, "levels": 2, "stats": {"min": -1, "max": 1, "mean": 0, "rms": 1, "count": 5, "nan_count": 0}}
put("catalog", "entry.json", json.dumps(entry, sort_keys=True, separators=(",", ":")).encode())

# zarr: a selector byte (odd: v2 .zarray, even: v3 zarr.json), the metadata, a 0 byte, chunk 0's bytes
v3 = {"zarr_format": 3, "node_type": "array", "shape": [4, 4, 4], "data_type": "float32",
      "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": [4, 4, 4]}},
      "chunk_key_encoding": {"name": "default", "configuration": {"separator": "/"}}, "fill_value": 0,
      "codecs": [{"name": "bytes", "configuration": {"endian": "little"}}, {"name": "zstd", "configuration": {"level": 3}}]}
body = zstandard.ZstdCompressor(level=3).compress(f32)
put("zarr", "v3.bin", b"\x00" + json.dumps(v3).encode() + b"\0" + body)
v2 = {"zarr_format": 2, "shape": [4, 4, 4], "chunks": [4, 4, 4], "dtype": "<f4", "compressor": None, "fill_value": 0,
      "order": "C", "filters": None}
put("zarr", "v2.bin", b"\x01" + json.dumps(v2).encode() + b"\0" + f32)

# picks: first byte selects star (0), csv (1), json (2)
star = "data_particles\n\nloop_\n_rlnTomoName #1\n_rlnCoordinateX #2\n_rlnCoordinateY #3\n_rlnCoordinateZ #4\nTS_01 10 20 5\nTS_01 30 40 12\n"
put("picks", "relion.star", b"\x00" + star.encode())
put("picks", "picks.csv", b"\x01" + b"x,y,z\n1,2,3\n10.5,20,4\n")
put("picks", "copick.json", b"\x02" + json.dumps({"points": [{"location": {"x": 100, "y": 200, "z": 50}}]}).encode())

# safetensors: 8-byte header length, JSON header, data
header = {"w": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]}, "__metadata__": {"format": "pt"}}
h = json.dumps(header).encode()
put("safetensors", "small.safetensors", struct.pack("<Q", len(h)) + h + np.arange(4, dtype="<f4").tobytes())
print("seeds written under", os.path.normpath(root))
