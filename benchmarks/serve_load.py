"""`minrnn serve` under load: streaming clients on 127.0.0.1, 1, 8, 32 and 64 at a time.

    python benchmarks/serve_load.py                 # the default GRU 2 x 256, untrained, 500 requests
    python benchmarks/serve_load.py --model runs/x  # a trained model of yours instead
    python benchmarks/serve_load.py --quick         # a smoke run: a tiny model, a few requests

The server runs as `python -m minrnn serve` in a child process; the clients are one asyncio
program beside it, each request a streamed completion of 200 characters (max_tokens 200, its own
seed) read as server-sent events. For each level of concurrency: requests/s, characters/s (all
clients together, from the first request sent to the last answer), time to the first character
(p50, p99), errors (a status other than 200, a text of the wrong length, a stream without
data: [DONE], or no answer within --timeout), and the server's resident memory at the end of the
level; then its peak. The speed of a model does not depend on what it has learnt, so an
untrained model of the default shape (one iteration of training on a text of 65 characters, like
tiny-shakespeare's vocabulary) measures what a trained one would.

Target (issue 22): 64 clients get at least 8x the characters/s of one, with no error, and the
memory is flat after the first levels (the batch's buffers are a few hundred KB; nothing a
request leaves behind may grow with the requests served).

Everything stays on 127.0.0.1 and is bounded: --requests in all (shared out over the levels in
proportion to the square root of their concurrency) and --timeout seconds a level. First, for
comparison, the batched step alone (no server, no HTTP) at the least and the most rows: the
ratio no server with one model thread can exceed.
"""
import argparse
import asyncio
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

import minrnn
from machine import describe
from minrnn.sample import Batch, one_thread

LEVELS = (1, 8, 32, 64)
# 65 characters, as many as tiny-shakespeare's: the output layer's size matters to the speed
ALPHABET = "\n !$&',-.3:;?ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def untrained_model(folder, hidden, layers, cell):
    """A run folder of the given shape after one iteration of training: its weights are as good
    as random, its speed is the trained model's."""
    rng = np.random.default_rng(0)
    text = "".join(rng.choice(list(ALPHABET), size=50_000))
    run = minrnn.train(text=text, out=Path(folder) / "model", cell=cell, hidden=hidden, layers=layers,
                       iterations=1, eval_every=0, quiet=True)
    return run.path


class Server:
    """`python -m minrnn serve MODEL --port 0` in a child process; its resident memory read from /proc."""

    def __init__(self, model, max_batch):
        env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
        self.proc = subprocess.Popen([sys.executable, "-m", "minrnn", "serve", str(model), "--port", "0",
                                      "--max-batch", str(max_batch), "--max-queue", str(4 * max_batch)],
                                     env={**env, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)},
                                     stderr=subprocess.PIPE, text=True)
        self.lines = 0
        first = ""
        while "serving" not in first:
            first = self.proc.stderr.readline()
            if not first:
                raise SystemExit("the server did not start")
        self.port = int(re.search(r"127\.0\.0\.1:(\d+)/", first).group(1))
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self):
        for _ in self.proc.stderr:  # its log lines, one a request
            self.lines += 1

    def memory(self, field):
        """VmRSS (now) or VmHWM (the peak), in MB."""
        with open(f"/proc/{self.proc.pid}/status") as f:
            return int(next(line for line in f if line.startswith(field)).split()[1]) / 1024

    def stop(self):
        self.proc.terminate()
        return self.proc.wait(30)


async def completion(port, body):
    """One streamed completion: (seconds to the first character or None, its text, whether it
    ended with data: [DONE] after a 200)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    payload = json.dumps({**body, "stream": True}).encode()
    started = time.perf_counter()
    writer.write(b"POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                 b"Connection: close\r\nContent-Length: %d\r\n\r\n%s" % (len(payload), payload))
    first, text, done, buffer = None, [], False, b""
    try:
        status = (await reader.readline()).split()[1]
        while (await reader.readline()) not in (b"\r\n", b""):
            pass
        while True:  # the chunked body, its server-sent events split on blank lines
            size = int((await reader.readline()).strip() or b"0", 16)
            if size == 0:
                break
            buffer += (await reader.readexactly(size + 2))[:-2]  # the chunk, less its CRLF
            *events, buffer = buffer.split(b"\n\n")
            for event in events:
                data = event.removeprefix(b"data: ")
                if data == b"[DONE]":
                    done = True
                elif data:
                    piece = json.loads(data)["choices"][0]["text"]
                    if piece and first is None:
                        first = time.perf_counter() - started
                    text.append(piece)
    finally:
        writer.close()
    return first, "".join(text), status == b"200" and done


async def level(port, clients, requests, length, timeout, seed):
    """`requests` completions, `clients` at a time: (seconds, times to the first character, characters, errors)."""
    queue = list(range(requests))
    firsts, chars, errors = [], [0], [0]

    async def client():
        while queue:
            i = queue.pop()
            try:
                first, text, ok = await completion(port, {"prompt": "The ", "max_tokens": length, "seed": seed + i})
            except (OSError, ValueError, KeyError, IndexError, asyncio.IncompleteReadError):
                first, text, ok = None, "", False
            if ok and len(text) == length and first is not None:
                firsts.append(first)
                chars[0] += len(text)
            else:
                errors[0] += 1

    started = time.perf_counter()
    try:
        await asyncio.wait_for(asyncio.gather(*(client() for _ in range(clients))), timeout)
    except asyncio.TimeoutError:
        errors[0] += requests - len(firsts) - errors[0]
    return time.perf_counter() - started, firsts, chars[0], errors[0]


def engine_speed(model, rows, seconds):
    """Characters/s of the batched step alone (sample.Batch.step, no server) with `rows` rows:
    the ceiling of what the server's model thread makes at that concurrency. The median of 5."""
    rates = []
    for repeat in range(5):
        batch = Batch(model.net, model.chars)
        for i in range(rows):
            batch.add([0], np.random.default_rng([repeat, i]), 10**9)
        steps, started = 0, time.perf_counter()
        while time.perf_counter() - started < seconds / 5:
            batch.step()
            steps += 1
        rates.append(rows * steps / (time.perf_counter() - started))
    return statistics.median(rates)


