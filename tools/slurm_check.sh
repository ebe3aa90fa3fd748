#!/usr/bin/env bash
# `tomostore slurm` on a real Slurm started here (tools/slurm_env.sh): a 6-task denoise job array, one
# task killed with scancel --signal=KILL, status showing it, --retry-failed, a merge killed once and
# rerun, verify, and every result byte for byte equal to a single-process run; an ingest array and a
# corpus-export array the same way. Stops Slurm at the end. Usage: tools/slurm_check.sh [tomostore]
set -uo pipefail
cd "$(dirname "$0")/.."
TOMO=$(realpath "${1:-.build/release/tomostore}")
source tools/slurm_env.sh
W=$(mktemp -d)
trap 'slurm_stop; rm -rf "$W"' EXIT
slurm_start "$W/slurm" || exit 1
python3 - "$TOMO" "$W" <<'PY'
import os, re, subprocess, sys, time
import numpy as np, mrcfile
sys.path.insert(0, "tools")
from checklib import Tally
tomo, w = sys.argv[1:3]
tally = Tally(); check = tally.check
def run(*a, t=1800): return subprocess.run([tomo, *a], capture_output=True, text=True, timeout=t)
def queued(jid): return [l for l in subprocess.run(["squeue", "-h", "-r", "-j", jid, "-o", "%i %T"], capture_output=True, text=True).stdout.splitlines() if l.strip()]
def wait(jid, limit=900):
    t0 = time.time()
    while time.time() - t0 < limit and queued(jid): time.sleep(1)
def job_id(r):
    m = re.search(r"submitted batch job (\d+)", r.stdout)
    return m.group(1) if m else None
def same(store_a, store_b, name, box):
    a, b = os.path.join(w, "a.npy"), os.path.join(w, "b.npy")
    ra, rb = run("get", store_a, name, "--box", box, "-o", a), run("get", store_b, name, "--box", box, "-o", b)
    return ra.returncode == 0 and rb.returncode == 0 and np.load(a).tobytes() == np.load(b).tobytes()

S, R = os.path.join(w, "s.store"), os.path.join(w, "ref.store")
run("init", S); run("init", R)
names = [f"t{i}" for i in range(6)]
for i, n in enumerate(names):
    for st in (S, R): run("synth", st, "--name", n, "--size", "128,128,64", "--seed", str(700 + i), "--voxel", "10")
inputs = [f"{n}/tomogram" for n in names]
dry = run("slurm", "submit", S, "denoise", *inputs, "--model", "default", "--tasks", "6", "--cpus-per-task", "1", "--dry-run")
check(dry.returncode == 0 and "#SBATCH --array=0-5" in dry.stdout and "slurm task" in dry.stdout, f"--dry-run: {dry.stdout[-300:]} {dry.stderr[-200:]}")
r = run("slurm", "submit", S, "denoise", *inputs, "--model", "default", "--tasks", "6", "--cpus-per-task", "1")
jid = job_id(r)
check(r.returncode == 0 and jid, f"submit: {r.stdout[-200:]} {r.stderr[-200:]}")
killed = None
if jid:
    # Kill a task mid-run: as soon as a running task has made its shard (tasks here take a few seconds);
    # if it finished first (scancel refuses), try the next one.
    deadline = time.time() + 600
    while killed is None and time.time() < deadline and queued(jid):
        for line in queued(jid):
            task_id, state = line.split()
            shard = os.path.join(w, "s.store.slurm", "shards")
            made = os.path.isdir(shard) and any(f.endswith(f"-{task_id.split('_')[1]}.store") for f in os.listdir(shard))
            if state == "RUNNING" and made:
                time.sleep(0.2)
                if subprocess.run(["scancel", "--signal=KILL", task_id], capture_output=True).returncode == 0:
                    killed = task_id
                break
        time.sleep(0.05)
    wait(jid)
