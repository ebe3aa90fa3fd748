#!/usr/bin/env python3
"""Crash safety and concurrency of every write path, with real processes (issue 22).

Crash suite: each writer (ingest, materialize, pyramid, import-zarr, rm, corpus get, corpus export,
gc, slurm merge, serve computing derived chunks, train with checkpoints) is killed with SIGKILL at a random moment, many times; after each kill `verify` must pass and
the interrupted work must be complete and correct, or visibly incomplete and finished by running
it again (ingest/import-zarr --resume, train --resume, the same pyramid / materialize / corpus get / merge), with every
voxel (and every weight) compared
to the truth (numpy). Concurrency suite: readers during each writer, two writers at once, export vs
rm, a derived chain while its input is replaced — every result compared with the truth.

Usage: tools/crash_check.py [TOMOSTORE] [--kills N] (default 4 per writer; tools/test --thorough: 25)."""
import os, random, shutil, subprocess, sys, tempfile, time
import numpy as np, mrcfile
from checklib import TOMO, Tally, free_port, run

KILLS = int(sys.argv[sys.argv.index("--kills") + 1]) if "--kills" in sys.argv else 4
rng = random.Random(2222)
t = Tally()
W = tempfile.mkdtemp(prefix="tomostore-crash-")
cases = {}

def path(*p): return os.path.join(W, *p)

def mrc(name, a):
    with mrcfile.new(path(name), overwrite=True) as m: m.set_data(a); m.voxel_size = 10
    return path(name)

def get(store, name, shape):
    out = path("get.npy")
    if os.path.exists(out): os.remove(out)
    r = run("get", store, name, "--box", f"0:{shape[2]},0:{shape[1]},0:{shape[0]}", "-o", out)
    return np.load(out) if r.returncode == 0 else None

