"""kill -9 at any instant loses nothing before the last checkpoint, and a resumed run ends
bit-identical to one never interrupted."""
import random
import signal
import subprocess
import time

import pytest

from minrnn import checkpoint

from .helpers import (PY, TINY, assert_only_known_files, env, kill9, run, same_arrays, start,
                      tmp_files, wait_for, write_text)

KILLS = 24


def latest_iteration(folder):
    path = folder / "latest.npz"
    if not path.exists():
        return None
    model, arrays, meta = checkpoint.read_run(path)  # fully checked
    assert "state" in arrays and any(k.startswith("opt.") for k in arrays)
    return meta["iteration"]


def logged_iterations(folder):
    log = folder / "log.csv"
    if not log.exists():
        return []
    return [int(line.split(",")[0]) for line in log.read_text().splitlines()[1:] if line]


def checkpoint_id(folder):
    try:
        st = (folder / "latest.npz").stat()
    except FileNotFoundError:
        return None
    return st.st_ino, st.st_mtime_ns  # a save renames a new file over the old one


def test_kill9_at_random_instants_then_resume_is_exact(tmp_path):
    """24 SIGKILLs of a run that checkpoints every 3 iterations: 20 at a random instant of its
    training (after it has written a checkpoint of its own, so the instant is one of training
    however slow the machine; many land inside a checkpoint write), 4 at a random instant of
    its start-up. After each, latest.npz loads, never goes back, only the fixed temporary names
    exist, and --resume continues. The end is bit-identical to a run never interrupted."""
    rng = random.Random(4)
    corpus = write_text(tmp_path / "t.txt", 6000)
    # a constant rate, and the settings the recipe would decide given: the reference run has the
    # final budget from the start
    flags = ["--hidden", "48", "--batch-size", "2", "--seq-length", "8", "--eval-every", "3", "--lr-schedule", "constant",
             "--sample-every", "7", "--seed", "3", "--dropout", "0.1", "--lr", "3e-3", "--average", "0"]
    out = tmp_path / "run"
    last, kills, in_training, mid_write = None, 0, 0, 0
    while kills < KILLS:
        before = checkpoint_id(out)
        if last is None:
            proc = start("train", corpus, "--out", out, "--iterations", 10**6, *flags)
        else:
            proc = start("train", "--resume", out, "--iterations", 10**6, "--eval-every", "3")
        if kills % 6 == 5:  # during start-up: importing, reading the text, loading the checkpoint
            time.sleep(rng.uniform(0.0, 0.3))
        else:
            wait_for(lambda: checkpoint_id(out) not in (None, before), proc=proc)
            time.sleep(rng.uniform(0.0, 0.25))
            in_training += 1
        assert proc.poll() is None, proc.communicate()
        kill9(proc)
        kills += 1
        if tmp_files(out) if out.exists() else []:
            mid_write += 1
        if out.exists():
            assert_only_known_files(out)
        it = latest_iteration(out)
        if it is None:
            assert last is None
            continue
        assert last is None or it >= last, "a checkpoint went back in time"
        # log.csv gets its row just before the checkpoints are written
        assert it >= max(logged_iterations(out)) - 3
        last = it
    assert in_training >= 20 and last > 0
    total = last + 20
    done = run("train", "--resume", out, "--iterations", total, "--eval-every", "3")
    assert done.returncode == 0, done.stderr
    assert tmp_files(out) == [], "stale temporary files were left behind"
    reference = tmp_path / "ref"
    ref = run("train", corpus, "--out", reference, "--iterations", total, *flags)
    assert ref.returncode == 0, ref.stderr
    a, meta_a = checkpoint.load(out / "latest.npz")
    b, meta_b = checkpoint.load(reference / "latest.npz")
    assert meta_a["iteration"] == meta_b["iteration"] == total
    same_arrays(a, b)
    assert meta_a["dropout_rng_state"] == meta_b["dropout_rng_state"]
    print(f"{kills} kills ({in_training} in training, {kills - in_training} in start-up), {mid_write} left "
          f"a temporary file (killed mid-write); resumed to iteration {total}, bit-identical")


