"""The batched trainer: batches -> grads -> clip -> step -> eval -> checkpoint.

B contiguous streams of the text advance T characters per iteration (char-rnn's layout); the
hidden state is carried from one iteration to the next and reset at each epoch. Everything a
run needs to continue exactly (parameters, optimizer state, position, carried state, random
generator) goes into its checkpoint, so a resumed run ends bit-identical to an uninterrupted one.
"""
import csv
import dataclasses
import fcntl
import json
import math
import os
import signal
import sys
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from . import checkpoint, data
from .data import MinrnnError
from .model import CharRNN
from .optim import clip_elementwise, clip_global_norm, load_state, make_optimizer
from .sample import generate

LOG_FIELDS = ["iteration", "elapsed_s", "train_loss", "val_loss", "lr", "chars_per_s"]


@dataclasses.dataclass
class Config:
    hidden: int = 512
    seq_length: int = 64
    batch_size: int = 64
    optimizer: str = "adam"
    lr: float = 2e-3
    momentum: float = 0.0
    lr_schedule: str = "constant"  # constant | step | cosine
    lr_decay: float = 0.5
    lr_decay_every: int = 0
    clip: float = 5.0
    clip_mode: str = "norm"  # norm (global L2 norm) | value (element-wise, as min-char-rnn)
    dtype: str = "float32"
    init_scale: float = 0.0  # 0: 1/sqrt(hidden)
    val_frac: float = 0.1
    eval_every: int = 200
    sample_every: int = 1000
    sample_length: int = 200
    seed: int = 0
    threads: int = 0  # 0: chosen from the shape (see blas_threads)
    corpus: str = ""  # the text's path, or "" for the built-in corpus
    encoding: str = "utf-8"


# What the command line may change when a run is resumed; the rest must match the checkpoint.
RESUMABLE = {"eval_every", "sample_every", "sample_length", "threads"}


def blas_threads(cfg):
    """Small products run faster on one BLAS thread: a second thread's hand-off costs more than
    it saves below about 1M multiply-adds per recurrent step (benchmarks/blas_threads.py)."""
    if cfg.threads:
        return cfg.threads
    return 1 if cfg.batch_size * cfg.hidden * cfg.hidden < 1_000_000 else os.cpu_count() or 1


