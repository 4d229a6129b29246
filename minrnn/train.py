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
from .model import CharRNN, ModelConfig, load as load_model
from .optim import clip_elementwise, clip_global_norm, load_state, make_optimizer
from .sample import generate

LOG_FIELDS = ["iteration", "elapsed_s", "train_loss", "val_loss", "lr", "chars_per_s"]


@dataclasses.dataclass
class Config:
    cell: str = "rnn"  # rnn | lstm | gru
    hidden: int = 256
    layers: int = 1
    embedding: int = 0
    dropout: float = 0.0
    seq_length: int = 64
    batch_size: int = 32
    optimizer: str = "adam"
    lr: float = 3e-3
    momentum: float = 0.0
    lr_schedule: str = "constant"  # constant | step | cosine
    lr_decay: float = 0.5
    lr_decay_every: int = 0
    clip: float = 5.0
    clip_mode: str = "norm"  # norm (global L2 norm) | value (element-wise, as min-char-rnn)
    dtype: str = "float32"
    init_scale: float = 0.0  # 0: 1/sqrt(hidden)
    val_frac: float = 0.1
    eval_every: int = 1000
    sample_every: int = 1000
    sample_length: int = 200
    seed: int = 0
    threads: int = 0  # 0: chosen from the shape (see blas_threads)
    corpus: str = ""  # the text's path, or "" for the built-in corpus
    encoding: str = "utf-8"


# What the command line may change when a run is resumed; the rest must match the checkpoint.
RESUMABLE = {"eval_every", "sample_every", "sample_length", "threads"}

CHOICES = {"optimizer": ("adam", "rmsprop", "adagrad", "sgd"), "lr_schedule": ("constant", "step", "cosine"),
           "clip_mode": ("norm", "value"), "dtype": ("float32", "float64")}


def check_config(cfg, source="config"):
    """Every field of the type and in the range the command line allows; a MinrnnError naming
    the first that is not (a checkpoint's config may be damaged or hand-edited)."""
    def bad(name, why):
        return MinrnnError(f"{source}: {name} = {getattr(cfg, name)!r} {why}")
    for f in dataclasses.fields(Config):
        v, kind = getattr(cfg, f.name), type(f.default)
        if kind is float:
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise bad(f.name, "is not a finite number")
        elif isinstance(v, bool) or not isinstance(v, kind):
            raise bad(f.name, f"is not a{'n' if kind is int else ''} {kind.__name__}")
    model_config(cfg, 2).check(source)
    for name in ("hidden", "seq_length", "batch_size", "sample_length"):
        if getattr(cfg, name) < 1:
            raise bad(name, "must be > 0")
    for name in ("lr_decay_every", "eval_every", "sample_every", "seed", "threads", "init_scale"):
        if getattr(cfg, name) < 0:
            raise bad(name, "must be >= 0")
    for name in ("lr", "clip"):
        if getattr(cfg, name) <= 0:
            raise bad(name, "must be > 0")
    if not 0 < cfg.lr_decay <= 1:
        raise bad("lr_decay", "must be in (0, 1]")
    for name in ("momentum", "val_frac"):
        if not 0 <= getattr(cfg, name) < 1:
            raise bad(name, "must be in [0, 1)")
    for name, allowed in CHOICES.items():
        if getattr(cfg, name) not in allowed:
            raise bad(name, f"is not one of {', '.join(allowed)}")
    data.check_encoding(cfg.encoding)


def model_config(cfg, vocab_size):
    return ModelConfig(vocab_size, cfg.cell, cfg.hidden, cfg.layers, cfg.embedding, cfg.dropout, cfg.dtype)


def config_from_meta(meta, path):
    """The Config a checkpoint's run was made with, checked."""
    saved = meta.get("config")
    if not isinstance(saved, dict):
        raise MinrnnError(f"{path}: its metadata lacks the run's config")
    unknown = sorted(set(saved) - {f.name for f in dataclasses.fields(Config)})
    if unknown:
        raise MinrnnError(f"{path}: its config has settings this minrnn does not know: {', '.join(unknown)}")
    cfg = Config(**saved)
    check_config(cfg, source=f"{path}: its config")
    return cfg


