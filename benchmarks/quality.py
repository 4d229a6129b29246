"""Validation loss against training time on tiny-shakespeare: minrnn's defaults, min-char-rnn's
settings (through `minrnn train`), and PyTorch peers (nn.RNN, a 2x256 nn.LSTM, a 2x256 nn.GRU),
one after the other on this machine.

    python benchmarks/quality.py                      # everything, 8 minutes each
    python benchmarks/quality.py --minutes 2 --only minrnn
    python benchmarks/quality.py --only minrnn --config "" --config "--hidden 384 --lr 3e-3"   # a sweep
    python benchmarks/quality.py --only pytorch-lstm --peer-lr 1e-3 --peer-lr 2e-3 --peer-lr 3e-3

A peer at a poor setting proves nothing, so each peer runs at the learning rate that did best
for it among a few (PEERS; `--peer-lr` runs it at others, each as its own curve).

Each run trains for --minutes of wall time with evaluations included (so the figures are, if
anything, pessimistic) and reports the validation loss (nats/char, last 10% of the text) at 2,
5 and 8 minutes, or the last evaluation before each. Curves go to benchmarks/quality.png.
"""
import argparse
import csv
import json
import math
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from machine import describe

HERE = Path(__file__).resolve().parent
DEFAULT_TEXT = HERE.parent.parent / "shared" / "data" / "tinyshakespeare.txt"

# min-char-rnn's own settings; batch 1 trains ~100x fewer characters per iteration, so it is
# evaluated every 40000 iterations (about a minute) to keep evaluation from eating its budget
MIN_CHAR_RNN = ("--hidden 100 --seq-length 25 --batch-size 1 --optimizer adagrad --lr 0.1 "
                "--clip-mode value --dtype float64 --init-scale 0.01 --eval-every 40000")


def minrnn_curve(text, flags, minutes, workdir):
    """Run `minrnn train` as a user would; return [(elapsed_s, val_loss)] from its log.csv."""
    out = Path(workdir) / f"run-{time.time_ns()}"
    cmd = [sys.executable, "-m", "minrnn", "train", str(text), "--minutes", str(minutes),
           "--sample-every", "0", "--out", str(out), "--quiet"] + shlex.split(flags)
    subprocess.run(cmd, check=True)
    with open(out / "log.csv") as f:
        rows = list(csv.DictReader(f))
    config = json.loads((out / "config.json").read_text())
    return [(float(r["elapsed_s"]), float(r["val_loss"])) for r in rows], config


# name: (cell, hidden, layers, learning rate): each rate the better of two at 2 minutes, one
# core each (README, "The peers"): nn.RNN 2e-3 (1.656) over 1e-3 (1.687); nn.LSTM 3e-3 (1.734)
# over 2e-3 (1.781); nn.GRU 3e-3 (1.638) over 2e-3 (1.659)
PEERS = {"pytorch-rnn": ("rnn", 512, 1, 2e-3), "pytorch-lstm": ("lstm", 256, 2, 3e-3),
         "pytorch-gru": ("gru", 256, 2, 3e-3)}


def torch_curve(text, minutes, cell="rnn", hidden=512, layers=1, lr=2e-3, batch=64, seq=64, eval_seconds=20.0,
                threads=2):
    """A PyTorch peer: nn.Embedding + nn.RNN(tanh) / nn.LSTM / nn.GRU + nn.Linear, mean
    cross-entropy, global-norm clip 5, Adam; the same streams, carried state and validation
    split as minrnn."""
    import torch
    from torch import nn

    from minrnn import data

    torch.manual_seed(0)
    torch.set_num_threads(threads)
    ix, chars = data.read_corpus(text)
    train_ix, val_ix = data.split(ix, 0.1)
    V = len(chars)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(V, hidden)  # one-hot times a matrix, as a lookup
            self.rnn = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[cell](hidden, hidden, layers)
            self.out = nn.Linear(hidden, V)

        def forward(self, x, h):
            hs, h = self.rnn(self.embed(x), h)
            return self.out(hs), h

    net = Net()
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    inputs, targets = (torch.from_numpy(a.astype(np.int64)) for a in data.streams(train_ix, batch))
    vin, vtg = (torch.from_numpy(a.astype(np.int64)) for a in data.streams(val_ix, batch))

    def zero_state():
        h = torch.zeros(layers, batch, hidden)
        return (h, h.clone()) if cell == "lstm" else h

    def detach(h):
        return tuple(a.detach() for a in h) if cell == "lstm" else h.detach()

    def evaluate():
        with torch.no_grad():
            h, total = zero_state(), 0.0
            for p in range(0, vin.shape[1], seq):
                y, h = net(vin[:, p:p + seq].T, h)
                total += nn.functional.cross_entropy(y.reshape(-1, V), vtg[:, p:p + seq].T.reshape(-1),
                                                     reduction="sum").item()
        return total / vin.numel()

    curve, p, h = [], 0, zero_state()
    start = next_eval = time.perf_counter()
    next_eval += eval_seconds
    while time.perf_counter() - start < 60 * minutes:
        if p + seq > inputs.shape[1]:
            p, h = 0, zero_state()
        y, h = net(inputs[:, p:p + seq].T, detach(h))
        loss = nn.functional.cross_entropy(y.reshape(-1, V), targets[:, p:p + seq].T.reshape(-1))
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(net.parameters(), 5.0)
        opt.step()
        p += seq
        if time.perf_counter() >= next_eval:
            curve.append((time.perf_counter() - start, evaluate()))
            next_eval = time.perf_counter() + eval_seconds
    curve.append((time.perf_counter() - start, evaluate()))
    return curve