def learning_rate(cfg, it, total):
    """The rate for iteration `it`: constant, step decay every lr_decay_every iterations, or a
    cosine from lr down to lr/10 over `total` iterations."""
    if cfg.lr_schedule == "step" and cfg.lr_decay_every:
        return cfg.lr * cfg.lr_decay ** (it // cfg.lr_decay_every)
    if cfg.lr_schedule == "cosine":
        return cfg.lr * (0.1 + 0.45 * (1 + math.cos(math.pi * min(it / total, 1.0))))
    return cfg.lr


def evaluate(model, ix, batch_size, seq_length):
    """Mean loss per character, in nats, over the whole of ix (streams of its own)."""
    B = max(1, min(batch_size, len(ix) - 1))
    inputs, targets = data.streams(ix, B)
    h = model.zero_state(B)
    total = 0.0
    for x, y in data.chunks(inputs, targets, seq_length):
        loss, h = model.loss(x, y, h)
        total += loss
    return total / inputs.size


class RunFolder:
    """A run's folder: config.json, log.csv, latest.npz, best.npz, and a lock that keeps a
    second run out while this one lives (flock: released by the kernel even after kill -9)."""

    def __init__(self, path):
        self.path = Path(path)
        if self.path.exists() and not self.path.is_dir():
            raise MinrnnError(f"{self.path}: exists and is not a folder; choose another --out")
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            self._lock = open(self.path / ".lock", "w")
        except OSError as e:
            raise MinrnnError(f"{self.path}: cannot write there ({e.strerror or e})") from None
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise MinrnnError(f"{self.path}: another minrnn run is using this folder") from None

    def write_config(self, cfg):
        with open(self.path / "config.json", "w") as f:
            json.dump(dataclasses.asdict(cfg), f, indent=2)

    def log(self, row):
        new = not (self.path / "log.csv").exists()
        with open(self.path / "log.csv", "a", newline="") as f:
            w = csv.DictWriter(f, LOG_FIELDS)
            if new:
                w.writeheader()
            w.writerow(row)


class StopSignal:
    """Ctrl-C and SIGTERM ask the loop to stop after the current step instead of raising, so a
    checkpoint being written is never cut short (a second Ctrl-C only asks again)."""

    def __init__(self):
        self.requested = False
        self._old = {}

    def __enter__(self):
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self._old[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread: leave signals alone
                pass
        return self

    def _handle(self, signum, frame):
        self.requested = True

    def __exit__(self, *exc):
        for sig, old in self._old.items():
            signal.signal(sig, old)


class Progress:
    """A tqdm bar on a terminal; plain lines at each evaluation otherwise; nothing when quiet."""

    def __init__(self, total, initial, quiet):
        self.quiet = quiet
        self.bar = None
        if not quiet and sys.stderr.isatty():
            from tqdm import tqdm
            self.bar = tqdm(total=total, initial=initial, unit="it", dynamic_ncols=True, file=sys.stderr)

    def update(self, it, stats):
        if self.bar is not None:
            self.bar.update(it - self.bar.n)
            self.bar.set_postfix_str(stats, refresh=False)

    def line(self, text):
        if self.quiet:
            return
        if self.bar is not None:
            self.bar.write(text, file=sys.stderr)
        else:
            print(text, file=sys.stderr, flush=True)

    def close(self):
        if self.bar is not None:
            self.bar.close()


def train(cfg, ix, chars, out_dir, iterations=None, epochs=None, minutes=None, resume=False,
          init_params=None, quiet=False):
    """Train until the first of iterations (a total, counted across resumes), epochs or minutes
    (of this invocation), or a stop signal. Returns the folder's summary as a dict."""
    train_ix, val_ix = data.split(ix, cfg.val_frac)
    B, T = cfg.batch_size, cfg.seq_length
    inputs, targets = data.streams(train_ix, B)
    per_epoch = inputs.shape[1] // T
    if per_epoch == 0:
        fits = max(0, (len(train_ix) - 1) // T)
        raise MinrnnError(
            f"the training text has {len(train_ix)} characters: too short for --batch-size {B} "
            f"at --seq-length {T}" + (f" (at most --batch-size {fits} fits)" if fits else
                                       " (use a smaller --seq-length or a longer text)"))
    if cfg.val_frac > 0 and len(val_ix) < 2:
        raise MinrnnError(f"the validation split ({len(val_ix)} characters) is too small: "
                          "use a longer text or --val-frac 0")
    total = min(x for x in (iterations, epochs and epochs * per_epoch, math.inf) if x)
    if cfg.lr_schedule == "cosine" and total == math.inf:
        raise MinrnnError("--lr-schedule cosine needs --iterations or --epochs to know its length")

    folder = RunFolder(out_dir)
    dtype = np.dtype(cfg.dtype)
    rng = np.random.default_rng(cfg.seed)
    model = CharRNN(len(chars), cfg.hidden, dtype, rng=rng,
                    init_scale=cfg.init_scale or 1 / math.sqrt(cfg.hidden))
    opt = make_optimizer(cfg.optimizer, model.theta.size, cfg.lr, dtype, cfg.momentum)
    it, p, h = 0, 0, model.zero_state(B)
    best_val, elapsed_before, first_loss = math.inf, 0.0, None
    if resume:
        arrays, meta = checkpoint.load(folder.path / "latest.npz")
        model.theta[...] = np.concatenate([arrays[n].ravel() for n in model.params])
        load_state(opt, {k[len("opt."):]: v for k, v in arrays.items() if k.startswith("opt.")})
        h = arrays["h"].astype(dtype)
        it, p = meta["iteration"], meta["position"]
        best_val, elapsed_before, first_loss = meta["best_val"], meta["elapsed_s"], meta["first_loss"]
        rng.bit_generator.state = meta["rng_state"]
    elif init_params is not None:
        for name, a in init_params.items():
            model.params[name][...] = a
    folder.write_config(cfg)

    def save(name):
        arrays = dict(model.params, h=h, **{f"opt.{k}": v for k, v in opt.state().items()})
        meta = {"config": dataclasses.asdict(cfg), "vocab": chars, "iteration": it, "position": p,
                "best_val": best_val, "elapsed_s": elapsed_before + time.perf_counter() - start,
                "first_loss": first_loss, "rng_state": rng.bit_generator.state}
        checkpoint.save(folder.path / name, arrays, meta)

    progress = Progress(None if total == math.inf else total, it, quiet)
    scale = 1.0 / (B * T)
    start = time.perf_counter()
    deadline = start + 60 * minutes if minutes else math.inf
    train_loss = val_loss = math.nan
    window_start, window_chars = start, 0
    stopped_by = "done"
    with StopSignal() as stop, threadpool_limits(blas_threads(cfg)):
        while it < total:
            if stop.requested:
                stopped_by = "interrupted"
                break
            if time.perf_counter() >= deadline:
                break
            if p + T > inputs.shape[1]:  # end of an epoch: back to the start, forget the state
                p, h = 0, model.zero_state(B)
            x, y = inputs[:, p:p + T].T, targets[:, p:p + T].T
            loss, grad, h = model.loss_and_grads(x, y, h, scale)
            if first_loss is None:
                first_loss = loss
            if not math.isfinite(loss) or loss > 3 * first_loss:
                progress.close()
                raise MinrnnError(
                    f"training diverged at iteration {it} (loss {loss:.3g}, first loss {first_loss:.3g}); "
                    f"try a lower --lr than {cfg.lr:g}. The last good checkpoint, if any, is untouched", exit_code=1)
            if cfg.clip_mode == "norm":
                clip_global_norm(grad, cfg.clip)
            else:
                clip_elementwise(grad, cfg.clip)
            opt.lr = learning_rate(cfg, it, total)
            opt.step(model.theta, grad)
            p += T
            it += 1
            train_loss = loss if math.isnan(train_loss) else 0.98 * train_loss + 0.02 * loss
            window_chars += B * T
            speed = window_chars / (time.perf_counter() - window_start)
            progress.update(it, f"loss {train_loss:.3f} val {val_loss:.3f} {speed / 1000:.0f}k chars/s")

            if cfg.sample_every and it % cfg.sample_every == 0:
                text, _ = generate(model, rng, h[:1], int(x[-1, 0]), cfg.sample_length)
                progress.line(f"---- sample at iteration {it}\n{data.decode(text, chars)}\n----")
            if cfg.eval_every and it % cfg.eval_every == 0 or it == total:
                if cfg.val_frac > 0:
                    val_loss = evaluate(model, val_ix, B, T)
                elapsed = elapsed_before + time.perf_counter() - start
                folder.log({"iteration": it, "elapsed_s": round(elapsed, 3), "train_loss": round(train_loss, 5),
                            "val_loss": round(val_loss, 5), "lr": opt.lr, "chars_per_s": round(speed)})
                if progress.bar is None:
                    progress.line(f"iter {it}: loss {train_loss:.4f}, val {val_loss:.4f} nats/char "
                                  f"({val_loss / math.log(2):.4f} bits), {speed:.0f} chars/s")
                if val_loss < best_val:
                    best_val = val_loss
                    save("best.npz")
                save("latest.npz")
                window_start, window_chars = time.perf_counter(), 0
        if it != total and first_loss is not None:  # stopped early: keep what was done
            save("latest.npz")
    progress.close()
    return {"iteration": it, "stopped_by": stopped_by, "val_loss": val_loss, "best_val": best_val,
            "out": str(folder.path), "params": model.params}
