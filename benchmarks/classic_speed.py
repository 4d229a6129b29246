"""Training speed of `minrnn classic` against min-char-rnn's own loop, in characters per second.

Both train the same text with the same settings (H=100, T=25, lr 0.1, Adagrad, element-wise
clip at 5, float64, batch 1) for the same number of iterations, printing to a null stream.
minrnn's side is minrnn.classic.run_classic, the function behind `minrnn classic`; the peer
is min-char-rnn as reference/min_char_rnn.py writes it (dicts over time steps, one-hot column
vectors, per-step products). Runs alternate, peer then minrnn, and the figures are medians.

Two settings: "sampling" is both programs' default, a 200-character sample every 100
iterations; "no sampling" samples only once, at iteration 0.

The last lines measure a floor: the part of an iteration that any NumPy version of
min-char-rnn's exact float64 algorithm must spend (see `floor_us`), and so the largest ratio
such a version could reach against the min-char-rnn time measured here.

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
from threadpoolctl import threadpool_limits

from minrnn import data
from minrnn.classic import run_classic
from minrnn.optim import Adagrad, clip_elementwise

ROOT = Path(__file__).resolve().parent.parent
sys.path.append(str(ROOT))  # reference/ is not installed; appended, so it shadows nothing
from reference.min_char_rnn import min_char_rnn  # noqa: E402

DEFAULT_TEXT = ROOT.parent / "shared/data/tinyshakespeare.txt"
TARGET, FLOOR = 6.0, 4.0


class Null(io.TextIOBase):
    def write(self, s):
        return len(s)


def timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def floor_us(V, H, T, sample_every, sample_length, iterations, repeats):
    """Microseconds per iteration (median of `repeats`) of the work no NumPy version of
    min-char-rnn's exact float64 iteration can skip, each piece in its cheapest form, with
    nothing around it, on one BLAS thread as `minrnn classic` runs:

    - steps: the 2T sequential steps of the recurrence, three NumPy calls each on preallocated
      rows (forward: h @ Whh.T, + x, tanh; backward: + dh, * tanh', @ Whh);
    - update: the element-wise clip and Adagrad's update of all parameters;
    - products: the four batched products (logits, their gradient into h, dWhy, dWhh) and the
      softmax's exp;
    - sampling: sample_length / sample_every characters, each two matrix-vector products, an
      add, tanh, exp, a cumulative sum, a uniform draw and a search.

    Left out: the input lookup and its gradient, the softmax's other steps, allocation and the
    Python around all of it. Each piece is timed alone and then all four in one loop, as an
    iteration runs them (they slow each other down: each evicts the others' data from the
    caches). Returns a dict of the four and "together"."""
    rng = np.random.RandomState(0)
    Whh, Why = rng.randn(H, H) * 0.01, rng.randn(V, H) * 0.01
    WhhT, WhyT = np.ascontiguousarray(Whh.T), np.ascontiguousarray(Why.T)
    x, dh = rng.randn(T, 1, H) * 0.1, rng.randn(T, 1, H) * 0.1
    hs, dhraw, dhnext = np.zeros((T + 1, 1, H)), np.empty((T, 1, H)), np.zeros((1, H))
    forward, backward = list(zip(hs[:-1], hs[1:], x)), list(zip(dh[::-1], hs[:0:-1], dhraw[::-1]))
    size = 2 * V * H + H * H + H + V
    theta, g = rng.randn(size) * 0.01, rng.randn(size)
    adagrad = Adagrad(size, 0.1)
    h2, dh2, dy = hs[1:].reshape(T, H), dhraw.reshape(T, H), rng.rand(T, V) * 0.01
    ys, dWhy, dWhh = np.empty((T, V)), np.empty((V, H)), np.empty((H, H))
    h, hraw, logits = np.zeros(H), np.empty(H), np.empty(V)
    chars_per_iteration = round(sample_length / sample_every)

    def steps():
        for h_t, h_next, x_t in forward:
            h_t.dot(WhhT, out=h_next)
            h_next += x_t
            np.tanh(h_next, out=h_next)
        for dh_t, h_t, dhraw_t in backward:  # h_t stands in for tanh' (same shape, same cost)
            np.add(dhnext, dh_t, out=dhnext)
            np.multiply(h_t, dhnext, out=dhraw_t)
            dhraw_t.dot(Whh, out=dhnext)

    def update():
        clip_elementwise(g, 5.0)
        adagrad.step(theta, g)

    def products():
        h2.dot(WhyT, out=ys)
        np.exp(ys, out=ys)
        dy.dot(Why, out=dh2)
        np.dot(dy.T, h2, out=dWhy)
        np.dot(dh2.T, h2, out=dWhh)

    def sampling():
        for _ in range(chars_per_iteration):
            h.dot(WhhT, out=hraw)
            np.add(hraw, x[0, 0], out=hraw)
            np.tanh(hraw, out=h)
            h.dot(WhyT, out=logits)
            np.exp(logits, out=logits)
            np.add.accumulate(logits, out=logits)
            logits.searchsorted(rng.random_sample() * logits[-1])

    def together():
        steps()
        products()
        update()
        sampling()

    def per_iteration_us(piece):
        def run():
            for _ in range(iterations):
                piece()
        return statistics.median(timed(run) for _ in range(repeats)) / iterations * 1e6

    with threadpool_limits(1):
        return {piece.__name__: per_iteration_us(piece)
                for piece in (steps, update, products, sampling, together)}


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
    rates = {}
    print(f"{'setting':<12} {'min-char-rnn c/s':>17} {'minrnn c/s':>11} {'ratio':>6}  target >= {TARGET:g}x (floor {FLOOR:g}x)")
    for label, every in (("sampling", 100), ("no sampling", 10**9)):
        theirs = lambda: min_char_rnn(text, H, T, lr, seed=0, iterations=n, sample_every=every,
                                      sample_length=200, print_every=100, out=Null())
        ours = lambda: run_classic(ix, chars, hidden=H, seq_length=T, lr=lr, seed=0, iterations=n, sample_every=every,
                                   sample_length=200, print_every=100, out=Null())
        ours()  # warm-up
        peer, mine = [], []
        for _ in range(args.repeats):
            peer.append(n * T / timed(theirs))
            mine.append(n * T / timed(ours))
        p, m = statistics.median(peer), statistics.median(mine)
        verdict = "ok" if m / p >= TARGET else ("below target" if m / p >= FLOOR else "BELOW FLOOR")
        print(f"{label:<12} {p:>17,.0f} {m:>11,.0f} {m / p:>5.2f}x  {verdict}", flush=True)
        rates[label] = p, m
    peer_us, mine_us = (T / rate * 1e6 for rate in rates["sampling"])
    floor = floor_us(len(chars), H, T, 100, 200, n, args.repeats)
    together = floor.pop("together")
    print(f"per iteration, with sampling: min-char-rnn {peer_us:.0f} us, minrnn {mine_us:.0f} us")
    print("floor (see floor_us): " + ", ".join(f"{k} {v:.0f}" for k, v in floor.items()) +
          f" us alone, {together:.0f} us together: no NumPy version of the exact float64 "
          f"algorithm exceeds {peer_us / together:.1f}x; {FLOOR:g}x leaves "
          f"{peer_us / FLOOR - together:.0f} us an iteration for everything else")
    print(f"at the end: load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    sys.exit(main())
