"""Training speed of minrnn's trainer against PyTorch, in characters per second, for each cell.

One iteration is what minrnn/loop.py does for a (T, B) chunk: loop.step (the gradient over
the run's default shards, scale 1/(B*T), clip_global_norm(5), Adam), float32, the state carried
to the next chunk, on the trainer's threads (the `thr` column: shards x worker threads, each on
one BLAS thread; `--shards S` overrides the default S to compare). The PyTorch peer is the same model: one-hot
input into nn.RNN(tanh) / nn.LSTM / nn.GRU with num_layers L (the one-hot product is our
lookup into Wxh), nn.Linear, mean cross-entropy, clip_grad_norm_(5), Adam,
torch.set_num_threads(2). (One-hot input is PyTorch's faster choice here: nn.Embedding +
an H x H input product is slower at large H.)

Both run on the same text in the same process, interleaved: each repeat times a block of
iterations of PyTorch, then of minrnn, after a warm-up and a short pause (see chars_per_s).
Figures are medians over the repeats, with the ratio; the machine line says which CPU, vector
extension and BLAS kernels they ran on, and the load average is printed, as other work on a
2-core machine moves them.

    python benchmarks/train_speed.py            # all configs, 5 repeats, sampling, GEMM peak
    python benchmarks/train_speed.py --quick    # shorter blocks
    python benchmarks/train_speed.py --configs lstm-256x2-64x64,gru-128x1-1x64

GFLOP/s and share of peak: the model's matmul FLOPs per character (forward, backward and the
weight gradient of every product: 6 * (gates*H * (input + H) per layer + H*V), with the one-hot
input counted as an input of size 1) times chars/s, against a 2048^3 float32 matmul on 2 BLAS
threads (the best of several, at the start and at the end).
"""
import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from machine import describe
from minrnn import data
from minrnn.cells import CELLS
from minrnn.model import CharRNN, ModelConfig
from minrnn.config import Config
from minrnn.optim import Adam
from minrnn.sample import generate
from minrnn.shards import Shards
from minrnn.loop import step

DEFAULT_TEXT = Path(__file__).resolve().parent.parent.parent / "shared/data/tinyshakespeare.txt"
# (cell, H, layers, B, T): min-char-rnn's shape at growing batches, then the deeper cells
# (cell, H, layers, B, T): min-char-rnn's shape at growing batches, then the deeper cells, the
# default model (gru-256x2-32x64) first among them
CONFIGS = [("rnn", 100, 1, 1, 25), ("rnn", 100, 1, 32, 25), ("rnn", 100, 1, 128, 25), ("rnn", 512, 1, 64, 25),
           ("gru", 256, 2, 32, 64), ("lstm", 256, 2, 32, 64),
           ("lstm", 256, 2, 64, 64), ("lstm", 512, 1, 64, 64), ("lstm", 128, 1, 1, 64),
           ("gru", 256, 2, 64, 64), ("gru", 512, 1, 64, 64), ("gru", 128, 1, 1, 64)]
TARGET = 1.5  # issue 14: at least 1.5x PyTorch at every row, never below 1.2x


def config_name(c):
    return f"{c[0]}-{c[1]}x{c[2]}-{c[3]}x{c[4]}"


def parse_config(text):
    cell, hl, bt = text.split("-")
    (H, L), (B, T) = (map(int, hl.split("x"))), (map(int, bt.split("x")))
    return cell, H, L, B, T


def load_note():
    """The 1-minute load average: this is a 2-core machine shared with other work, and a busy
    neighbour slows 2-thread BLAS most (a thread waits for one that is descheduled)."""
    return f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs"


def load_text(path):
    if path and Path(path).exists():
        ix, chars = data.read_corpus(path)
        return ix, chars, str(path)
    return data.builtin_corpus()


class MinrnnTrainer:
    """The trainer's iteration (minrnn.train.step) over the streams, without logging,
    evaluation or checkpoints."""

    def __init__(self, ix, V, cell, H, L, B, T, lr=2e-3, seed=0, shards=None):
        self.T, self.B = T, B
        self.inputs, self.targets = data.streams(ix, B)
        self.model = CharRNN(ModelConfig(V, cell, H, L, dropout=0.0), rng=np.random.default_rng(seed))
        self.opt = Adam(self.model.theta.size, lr, dtype=np.float32)
        # its clipping: global norm 5; its shards and threads: the trainer's defaults
        self.cfg = Config(cell=cell, hidden=H, layers=L, seq_length=T, batch_size=B, shards=shards)
        self.shards = Shards(self.model, self.cfg.n_shards())
        self.p, self.h = 0, self.model.zero_state(B)

    def run(self, iterations):
        T, model = self.T, self.model
        for _ in range(iterations):
            if self.p + T > self.inputs.shape[1]:
                self.p, self.h = 0, model.zero_state(self.B)
            x, y = self.inputs[:, self.p:self.p + T].T, self.targets[:, self.p:self.p + T].T
            loss, self.h = step(self.shards, self.opt, x, y, self.h, self.cfg)
            self.p += T
        return loss


