#!/usr/bin/env python3
"""Chunk serving benchmark: `tomostore serve` against nginx serving the same dataset exported with
`tomostore export-zarr` as static files, same chunks, same client (wrk), in one run.

Usage: python3 tools/bench_serve.py [path/to/tomostore] [--shape 128,256,256] [--seconds 8]
       [--connections 32] [--rounds 2] [--denoise 8] [--json]

Makes a tomogram-like float32 volume (Gaussian-smoothed noise, z, y, x = --shape), ingests it (64³
chunks, zstd:3 + byte shuffle, the defaults), exports it with `export-zarr` (zstd:3), starts nginx
(Debian; 2 workers, access log off) twice on the export — with sendfile and with its default
read + write — and `tomostore serve` on the store, warms
both, then runs wrk (2 threads, --connections, --seconds) over every level-0 chunk key in turn, for each
server alternately, --rounds times; reports the best requests/s of each and wrk's p50/p99 latency of
that round. Then the cost of a chunk computed on demand: `denoise --name` defines the default DUAL
model lazily, and the first GET of each of --denoise chunks (one at a time) is timed, against a second
GET of the same chunks (stored and kept by then).
Requires: apt-get install wrk nginx; pip install numpy scipy mrcfile.
"""
import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

import mrcfile
import numpy as np
import scipy.ndimage as ndi

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from checklib import free_port  # noqa: E402


def wait_for(port, process=None, seconds=30):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if process is not None and process.poll() is not None:
            raise SystemExit(f"server exited: {process.stderr.read()[:300] if process.stderr else ''}")
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"nothing listens on port {port} after {seconds} s")


def wrk(port, prefix, keys, seconds, connections, workdir):
    lua = os.path.join(workdir, "paths.lua")
    with open(lua, "w") as f:
        f.write("paths = {" + ",".join(f'"{prefix}{k}"' for k in keys) + "}\n")
        f.write("i = 0\nrequest = function() i = i % #paths + 1; return wrk.format('GET', paths[i]) end\n")
    out = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", lua,
                          f"http://127.0.0.1:{port}"], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: (.*)", out)

    def pct(p):
        m = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        if not m:
            return None
        return float(m.group(1)) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[m.group(2)]

    return {"rps": rps, "p50_ms": pct(50), "p99_ms": pct(99), "non2xx": int(errors.group(1)) if errors else 0,
            "socket_errors": socket_errors.group(1) if socket_errors else None}


