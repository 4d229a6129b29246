"""Training speed of `minrnn classic` against min-char-rnn's own loop, in characters per second.

Both train the same text with the same settings (H=100, T=25, lr 0.1, Adagrad, element-wise
clip at 5, float64, batch 1) for the same number of iterations, printing to a null stream.
minrnn's side is minrnn.classic.run_classic, the function behind `minrnn classic`; the peer
is min-char-rnn as tests/min_char_rnn.py writes it (dicts over time steps, one-hot column
vectors, per-step products). Runs alternate, peer then minrnn, and the figures are medians.

Two settings: "sampling" is both programs' default, a 200-character sample every 100
iterations; "no sampling" samples only once, at iteration 0.

    python benchmarks/classic_speed.py            # 2000 iterations a run, 5 runs a setting
    python benchmarks/classic_speed.py --quick    # 500 iterations, 5 runs: well under a minute
"""
import argparse
import io
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from minrnn import data
from minrnn.classic import run_classic

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from min_char_rnn import min_char_rnn  # noqa: E402  (the reference loop lives with the tests)

DEFAULT_TEXT = ROOT.parent / "shared/data/tinyshakespeare.txt"
TARGET, FLOOR = 6.0, 4.0


class Null(io.TextIOBase):
    def write(self, s):
        return len(s)


def timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--text", default=str(DEFAULT_TEXT), help="training text (default: tinyshakespeare)")
    ap.add_argument("--quick", action="store_true", help="500 iterations a run instead of 2000")
    ap.add_argument("--iterations", type=int, default=0, help="iterations a run (overrides --quick)")
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args(argv)
    n = args.iterations or (500 if args.quick else 2000)

    text = Path(args.text).read_text(encoding="utf-8")
    ix, chars = data.read_corpus(args.text)
    H, T, lr = 100, 25, 0.1
    print(f"text: {args.text} ({len(text)} chars, V={len(chars)}); H={H} T={T} lr={lr}; "
          f"{n} iterations a run, median of {args.repeats}; numpy {np.__version__}; "
          f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    print(f"{'setting':<12} {'min-char-rnn c/s':>17} {'minrnn c/s':>11} {'ratio':>6}  target >= {TARGET:g}x (floor {FLOOR:g}x)")
    for label, every in (("sampling", 100), ("no sampling", 10**9)):
        theirs = lambda: min_char_rnn(text, H, T, lr, seed=0, iterations=n, sample_every=every,
                                      sample_length=200, print_every=100, out=Null())
        ours = lambda: run_classic(ix, chars, H, T, lr, seed=0, iterations=n, sample_every=every,
                                   sample_length=200, print_every=100, out=Null())
        ours()  # warm-up
        peer, mine = [], []
        for _ in range(args.repeats):
            peer.append(n * T / timed(theirs))
            mine.append(n * T / timed(ours))
        p, m = statistics.median(peer), statistics.median(mine)
        verdict = "ok" if m / p >= TARGET else ("below target" if m / p >= FLOOR else "BELOW FLOOR")
        print(f"{label:<12} {p:>17,.0f} {m:>11,.0f} {m / p:>5.2f}x  {verdict}", flush=True)
    print(f"at the end: load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    sys.exit(main())
