"""Generation speed: characters a second of N samples made together, and of beam search, against
PyTorch's step-by-step generation of the same model.

minrnn's side is what `minrnn sample` runs, Model.sample: N = 1, 8, 32, 128 samples in one
batch (sample.Batch: one batched step of the model per character, each row picking with its own
random stream), and beam search of width K = 1, 8 (beam.py: K beams as K rows, the top K of
K x V each step); on one BLAS thread, as generation always runs. A row's figure is rows x
characters a second: for beam search the K beams' characters, the work done, as N = K sampling
counts it. Two models, untrained (speed does not depend on the weights), vocabulary 65 (as
tiny-shakespeare's): the default GRU 2 x 256 in float32, and min-char-rnn's vanilla H=100 in
float64, as `minrnn classic` runs it.

The peer, at N = 1 and 32: nn.GRU / nn.RNN + nn.Linear of the same shapes and dtype, one-hot
input, under torch.no_grad(), softmax and torch.multinomial each step, on one thread
(torch.set_num_threads(1), as minrnn's generation). Blocks alternate, minrnn then PyTorch; each
is sized to last about --seconds; figures are medians of --repeats.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/sample_speed.py
    python benchmarks/sample_speed.py --quick --no-torch
"""
import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from machine import describe
from minrnn.api import Model
from minrnn.model import CharRNN, ModelConfig

V = 65
CHARS = [chr(32 + i) for i in range(V)]
MODELS = {"gru 2x256 float32": ("gru", 256, 2, "float32"), "rnn 1x100 float64": ("rnn", 100, 1, "float64")}
SAMPLES, BEAMS, PEER = (1, 8, 32, 128), (1, 8), (1, 32)
# issue 21's targets: N=32 against N=1; beam K=8 against N=8 sampling; minrnn against PyTorch
TARGET_BATCH, TARGET_BEAM, TARGET_PEER = 10.0, 0.5, 1.5


def load_note():
    return f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs"


def minrnn_model(cell, H, L, dtype):
    net = CharRNN(ModelConfig(V, cell, H, L, dropout=0.0, dtype=dtype), rng=np.random.default_rng(0))
    return Model(net, {"vocab": CHARS}, Path("untrained.npz"))


def minrnn_case(model, rows, beam):
    """A function of a length that makes `rows` samples (or runs a beam of `rows`) of it."""
    settings = dict(beam=rows) if beam else dict(n=rows)
    return lambda length: model.sample(length, details=True, **settings)


class TorchSampler:
    """The peer: N samples made step by step, as a PyTorch user writes it."""

    def __init__(self, torch, cell, H, L, dtype, rows):
        torch.manual_seed(0)
        self.torch, self.rows, self.L, self.H = torch, rows, L, H
        self.dtype = getattr(torch, dtype)
        self.rnn = {"rnn": torch.nn.RNN, "gru": torch.nn.GRU}[cell](V, H, L).to(self.dtype)
        self.out = torch.nn.Linear(H, V).to(self.dtype)
        self.onehot = torch.eye(V, dtype=self.dtype)
        self.generator = torch.Generator().manual_seed(0)

    def __call__(self, length):
        torch = self.torch
        with torch.no_grad():
            h = torch.zeros(self.L, self.rows, self.H, dtype=self.dtype)
            ix = torch.zeros(self.rows, dtype=torch.long)
            made = []
            for _ in range(length):
                y, h = self.rnn(self.onehot[ix].unsqueeze(0), h)
                p = torch.softmax(self.out(y[0]), dim=-1)
                ix = torch.multinomial(p, 1, generator=self.generator).squeeze(1)
                made.append(ix)
        return made


def timed(run, rows, length):
    start = time.perf_counter()
    run(length)
    return rows * length / (time.perf_counter() - start)


def length_for(run, rows, seconds):
    """A length that makes one block of `run` last about `seconds` (after a warm-up run)."""
    timed(run, rows, 20)
    return max(20, int(seconds * timed(run, rows, 50) / rows))


def make_torch():
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(1)
    return torch


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=1.0, help="length of one timed block")
    ap.add_argument("--quick", action="store_true", help="blocks of a fifth of --seconds")
    ap.add_argument("--no-torch", action="store_true", help="minrnn's figures only")
    ap.add_argument("--models", default=",".join(MODELS), help=f"some of: {', '.join(MODELS)} (comma-separated)")
    ap.add_argument("--sizes", help="the models' shapes instead, for a quick try: cell-HxL-dtype,... "
                                    "(e.g. gru-16x1-float32)")
    args = ap.parse_args(argv)
    seconds = args.seconds / (5 if args.quick else 1)
    models = ({s: (s.split("-")[0], *map(int, s.split("-")[1].split("x")), s.split("-")[2])
               for s in args.sizes.split(",")} if args.sizes else
              {name: MODELS[name] for name in args.models.split(",")})
    torch = None if args.no_torch else make_torch()
    print(f"machine: {describe()}")
    print(f"median of {args.repeats} blocks of about {seconds:g} s; {load_note()}")
    print("peer: " + (f"PyTorch {torch.__version__}, {torch.get_num_threads()} thread" if torch is not None else
                      "PyTorch is not importable here (pip install torch): minrnn's figures alone"))
    print(f"{'model':<20} {'rows':<10} {'minrnn chars/s':>15} {'PyTorch chars/s':>16} {'ratio':>7}")
    verdicts = []
    for name, (cell, H, L, dtype) in models.items():
        model = minrnn_model(cell, H, L, dtype)
        cases = [(f"N={n}", n, minrnn_case(model, n, False)) for n in SAMPLES]
        cases += [(f"beam K={k}", k, minrnn_case(model, k, True)) for k in BEAMS]
        peers = {f"N={n}": TorchSampler(torch, cell, H, L, dtype, n) for n in PEER} if torch is not None else {}
        lengths = {label: length_for(run, rows, seconds) for label, rows, run in cases}
        peer_lengths = {label: length_for(run, run.rows, seconds) for label, run in peers.items()}
        mine, theirs = {label: [] for label, _, _ in cases}, {label: [] for label in peers}
        for _ in range(args.repeats):
            for label, rows, run in cases:
                mine[label].append(timed(run, rows, lengths[label]))
                if label in peers:
                    theirs[label].append(timed(peers[label], rows, peer_lengths[label]))
        speed = {label: statistics.median(v) for label, v in mine.items()}
        peer = {label: statistics.median(v) for label, v in theirs.items()}
        for i, (label, _, _) in enumerate(cases):
            line = f"{name if i == 0 else '':<20} {label:<10} {speed[label]:>15,.0f}"
            if label in peer:
                line += f" {peer[label]:>16,.0f} {speed[label] / peer[label]:>6.2f}x"
            print(line, flush=True)
        verdicts.append(f"{name}: N=32 makes {speed['N=32'] / speed['N=1']:.1f}x the chars/s of N=1 "
                        f"(target {TARGET_BATCH:g}x)")
        verdicts.append(f"{name}: beam K=8 makes {speed['beam K=8'] / speed['N=8']:.2f}x the chars/s of N=8 sampling "
                        f"(target {TARGET_BEAM:g}x)")
        if peer:
            verdicts.append(f"{name}: minrnn / PyTorch " + ", ".join(
                f"{speed[label] / peer[label]:.2f}x at {label}" for label in peer) + f" (target {TARGET_PEER:g}x)")
    print("\n" + "\n".join(verdicts))
    print(f"at the end: {load_note()}")


if __name__ == "__main__":
    sys.exit(main())
