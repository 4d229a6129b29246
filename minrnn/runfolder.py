"""A run folder on disk: what it holds, which of its checkpoints a command reads, `latest`
beside it, and the lock and files of the training run that writes it.

A run folder holds config.json, log.csv, latest.npz (the run's last checkpoint, what --resume
continues) and best.npz (the checkpoint of the best validation loss, what sample, eval, viz and
--init-from read). Beside the run folders, `latest` names the run most recently started or
resumed there: a relative symbolic link, or where links cannot be made a small file holding the
folder's name; every command that takes a run folder follows either.
"""
import csv
import dataclasses
import fcntl
import json
import os
from pathlib import Path

import numpy as np

from .errors import FAILED, MinrnnError, said

LOG_FIELDS = ["iteration", "elapsed_s", "train_loss", "val_loss", "lr", "chars_per_s"]
PLOTTED = ("iteration", "elapsed_s", "train_loss", "val_loss")  # the columns read_log reads
LATEST = "latest"
SHOWN_RUNS = 8  # runs named when a folder of runs is given where one run is wanted


def _in_use(path):
    return MinrnnError(f"{path}: another minrnn run is using this folder "
                       "(wait for it to finish, or stop it with Ctrl-C)")


class TrainingFolder:
    """The folder of a training run while it runs: locked, so that a second run keeps out (flock:
    the kernel releases it even after kill -9), and the config.json and log.csv it writes."""

    def __init__(self, path):
        self.path = Path(path)
        if self.path.exists() and not self.path.is_dir():
            raise MinrnnError(f"{self.path}: exists and is not a folder; choose another {said('out')}")
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
            pass  # no lock file yet, or not readable: TrainingFolder will tell

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


def _existing_folder(path, what):
    """path, refused when it is not there or not a folder; `what` says what to give instead."""
    if not path.exists():
        raise MinrnnError(f"{path}: no such run folder")
    if not path.is_dir():
        raise MinrnnError(f"{path}: not a run folder ({what})")
    return path


def run_folder(path):
    """A run folder (or `latest` beside run folders), checked to hold the run's latest.npz."""
    path = _existing_folder(follow(path), "the folder a run writes its checkpoints in")
    if not (path / "latest.npz").is_file():
        raise _no_run_here(path, "latest.npz is missing")
    return path


def resume_file(path):
    """The checkpoint --resume continues: a run folder's latest.npz."""
    if follow(path).is_file():
        raise MinrnnError(f"{follow(path)}: {said('resume')} takes a run folder (the {said('out')} of the run), not a "
                          f"checkpoint file; to start from a checkpoint's weights use {said('init_from')}")
    return run_folder(path) / "latest.npz"


def weights_file(path):
    """The checkpoint whose weights sample, eval, viz, load and --init-from read: a file as given,
    or a run folder's best.npz (the best validation loss), else its latest.npz. Returns (file, a
    line saying which, or None for a file given as such). The one rule of which checkpoint a run
    folder means, but for --resume (resume_file)."""
    path = follow(path)
    if not path.is_dir():
        return path, None
    for name, why in (("best.npz", "the best validation loss"), ("latest.npz", "the last checkpoint; no best.npz")):
        if (path / name).is_file():
            return path / name, f"reading {path / name} ({why})"
    raise _no_run_here(path, "no best.npz or latest.npz")


def read_log(run_dir):
    """A run folder's log.csv as {column: float array} of the PLOTTED columns, checked."""
    run_dir = _existing_folder(Path(run_dir), "give the folder that holds log.csv")
    path = run_dir / "log.csv"
    if not path.is_file():
        raise MinrnnError(f"{run_dir}: no log.csv in this folder (is it a run folder? a run writes its log "
                          "at its first evaluation)")
    try:
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.reader(f)
            header = next(reader, None)
            missing = [c for c in PLOTTED if c not in (header or [])]
            if missing:
                raise MinrnnError(f"{path}: not a minrnn log (no column {', '.join(missing)} in its header)")
            at = [header.index(c) for c in PLOTTED]
            rows = []
            for row in reader:
                if len(row) != len(header):
                    raise MinrnnError(f"{path}: damaged at line {reader.line_num} "
                                      f"({len(row)} fields, the header has {len(header)})")
                try:
                    rows.append([float(row[i]) for i in at])
                except ValueError:
                    raise MinrnnError(f"{path}: damaged at line {reader.line_num} (a value is not a number)") from None
    except (UnicodeDecodeError, csv.Error) as e:
        raise MinrnnError(f"{path}: damaged ({type(e).__name__}: {e})") from None
    except OSError as e:
        raise MinrnnError(f"{path}: cannot read it ({e.strerror or e})") from None
    if not rows:
        raise MinrnnError(f"{path}: no rows yet (a run logs at each evaluation)")
    return dict(zip(PLOTTED, np.array(rows).T))
