"""Shared pieces of the reliability suite: tiny texts and runs, the CLI in a subprocess or in
process, and the check that a failure is one clean line (no traceback)."""
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from support import ROOT, make_text
from support import run as main  # cli.main in process: (exit code, stdout, stderr)

PY = sys.executable
# the machinery under test is the same for every cell: the smallest, quickest model
TINY = ["--cell", "rnn", "--layers", "1", "--hidden", "8", "--batch-size", "2", "--seq-length", "8"]


def write_text(path, n_chars=4000, seed=0):
    path = Path(path)
    path.write_text(make_text(n_chars, seed), encoding="utf-8")
    return path


def env():
    return dict(os.environ, PYTHONPATH=str(ROOT), OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1",
                MKL_NUM_THREADS="1", PYTHONDONTWRITEBYTECODE="1")


def cmd(*args):
    return [PY, "-m", "minrnn", *map(str, args)]


def run(*args, cwd=None, timeout=120):
    """The real command in a subprocess: returns CompletedProcess (text, stdout/stderr captured)."""
    return subprocess.run(cmd(*args), cwd=cwd, env=env(), capture_output=True, text=True, timeout=timeout)


def start(*args, cwd=None):
    return subprocess.Popen(cmd(*args), cwd=cwd, env=env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def start_training(folder, *args):
    """Start a `minrnn train` whose stderr goes to a file; wait_training() then waits until it
    has done iterations (it prints a sample every 5), which a fixed sleep cannot promise on a
    loaded machine. The stderr text is proc.errfile.read_text()."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    errfile = folder / f"stderr-{time.monotonic_ns()}.txt"
    with open(errfile, "w") as f:
        proc = subprocess.Popen(cmd("train", *args, "--sample-every", 5), env=env(), stdout=subprocess.PIPE,
                                stderr=f, text=True)
    proc.errfile = errfile
    return proc


def wait_training(proc, timeout=60):
    wait_for(lambda: "---- sample at iteration" in proc.errfile.read_text(), timeout, proc)


def wait_for(predicate, timeout=60, proc=None):
    """Poll until predicate() is true; fails if proc exits first or the time runs out."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"process ended early ({proc.returncode}): {proc.communicate()}")
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.005)


def kill9(proc):
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    assert proc.returncode == -signal.SIGKILL


def assert_clean_error(code, err, *words, exit_code=None):
    """A refusal as the issue asks: non-zero exit, no traceback, stderr one line
    `minrnn: error: ...` that mentions each of `words` (case-insensitive)."""
    assert code != 0, err
    if exit_code is not None:
        assert code == exit_code, err
    assert "Traceback" not in err, err
    lines = err.strip().split("\n")
    assert len(lines) == 1, err
    assert lines[0].startswith("minrnn: error: "), err
    for w in words:
        assert w.lower() in lines[0].lower(), (w, err)
    return lines[0]


def assert_clean_proc(proc, *words, exit_code=None):
    return assert_clean_error(proc.returncode, proc.stderr, *words, exit_code=exit_code)


def finish(proc, timeout):
    """Wait for a started process to end (killed if it outlives `timeout`); its stderr."""
    try:
        _, err = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
    return err


def assert_argparse_error(code, err, *words):
    """argparse's refusal: exit 2, no traceback, one line `minrnn COMMAND: error: ... (see
    minrnn COMMAND --help)` and no usage block."""
    assert code == 2, err
    assert "Traceback" not in err, err
    lines = err.strip().split("\n")
    assert len(lines) == 1 and re.fullmatch(r"(minrnn(?: \w+)?): error: .* \(see \1 --help\)", lines[0]), err
    for w in words:
        assert w.lower() in lines[0].lower(), (w, err)


def same_arrays(a, b):
    assert sorted(a) == sorted(b)
    for k in a:
        assert a[k].dtype == b[k].dtype and a[k].shape == b[k].shape, k
        assert a[k].tobytes() == b[k].tobytes(), f"{k} differs"


def tmp_files(folder):
    return sorted(p.name for p in Path(folder).iterdir() if p.name.endswith(".tmp"))


ALLOWED = {".lock", "config.json", "log.csv", "latest.npz", "best.npz", ".latest.npz.tmp", ".best.npz.tmp"}


def assert_only_known_files(folder):
    names = {p.name for p in Path(folder).iterdir()}
    assert names <= ALLOWED, names - ALLOWED
