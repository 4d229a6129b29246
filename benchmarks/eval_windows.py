"""How `minrnn eval` and a run's validation read a long text (minrnn/evaluate.py: windows of
WINDOW predictions, each after WARMUP characters of context that are not scored): each choice's
loss against the loss of the same text read as one stream, and how fast each reads.

    python benchmarks/eval_windows.py RUN TEXT                 # TEXT's held-out part, as RUN split it
    python benchmarks/eval_windows.py RUN TEXT --windows 250,500,1000 --warmups 0,50,100

One stream is the loss by definition (every character predicted from all those before it, as the
neuron page reads a text); windows are what makes a long text fast to read, many at a time. The
budget is 0.2% of the loss: a choice is good when every window size at least its own is within
it. Times are medians of --repeats, on --threads threads over the run's own shards.
"""
import argparse
import os
import statistics
import time

from machine import describe
from minrnn import data, evaluate
from minrnn.api import load
from minrnn.shards import Shards


def loss(model, ix, shards, window, warmup):
    """evaluate.loss_per_char with another window and warm-up (minrnn's own put back after)."""
    kept = evaluate.WINDOW, evaluate.WARMUP
    evaluate.WINDOW, evaluate.WARMUP = window, warmup
    try:
        return evaluate.loss_per_char(model, ix, shards)
    finally:
        evaluate.WINDOW, evaluate.WARMUP = kept


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", help="a run folder or checkpoint")
    parser.add_argument("text", help="the run's text file")
    parser.add_argument("--val-frac", type=float, default=0.1, help="the held-out share the run used")
    parser.add_argument("--windows", default="250,500,1000,2000,4000")
    parser.add_argument("--warmups", default="0,25,50,100,200")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    print(f"machine: {describe()}; load average {os.getloadavg()[0]:.2f}")
    model = load(args.run)
    ix = data.split(data.read_corpus(args.text, chars=model.chars)[0], args.val_frac)[1]
    shards_n = model.meta["config"]["shards"]
    print(f"{model}; {len(ix):,} held-out characters; {shards_n} shard(s) on {args.threads} thread(s)")
    with Shards(model.net, shards_n, args.threads) as shards:
        started = time.perf_counter()
        one = loss(model.net, ix, shards, len(ix), 0)
        print(f"one stream: {one:.5f} nats/char, {len(ix) / (time.perf_counter() - started):,.0f} chars/s")
        print(f"{'window':>7} {'warm-up':>7} {'nats/char':>10} {'difference':>10} {'chars/s':>9}")
        for window in map(int, args.windows.split(",")):
            for warmup in map(int, args.warmups.split(",")):
                times = []
                for _ in range(args.repeats):
                    started = time.perf_counter()
                    got = loss(model.net, ix, shards, window, warmup)
                    times.append(time.perf_counter() - started)
                print(f"{window:>7} {warmup:>7} {got:>10.5f} {(got - one) / one:>+10.4%} "
                      f"{len(ix) / statistics.median(times):>9,.0f}", flush=True)


if __name__ == "__main__":
    main()
