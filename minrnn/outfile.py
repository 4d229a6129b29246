"""A file the user names for minrnn to write (the page, the loss curves, a run's copy of its
text): its problems found before the work that fills it, and written whole or not at all."""
import os
from pathlib import Path

from .errors import MinrnnError


def check(path):
    """An output file's problems, found before the work that fills it."""
    path = Path(path)
    if path.is_dir():
        raise MinrnnError(f"{path}: is a folder; --out takes a file name")
    if not path.parent.is_dir():
        raise MinrnnError(f"{path}: cannot write there (no folder {path.parent})")
    if not os.access(path.parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise MinrnnError(f"{path}: cannot write there (permission denied)")


def write(path, raw):
    """raw bytes into path through a temporary file beside it, renamed over it; folders made as
    needed. A disk error is one line."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_bytes(raw)
        os.replace(tmp, path)
    except OSError as e:
        try:
            tmp.unlink()
        except OSError:
            pass
        raise MinrnnError(f"cannot write {path} ({e.strerror or e})", exit_code=1) from None