class TorchTrainer:
    def __init__(self, ix, V, cell, H, L, B, T, lr=2e-3, seed=0):
        import torch
        from torch import nn
        torch.manual_seed(seed)
        self.torch, self.nn = torch, nn
        self.V, self.T, self.B, self.H, self.L, self.cell = V, T, B, H, L, cell
        inputs, targets = data.streams(ix, B)
        self.inputs = torch.from_numpy(inputs.T.astype(np.int64))  # (L, B), time-major
        self.targets = torch.from_numpy(targets.T.astype(np.int64))
        self.rnn = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[cell](V, H, L)
        self.out = nn.Linear(H, V)
        self.params = list(self.rnn.parameters()) + list(self.out.parameters())
        self.opt = torch.optim.Adam(self.params, lr=lr)
        self.p, self.h = 0, self.zero_state()

    def zero_state(self):
        h = self.torch.zeros(self.L, self.B, self.H)
        return (h, h.clone()) if self.cell == "lstm" else h

    def run(self, iterations):
        F, T = self.torch.nn.functional, self.T
        for _ in range(iterations):
            if self.p + T > self.inputs.shape[0]:
                self.p, self.h = 0, self.zero_state()
            x, y = self.inputs[self.p:self.p + T], self.targets[self.p:self.p + T]
            hs, h = self.rnn(F.one_hot(x, self.V).float(), self.h)
            loss = F.cross_entropy(self.out(hs).reshape(-1, self.V), y.reshape(-1))
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            self.nn.utils.clip_grad_norm_(self.params, 5.0)
            self.opt.step()
            self.h = tuple(a.detach() for a in h) if self.cell == "lstm" else h.detach()
            self.p += T
        return loss.item()


def make_torch():
    """PyTorch set to 2 threads, or None when it is not installed."""
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(2)
    return torch


SETTLE_S = 0.3  # OpenBLAS's idle threads spin ~0.1 s before they sleep, libgomp's a little less


def chars_per_s(trainer, iterations, chars_per_iteration, threads=None):
    """Time `iterations` of a trainer; `threads` limits numpy's BLAS (only) while it runs.

    The pause first lets the other library's worker threads go to sleep: on 2 cores a spinning
    OpenBLAS or OpenMP thread left over from the previous block halves the next one's speed."""
    time.sleep(SETTLE_S)
    with threadpool_limits(threads, user_api="blas"):
        start = time.perf_counter()
        trainer.run(iterations)
        return iterations * chars_per_iteration / (time.perf_counter() - start)


def iterations_for(cell, H, L, B, T, seconds, quick):
    """About `seconds` of work per timed block, from a rough cost model of one iteration."""
    est = 150e-6 + T * B * flops_per_char(cell, H, L, 65) / 20e9 + T * L * CELLS[cell].gates * 6e-6
    return max(3, int(seconds / est / (3 if quick else 1)))


def gemm_peak(repeats, n=2048):
    """FLOP/s of a large float32 matmul on 2 BLAS threads: this machine's practical peak.
    The best of the repeats, since a peak is what the machine can do when nothing interferes."""
    a = np.random.default_rng(0).standard_normal((n, n), dtype=np.float32)
    b, c = a.copy(), np.empty_like(a)
    with threadpool_limits(2, user_api="blas"):
        np.matmul(a, b, out=c)
        times = []
        for _ in range(max(repeats, 5)):
            start = time.perf_counter()
            np.matmul(a, b, out=c)
            times.append(time.perf_counter() - start)
    return 2 * n**3 / min(times)


def flops_per_char(cell, H, L, V):
    G = CELLS[cell].gates
    return 6 * (sum(G * H * ((1 if l == 0 else H) + H) for l in range(L)) + H * V)