# Runs cli.main in a child that SIGKILLs itself at a chosen point of a checkpoint write.
KILL_SCRIPT = r"""
import os, signal, sys
from minrnn import cli, outfile
where, at = sys.argv[1], int(sys.argv[2])
calls = {"n": 0}
if where == "before-rename":          # the temporary file complete and synced, not yet renamed
    real = os.replace
    def replace(src, dst):
        calls["n"] += 1
        if calls["n"] == at:
            os.kill(os.getpid(), signal.SIGKILL)
        return real(src, dst)
    os.replace = replace
else:                                 # half way through writing the temporary file
    real_open = open
    class Dying:
        def __init__(self, f): self.f, self.written = f, 0
        def write(self, b):
            self.written += len(b)
            if self.written > 2000:
                self.f.flush(); os.fsync(self.f.fileno())
                os.kill(os.getpid(), signal.SIGKILL)
            return self.f.write(b)
        def __getattr__(self, name): return getattr(self.f, name)
        def __enter__(self): return self
        def __exit__(self, *a): return self.f.__exit__(*a)
    def patched_open(path, mode="r", *a, **k):
        f = real_open(path, mode, *a, **k)
        if "w" in mode and str(path).endswith(".tmp"):
            calls["n"] += 1
            if calls["n"] == at:
                return Dying(f)
        return f
    outfile.open = patched_open
sys.exit(cli.main(sys.argv[3:]))
"""


@pytest.mark.parametrize("where", ["before-rename", "mid-write"])
def test_kill9_inside_a_checkpoint_write(tmp_path, where):
    """Deterministically killed inside the 4th checkpoint write (latest at iteration 4 is being
    replaced; best.npz and latest.npz at 2 exist): the old latest.npz is intact, the stale
    temporary file is reused, and resuming ends exactly where an uninterrupted run ends."""
    corpus = write_text(tmp_path / "t.txt", 4000)
    flags = [*TINY, "--eval-every", "2", "--seed", "1"]
    out = tmp_path / "run"
    # saves: best@2, latest@2, best@4 (if better), latest@4 ... -> the 4th write is latest@4 at the earliest
    proc = subprocess.run([PY, "-c", KILL_SCRIPT, where, "4", "train", str(corpus), "--out", str(out),
                           "--iterations", "30", "--quiet", *flags], env=env(), capture_output=True, text=True)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert tmp_files(out), "the kill did not land inside a write"
    assert_only_known_files(out)
    before = latest_iteration(out)
    assert before in (2, 4)  # the write in flight never became latest.npz
    done = run("train", "--resume", out, "--iterations", 30)
    assert done.returncode == 0, done.stderr
    assert tmp_files(out) == []
    ref = run("train", corpus, "--out", tmp_path / "ref", "--iterations", 30, *flags)
    assert ref.returncode == 0, ref.stderr
    same_arrays(checkpoint.load(out / "latest.npz")[0], checkpoint.load(tmp_path / "ref" / "latest.npz")[0])


@pytest.mark.parametrize("flags", [
    ["--optimizer", "adam"],
    ["--optimizer", "rmsprop", "--lr-schedule", "cosine", "--clip-mode", "value", "--dtype", "float64"],
    ["--optimizer", "sgd", "--momentum", "0.9", "--lr", "0.05", "--lr-schedule", "step", "--lr-decay-every", "50"],
    ["--optimizer", "adagrad", "--val-frac", "0"],
], ids=["adam", "rmsprop-cosine-f64", "sgd-momentum-step", "adagrad-noval"])
def test_resume_after_kill_equals_uninterrupted(tmp_path, flags):
    corpus = write_text(tmp_path / "t.txt", 5000, seed=2)
    common = ["--hidden", "16", "--batch-size", "3", "--seq-length", "10", "--eval-every", "5",
              "--sample-every", "9", "--seed", "7", *flags]
    total = 1500
    out = tmp_path / "run"
    proc = start("train", corpus, "--out", out, "--iterations", total, *common)
    wait_for(lambda: (out / "latest.npz").exists(), proc=proc)
    time.sleep(random.Random(str(flags)).uniform(0.0, 0.1))
    assert proc.poll() is None, "finished before the kill; make the run longer"
    kill9(proc)
    killed_at = latest_iteration(out)
    assert 0 < killed_at < total
    done = run("train", "--resume", out, "--iterations", total)
    assert done.returncode == 0, done.stderr
    ref = run("train", corpus, "--out", tmp_path / "ref", "--iterations", total, *common)
    assert ref.returncode == 0, ref.stderr
    a, meta_a = checkpoint.load(out / "latest.npz")
    b, meta_b = checkpoint.load(tmp_path / "ref" / "latest.npz")
    assert meta_a["iteration"] == meta_b["iteration"] == total
    same_arrays(a, b)