def physical_memory():
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def check_fits(nbytes, what):
    """Refuse, before allocating, what could never fit in this machine's memory."""
    total = physical_memory()
    if total and nbytes > total:
        raise MinrnnError(f"{what} needs about {nbytes / 2**30:,.1f} GiB, more than this machine's "
                          f"{total / 2**30:,.1f} GiB of memory")


def blas_threads(cfg):
    """Small products run as fast or faster on one BLAS thread: below about 300k multiply-adds
    per recurrent step a second thread's hand-off costs what it saves (benchmarks/blas_threads.py).
    On a machine whose other cores are busy, --threads 1 is safer at every size."""
    if cfg.threads:
        return cfg.threads
    return 1 if cfg.batch_size * cfg.hidden * cfg.hidden < 300_000 else os.cpu_count() or 1


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


def _in_use(path):
    return MinrnnError(f"{path}: another minrnn run is using this folder "
                       "(wait for it to finish, or stop it with Ctrl-C)")


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
            self._lock.close()
            raise _in_use(self.path) from None
        # a run killed while writing a checkpoint leaves its temporary file; no one else can
        # be writing one now that the lock is ours
        for stale in self.path.glob(".*.npz.tmp"):
            try:
                stale.unlink()
            except OSError:
                pass

    @staticmethod
    def check_free(path):
        """Refuse early, before a long read of the text, a folder another run holds."""
        try:
            with open(Path(path) / ".lock") as f:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise _in_use(path) from None
        except OSError:
            pass  # no lock file yet, or not readable: RunFolder will tell

    def close(self):
        """Release the lock (the kernel releases it anyway when the process ends)."""
        self._lock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _cannot_write(self, name, e):
        return MinrnnError(f"cannot write {self.path / name} ({e.strerror or e}); was the run folder "
                           "removed, or is the disk full? Checkpoints already written are untouched",
                           exit_code=1)

    def write_config(self, cfg):
        try:
            with open(self.path / "config.json", "w") as f:
                json.dump(dataclasses.asdict(cfg), f, indent=2)
        except OSError as e:
            raise self._cannot_write("config.json", e) from None

    def log(self, row):
        try:
            new = not (self.path / "log.csv").exists()
            with open(self.path / "log.csv", "a", newline="") as f:
                w = csv.DictWriter(f, LOG_FIELDS)
                if new:
                    w.writeheader()
                w.writerow(row)
        except OSError as e:
            raise self._cannot_write("log.csv", e) from None


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
    """A tqdm bar on a terminal; without one, plain lines at each evaluation and at least every
    PLAIN_EVERY seconds; nothing when quiet."""

    PLAIN_EVERY = 30.0

    def __init__(self, total, initial, quiet):
        self.quiet = quiet
        self.bar = None
        self.last_line = time.perf_counter()
        if not quiet and sys.stderr.isatty():
            from tqdm import tqdm
            self.bar = tqdm(total=total, initial=initial, unit="it", dynamic_ncols=True, file=sys.stderr)

    def update(self, it, stats):
        if self.bar is not None:
            self.bar.update(it - self.bar.n)
            self.bar.set_postfix_str(stats, refresh=False)
        elif time.perf_counter() - self.last_line >= self.PLAIN_EVERY:
            self.line(f"iter {it}: {stats}")

    def line(self, text):
        self.last_line = time.perf_counter()
        if self.quiet:
            return
        if self.bar is not None:
            self.bar.write(text, file=sys.stderr)
        else:
            print(text, file=sys.stderr, flush=True)

    def close(self):
        if self.bar is not None:
            self.bar.close()


