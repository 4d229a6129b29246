"""Peak resident memory of `minrnn train` on a large text, against the size of its index array.

    python benchmarks/scale_rss.py              # a 200 MB text (made in a temporary folder)
    python benchmarks/scale_rss.py --mb 20      # what tests/reliability/test_scale.py checks
    python benchmarks/scale_rss.py --cell lstm --layers 2 --hidden 512   # a deeper model

The promise (issue 4): training on a text of N characters holds at most 3x its index array
(N bytes for a vocabulary under 256 characters) plus the model (parameters, gradients, Adam's
two moments, and one chunk's activations: ModelConfig.train_bytes). Each command runs in a child
process whose peak RSS comes from wait4(); the same training command on a 100 KB text gives
the fixed part (interpreter, NumPy, BLAS, the model and one step's activations), so that
`growth = peak - fixed` is what the text itself costs. Both bounds are reported and checked:

    peak   <= 3 * index bytes + model bytes      (the promise as stated, fixed part included)
    growth <= 3 * index bytes                    (the text's own cost, what a test can bound
                                                  on a small text too)
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from minrnn.data import index_dtype
from minrnn.model import ModelConfig

WORDS = ("the quick brown fox jumps over the lazy dog while a small bird sings in the old tree "
         "and the river runs down to the sea under a grey sky full of rain").split()
B, T = 32, 64
TRAIN = ["--batch-size", str(B), "--seq-length", str(T), "--iterations", "20", "--eval-every", "0",
         "--sample-every", "0", "--val-frac", "0.0005", "--quiet"]


def make_text(path, n_bytes, seed=0):
    """n_bytes of English-looking ASCII, written in 1 MiB blocks (8 distinct ones, cycled)."""
    rng = np.random.default_rng(seed)
    blocks = []
    for _ in range(8):
        ix = rng.integers(len(WORDS), size=300_000)
        blocks.append(" ".join(WORDS[i] for i in ix).encode()[: 1 << 20])
    with open(path, "wb") as f:
        left, i = n_bytes, 0
        while left > 0:
            b = blocks[i % len(blocks)][:left]
            f.write(b)
            left -= len(b)
            i += 1
    return path


def peak_rss(cmd, env=None):
    """(exit status, peak RSS in bytes, seconds) of a command run to its end."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode(errors="replace")
    proc.stderr.close()
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, cmd))} failed ({proc.returncode}):\n{err}")
    return usage.ru_maxrss * 1024, time.perf_counter() - start  # ru_maxrss is in KiB on Linux


def measure(mb, folder, cell="rnn", hidden=64, layers=1):
    folder = Path(folder)
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    big = make_text(folder / "big.txt", int(mb * 1e6))
    small = make_text(folder / "small.txt", 100_000)
    py = [sys.executable, "-m", "minrnn", "train"]
    flags = [*TRAIN, "--cell", cell, "--hidden", str(hidden), "--layers", str(layers)]
    fixed, _ = peak_rss([*py, small, "--out", folder / "small-run", *flags], env)
    peak, seconds = peak_rss([*py, big, "--out", folder / "big-run", *flags], env)
    n = big.stat().st_size  # ASCII: one character a byte
    vocab = len(set(big.read_bytes()[: 1 << 20]))
    ix_bytes = n * index_dtype(vocab).itemsize
    model = ModelConfig(vocab, cell, hidden, layers, dropout=0.0).train_bytes(2, B, T)  # float32, Adam's m and v
    return {"mb": mb, "chars": n, "index_bytes": ix_bytes, "model_bytes": model, "fixed_rss": fixed,
            "peak_rss": peak, "growth": peak - fixed, "seconds": seconds,
            "bound_peak": 3 * ix_bytes + model, "bound_growth": 3 * ix_bytes}


def report(r):
    MB = 1e6
    print(f"text: {r['mb']:g} MB, {r['chars']:,} characters; index array {r['index_bytes'] / MB:.1f} MB; "
          f"model (params, grads, Adam, a chunk's activations) {r['model_bytes'] / MB:.2f} MB")
    print(f"peak RSS {r['peak_rss'] / MB:.1f} MB (train, {r['seconds']:.1f} s); fixed part {r['fixed_rss'] / MB:.1f} MB "
          f"(same command on 100 KB); growth {r['growth'] / MB:.1f} MB = "
          f"{r['growth'] / r['index_bytes']:.2f}x the index array")
    if small_text(r):
        peak = (f"{'ok' if r['peak_rss'] <= r['bound_peak'] else 'over'}, not meaningful at this size: the "
                "fixed part is above 2x the index array")
    else:
        peak = "ok" if r["peak_rss"] <= r["bound_peak"] else "EXCEEDED"
    print(f"bounds: peak <= 3 x index + model = {r['bound_peak'] / MB:.1f} MB: {peak}; "
          f"growth <= 3 x index = {r['bound_growth'] / MB:.1f} MB: "
          f"{'ok' if r['growth'] <= r['bound_growth'] else 'EXCEEDED'}")


def small_text(r):
    """Below about 30 MB of text the interpreter's fixed part outweighs 2x the index array."""
    return r["fixed_rss"] > 2 * r["index_bytes"]


def passed(r):
    return r["growth"] <= r["bound_growth"] and (r["peak_rss"] <= r["bound_peak"] or small_text(r))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mb", type=float, default=200, help="size of the text in MB (default 200)")
    ap.add_argument("--dir", help="work folder (default: a temporary one, removed after)")
    ap.add_argument("--cell", default="rnn")
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--layers", type=int, default=1)
    args = ap.parse_args()
    model = (args.cell, args.hidden, args.layers)
    if args.dir:
        Path(args.dir).mkdir(parents=True, exist_ok=True)
        r = measure(args.mb, args.dir, *model)
    else:
        with tempfile.TemporaryDirectory() as d:
            r = measure(args.mb, d, *model)
    report(r)
    return 0 if passed(r) else 1


if __name__ == "__main__":
    sys.exit(main())