def killed(args, delay):
    """Starts tomostore with args, kills it with SIGKILL after `delay` s (if still running)."""
    p = subprocess.Popen([TOMO, *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(delay); p.kill(); p.wait()
    return p.returncode

def verify_ok(store, what):
    r = run("verify", store, "--quiet")
    t.check(r.returncode == 0, f"{what}: verify failed after kill: {(r.stdout + r.stderr).strip()[-300:]}")
    return r.returncode == 0

def tally(what, n=1): cases[what] = cases.get(what, 0) + n

A = np.random.default_rng(22).standard_normal((96, 160, 180)).astype(np.float32)
B = np.random.default_rng(23).standard_normal((96, 160, 180)).astype(np.float32)
a_mrc, b_mrc = mrc("a.mrc", A), mrc("b.mrc", B)
base = path("base.store"); run("init", base); run("ingest", base, a_mrc, "--name", "A")

def fresh(name):
    d = path(name); shutil.rmtree(d, ignore_errors=True); shutil.copytree(base, d); return d

# A stand-in for sbatch: runs the array's tasks here, one after the other, and prints a job id (the
# merge is what is killed; tools/slurm_check.sh runs a real Slurm).
stand_in = path("bin"); os.makedirs(stand_in, exist_ok=True)
with open(os.path.join(stand_in, "sbatch"), "w") as f:
    f.write("""#!/bin/bash
script="${@: -1}"
range=$(sed -n 's/^#SBATCH --array=\\([0-9]*\\)-\\([0-9]*\\).*/\\1 \\2/p' "$script")
for i in $(seq $range); do SLURM_ARRAY_TASK_ID=$i bash "$script" >/dev/null 2>&1 || exit 1; done
echo 4242
""")
os.chmod(os.path.join(stand_in, "sbatch"), 0o755)

def merge_truth():
    """A32/g materialized by one process."""
    d = path("sl-truth.store")
    if not os.path.exists(d):
        shutil.copytree(base, d); run("ingest", d, a_mrc, "--name", "A32", "--chunk", "32", "--quiet")
        run("derive", d, "A32/g", "--op", "gaussian", "--input", "A32", "--param", "sigma=1.5")
        run("materialize", d, "A32/g")
    return d

def nad_truth():
    """A/n materialized without interruption."""
    d = path("srv-truth.store")
    if not os.path.exists(d):
        shutil.copytree(base, d)
        run("derive", d, "A/n", "--op", "nad", "--input", "A", "--param", "kappa=0.5", "--param", "iterations=6")
        run("materialize", d, "A/n")
    return d

# --- crash suite ---------------------------------------------------------------------------------
for i in range(KILLS):
    delay = rng.uniform(0.05, 1.2)
    # ingest: complete and right, or incomplete and finished by --resume
    s = fresh("ing.store"); killed(["ingest", s, b_mrc, "--name", "B"], delay)
    if verify_ok(s, f"ingest kill at {delay:.2f}s"):
        info = run("info", s, "B", "--json")
        if info.returncode == 0 and '"complete" : false' in info.stdout.replace('": false', '" : false'):
            r = run("ingest", s, b_mrc, "--name", "B", "--resume")
            t.check(r.returncode == 0, f"ingest --resume after kill: {r.stderr.strip()[-200:]}")
        elif info.returncode != 0:
            r = run("ingest", s, b_mrc, "--name", "B")
            t.check(r.returncode == 0, f"ingest again after kill: {r.stderr.strip()[-200:]}")
        g = get(s, "B", B.shape); t.check(g is not None and np.array_equal(g, B), "ingest after kill: wrong voxels")
        t.check(np.array_equal(get(s, "A", A.shape), A), "ingest kill damaged another dataset")
    tally("ingest")
    # pyramid: verify passes; running it again finishes it
    s = fresh("pyr.store"); killed(["pyramid", s, "A", "--levels", "4"], delay)
    if verify_ok(s, f"pyramid kill at {delay:.2f}s"):
        r = run("pyramid", s, "A", "--levels", "4"); t.check(r.returncode == 0, f"pyramid again: {r.stderr[-200:]}")
        t.check(run("verify", s).returncode == 0, "pyramid finished after kill: verify fails")
    tally("pyramid")
    # materialize: verify passes; materializing again gives the bytes of an uninterrupted run
    s = fresh("mat.store"); run("derive", s, "A/g", "--op", "gaussian", "--input", "A", "--param", "sigma=1.5")
    killed(["materialize", s, "A/g"], delay)
    if verify_ok(s, f"materialize kill at {delay:.2f}s"):
        run("materialize", s, "A/g")
        truth = path("mat-truth.store")
        if not os.path.exists(truth):
            shutil.copytree(base, truth); run("derive", truth, "A/g", "--op", "gaussian", "--input", "A", "--param", "sigma=1.5")
            run("materialize", truth, "A/g")
        t.check(np.array_equal(get(s, "A/g", A.shape), get(truth, "A/g", A.shape)), "materialize after kill: bytes differ")
    tally("materialize")
    # rm: the dataset is there whole, or gone
    s = fresh("rm.store"); killed(["rm", s, "A"], delay / 10)
    if verify_ok(s, "rm kill"):
        g = get(s, "A", A.shape)
        t.check(g is None or np.array_equal(g, A), "rm kill left a damaged dataset")
    tally("rm")
    # gc after an interrupted pyramid
    s = fresh("gc.store"); killed(["pyramid", s, "A", "--levels", "3"], delay); killed(["gc", s], delay / 20)
    verify_ok(s, "gc kill"); tally("gc")
    # corpus get and corpus export: complete and right, or absent; a later run gives the same bytes
    s = fresh("cor.store"); run("corpus", "create", s, "c", "--samples", "4", "--size", "48,48,48", "--seed", "5")
    killed(["corpus", "get", s, "c", "--sample", "1", "-o", path("c.npy")], delay)
    if verify_ok(s, "corpus get kill"):
        r = run("corpus", "get", s, "c", "--sample", "1", "-o", path("c2.npy"))
        ref = path("cref.npy")
        if not os.path.exists(ref):
            r0 = fresh("cref.store"); run("corpus", "create", r0, "c", "--samples", "4", "--size", "48,48,48", "--seed", "5")
            run("corpus", "get", r0, "c", "--sample", "1", "-o", ref)
        t.check(r.returncode == 0 and np.array_equal(np.load(path("c2.npy")), np.load(ref)), "corpus get after kill: differs")
    tally("corpus get")
    out = path(f"export{i}")
    killed(["corpus", "export", s, "c", "--range", "0..3", "-o", out, "--format", "npy"], delay)
    verify_ok(s, "corpus export kill")
    r = run("corpus", "export", s, "c", "--range", "0..3", "-o", out, "--format", "npy")
    t.check(r.returncode == 0, f"corpus export after a killed one: {r.stderr.strip()[-200:]}")
    if r.returncode == 0:
        done = os.path.join(out, "000001", "tomogram.npy")
        t.check(os.path.exists(done) and np.array_equal(np.load(done), np.load(path("cref.npy"))),
                "corpus export after a killed one: sample 1 differs from a clean run")
        leftovers = [n for n in os.listdir(W) + os.listdir(out) if "partial" in n]
        t.check(not leftovers, f"corpus export left partial files after a clean run: {leftovers}")
    tally("corpus export")
    # import-zarr: the dataset is complete and right, or absent / incomplete and removable
    zarr_dir = path("a.zarr")
    if not os.path.exists(zarr_dir): run("export-zarr", base, "A", "-o", zarr_dir)
    s = fresh("zi.store"); killed(["import-zarr", s, zarr_dir, "--name", "Z", "--voxel", "10"], delay / 4)
    if verify_ok(s, "import-zarr kill"):
        g = get(s, "Z", A.shape)
        if g is None:
            exists = run("info", s, "Z", "--json").returncode == 0 or "incomplete" in run("ls", s).stdout
            again = ["--resume"] if exists else []
            r = run("import-zarr", s, zarr_dir, "--name", "Z", "--voxel", "10", *again); g = get(s, "Z", A.shape)
            t.check(r.returncode == 0, f"import-zarr {' '.join(again)} after kill: {r.stderr.strip()[-200:]}")
        t.check(g is not None and np.array_equal(g, A), "import-zarr after kill: wrong voxels")
    tally("import-zarr")
    # slurm merge (the array's tasks run in place by a stand-in sbatch): verify passes; merging again
    # gives the bytes of one process
    s = fresh("sl.store"); run("ingest", s, a_mrc, "--name", "A32", "--chunk", "32", "--quiet")
    run("derive", s, "A32/g", "--op", "gaussian", "--input", "A32", "--param", "sigma=1.5")
    r = subprocess.run([TOMO, "slurm", "submit", s, "materialize", "A32/g", "--tasks", "3"], capture_output=True,
                       text=True, env=dict(os.environ, PATH=f"{stand_in}:{os.environ['PATH']}"))
    t.check(r.returncode == 0, f"slurm submit with the stand-in sbatch: {r.stderr.strip()[-200:]}")
    killed(["slurm", "merge", s], delay / 8)
    if verify_ok(s, f"slurm merge kill at {delay / 8:.3f}s"):
        r = run("slurm", "merge", s)
        t.check(r.returncode == 0, f"slurm merge after a killed one: {r.stderr.strip()[-200:]}")
        t.check(run("verify", s, "--quiet").returncode == 0, "slurm merge after kill: verify fails")
        g = get(s, "A32/g", A.shape); want = get(merge_truth(), "A32/g", A.shape)
        t.check(g is not None and np.array_equal(g, want), "slurm merge after kill: bytes differ from one process")
    tally("slurm merge")
    # serve, killed while it computes derived chunks on request: verify passes; the chunks read afterwards
    # are those of an uninterrupted run
    s = fresh("srv.store"); run("derive", s, "A/n", "--op", "nad", "--input", "A", "--param", "kappa=0.5",
                                "--param", "iterations=6")
    port = free_port()
    server = subprocess.Popen([TOMO, "serve", s, "--port", str(port)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    fetches = [subprocess.Popen(["curl", "-s", "-o", "/dev/null", "--retry", "20", "--retry-connrefused",
                                 "--retry-delay", "0", f"http://127.0.0.1:{port}/A/n/0/c/{z}/{y}/0"])
               for z in range(2) for y in range(3)]
    time.sleep(delay); server.kill(); server.wait()
    for f in fetches: f.kill(); f.wait()
    if verify_ok(s, f"serve kill at {delay:.2f}s"):
        g = get(s, "A/n", A.shape); want = get(nad_truth(), "A/n", A.shape)
        t.check(g is not None and np.array_equal(g, want), "serve kill: derived chunks differ from a clean run")
    tally("serve")

# train: killed between checkpoints, --resume finishes with the weights of an uninterrupted run
ts = fresh("train.store"); run("corpus", "create", ts, "tc", "--samples", "1", "--size", "32,32,32", "--seed", "3")
run("corpus", "get", ts, "tc", "--sample", "0", "-o", path("tc.npy"))
train = ["train", ts, "--clean", "tc/000000/grand-model", "--noisy", "tc/000000/tomogram", "--iterations", "12",
         "--checkpoint-every", "2", "--config", "patch=16", "--seed", "4", "--quiet"]
r = run(*train, "-o", path("whole.safetensors"))
whole = open(path("whole.safetensors"), "rb").read() if r.returncode == 0 else None
t.check(whole is not None, f"train: {r.stderr.strip()[-200:]}")
for i in range(KILLS):
    out = path(f"t{i}.safetensors")
    killed(train + ["-o", out], rng.uniform(0.4, 3.0))
    verify_ok(ts, "train kill")
    resume = ["--resume"] if os.path.exists(out + ".checkpoint") else []
    r = run(*train, "-o", out, *resume)
    t.check(r.returncode == 0 and whole is not None and open(out, "rb").read() == whole,
            f"train after kill (resume {bool(resume)}): weights differ from an uninterrupted run {r.stderr.strip()[-150:]}")
    tally("train")

# --- concurrency suite ---------------------------------------------------------------------------
s = fresh("conc.store")
writer = subprocess.Popen([TOMO, "ingest", s, b_mrc, "--name", "B"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
reads = 0
while writer.poll() is None:
    g = get(s, "A", A.shape); t.check(g is not None and np.array_equal(g, A), "read during an ingest: wrong voxels"); reads += 1
writer.wait(); tally("reads during ingest", reads)
# two writers at once
p1 = subprocess.Popen([TOMO, "ingest", s, a_mrc, "--name", "A2"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
p2 = subprocess.Popen([TOMO, "pyramid", s, "B", "--levels", "3"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
t.check(p1.wait() == 0 and p2.wait() == 0, "two writers at once: one failed")
t.check(np.array_equal(get(s, "A2", A.shape), A) and run("verify", s).returncode == 0, "two writers: wrong result")
tally("two writers")
# export vs rm: never exit 0 with wrong data
for delay in (0.02, 0.1, 0.3):
    s2 = fresh("er.store"); out = path("er.mrc")
    p = subprocess.Popen([TOMO, "export", s2, "A", "-o", out], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(delay); run("rm", s2, "A"); p.wait()
    t.check(p.returncode != 0 or np.array_equal(np.asarray(mrcfile.read(out)), A), f"export during rm exited 0 with wrong data")
    tally("export vs rm")
# a derived chain while its input is replaced: every read afterwards is of the new input
s3 = fresh("chain.store"); run("derive", s3, "A/n", "--op", "nad", "--input", "A", "--param", "kappa=0.5", "--param", "iterations=8")
p = subprocess.Popen([TOMO, "materialize", s3, "A/n"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
time.sleep(1.0); run("rm", s3, "A"); run("ingest", s3, b_mrc, "--name", "A"); p.wait()
truth = fresh("chain-truth.store"); run("rm", truth, "A"); run("ingest", truth, b_mrc, "--name", "A")
run("derive", truth, "A/n", "--op", "nad", "--input", "A", "--param", "kappa=0.5", "--param", "iterations=8")
g = get(s3, "A/n", A.shape); want = get(truth, "A/n", A.shape)
t.check(g is not None and np.array_equal(g, want), "derived dataset after its input was replaced: stale chunks")
t.check(run("verify", s3).returncode == 0, "derived chain: verify fails")
tally("derived vs input replaced")

shutil.rmtree(W, ignore_errors=True)
print("cases: " + ", ".join(f"{k} {v}" for k, v in cases.items()))
sys.exit(t.finish("crash+concurrency"))