def _restore(path, cfg, chars, model, opt, rng, dropout_rng):
    """Load a run's state from its latest checkpoint into model, opt and rng, checking each
    piece against the run; returns (iteration, position, h, best_val, elapsed_s, first_loss)."""
    loaded, arrays, meta = load_model(path, everything=True)
    if meta["vocab"] != chars:
        raise MinrnnError(f"{path}: its vocabulary differs from the text's; resume with the text "
                          "the run was started on")
    if loaded.config != model.config:
        raise MinrnnError(f"{path}: its model does not match the run's config.json")
    model.theta[...] = loaded.theta

    def bad(what):
        return MinrnnError(f"{path}: its training state is damaged ({what}); start again from "
                           "best.npz with --init-from, or from scratch")
    state = {}
    for name, current in opt.state().items():
        a = arrays.get(f"opt.{name}")
        if a is None or a.shape != current.shape or a.dtype != current.dtype or not np.isfinite(a).all():
            raise bad(f"optimizer state opt.{name} is missing, of the wrong shape, or not finite")
        state[name] = a
    load_state(opt, state)
    h = arrays.get("state", arrays.get("h"))  # format 1 saved the one layer's h as "h" (B, H)
    shape = model.config.state_shape(cfg.batch_size)
    if h is not None and meta["format_version"] == 1 and h.shape == shape[2:]:
        h = h.reshape(shape)
    if h is None or h.shape != shape or h.dtype != model.dtype or not np.isfinite(h).all():
        raise bad("the carried state is missing, of the wrong shape, or not finite")
    it, p = meta.get("iteration"), meta.get("position")
    for name, v in (("iteration", it), ("position", p)):
        if not checkpoint.whole_number(v):
            raise bad(f"{name} is {v!r}")
    numbers = []
    for name in ("best_val", "elapsed_s", "first_loss"):
        v = meta.get(name)
        if not (v is None and name == "first_loss") and (isinstance(v, bool) or not isinstance(v, (int, float))):
            raise bad(f"{name} is {v!r}")
        numbers.append(v)
    for generator, key in ((rng, "rng_state"), (dropout_rng, "dropout_rng_state")):
        if key not in meta and key == "dropout_rng_state" and meta["format_version"] == 1:
            continue  # format 1 had no dropout
        try:
            generator.bit_generator.state = meta.get(key)
        except (TypeError, ValueError, KeyError) as e:
            raise bad(f"random generator state {key}: {e}") from None
    return (it, p, h.copy(), *numbers)


