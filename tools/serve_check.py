#!/usr/bin/env python3
"""`tomostore serve` against real clients, over HTTP on 127.0.0.1: zarr-python (FsspecStore), TensorStore
(zarr3 driver, http kvstore), ome-zarr-py's reader (what napari uses), the repository's Python client
(`pip install ./python`: boxes, corpus tiles, a PyTorch DataLoader when torch is installed), every answer
compared with `tomostore get`; labels as OME label images; the safety rules (traversal, methods, token,
malformed requests, binding without a token); 16 concurrent readers while another process ingests into
the same store; peak memory; `kill -9` of the server, then `tomostore verify`.

Usage: python3 tools/serve_check.py [path/to/tomostore] [--browser]
--browser adds neuroglancer in headless Chromium (tools/setup --browser installs it): a screenshot of a
served tomogram must show it (tools/neuroglancer_check.py).
Requires: pip install numpy scipy mrcfile zarr tensorstore ome-zarr fsspec aiohttp requests zstandard
"""
import http.client
import importlib
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

import mrcfile
import numpy as np
import scipy.ndimage as ndi

from checklib import TOMO, Tally, free_port, run


def serve(store, w, *extra, host="127.0.0.1"):
    port = free_port()
    p = subprocess.Popen([TOMO, "serve", store, "--host", host, "--port", str(port), *extra],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    for _ in range(100):
        if p.poll() is not None:
            return p, port
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return p, port
        except OSError:
            time.sleep(0.1)
    return p, port


def raw(port, request):
    s = socket.create_connection(("127.0.0.1", port), 5)
    s.sendall(request)
    data = b""
    try:
        while True:
            b = s.recv(65536)
            if not b:
                break
            data += b
            if b"\r\n\r\n" in data and len(data) > 12:
                break
    except socket.timeout:
        pass
    s.close()
    return data


def get_npy(store, name, box, w):
    """`tomostore get` of a box ((z0, z1), (y0, y1), (x0, x1)) as numpy."""
    out = os.path.join(w, "get.npy")
    if os.path.exists(out):
        os.remove(out)
    spec = ",".join(f"{a}:{b}" for a, b in reversed(box))  # --box takes x, y, z
    r = run("get", store, name, "--box", spec, "-o", out)
    return np.load(out) if r.returncode == 0 else None


def main():
    tally = Tally()
    check = tally.check
    browser = "--browser" in sys.argv
    w = tempfile.mkdtemp(prefix="serve_check_")
    procs = []
    try:
        rng = np.random.default_rng(516)
        vol = ndi.gaussian_filter(rng.standard_normal((80, 150, 170)).astype(np.float32), 2)
        with mrcfile.new(os.path.join(w, "v.mrc")) as m:
            m.set_data(vol)
            m.voxel_size = 10
        S = os.path.join(w, "s.store")
        run("init", S)
        check(run("ingest", S, os.path.join(w, "v.mrc"), "--name", "exp/t1").returncode == 0, "ingest")
        run("pyramid", S, "exp/t1", "--levels", "3")
        run("derive", S, "exp/g2", "--op", "gaussian", "--input", "exp/t1", "--param", "sigma=2")
        r = run("synth", S, "--name", "sim", "--size", "48,40,32", "--seed", "3")
        check(r.returncode == 0, f"synth: {r.stderr[:150]}")
        r = run("corpus", "create", S, "c1", "--samples", "3", "--size", "32,32,32", "--seed", "11")
        check(r.returncode == 0, f"corpus create: {r.stderr[:150]}")
        p, port = serve(S, w, "--cors", "*")
        procs.append(p)
        base = f"http://127.0.0.1:{port}"
        if p.poll() is not None:
            check(False, f"serve did not start: {p.stderr.read()[:200]}")
            return tally.finish("serve")

        # zarr-python over HTTP
        import zarr
        g = zarr.open_group(store=zarr.storage.FsspecStore.from_url(base + "/", read_only=True), mode="r")
        for box in [((0, 80), (0, 150), (0, 170)), ((7, 71), (33, 150), (5, 169))]:
            sl = tuple(slice(a, b) for a, b in box)
            check(np.array_equal(np.asarray(g["exp/t1/0"][sl]), vol[sl]), f"zarr-python exp/t1 {box}")
        for level in (1, 2):
            ref = get_npy(S, "exp/t1", [(0, n) for n in g[f"exp/t1/{level}"].shape], w) if level == 0 else None
            out = os.path.join(w, f"l{level}.npy")
            run("get", S, "exp/t1", "--level", str(level), "-o", out)
            check(np.array_equal(np.asarray(g[f"exp/t1/{level}"][:]), np.load(out)), f"zarr-python level {level}")
        box = ((0, 80), (10, 100), (60, 170))
        lazy = np.asarray(g["exp/g2/0"][tuple(slice(a, b) for a, b in box)])
        check(np.array_equal(lazy, get_npy(S, "exp/g2", box, w)), "lazy derived dataset over HTTP differs from get")
        labels = g["sim/labels"]
        props = labels.attrs["ome"].get("image-label", {}).get("properties", [])
        check(len(props) >= 2 and all("label-value" in q and "name" in q for q in props),
              f"labels carry no class table: {props[:3]}")
        check(np.array_equal(np.asarray(labels["0"][:]), get_npy(S, "sim/labels", [(0, 32), (0, 40), (0, 48)], w)),
              "labels over HTTP differ")
        # TensorStore
        import tensorstore as ts
        t = ts.open({"driver": "zarr3", "kvstore": {"driver": "http", "base_url": base + "/exp/t1/0/"}}).result()
        check(np.array_equal(t[3:77, :, 100:170].read().result(), vol[3:77, :, 100:170]), "TensorStore read")
        t2 = ts.open({"driver": "zarr3", "kvstore": {"driver": "http", "base_url": base + "/exp/g2/0/"}}).result()
        check(np.array_equal(t2[0:80, 10:100, 60:170].read().result(), lazy), "TensorStore lazy read")
        # ome-zarr-py (napari's reader)
        from ome_zarr.io import parse_url
        from ome_zarr.reader import Reader
        nodes = list(Reader(parse_url(base + "/exp/t1"))())
        check(nodes and len(nodes[0].data) == 3 and tuple(nodes[0].data[0].shape) == vol.shape
              and np.array_equal(np.asarray(nodes[0].data[0]), vol), "ome-zarr reader: multiscales or data")
        # the Python client
        r = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--root-user-action=ignore",
                            os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python")],
                           capture_output=True, text=True)
        check(r.returncode == 0, f"pip install ./python: {r.stderr[-200:]}")
        tc = importlib.import_module("tomostore_client")
        s = tc.open(base)
        check("exp/t1" in s.datasets() and "c1" in s.corpora(), f"client listing: {s.datasets()[:5]}")
        check(np.array_equal(s["exp/t1"][1:50, 2:60, 3:70], vol[1:50, 2:60, 3:70]), "client box")
        check(np.array_equal(s["exp/t1"][5, 10:20, :], vol[5, 10:20, :]), "client integer index")
        check(np.array_equal(s["exp/t1"].level(1)[:], np.load(os.path.join(w, "l1.npy"))), "client level 1")
        tiles = s.corpus("c1").tiles(size=16, seed=4)
        first = [next(iter(tiles)) for _ in range(1)][0]
        again = tc.open(base).corpus("c1").tiles(size=16, seed=4)
        it, it2 = iter(tiles), iter(again)
        same = all(np.array_equal(a["tomogram"], b["tomogram"]) and np.array_equal(a["labels"], b["labels"])
                   and a["sample"] == b["sample"] for a, b in ((next(it), next(it2)) for _ in range(4)))
        check(same and first["tomogram"].shape == (16, 16, 16) and first["labels"].shape == (16, 16, 16),
              "corpus tiles not reproducible by seed or wrong shape")
        i = first["sample"]
        z, y, x = first["origin"]
        sample_t = get_npy(S, f"c1/{i:06d}/tomogram", [(z, z + 16), (y, y + 16), (x, x + 16)], w)
        check(sample_t is not None and np.array_equal(first["tomogram"], sample_t), "tile differs from the stored sample")
        other = next(iter(s.corpus("c1").tiles(size=16, seed=5)))
        check(other["origin"] != first["origin"] or other["sample"] != first["sample"], "another seed, same tile")
        try:
            import torch  # optional: the DataLoader shards the tiles by worker
            loader = torch.utils.data.DataLoader(s.corpus("c1").tiles(size=16, seed=4), batch_size=2, num_workers=2)
            batch = next(iter(loader))
            check(tuple(batch["tomogram"].shape) == (2, 16, 16, 16), f"DataLoader batch {batch['tomogram'].shape}")
            # Two workers take turns (tiles 0, 1, 2, 3 in order): each worker its own share, same tiles.
            items = torch.utils.data.DataLoader(s.corpus("c1").tiles(size=16, seed=4), batch_size=None, num_workers=2)
            got = [item for _, item in zip(range(4), items)]
            check(all(np.array_equal(np.asarray(g_["tomogram"]), tiles.tile(k)["tomogram"]) for k, g_ in enumerate(got)),
                  "DataLoader workers do not shard the tiles k = w mod W")
        except ImportError:
            print("note: torch is not installed; the DataLoader check is skipped")

        # safety
        resp = raw(port, b"GET /../../../../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n")
        check(b"root:" not in resp and b" 404" in resp[:20], f"path traversal: {resp[:40]}")
        resp = raw(port, b"GET /exp/%2e%2e/%2e%2e/etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n")
        check(b"root:" not in resp and b" 404" in resp[:20], f"encoded traversal: {resp[:40]}")
        resp = raw(port, b"PUT /exp/t1/0/zarr.json HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}")
        check(b" 405" in resp[:20] and b'"error"' in resp, f"PUT: {resp[:60]}")
        raw(port, os.urandom(3000))
        resp = raw(port, b"GET /" + b"a" * 100000 + b" HTTP/1.1\r\n\r\n")
        check(b" 400" in resp[:20] and b'"error"' in resp, f"100 kB request line: {resp[:60]}")
        check(p.poll() is None and b" 200" in raw(port, b"GET /exp/t1/0/zarr.json HTTP/1.1\r\nHost: x\r\n\r\n")[:20],
              "server died or broke after malformed requests")
        q, _ = serve(S, w, host="0.0.0.0")
        time.sleep(0.3)
        err = q.stderr.read() if q.poll() is not None else ""
        check(q.poll() is not None and q.returncode != 0 and "--token" in err and len(err.strip().splitlines()) == 1,
              f"binding 0.0.0.0 without --token: {err[:150]}")
        if q.poll() is None:
            q.kill()
        q, qport = serve(S, w, "--token", "s3cret-token-1234", host="0.0.0.0")
        procs.append(q)
        r1 = raw(qport, b"GET /exp/t1/zarr.json HTTP/1.1\r\nHost: x\r\n\r\n")
        r2 = raw(qport, b"GET /exp/t1/zarr.json HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer s3cret-token-1234\r\n\r\n")
        check(b" 401" in r1[:20] and b" 200" in r2[:20], f"token: without {r1[:20]}, with {r2[:20]}")
        check(np.array_equal(tc.open(f"http://127.0.0.1:{qport}", token="s3cret-token-1234")["exp/t1"][0:4, 0:4, 0:4],
                             vol[0:4, 0:4, 0:4]), "client with a token")
        q.kill()

        # load with a concurrent writer
        big = rng.standard_normal((128, 512, 512)).astype(np.float32)
        with mrcfile.new(os.path.join(w, "big.mrc")) as m:
            m.set_data(big)
        del big
        writer = subprocess.Popen([TOMO, "ingest", S, os.path.join(w, "big.mrc"), "--name", "other"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        errors, count = [], [0]

        def reader(seed):
            rr = random.Random(seed)
            try:
                gg = zarr.open_group(store=zarr.storage.FsspecStore.from_url(base + "/", read_only=True), mode="r")
                aa = gg["exp/t1/0"]
                for _ in range(20):
                    z0, y0, x0 = rr.randrange(0, 64), rr.randrange(0, 130), rr.randrange(0, 150)
                    b = np.asarray(aa[z0:z0 + 16, y0:y0 + 20, x0:x0 + 20])
                    if not np.array_equal(b, vol[z0:z0 + 16, y0:y0 + 20, x0:x0 + 20]):
                        errors.append("wrong data")
                    count[0] += 1
            except Exception as e:  # noqa: BLE001 - any failure is a finding
                errors.append(f"{type(e).__name__}: {str(e)[:80]}")

        threads = [threading.Thread(target=reader, args=(i,)) for i in range(16)]
        [t.start() for t in threads]
        [t.join() for t in threads]
        writer.wait()
        check(not errors and count[0] == 320, f"concurrent reads during an ingest: {count[0]}/320, {errors[:3]}")
        # 10,000 chunk GETs over 32 keep-alive connections while another process ingests: every byte right.
        small = rng.standard_normal((64, 128, 128)).astype(np.float32)
        with mrcfile.new(os.path.join(w, "small.mrc")) as m:
            m.set_data(small)
        run("ingest", S, os.path.join(w, "small.mrc"), "--name", "load", "--chunk", "16")
        keys = [f"/load/0/c/{z}/{y}/{x}" for z in range(4) for y in range(8) for x in range(8)]
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        reference = {}
        codecs = tc.Array(tc.client._Connection(base), "load/0")._codecs
        for k in keys:
            conn.request("GET", k)
            reference[k] = conn.getresponse().read()
            z, y, x = (int(v) for v in k.split("/")[-3:])
            chunk = tc.client._decode_chunk(reference[k], codecs, np.dtype("<f4"), (16, 16, 16))
            if not np.array_equal(chunk, small[z * 16:z * 16 + 16, y * 16:y * 16 + 16, x * 16:x * 16 + 16]):
                errors.append(f"{k} decodes wrong")
        conn.close()
        writer = subprocess.Popen([TOMO, "ingest", S, os.path.join(w, "big.mrc"), "--name", "other2"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        done = [0]

        def loader(seed):
            rr = random.Random(seed)
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            try:
                for _ in range(10000 // 32 + (1 if seed < 10000 % 32 else 0)):
                    k = rr.choice(keys)
                    c.request("GET", k)
                    r = c.getresponse()
                    body = r.read()
                    if r.status != 200 or body != reference[k]:
                        errors.append(f"{k}: status {r.status}, {len(body)} bytes")
                    done[0] += 1
            except Exception as e:  # noqa: BLE001
                errors.append(f"{type(e).__name__}: {str(e)[:80]}")
            finally:
                c.close()

        threads = [threading.Thread(target=loader, args=(i,)) for i in range(32)]
        t0 = time.time()
        [t.start() for t in threads]
        [t.join() for t in threads]
        elapsed = time.time() - t0
        ingest_running = writer.poll() is None
        writer.wait()
        print(f"load: {done[0]} chunk GETs over 32 connections in {elapsed:.1f} s"
              f"{' (the ingest was still running at the end)' if ingest_running else ''}")
        check(not errors and done[0] == 10000, f"10,000 GETs during an ingest: {done[0]}, {errors[:3]}")
        hwm = [int(l.split()[1]) for l in open(f"/proc/{p.pid}/status") if l.startswith("VmHWM")][0]
        check(p.poll() is None and hwm < 1024 * 1024, f"server peak RSS {hwm // 1024} MiB")
        if browser:
            r = subprocess.run([sys.executable, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                            "neuroglancer_check.py"), base, "exp/t1", w],
                               capture_output=True, text=True, timeout=300)
            print(r.stdout.strip())
            check(r.returncode == 0, f"neuroglancer: {(r.stdout + r.stderr).strip()[-300:]}")
        p.send_signal(signal.SIGKILL)
        p.wait()
        r = run("verify", S)
        check(r.returncode == 0, f"verify after kill -9 of the server: {r.stdout[-200:]}")
        # kill -9 while derived chunks are being computed: nothing half-done is served afterwards.
        run("derive", S, "exp/d3", "--op", "dog", "--input", "exp/t1", "--param", "sigma=3")
        p, port = serve(S, w)
        procs.append(p)
        grid = [(z, y, x) for z in range(2) for y in range(3) for x in range(3)]
        fetch = threading.Thread(target=lambda: [raw(port, f"GET /exp/d3/0/c/{z}/{y}/{x} HTTP/1.1\r\n\r\n".encode())
                                                 for z, y, x in grid])
        fetch.start()
        time.sleep(1.0)
        p.send_signal(signal.SIGKILL)
        p.wait()
        fetch.join()
        r = run("verify", S)
        check(r.returncode == 0, f"verify after kill -9 during a computation: {r.stdout[-200:]}")
        p, port = serve(S, w)
        procs.append(p)
        g = zarr.open_group(store=zarr.storage.FsspecStore.from_url(f"http://127.0.0.1:{port}/", read_only=True),
                            mode="r")
        whole = [(0, 80), (0, 150), (0, 170)]
        check(np.array_equal(np.asarray(g["exp/d3/0"][:]), get_npy(S, "exp/d3", whole, w)),
              "derived dataset after kill -9 differs from get")
    finally:
        for q in procs:
            if q.poll() is None:
                q.kill()
        shutil.rmtree(w, ignore_errors=True)
    return tally.finish("serve")


if __name__ == "__main__":
    sys.exit(main())