check(killed is not None, "no running task seen to kill")
st = run("slurm", "status", S, jid or "")
check(st.returncode == 0 and "failed" in st.stdout, f"status after the kill: {st.stdout[-300:]} {st.stderr[-200:]}")
for shard in sorted(os.listdir(os.path.join(w, "s.store.slurm", "shards"))):
    v = run("verify", os.path.join(w, "s.store.slurm", "shards", shard))
    check(v.returncode == 0, f"shard {shard} does not verify after the kill: {v.stdout[-200:]}")
r = run("slurm", "submit", S, "denoise", *inputs, "--model", "default", "--tasks", "6", "--retry-failed")
jid2 = job_id(r)
check(r.returncode == 0 and jid2 and "array tasks " in r.stdout and "0,1,2,3,4,5" not in r.stdout, f"retry: {r.stdout[-200:]} {r.stderr[-200:]}")
if jid2: wait(jid2)
st = run("slurm", "status", S, "--json")
check('"failed"' not in st.stdout and st.stdout.count('"done"') == 6, f"status after the retry: {st.stdout[-300:]}")
p = subprocess.Popen([tomo, "slurm", "merge", S], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL); time.sleep(0.3); p.kill(); p.wait()
r = run("slurm", "merge", S)
check(r.returncode == 0 and "merged 6 shard(s)" in r.stdout, f"merge: {r.stdout[-200:]} {r.stderr[-200:]}")
r = run("slurm", "merge", S)
check(r.returncode == 0 and " 0 chunks copied" in r.stdout, f"second merge copied again: {r.stdout[-200:]}")
check(run("verify", S).returncode == 0, "verify after merge")
for n in inputs:
    run("denoise", R, n, "--name", f"{n}/denoised"); run("materialize", R, f"{n}/denoised")
check(all(same(S, R, f"{n}/denoised", "0:128,0:128,0:64") for n in inputs), "denoise: cluster results differ from one process")

# ingest: one task per file set, datasets merged whole
files = []
for i in range(3):
    f = os.path.join(w, f"raw{i}.mrc")
    with mrcfile.new(f) as m:
        m.set_data(np.random.default_rng(i).standard_normal((24, 40, 48)).astype(np.float32)); m.voxel_size = 8
    files.append(f)
r = run("slurm", "submit", S, "ingest", *files, "--tasks", "2")
jid3 = job_id(r); check(r.returncode == 0 and jid3, f"ingest submit: {r.stdout[-200:]} {r.stderr[-200:]}")
if jid3: wait(jid3)
r = run("slurm", "merge", S); check(r.returncode == 0, f"ingest merge: {r.stderr[-200:]}")
for i, f in enumerate(files):
    run("ingest", R, f, "--name", f"raw{i}")
    check(same(S, R, f"raw{i}", "0:48,0:40,0:24"), f"ingested raw{i} differs from a single-process ingest")
check(run("verify", S).returncode == 0, "verify after the ingest merge")

# corpus export: tasks write their share of the files
run("corpus", "create", S, "c1", "--samples", "4", "--size", "32,32,32", "--seed", "5")
out = os.path.join(w, "export")
r = run("slurm", "submit", S, "corpus", "export", "c1", "--range", "0..4", "-o", out, "--tasks", "2")
jid4 = job_id(r); check(r.returncode == 0 and jid4, f"corpus export submit: {r.stdout[-200:]} {r.stderr[-200:]}")
if jid4: wait(jid4)
ref = os.path.join(w, "export-ref")
run("corpus", "export", S, "c1", "--range", "0..4", "-o", ref)
got = sorted(os.listdir(out)) if os.path.isdir(out) else []
check(got and got == sorted(os.listdir(ref)) and all(open(os.path.join(out, f), "rb").read() == open(os.path.join(ref, f), "rb").read() for f in got if os.path.isfile(os.path.join(out, f))),
      f"corpus export on the cluster differs from one process: {got[:6]}")
sys.exit(tally.finish("slurm"))
PY