def shares(total, levels):
    """Requests per level, `total` in all, in proportion to the square root of its clients (so
    that one client makes enough requests to be timed: 29, 81, 162 and 228 of 500), and at
    least two rounds of them."""
    weights = [c ** 0.5 for c in levels]
    counts = [max(2 * c, round(total * w / sum(weights))) for c, w in zip(levels, weights)]
    counts[-1] = max(2 * levels[-1], counts[-1] + total - sum(counts))
    return counts


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", help="a run folder or checkpoint to serve (default: an untrained model of --hidden, "
                                   "--layers, --cell)")
    p.add_argument("--cell", default="gru")
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--levels", default=",".join(map(str, LEVELS)), help="clients at a time, one level each")
    p.add_argument("--requests", type=int, default=500, help="requests in all, over the levels")
    p.add_argument("--length", type=int, default=200, help="characters a request")
    p.add_argument("--timeout", type=float, default=300, help="seconds a level may take at most")
    p.add_argument("--quick", action="store_true", help="a smoke run: a tiny model, two rounds a level")
    a = p.parse_args(argv)
    levels = [int(c) for c in a.levels.split(",")]
    if a.quick:
        a.hidden, a.layers, a.requests, a.length = 16, 1, 0, 20
    print(f"machine: {describe()}")
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    with tempfile.TemporaryDirectory() as tmp:
        model = a.model or untrained_model(tmp, a.hidden, a.layers, a.cell)
        loaded = minrnn.load(model)
        c = loaded.net.config
        print(f"model: {c.cell} {c.layers} x {c.hidden}, vocabulary {len(loaded.chars)}"
              + ("" if a.model else " (untrained: one iteration; its speed is a trained one's)"))
        with one_thread():  # as in the server's model thread
            alone = {rows: engine_speed(loaded, rows, 0.5 if a.quick else 5) for rows in (min(levels), max(levels))}
        print(f"the batched step alone (no server, one thread): {alone[min(levels)]:,.0f} characters/s with "
              f"{min(levels)} row(s), {alone[max(levels)]:,.0f} with {max(levels)}: "
              f"{alone[max(levels)] / alone[min(levels)]:.1f}x")
        server = Server(model, max(levels))
        try:
            print(f"{'clients':>7} {'requests':>8} {'req/s':>7} {'chars/s':>9} {'TTFC p50':>9} {'p99':>7} "
                  f"{'errors':>6}  RSS MB (half-way, end)")
            results = {}
            for clients, requests in zip(levels, shares(a.requests, levels)):
                seconds, firsts, chars, errors, rss = 0, [], 0, 0, []
                for half in (requests // 2, requests - requests // 2):  # RSS read half-way: flat or not
                    seed = 1000 * clients + len(rss) * requests
                    took, more_firsts, more_chars, more_errors = asyncio.run(
                        level(server.port, clients, half, a.length, a.timeout, seed))
                    seconds, chars, errors = seconds + took, chars + more_chars, errors + more_errors
                    firsts += more_firsts
                    rss.append(server.memory("VmRSS"))
                firsts.sort()
                p50 = 1000 * statistics.median(firsts) if firsts else float("nan")
                p99 = 1000 * firsts[min(len(firsts) - 1, int(0.99 * len(firsts)))] if firsts else float("nan")
                results[clients] = chars / seconds
                print(f"{clients:>7} {requests:>8} {requests / seconds:>7.1f} {chars / seconds:>9,.0f} "
                      f"{p50:>7.1f}ms {p99:>5.1f}ms {errors:>6}  {rss[0]:.1f}, {rss[1]:.1f}", flush=True)
            peak = server.memory("VmHWM")
        finally:
            code = server.stop()
    print(f"server: peak RSS {peak:.1f} MB, {server.lines} log lines, exit code {code} after SIGTERM")
    if len(levels) > 1:
        top, one = max(levels), min(levels)
        print(f"{top} clients: {results[top] / results[one]:.1f}x the characters/s of {one} (target >= 8x)")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