def sampling_speed(V, cell, H, L, dtype, n, repeats):
    model = CharRNN(ModelConfig(V, cell, H, L, dropout=0.0, dtype=np.dtype(dtype).name), rng=np.random.default_rng(0))
    rng, h = np.random.RandomState(0), model.zero_state(1)
    generate(model, rng, h, 0, 50)
    speeds = []
    for _ in range(repeats):
        start = time.perf_counter()
        generate(model, rng, h, 0, n)
        speeds.append(n / (time.perf_counter() - start))
    return statistics.median(speeds)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--text", default=str(DEFAULT_TEXT), help="training text (default: tinyshakespeare)")
    ap.add_argument("--quick", action="store_true", help="shorter timed blocks: under a minute in all")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=1.0, help="length of one timed block")
    ap.add_argument("--no-torch", action="store_true", help="minrnn's figures only")
    ap.add_argument("--configs", default="", help="e.g. rnn-100x1-1x25,lstm-256x2-64x64 "
                                                   "(cell-HxLayers-BxT); default: all")
    ap.add_argument("--shards", type=int, help="minrnn's shards for every config (default: the trainer's)")
    args = ap.parse_args(argv)

    ix, chars, name = load_text(args.text)
    V = len(chars)
    torch = None if args.no_torch else make_torch()
    configs = [parse_config(c) for c in args.configs.split(",")] if args.configs else CONFIGS
    print(f"machine: {describe()}")
    print(f"text: {name} ({len(ix)} chars, V={V}); median of {args.repeats}; {load_note()}")
    if torch is None:
        print("PyTorch is not importable here: minrnn's figures alone")
    else:
        print(f"peer: PyTorch {torch.__version__}, {torch.get_num_threads()} threads, one-hot input")
    peak = gemm_peak(args.repeats)  # measured again at the end: the better of the two counts

    header = f"{'config (cell-HxL-BxT)':<22} {'thr':>7} {'minrnn c/s':>11} {'GFLOP/s':>8}"
    if torch is not None:
        header += f" {'torch c/s':>10} {'GFLOP/s':>8} {'ratio':>6} {'target':>7}"
    print(header)
    rows = []
    for c in configs:
        cell, H, L, B, T = c
        n = iterations_for(*c, args.seconds, args.quick)
        ours = MinrnnTrainer(ix, V, *c, shards=args.shards and min(args.shards, B))
        sh = ours.shards
        threads, shown = 1, f"{sh.n_shards}x{sh.workers}"
        theirs = TorchTrainer(ix, V, *c) if torch is not None else None
        mine, peer = [], []
        chars_per_s(ours, max(3, n // 5), B * T, threads)  # warm-up: caches, allocator, BLAS buffers
        if theirs is not None:
            chars_per_s(theirs, max(3, n // 5), B * T)
        for _ in range(args.repeats):
            if theirs is not None:
                peer.append(chars_per_s(theirs, n, B * T))
            mine.append(chars_per_s(ours, n, B * T, threads))
        m = statistics.median(mine)
        fl = flops_per_char(cell, H, L, V)
        line = f"{config_name(c):<22} {shown:>7} {m:>11,.0f} {m * fl / 1e9:>8.1f}"
        t = None
        if theirs is not None:
            t = statistics.median(peer)
            verdict = f"{'>=' if m / t >= TARGET else '<'}{TARGET:g}x"
            line += f" {t:>10,.0f} {t * fl / 1e9:>8.1f} {m / t:>5.2f}x {verdict:>7}"
        print(line, flush=True)
        rows.append((c, m * fl, None if t is None else t * fl))

    peak = max(peak, gemm_peak(args.repeats))
    print(f"\nfloat32 GEMM peak (2048^3 matmul, 2 threads, best of start and end): {peak / 1e9:.1f} GFLOP/s")
    print("share of that peak (model matmul FLOPs per character):")
    for c, ours_fl, peer_fl in rows:
        line = f"  {config_name(c)}: minrnn {100 * ours_fl / peak:.1f}%"
        if peer_fl is not None:
            line += f", PyTorch {100 * peer_fl / peak:.1f}%"
        print(line)

    print("\nsampling, batch 1 (minrnn.sample.generate):")
    n = 400 if args.quick else 2000
    for cell, H, L, dtype in (("rnn", 100, 1, np.float64), ("rnn", 100, 1, np.float32), ("rnn", 512, 1, np.float32),
                              ("lstm", 256, 2, np.float32), ("gru", 256, 2, np.float32)):
        speed = sampling_speed(V, cell, H, L, dtype, n, args.repeats)
        print(f"  {cell}-{H}x{L:<3} {np.dtype(dtype).name:<8} {speed:>9,.0f} chars/s")
    print(f"\nat the end: {load_note()}")


if __name__ == "__main__":
    sys.exit(main())
