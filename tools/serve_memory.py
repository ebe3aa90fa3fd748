#!/usr/bin/env python3
"""Peak memory of `tomostore serve` while every chunk of a 128 MiB and then a 1 GiB dataset is read
(8 keep-alive connections): peak anonymous RSS, peak file-backed RSS (mapped store pages) and VmHWM.

Usage: python3 tools/serve_memory.py path/to/tomostore WORKDIR CACHE_MIB
The store is made once in WORKDIR (random float32 volumes, 64³ chunks) and reused by later runs.
"""
import http.client
import os
import subprocess
import sys
import threading
import time

import mrcfile
import numpy as np
T = sys.argv[1]; w = sys.argv[2]; os.makedirs(w, exist_ok=True)
S = f"{w}/m.store"
if not os.path.exists(S):
    subprocess.run([T, "init", S], check=True)
    for name, shape in (("small", (128, 512, 512)), ("large", (512, 1024, 512))):
        f = f"{w}/{name}.mrc"
        with mrcfile.new_mmap(f, shape=shape, mrc_mode=2) as m:
            for z in range(0, shape[0], 32):
                m.data[z:z+32] = np.random.default_rng(z).standard_normal((min(32, shape[0]-z),) + shape[1:]).astype(np.float32)
        subprocess.run([T, "ingest", S, f, "--name", name, "--quiet"], check=True); os.remove(f)
s_ = __import__("socket").socket(); s_.bind(("127.0.0.1", 0)); port = s_.getsockname()[1]; s_.close()
p = subprocess.Popen([T, "serve", S, "--port", str(port), "--cache-mib", sys.argv[3]], stderr=subprocess.DEVNULL)
time.sleep(1)
peak = {"anon": 0, "file": 0}
stop = False
def poll():
    while not stop:
        st = {l.split(":")[0]: int(l.split()[1]) for l in open(f"/proc/{p.pid}/status") if l.startswith(("RssAnon", "RssFile"))}
        peak["anon"] = max(peak["anon"], st["RssAnon"]); peak["file"] = max(peak["file"], st["RssFile"])
        time.sleep(0.05)
threading.Thread(target=poll, daemon=True).start()
for name, shape in (("small", (128, 512, 512)), ("large", (512, 1024, 512))):
    keys = [f"/{name}/0/c/{z}/{y}/{x}" for z in range(shape[0]//64) for y in range(shape[1]//64) for x in range(shape[2]//64)]
    def worker(part):
        c = http.client.HTTPConnection("127.0.0.1", port)
        for k in part:
            c.request("GET", k); r = c.getresponse(); r.read(); assert r.status == 200
    ths = [threading.Thread(target=worker, args=(keys[i::8],)) for i in range(8)]
    t0 = time.time(); [t.start() for t in ths]; [t.join() for t in ths]
    hwm = [int(l.split()[1]) for l in open(f"/proc/{p.pid}/status") if l.startswith("VmHWM")][0]
    print(f"{name}: {len(keys)} chunks ({len(keys)} MiB raw) in {time.time()-t0:.1f} s; peak RssAnon {peak['anon']//1024} MiB, peak RssFile {peak['file']//1024} MiB, VmHWM {hwm//1024} MiB")
stop = True; p.kill()
