"""A run on disk and in flight: its folder and lock, `latest` beside it, the stop signals, the
progress display, and RunState, everything a checkpoint holds beyond the model, the optimizer
and the config, with the one function that saves it and the one that restores it.

A run folder holds config.json, log.csv, latest.npz (the run's last checkpoint, what --resume
continues) and best.npz (the checkpoint of the best validation loss, what sample and eval read
by default). Beside the run folders, `latest` names the run most recently started or resumed
there: a relative symbolic link, or where links cannot be made a small file holding the folder's
name; every command that takes a run folder follows either.
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
import warnings
from pathlib import Path

import numpy as np

from . import checkpoint
from .config import from_meta
from .errors import FAILED, MinrnnError
from .model import load as load_model
from .optim import load_state

LOG_FIELDS = ["iteration", "elapsed_s", "train_loss", "val_loss", "lr", "chars_per_s"]
LATEST = "latest"
SHOWN_RUNS = 8  # runs named when a folder of runs is given where one run is wanted


def _in_use(path):
    return MinrnnError(f"{path}: another minrnn run is using this folder "
                       "(wait for it to finish, or stop it with Ctrl-C)")


class RunFolder:
    """A run's folder, locked while this run lives so that a second run keeps out (flock: the
    kernel releases it even after kill -9)."""

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
                           exit_code=FAILED)

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


def _pointer(path):
    """The run folder named by a `latest` file (made where links cannot be), or None when path
    is not one."""
    try:
        if path.name != LATEST or path.is_symlink() or not path.is_file() or path.stat().st_size > 1024:
            return None
        name = path.read_text("utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return path.parent / name if name and "/" not in name and (path.parent / name).is_dir() else None


def mark_latest(run_dir):
    """Point `latest` beside run_dir at it: a relative link, so that the folder of runs can move,
    replaced atomically; a file naming it where links cannot be made. A `latest` that is
    something else (a folder, a file of the user's) is left alone. Never fails a run."""
    run_dir = Path(run_dir).absolute()
    link = run_dir.parent / LATEST
    if run_dir.name == LATEST or (link.exists() and not link.is_symlink() and _pointer(link) is None):
        return
    tmp = run_dir.parent / f".{LATEST}.{os.getpid()}.tmp"
    try:
        try:
            os.symlink(run_dir.name, tmp, target_is_directory=True)
        except (OSError, NotImplementedError):  # a file system or a system without links
            tmp.write_text(run_dir.name + "\n", "utf-8")
        os.replace(tmp, link)
    except OSError:
        try:
            tmp.unlink()
        except OSError:
            pass


def follow(path):
    """path, or the run folder it names when it is a `latest` file."""
    path = Path(path)
    return _pointer(path) or path


def _is_run(folder):
    return any((folder / name).is_file() for name in ("latest.npz", "best.npz"))


def _no_run_here(folder, missing):
    """A folder given where a run was wanted: one line naming the runs inside it, if any."""
    try:
        runs = [p for p in folder.iterdir() if p.is_dir() and p.name != LATEST and _is_run(p)]
    except OSError:
        runs = []
    if not runs:
        return MinrnnError(f"{folder}: no checkpoint in this folder ({missing})")
    runs.sort(key=lambda p: max(f.stat().st_mtime for f in p.glob("*.npz")), reverse=True)
    latest = follow(folder / LATEST)
    names = ([f"{folder / LATEST} (= {latest.resolve().name})"] if latest.is_dir() and _is_run(latest) else [])
    names += [str(p) for p in runs[:SHOWN_RUNS]]
    more = f" and {len(runs) - SHOWN_RUNS} more" if len(runs) > SHOWN_RUNS else ""
    return MinrnnError(f"{folder}: a folder of runs, not a run; name one, newest first: {', '.join(names)}{more}")


def run_checkpoint(path):
    """The checkpoint --resume continues: a run folder's latest.npz."""
    path = follow(path)
    if path.is_file():
        raise MinrnnError(f"{path}: --resume takes a run folder (the --out of the run), not a checkpoint file; "
                          "to start from a checkpoint's weights use --init-from")
    if not path.exists():
        raise MinrnnError(f"{path}: no such run folder")
    if not (path / "latest.npz").is_file():
        raise _no_run_here(path, "latest.npz is missing")
    return path / "latest.npz"


def weights_checkpoint(path):
    """The checkpoint whose weights sample, eval and --init-from read: a file as given, or a run
    folder's best.npz (the best validation loss), else its latest.npz. Returns (file, a line
    saying which, or None for a file given as such)."""
    path = follow(path)
    if not path.is_dir():
        return path, None
    for name, why in (("best.npz", "the best validation loss"), ("latest.npz", "the last checkpoint; no best.npz")):
        if (path / name).is_file():
            return path / name, f"reading {path / name} ({why})"
    raise _no_run_here(path, "no best.npz or latest.npz")


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


def in_notebook():
    """Whether this runs in a Jupyter kernel (tqdm.auto's own test)."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return shell is not None and "IPKernelApp" in shell.config


class Progress:
    """A tqdm bar on a terminal, and in a notebook (tqdm.auto: a widget where ipywidgets is
    installed, else the text bar); elsewhere plain lines at each evaluation and at least every
    PLAIN_EVERY seconds; nothing when quiet."""

    PLAIN_EVERY = 30.0

    def __init__(self, total, initial, quiet):
        self.quiet = quiet
        self.bar = None
        self.last_line = time.perf_counter()
        if not quiet and (sys.stderr.isatty() or in_notebook()):
            with warnings.catch_warnings():  # without ipywidgets tqdm.auto says so, then uses the text bar
                warnings.simplefilter("ignore")
                from tqdm.auto import tqdm
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

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _number(v):
    return not isinstance(v, bool) and isinstance(v, (int, float))


# RunState's numbers as a checkpoint's metadata holds them: name -> (valid?, the value when an
# older checkpoint lacks it, or None where it must be there)
SAVED = {
    "iteration": (checkpoint.whole_number, None),
    "position": (checkpoint.whole_number, None),
    "elapsed_s": (lambda v: _number(v) and 0 <= v < math.inf, None),
    "best_val": (lambda v: _number(v) and not math.isnan(v), None),
    "first_loss": (lambda v: v is None or _number(v), None),
    "smooth_loss": (_number, math.nan),  # before it was saved a resume restarted the smoothing
}


@dataclasses.dataclass
class RunState:
    """Where a run is, beyond its parameters and optimizer: all that a resumed run needs to go on
    exactly as if it had never stopped."""
    state: np.ndarray  # the recurrent state carried into the next chunk (layers, 1 or 2, B, H)
    dropout_rng: np.random.Generator  # the only random draws of training after initialisation
    iteration: int = 0
    position: int = 0  # the column of the streams the next chunk starts at
    elapsed_s: float = 0.0  # seconds of training across resumes: the clock of --minutes
    best_val: float = math.inf
    first_loss: float | None = None  # the first iteration's loss, that divergence is judged against
    smooth_loss: float = math.nan  # the loss averaged over about 10 iterations

    @classmethod
    def fresh(cls, cfg, model):
        # dropout draws from a generator of its own, so that nothing else moves its masks
        return cls(model.zero_state(cfg.batch_size), np.random.default_rng([cfg.seed, 1]))


def to_checkpoint(run, model, opt, cfg, vocab):
    """A checkpoint's (arrays, meta) for the run: parameters, optimizer state and carried state;
    the config, the model's description, the vocabulary and RunState's numbers."""
    arrays = dict(model.params, state=run.state, **{f"opt.{k}": v for k, v in opt.state().items()})
    meta = {"config": dataclasses.asdict(cfg), "model": model.config.to_meta(), "vocab": vocab,
            **{name: getattr(run, name) for name in SAVED},
            "dropout_rng_state": run.dropout_rng.bit_generator.state}
    return arrays, meta


def restore(path, cfg, vocab, model, opt):
    """Load the run saved at path into model and opt, checking every piece against the run;
    returns its RunState."""
    loaded, arrays, meta = load_model(path, everything=True)
    check_vocabulary(meta["vocab"], vocab, path)
    if loaded.config != model.config:
        raise MinrnnError(f"{path}: its model does not match the run's config")
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
    format1 = meta["format_version"] == 1
    carried = arrays.get("h" if format1 else "state")  # format 1: its one layer's h as "h" (B, H)
    shape = model.config.state_shape(cfg.batch_size)
    if carried is not None and format1 and carried.shape == shape[2:]:
        carried = carried.reshape(shape)
    if carried is None or carried.shape != shape or carried.dtype != model.dtype or not np.isfinite(carried).all():
        raise bad("the carried state is missing, of the wrong shape, or not finite")
    run = RunState.fresh(cfg, model)
    run.state = carried.copy()
    for name, (valid, older) in SAVED.items():
        v = meta.get(name, older)
        if not valid(v):
            raise bad(f"{name} is {v!r}")
        setattr(run, name, v)
    if not format1:  # format 1 had no dropout: the fresh generator is as good as any
        try:
            run.dropout_rng.bit_generator.state = meta.get("dropout_rng_state")
        except (TypeError, ValueError, KeyError) as e:
            raise bad(f"random generator state dropout_rng_state: {e}") from None
    return run


def read_saved(path):
    """(config, vocabulary) of the run whose checkpoint is at path, from its metadata alone."""
    _, meta = checkpoint.load(path, names=())
    return from_meta(meta, path), checkpoint.vocabulary(meta, path)


def check_vocabulary(saved, chars, path):
    if saved != chars:
        raise MinrnnError(f"{path}: its vocabulary differs from the text's; resume with the text "
                          "the run was started on")