def train(cfg, ix, chars, out_dir, iterations=None, epochs=None, minutes=None, resume=False,
          init_params=None, quiet=False):
    """Train until the first of iterations (a total, counted across resumes), epochs or minutes
    (of this invocation), or a stop signal. Returns the folder's summary as a dict."""
    check_config(cfg)
    if len(chars) < 2:
        raise MinrnnError("the text has only one distinct character, so there is nothing to learn")
    train_ix, val_ix = data.split(ix, cfg.val_frac)
    B, T = cfg.batch_size, cfg.seq_length
    per_epoch = max(0, (len(train_ix) - 1) // B) // T  # iterations per pass over the streams
    if per_epoch == 0:
        fits = max(0, (len(train_ix) - 1) // T)
        raise MinrnnError(
            f"the training text has {len(train_ix)} characters: too short for --batch-size {B} "
            f"at --seq-length {T}" + (f" (at most --batch-size {fits} fits)" if fits else
                                       f" (at most --seq-length {max(1, len(train_ix) - 1)} fits, "
                                       "with --batch-size 1; or use a longer text)"))
    inputs, targets = data.streams(train_ix, B)
    if cfg.val_frac > 0 and len(val_ix) < 2:
        raise MinrnnError(f"the validation split ({len(val_ix)} characters) is too small: "
                          "use a longer text or --val-frac 0")
    total = min(x for x in (iterations, epochs and epochs * per_epoch, math.inf) if x)
    if cfg.lr_schedule == "cosine" and total == math.inf:
        raise MinrnnError("--lr-schedule cosine needs --iterations or --epochs to know its length")

    dtype = np.dtype(cfg.dtype)
    slots = {"adam": 2}.get(cfg.optimizer, 1)
    check_fits(model_config(cfg, len(chars)).train_bytes(slots, B, T),
               f"a model with --hidden {cfg.hidden} and --batch-size {B} at --seq-length {T}")
    folder = RunFolder(out_dir)
    try:
        rng = np.random.default_rng(cfg.seed)
        model = CharRNN(model_config(cfg, len(chars)), rng=rng, init_scale=cfg.init_scale or None)
        # dropout draws from a generator of its own, so that sampling does not move its masks
        dropout_rng = np.random.default_rng([cfg.seed, 1])
        opt = make_optimizer(cfg.optimizer, model.theta.size, cfg.lr, dtype, cfg.momentum)
        it, p, h = 0, 0, model.zero_state(B)
        best_val, elapsed_before, first_loss = math.inf, 0.0, None
        if resume:
            it, p, h, best_val, elapsed_before, first_loss = _restore(
                folder.path / "latest.npz", cfg, chars, model, opt, rng, dropout_rng)
        elif init_params is not None:
            for name, a in init_params.items():
                model.params[name][...] = a
        folder.write_config(cfg)
    except BaseException:
        folder.close()
        raise

    def diverged(what):
        progress.close()
        return MinrnnError(f"training diverged at iteration {it} ({what}); try a lower --lr than {cfg.lr:g}. "
                           "The last good checkpoint, if any, is untouched", exit_code=1)

    def save(name):
        arrays = dict(model.params, state=h, **{f"opt.{k}": v for k, v in opt.state().items()})
        if not all(np.isfinite(a).all() for a in arrays.values()):  # never write NaN over good work
            raise diverged("the parameters are no longer finite")
        meta = {"config": dataclasses.asdict(cfg), "model": model.config.to_meta(), "vocab": chars,
                "iteration": it, "position": p, "dropout_rng_state": dropout_rng.bit_generator.state,
                "best_val": best_val, "elapsed_s": elapsed_before + time.perf_counter() - start,
                "first_loss": first_loss, "rng_state": rng.bit_generator.state}
        checkpoint.save(folder.path / name, arrays, meta)

    def evaluate_log_and_save():
        nonlocal val_loss, best_val, window_start, window_chars, logged_at
        logged_at = it
        if cfg.val_frac > 0:
            val_loss = evaluate(model, val_ix, B, T)
        elapsed = elapsed_before + time.perf_counter() - start
        speed = window_chars / max(time.perf_counter() - window_start, 1e-9)
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

    progress = Progress(None if total == math.inf else total, it, quiet)
    scale = 1.0 / (B * T)
    start = time.perf_counter()
    deadline = start + 60 * minutes if minutes else math.inf
    train_loss = val_loss = math.nan
    window_start, window_chars = start, 0
    stopped_by, logged_at = "done", None
    # overflow and NaN are caught as divergence below, with a message: numpy's warnings would be noise
    with folder, StopSignal() as stop, threadpool_limits(blas_threads(cfg)), np.errstate(all="ignore"):
        while it < total:
            if stop.requested:
                stopped_by = "interrupted"
                break
            if time.perf_counter() >= deadline:
                break
            if p + T > inputs.shape[1]:  # end of an epoch: back to the start, forget the state
                p, h = 0, model.zero_state(B)
            x, y = inputs[:, p:p + T].T, targets[:, p:p + T].T
            loss, grad, h = model.loss_and_grads(x, y, h, scale, dropout_rng)
            if first_loss is None:
                first_loss = loss
            train_loss = loss if math.isnan(train_loss) else 0.9 * train_loss + 0.1 * loss
            # judged on the loss smoothed over ~10 iterations: Adagrad's first steps from scratch
            # (min-char-rnn's settings) lift it to 3.6x for a moment, then it falls
            if not math.isfinite(loss) or train_loss > 3 * first_loss:
                raise diverged(f"loss {train_loss:.3g}, first loss {first_loss:.3g}")
            if cfg.clip_mode == "norm":
                clip_global_norm(grad, cfg.clip)
            else:
                clip_elementwise(grad, cfg.clip)
            opt.lr = learning_rate(cfg, it, total)
            opt.step(model.theta, grad)
            p += T
            it += 1
            window_chars += B * T
            speed = window_chars / (time.perf_counter() - window_start)
            progress.update(it, f"loss {train_loss:.3f} val {val_loss:.3f} {speed / 1000:.0f}k chars/s")

            if cfg.sample_every and it % cfg.sample_every == 0:
                text, _ = generate(model, rng, h[:, :, :1], int(y[-1, 0]), cfg.sample_length)
                progress.line(f"---- sample at iteration {it}\n{data.decode(text, chars)}\n----")
            if cfg.eval_every and it % cfg.eval_every == 0 or it == total:
                evaluate_log_and_save()
        if stopped_by == "interrupted" and first_loss is not None:
            save("latest.npz")  # quickly: a signal asks to stop now
        elif logged_at != it and first_loss is not None:  # out of time: end as a finished run ends
            evaluate_log_and_save()
    progress.close()
    return {"iteration": it, "stopped_by": stopped_by, "val_loss": val_loss, "best_val": best_val,
            "out": str(folder.path), "params": model.params}
