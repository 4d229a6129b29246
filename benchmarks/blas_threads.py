"""One or two OpenBLAS threads? Whole training iterations timed both ways, per shape.

Checks the rule in minrnn/config.py: threads(), which for a run of one shard picks 1 thread when
B*H*gates*H < 300k multiply-adds per recurrent step and every core otherwise. Each row times the
trainer's iteration of a vanilla RNN in one shard (benchmarks/train_speed.py: train.step, float32,
Adam) under threadpoolctl limits of 1 and 2 threads, alternating, median of the repeats.

    python benchmarks/blas_threads.py           # a grid of H and B
    python benchmarks/blas_threads.py --quick   # train_speed's vanilla configs, under a minute
"""
import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_speed import (CONFIGS, DEFAULT_TEXT, MinrnnTrainer, chars_per_s, iterations_for,  # noqa: E402
                         load_note, load_text)

from minrnn.config import Config, threads as threads_rule  # noqa: E402

GRID = [(100, 25, b) for b in (1, 16, 32, 64, 96, 128, 256)] + \
       [(256, 25, b) for b in (4, 8, 16, 32, 64)] + \
       [(512, 25, b) for b in (1, 2, 4, 8, 16, 64)]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--text", default=str(DEFAULT_TEXT))
    ap.add_argument("--quick", action="store_true", help="train_speed's vanilla configs, short blocks")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=0.5, help="length of one timed block")
    args = ap.parse_args(argv)

    ix, chars, name = load_text(args.text)
    print(f"text: {name}; float32, Adam; median of {args.repeats}; rule: 1 thread when B*H*H < 300k; {load_note()}")
    print(f"{'H':>4} {'T':>3} {'B':>4} {'B*H*H':>10} {'1 thread':>10} {'2 threads':>10} {'2/1':>6} {'rule':>5} {'best':>5}")
    wrong = 0
    shapes = [(H, T, B) for cell, H, L, B, T in CONFIGS if cell == "rnn"] if args.quick else GRID
    for H, T, B in shapes:
        rule = threads_rule(Config(cell="rnn", hidden=H, layers=1, seq_length=T, batch_size=B, shards=1))
        n = iterations_for("rnn", H, 1, B, T, args.seconds, args.quick)
        trainer = MinrnnTrainer(ix, len(chars), "rnn", H, 1, B, T, shards=1)
        chars_per_s(trainer, max(3, n // 5), B * T, 2)  # warm-up
        speed = {1: [], 2: []}
        for _ in range(args.repeats):
            for threads in (1, 2):
                speed[threads].append(chars_per_s(trainer, n, B * T, threads))
        one, two = statistics.median(speed[1]), statistics.median(speed[2])
        best = 2 if two > one else 1
        # within 5% either way is a tie: the rule is not wrong there
        ok = rule == best or abs(two / one - 1) < 0.05
        wrong += not ok
        print(f"{H:>4} {T:>3} {B:>4} {B * H * H:>10,} {one:>10,.0f} {two:>10,.0f} {two / one:>5.2f}x "
              f"{rule:>5} {best:>5}{'' if ok else '  <- rule loses'}", flush=True)
    print(f"\nrule loses by more than 5% in {wrong} row(s); at the end: {load_note()}")


if __name__ == "__main__":
    sys.exit(main())