def get(url):
    with urllib.request.urlopen(url, timeout=600) as r:
        return r.read()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("tomostore", nargs="?", default=".build/release/tomostore")
    ap.add_argument("--shape", default="128,256,256", help="z,y,x voxels")
    ap.add_argument("--seconds", type=int, default=8)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--denoise", type=int, default=8, help="chunks of a lazy denoise to time (0: skip)")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    tomo = os.path.abspath(a.tomostore)
    for tool in ("wrk", "nginx"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is not installed: apt-get install -y wrk nginx")
    w = tempfile.mkdtemp(prefix="bench_serve_")
    os.chmod(w, 0o755)  # nginx workers run as nobody and must reach the exported files
    procs = []
    try:
        shape = tuple(int(v) for v in a.shape.split(","))
        rng = np.random.default_rng(7)
        vol = ndi.gaussian_filter(rng.standard_normal(shape).astype(np.float32), 2)
        with mrcfile.new(os.path.join(w, "t.mrc")) as m:
            m.set_data(vol)
            m.voxel_size = 10
        store = os.path.join(w, "s.store")
        run = lambda *args: subprocess.run([tomo, *args], check=True, capture_output=True, text=True)
        run("init", store)
        run("ingest", store, os.path.join(w, "t.mrc"), "--name", "t1")
        static = os.path.join(w, "static")
        os.makedirs(static)
        run("export-zarr", store, "t1", "-o", os.path.join(static, "t1.zarr"), "--levels", "1")
        level0 = os.path.join(static, "t1.zarr")
        keys = sorted(os.path.relpath(os.path.join(dp, f), level0) for dp, _, fs in os.walk(level0)
                      for f in fs if f != "zarr.json")
        tport = free_port()
        nginx = {}  # label -> port: nginx with sendfile (zero copy) and with its default (read + write)
        for label, sendfile in (("nginx, sendfile on", "on"), ("nginx, sendfile off (its default)", "off")):
            nport = free_port()
            conf = os.path.join(w, f"nginx-{sendfile}.conf")
            with open(conf, "w") as f:
                f.write(f"worker_processes 2; pid {w}/nginx-{sendfile}.pid; error_log {w}/nginx.err; daemon on;\n"
                        "events { worker_connections 1024; }\n"
                        f"http {{ access_log off; sendfile {sendfile}; tcp_nopush on; keepalive_requests 100000;\n"
                        f"  server {{ listen 127.0.0.1:{nport}; root {static}; }} }}\n")
            subprocess.run(["nginx", "-c", conf], check=True, capture_output=True)
            nginx[label] = nport
        server = subprocess.Popen([tomo, "serve", store, "--port", str(tport)], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE, text=True)
        procs.append(server)
        wait_for(tport, server)
        for nport in nginx.values():
            wait_for(nport)
        # Warm all (page cache for nginx, kept chunks for TomoStore) and check every answer is a chunk.
        for k in keys:
            for nport in nginx.values():
                get(f"http://127.0.0.1:{nport}/t1.zarr/{k}")
            get(f"http://127.0.0.1:{tport}/t1/0/{k}")
        rounds = []
        for _ in range(a.rounds):
            r = {"tomostore serve": wrk(tport, "/t1/0/", keys, a.seconds, a.connections, w)}
            for label, nport in nginx.items():
                r[label] = wrk(nport, "/t1.zarr/", keys, a.seconds, a.connections, w)
            rounds.append(r)
        best = {label: max((r[label] for r in rounds), key=lambda x: x["rps"]) for label in rounds[0]}
        best_t = best["tomostore serve"]
        best_n = max((best[label] for label in nginx), key=lambda x: x["rps"])
        sizes = [os.path.getsize(os.path.join(level0, k)) for k in keys]
        hwm = [int(l.split()[1]) for l in open(f"/proc/{server.pid}/status") if l.startswith("VmHWM")][0]
        result = {"shape_zyx": list(shape), "chunks": len(keys), "mean_chunk_bytes": int(np.mean(sizes)),
                  "connections": a.connections, "seconds": a.seconds, "best": best,
                  "ratio": best_t["rps"] / best_n["rps"], "server_peak_rss_mib": hwm // 1024,
                  "rounds": [{label: x["rps"] for label, x in r.items()} for r in rounds]}
        if a.denoise > 0:
            run("denoise", store, "t1", "--name", "t1/dual")
            grid = [(z, y, x) for z in range(-(-shape[0] // 64)) for y in range(-(-shape[1] // 64))
                    for x in range(-(-shape[2] // 64))]
            picks = [grid[i] for i in np.random.default_rng(3).permutation(len(grid))[:a.denoise]]
            first, second = [], []
            for z, y, x in picks:
                t0 = time.perf_counter()
                get(f"http://127.0.0.1:{tport}/t1/dual/0/c/{z}/{y}/{x}")
                first.append(time.perf_counter() - t0)
            for z, y, x in picks:
                t0 = time.perf_counter()
                get(f"http://127.0.0.1:{tport}/t1/dual/0/c/{z}/{y}/{x}")
                second.append(time.perf_counter() - t0)
            result["denoise_first_get_s"] = {"median": float(np.median(first)), "max": float(np.max(first))}
            result["denoise_second_get_ms"] = float(np.median(second) * 1e3)
        if a.json:
            print(json.dumps(result, indent=2))
        else:
            print(f"| server | chunk GETs/s | p50 ms | p99 ms | non-2xx |\n|---|---|---|---|---|")
            for name, r in best.items():
                print(f"| {name} | {r['rps']:.0f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {r['non2xx']} |")
            print(f"\nratio to the faster nginx {result['ratio']:.2f}; {len(keys)} chunks of {result['mean_chunk_bytes']} bytes on average;"
                  f" server peak RSS {result['server_peak_rss_mib']} MiB")
            if a.denoise > 0:
                d = result["denoise_first_get_s"]
                print(f"denoise chunk computed on demand: median {d['median']:.2f} s (max {d['max']:.2f} s) for the"
                      f" first GET, {result['denoise_second_get_ms']:.2f} ms for the second")
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
            p.wait()
        for name in ("nginx-on.pid", "nginx-off.pid"):
            pid = os.path.join(w, name)
            if os.path.exists(pid):
                os.kill(int(open(pid).read()), signal.SIGTERM)
        time.sleep(0.3)
        shutil.rmtree(w, ignore_errors=True)


if __name__ == "__main__":
    main()
