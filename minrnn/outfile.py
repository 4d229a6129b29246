"""A file minrnn writes (a checkpoint, the page, the loss curves, a run's copy of its text): its
problems found before the work that fills it, and written whole or not at all."""
import contextlib
import os
from pathlib import Path

from .errors import MinrnnError, said


def check(path):
    """An output file's problems, found before the work that fills it."""
    path = Path(path)
    if path.is_dir():
        raise MinrnnError(f"{path}: is a folder; {said('out')} takes a file name")
    if not path.parent.is_dir():
        raise MinrnnError(f"{path}: cannot write there (no folder {path.parent})")
    if not os.access(path.parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise MinrnnError(f"{path}: cannot write there (permission denied)")


def tmp_path(path):
    """The one temporary name a file is written under; a run killed mid-write leaves at most this
    file, and the next write reuses it."""
    path = Path(path)
    return path.with_name(f".{path.name}.tmp")


@contextlib.contextmanager
def atomic(path, what="", make_folders=False):
    """A binary file object to write path's new content into: a temporary file beside it, synced,
    then renamed over path and the rename synced, so that a crash leaves the old file or the new
    one, never half of one. A disk error is one line (`what` names the file's kind)."""
    path, tmp = Path(path), tmp_path(path)
    try:
        if make_folders:
            path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        folder = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(folder)  # make the rename itself durable
        finally:
            os.close(folder)
    except OSError as e:
        try:
            tmp.unlink()
        except OSError:
            pass
        raise MinrnnError(f"cannot write {what}{path} ({e.strerror or e})", exit_code=1) from None


def write(path, raw):
    """raw bytes into path, whole or not at all; folders made as needed."""
    with atomic(path, make_folders=True) as f:
        f.write(raw)
