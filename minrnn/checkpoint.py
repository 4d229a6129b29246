"""Checkpoints: one .npz holding named arrays and one JSON metadata entry.

Written to a temporary file beside the target, synced, then renamed over it, so a crash
leaves either the old checkpoint or the new one, never half of one. Read with
allow_pickle=False, so loading one never runs code.
"""
import json
import os
import zipfile
from pathlib import Path

import numpy as np

from .data import MinrnnError
from .model import CharRNN, param_shapes

FORMAT_VERSION = 1
META_KEY = "__meta__"


def tmp_path(path):
    """The one temporary name a checkpoint is written under; a run killed mid-write leaves at
    most this file, and the next save reuses it."""
    path = Path(path)
    return path.with_name(f".{path.name}.tmp")


def save(path, arrays, meta):
    path = Path(path)
    tmp = tmp_path(path)
    meta = dict(meta, format_version=FORMAT_VERSION)
    blob = np.frombuffer(json.dumps(meta).encode("utf-8"), np.uint8)
    try:
        with open(tmp, "wb") as f:
            np.savez(f, **{META_KEY: blob}, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)  # make the rename itself durable
        finally:
            os.close(dir_fd)
    except OSError as e:
        try:
            tmp.unlink()
        except OSError:
            pass
        raise MinrnnError(f"could not write checkpoint {path}: {e.strerror or e}", exit_code=1) from None


def resolve(path):
    """A checkpoint file, or a run folder (its latest.npz)."""
    path = Path(path)
    if path.is_dir():
        if not (path / "latest.npz").is_file():
            raise MinrnnError(f"{path}: no checkpoint in this folder (latest.npz is missing)")
        return path / "latest.npz"
    return path


def load(path):
    """Returns (arrays, meta). Any problem with the file is a MinrnnError naming it."""
    path = resolve(path)
    if not path.exists():
        raise MinrnnError(f"{path}: no such checkpoint")
    try:
        with np.load(path, allow_pickle=False) as z:
            if not isinstance(z, np.lib.npyio.NpzFile):
                raise MinrnnError(f"{path}: not a minrnn checkpoint (a bare .npy array, not an .npz)")
            if META_KEY not in z.files:
                raise MinrnnError(f"{path}: not a minrnn checkpoint (no metadata entry)")
            arrays = {name: z[name] for name in z.files}
    except MinrnnError:
        raise
    except ValueError as e:
        if "pickle" in str(e):
            raise MinrnnError(f"{path}: holds pickled Python objects; refused, since loading them "
                              "could run code (minrnn checkpoints never contain any)") from None
        raise MinrnnError(f"{path}: not a valid checkpoint ({e})") from None
    except (OSError, EOFError, zipfile.BadZipFile, KeyError) as e:
        raise MinrnnError(f"{path}: not a minrnn checkpoint, or a damaged one ({e})") from None
    blob = arrays.pop(META_KEY)
    try:
        meta = json.loads(blob.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, ValueError):
        raise MinrnnError(f"{path}: its metadata is not valid JSON") from None
    if not isinstance(meta, dict):
        raise MinrnnError(f"{path}: its metadata is not a JSON object")
    version = meta.get("format_version")
    if version != FORMAT_VERSION:
        raise MinrnnError(f"{path}: checkpoint format version {version!r}; this minrnn reads version {FORMAT_VERSION}")
    return arrays, meta


def load_model(path):
    """A checkpoint's model and metadata, after checking every parameter's shape and dtype."""
    arrays, meta = load(path)
    path = resolve(path)
    try:
        chars = meta["vocab"]
        hidden = int(meta["config"]["hidden"])
        dtype = np.dtype(meta["config"]["dtype"])
        if not (isinstance(chars, list) and chars and all(isinstance(c, str) and len(c) == 1 for c in chars)):
            raise ValueError("vocab must be a list of characters")
    except (KeyError, TypeError, ValueError) as e:
        raise MinrnnError(f"{path}: its metadata lacks a valid vocabulary or config ({e})") from None
    if dtype not in (np.float32, np.float64):
        raise MinrnnError(f"{path}: unsupported dtype {dtype}")
    model = CharRNN(len(chars), hidden, dtype)
    for name, shape in param_shapes(len(chars), hidden).items():
        a = arrays.get(name)
        if a is None:
            raise MinrnnError(f"{path}: parameter {name} is missing")
        if a.shape != shape or a.dtype != dtype:
            raise MinrnnError(f"{path}: parameter {name} is {a.dtype}{list(a.shape)}, expected {dtype}{list(shape)}")
        if not np.isfinite(a).all():
            raise MinrnnError(f"{path}: parameter {name} holds NaN or infinite values")
        model.params[name][...] = a
    return model, arrays, meta