def at(curve, seconds):
    """The last validation loss measured by `seconds` into the run."""
    before = [v for t, v in curve if t <= seconds + 1]
    return before[-1] if before else math.nan


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--text", default=str(DEFAULT_TEXT))
    parser.add_argument("--minutes", type=float, default=8)
    parser.add_argument("--only", choices=["minrnn", "min-char-rnn", *PEERS], action="append")
    parser.add_argument("--config", action="append", default=[],
                        help="extra `minrnn train` flags for a minrnn run; repeat it for a sweep")
    parser.add_argument("--peer-lr", type=float, action="append", default=[],
                        help="run each peer at this learning rate instead of its best; repeat it for a search")
    parser.add_argument("--plot", default=str(HERE / "quality.png"), help="'' for none")
    parser.add_argument("--peer-threads", type=int, default=2, help="PyTorch's threads (a sweep may run "
                        "two jobs side by side, each on one core: pass --threads 1 to minrnn too)")
    parser.add_argument("--save", help="also write the curves to this JSON file")
    parser.add_argument("--curves", nargs="+", metavar="JSON", help="run nothing: table and plot of curves "
                        "saved with --save (for runs made side by side)")
    args = parser.parse_args()
    runs = [] if args.curves else args.only or ["minrnn", "min-char-rnn", *PEERS]
    marks = [m for m in (2, 5, 8) if m <= args.minutes]
    curves = {}
    for path in args.curves or []:
        curves.update(json.loads(Path(path).read_text()))
    with tempfile.TemporaryDirectory() as work:
        for name in runs:
            print(f"# {name}: {args.minutes:g} minutes ...", flush=True)
            if name == "minrnn":
                for flags in args.config or [""]:
                    label = f"minrnn {flags}".strip()
                    print(f"#   {label}", flush=True)
                    curves[label], config = minrnn_curve(args.text, flags, args.minutes, work)
                    print("# config:", {k: config.get(k) for k in ("cell", "hidden", "layers", "dropout", "seq_length",
                                                                   "batch_size", "lr", "lr_schedule", "lr_floor",
                                                                   "average")}, flush=True)
                    losses = [v for _, v in curves[label]]
                    print(f"# best val {min(losses):.4f}, last {losses[-1]:.4f} ({losses[-1] / min(losses) - 1:.2%} "
                          f"above the best), {len(losses)} evaluations", flush=True)
            elif name == "min-char-rnn":
                curves[name], _ = minrnn_curve(args.text, MIN_CHAR_RNN, args.minutes, work)
            else:
                cell, hidden, layers, best_lr = PEERS[name]
                for lr in args.peer_lr or [best_lr]:
                    label = f"{name} {hidden}x{layers} lr {lr:g}"
                    print(f"#   {label}", flush=True)
                    try:
                        curves[label] = torch_curve(args.text, args.minutes, cell, hidden, layers, lr,
                                                    threads=args.peer_threads)
                    except ImportError:
                        print("# PyTorch is not installed: pip install torch to include the peers")
                        break
    if args.save:
        Path(args.save).write_text(json.dumps(curves))
    print(f"\nvalidation loss, nats/char, at minutes of training; {describe()}:")
    print("| run | " + " | ".join(f"{m} min" for m in marks) + " |")
    print("|---|" + "---|" * len(marks))
    for name, curve in curves.items():
        print(f"| {name} | " + " | ".join(f"{at(curve, 60 * m):.3f}" for m in marks) + " |")
    if args.plot and curves:
        try:
            import matplotlib
            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError:
            print("# no plot: matplotlib is missing (pip install matplotlib)")
            return
        fig, ax = plt.subplots(figsize=(7, 4.2))
        for name, curve in curves.items():
            t, v = zip(*curve)
            ax.plot(np.array(t) / 60, v, marker=".", label=name)
        ax.set_xlabel("minutes of training (wall time, evaluations included)")
        ax.set_ylabel("validation loss (nats/char)")
        ax.set_title("tiny-shakespeare, last 10% held out")
        ax.set_ylim(top=min(3.0, ax.get_ylim()[1]))
        ax.grid(alpha=0.3)
        ax.legend()
        fig.tight_layout()
        fig.savefig(args.plot, dpi=110)
        print(f"# curves: {args.plot}")


if __name__ == "__main__":
    main()
