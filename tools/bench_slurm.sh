#!/usr/bin/env bash
# Cluster throughput on this machine: denoising N synthetic tomograms (default model) as one process
# (`denoise --name` + `materialize` per tomogram) against `tomostore slurm submit … denoise` job arrays
# of 1, 2 and 4 tasks on a one-node Slurm started here (tools/slurm_env.sh), then the merge rate.
# Usage: tools/bench_slurm.sh [tomostore] [--count 8] [--size 128,128,64]   (prints a Markdown table)
set -uo pipefail
cd "$(dirname "$0")/.."
TOMO=$(realpath "${1:-.build/release/tomostore}")
shift || true
source tools/slurm_env.sh
W=$(mktemp -d)
trap 'slurm_stop; rm -rf "$W"' EXIT
slurm_start "$W/slurm" || exit 1
python3 - "$TOMO" "$W" "$@" <<'PY'
import argparse, os, re, shutil, subprocess, sys, time
ap = argparse.ArgumentParser(); ap.add_argument("tomo"); ap.add_argument("w")
ap.add_argument("--count", type=int, default=8); ap.add_argument("--size", default="128,128,64")
a = ap.parse_args()
def run(*args): return subprocess.run([a.tomo, *args], capture_output=True, text=True, check=True)
def queued(jid): return [l for l in subprocess.run(["squeue", "-h", "-r", "-j", jid, "-o", "%i"], capture_output=True, text=True).stdout.splitlines() if l.strip()]
base = os.path.join(a.w, "base.store"); run("init", base)
names = [f"t{i}" for i in range(a.count)]
for i, n in enumerate(names): run("synth", base, "--name", n, "--size", a.size, "--seed", str(900 + i), "--voxel", "10")
x, y, z = (int(v) for v in a.size.split(","))
mvox = a.count * x * y * z / 1e6
rows = []
s1 = os.path.join(a.w, "one.store"); shutil.copytree(base, s1)
t0 = time.time()
for n in names:
    run("denoise", s1, f"{n}/tomogram", "--name", f"{n}/tomogram/denoised"); run("materialize", s1, f"{n}/tomogram/denoised")
one = time.time() - t0
rows.append(("one process", one, None))
for tasks in (1, 2, 4):
    s = os.path.join(a.w, f"s{tasks}.store"); shutil.copytree(base, s)
    t0 = time.time()
    r = run("slurm", "submit", s, "denoise", *[f"{n}/tomogram" for n in names], "--model", "default", "--tasks", str(tasks), "--cpus-per-task", "1")
    jid = re.search(r"submitted batch job (\d+)", r.stdout).group(1)
    while queued(jid): time.sleep(0.5)
    work = time.time() - t0
    t1 = time.time(); m = run("slurm", "merge", s); merge = time.time() - t1
    nbytes = float(re.search(r"\(([\d.]+) MB", m.stdout).group(1)) * 1e6
    run("verify", s)
    rows.append((f"slurm array, {tasks} task(s)", work, (merge, nbytes)))
# Merge rate on incompressible data: 4 files of 128 MiB (random float32) ingested by a 4-task array.
import numpy as np, mrcfile
files = []
for i in range(4):
    f = os.path.join(a.w, f"raw{i}.mrc")
    with mrcfile.new_mmap(f, shape=(128, 512, 512), mrc_mode=2) as m:
        for k in range(0, 128, 32): m.data[k:k + 32] = np.random.default_rng(i * 10 + k).standard_normal((32, 512, 512), dtype=np.float32)
    files.append(f)
si = os.path.join(a.w, "ingest.store"); run("init", si)
t0 = time.time()
r = run("slurm", "submit", si, "ingest", *files, "--tasks", "4", "--cpus-per-task", "1")
jid = re.search(r"submitted batch job (\d+)", r.stdout).group(1)
while queued(jid): time.sleep(0.5)
ingest_work = time.time() - t0
t1 = time.time(); m = run("slurm", "merge", si); ingest_merge = time.time() - t1
ingest_bytes = float(re.search(r"\(([\d.]+) MB", m.stdout).group(1)) * 1e6
run("verify", si)
print(f"{a.count} tomograms of {a.size} voxels ({mvox:.1f} Mvoxel), default model, {os.cpu_count()} cores\n")
print("| run | wall s | Mvoxel/s | vs one process | merge |\n|---|---|---|---|---|")
for label, t, merge in rows:
    m = "—" if merge is None else f"{merge[1] / 1e6:.1f} MB in {merge[0]:.2f} s ({merge[1] / merge[0] / 1e9:.2f} GB/s)"
    print(f"| {label} | {t:.1f} | {mvox / t:.2f} | ×{one / t:.2f} | {m} |")
print(f"\ningest array (4 tasks) of 4 × 128 MiB random float32: {ingest_work:.1f} s; merge: {ingest_bytes / 1e6:.0f} MB in "
      f"{ingest_merge:.2f} s = {ingest_bytes / ingest_merge / 1e9:.2f} GB/s (every chunk decoded to check its checksum, copied unchanged)")
PY
