"""Checkpoints: one .npz holding named arrays and one JSON metadata entry; reading a model or a
whole run back from one; and the one place that knows the formats of earlier minrnn versions.

Written whole or not at all (outfile.atomic: a temporary file beside the target, synced, then
renamed over it), so a crash leaves either the old checkpoint or the new one. Read entry by entry, each
array's header checked before its data (no Python objects, so loading one never runs code; no
more data than the file holds; the expected shape and dtype), and only the entries a command
needs: sample and eval read the parameters, not the optimizer state.

Every checkpoint's metadata is turned into today's by `upgrade` as it is read, so nothing
outside this file knows that an older format existed. The formats:
  1  one vanilla layer, implied by the run's hidden size and dtype; the carried state as "h" (B, H)
  2  the model described on its own ("model"); the carried state as one array "state"
     (layers, 1 or 2, B, H); later versions of it added `shards`, `smooth_loss`, `warmup` and
     the budget to the saved settings
  3  the run's text remembered ("text": its length and a hash, data.fingerprint), so that a resume
     on another text is refused; its files as a list ("corpus", a string before: one path, or ''
     for the built-in corpus); `skip_unknown` and `val_chars` among the saved settings
  4  `lr_floor` and `average` among the saved settings, and with averaging the optimizer's state
     holds the average ("opt.average"); `dropout` and `lr` decided by the recipe (recipe.py) when
     a run leaves them out, and saved as numbers all the same
"""
import json
import math
import zipfile
from pathlib import Path

import numpy as np

from . import outfile
from .errors import MinrnnError
from .model import CharRNN, ModelConfig

FORMAT_VERSION = 4
READABLE_VERSIONS = (1, 2, 3, 4)
META_KEY = "__meta__"
# Settings that earlier checkpoints lack, with the value that reproduces what those runs did
BEFORE_THEY_WERE_SAVED = {"shards": 1, "warmup": 0.0, "iterations": None, "epochs": None, "minutes": None,
                          "checkpoint_every": None, "skip_unknown": False, "val_chars": 0}
# Before format 4: no averaging (a run with a budget says 0; without one, there is nothing it could
# span), and the cosine schedule ended at a tenth of the rate
BEFORE_FORMAT_4 = {"average": 0.0, "lr_floor": 0.1}
ZERO_FOR_UNSET = ("init_scale", "lr_decay_every", "threads")  # format 1 and early format 2 wrote 0 for None


def save(path, arrays, meta):
    """arrays and meta (in today's format) as one .npz at path, written whole or not at all."""
    blob = np.frombuffer(json.dumps(dict(meta, format_version=FORMAT_VERSION)).encode("utf-8"), np.uint8)
    with outfile.atomic(path, "checkpoint ") as f:
        np.savez(f, **{META_KEY: blob}, **arrays)


def _read_header(f):
    """An .npy header: (shape, fortran_order, dtype), read without reading the data."""
    version = np.lib.format.read_magic(f)
    if version == (1, 0):
        return np.lib.format.read_array_header_1_0(f)
    if version == (2, 0):
        return np.lib.format.read_array_header_2_0(f)
    raise ValueError(f"unsupported .npy format version {version}")


def _refuse_pickle(path):
    return MinrnnError(f"{path}: holds pickled Python objects; refused, since loading them could run code "
                       "(minrnn checkpoints never contain any)")


def _read_array(path, zf, name, expect=None):
    """One array of the archive. Its header is checked before any data is read: no Python
    objects (their pickles are never loaded), no more data than the file holds, and, with
    expect=(shape, dtype), exactly that shape and dtype."""
    info = zf.getinfo(name + ".npy")
    with zf.open(info) as f:
        shape, fortran, dtype = _read_header(f)
        if dtype.hasobject:
            raise _refuse_pickle(path)
        if expect is not None and (shape, dtype) != expect:
            raise MinrnnError(f"{path}: parameter {name} is {dtype}{list(shape)}, "
                              f"expected {expect[1]}{list(expect[0])}")
        size = math.prod(shape) * dtype.itemsize
        if size > info.file_size:
            raise MinrnnError(f"{path}: damaged (array {name} claims {size:,} bytes; the file holds "
                              f"{info.file_size:,})")
        buf = bytearray(size)
        view, got = memoryview(buf), 0
        while got < size:
            n = f.readinto(view[got:])
            if not n:
                raise MinrnnError(f"{path}: damaged (array {name} is cut short)")
            got += n
    return np.frombuffer(buf, dtype).reshape(shape, order="F" if fortran else "C")


class Archive:
    """A checkpoint opened for reading: the zip archive np.savez wrote, its metadata parsed and
    checked; arrays are read one by one on request, so a caller reads only what it needs.
    Every problem becomes a MinrnnError naming the file."""

    def __init__(self, path):
        self.path = path = Path(path)
        if not path.exists():
            raise MinrnnError(f"{path}: no such checkpoint")
        if path.is_dir():
            raise MinrnnError(f"{path}: is a folder, not a checkpoint file")
        try:
            with open(path, "rb") as f:
                magic = f.read(8)
                if magic.startswith(b"\x93NUMPY"):
                    f.seek(0)
                    if _read_header(f)[2].hasobject:
                        raise _refuse_pickle(path)
                    raise MinrnnError(f"{path}: not a minrnn checkpoint (a bare .npy array, not an .npz)")
            if magic[:1] == b"\x80":  # how pickles of protocol 2 and later begin
                raise _refuse_pickle(path)
            if not magic:
                raise MinrnnError(f"{path}: not a minrnn checkpoint, or a damaged one (the file is empty)")
            if not magic.startswith(b"PK"):
                raise MinrnnError(f"{path}: not a minrnn checkpoint (not an .npz archive)")
            self.zf = zipfile.ZipFile(path)
        except MinrnnError:
            raise
        except PermissionError:
            raise MinrnnError(f"{path}: cannot read it (permission denied)") from None
        except Exception as e:  # anything a damaged or hostile file makes the readers raise
            raise self.damaged(e) from None
        try:
            self.names = {n[:-4] for n in self.zf.namelist() if n.endswith(".npy")}
            if META_KEY not in self.names:
                raise MinrnnError(f"{path}: not a minrnn checkpoint (no metadata entry)")
            self.meta = self._meta(self.read(META_KEY))
            self.version = self.meta["format_version"]
        except BaseException:
            self.zf.close()
            raise

    def damaged(self, e):
        if isinstance(e, MemoryError):
            return MinrnnError(f"{self.path}: damaged (an entry claims more memory than there is)")
        return MinrnnError(f"{self.path}: not a minrnn checkpoint, or a damaged one ({type(e).__name__}: {e})")

    def read(self, name, expect=None):
        try:
            return _read_array(self.path, self.zf, name, expect)
        except MinrnnError:
            raise
        except Exception as e:
            raise self.damaged(e) from None

    def _meta(self, blob):
        path = self.path
        if blob.dtype != np.uint8 or blob.ndim != 1:
            raise MinrnnError(f"{path}: its metadata is not valid JSON (not a byte string)")
        try:
            meta = json.loads(blob.tobytes().decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            raise MinrnnError(f"{path}: its metadata is not valid JSON") from None
        if not isinstance(meta, dict):
            raise MinrnnError(f"{path}: its metadata is not a JSON object")
        version = meta.get("format_version")
        if version not in READABLE_VERSIONS or isinstance(version, bool):
            raise MinrnnError(f"{path}: checkpoint format version {version!r}; this minrnn reads "
                              f"versions {', '.join(map(str, READABLE_VERSIONS))}")
        return meta

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.zf.close()


def load(path, names=None):
    """Returns (arrays, meta): every array, or only those of `names` the file holds (none for
    names=(): the metadata alone), and the metadata as the file holds it. Any problem with the
    file is a MinrnnError naming it; no pickle in it is ever loaded."""
    with Archive(path) as archive:
        wanted = archive.names - {META_KEY} if names is None else archive.names & set(names)
        return {name: archive.read(name) for name in sorted(wanted)}, archive.meta


def upgrade(meta, path):
    """A checkpoint's metadata, of any readable format, as today's format writes it: the model's
    description, the run's settings with every one its version lacked, the run's numbers."""
    meta = dict(meta)
    vocabulary(meta, path)
    config = meta.get("config")
    if meta["format_version"] == 1:
        if not isinstance(config, dict):
            raise MinrnnError(f"{path}: its metadata lacks the model's config")
        meta["model"] = {"cell": "rnn", "hidden": config.get("hidden"), "layers": 1, "embedding": 0,
                         "dropout": 0.0, "dtype": config.get("dtype")}
        meta.pop("rng_state", None)  # format 1 drew nothing at random while training
    if not isinstance(meta.get("model"), dict):
        raise MinrnnError(f"{path}: its metadata lacks the model's description")
    if isinstance(config, dict):
        config = {k: None if k in ZERO_FOR_UNSET and v == 0 and not isinstance(v, bool) else v
                  for k, v in config.items()}
        if isinstance(config.get("corpus"), str):  # before format 3, one path ('': the built-in corpus)
            config["corpus"] = [config["corpus"]] if config["corpus"] else []
        config = {**BEFORE_THEY_WERE_SAVED, **meta["model"], **config}
        budget = any(config[k] is not None for k in ("iterations", "epochs", "minutes"))
        if budget:
            config.setdefault("average", BEFORE_FORMAT_4["average"])
        if config.get("lr_schedule") == "cosine" or (config.get("lr_schedule") is None and budget):
            config.setdefault("lr_floor", BEFORE_FORMAT_4["lr_floor"])
        meta["config"] = config
    meta.setdefault("smooth_loss", math.nan)  # before it was saved, a resume restarted the smoothing
    meta.setdefault("dropout_rng_state", None)  # format 1 had no dropout: a fresh generator serves
    meta.setdefault("text", None)  # before format 3, the text was not remembered: any that fits serves
    text = meta["text"]
    if text is not None and not (isinstance(text, dict) and whole_number(text.get("characters"))
                                 and isinstance(text.get("sha256"), str)):
        raise MinrnnError(f"{path}: its metadata's text (the length and hash of the run's text) is not valid")
    meta["format_version"] = FORMAT_VERSION
    return meta


def read_meta(path):
    """A checkpoint's metadata, in today's format (upgrade)."""
    with Archive(path) as archive:
        return upgrade(archive.meta, archive.path)


def _model_config(meta, path):
    """The checkpoint's ModelConfig, checked."""
    saved = meta["model"]
    known = set(ModelConfig.__dataclass_fields__) - {"vocab_size"}
    unknown = sorted(set(saved) - known)
    if unknown:
        raise MinrnnError(f"{path}: its model has settings this minrnn does not know: {', '.join(unknown)}")
    return ModelConfig(vocab_size=len(meta["vocab"]), **saved).check(source=f"{path}: its model")


def _read_model(archive, meta):
    """The archive's model, every parameter's shape and dtype checked against the model's
    description before it is read, and its values finite."""
    config = _model_config(meta, archive.path)
    arrays = {}  # read, and so checked against the file's size, before the model is made
    for name, shape in config.param_shapes().items():
        if name not in archive.names:
            raise MinrnnError(f"{archive.path}: parameter {name} is missing")
        a = arrays[name] = archive.read(name, expect=(shape, np.dtype(config.dtype)))
        if not np.isfinite(a).all():
            raise MinrnnError(f"{archive.path}: parameter {name} holds NaN or infinite values")
    model = CharRNN(config)
    for name, a in arrays.items():
        model.params[name][...] = a
    return model


def read_model(path):
    """(model, meta) of a checkpoint file: its parameters alone, what sample, eval and viz read."""
    with Archive(path) as archive:
        meta = upgrade(archive.meta, archive.path)
        return _read_model(archive, meta), meta


def read_run(path):
    """(model, arrays, meta) of a run's checkpoint: the model, and every array (its parameters,
    the optimizer state `opt.*`, the carried `state`) for a resumed run to check and take."""
    with Archive(path) as archive:
        meta = upgrade(archive.meta, archive.path)
        model = _read_model(archive, meta)
        rest = sorted(archive.names - set(model.params) - {META_KEY})
        arrays = {**{name: a.copy() for name, a in model.params.items()}, **{name: archive.read(name) for name in rest}}
        if archive.version == 1 and "h" in arrays:  # format 1's one layer's h, (B, H)
            arrays["state"] = arrays.pop("h")[None, None]
        return model, arrays, meta


def whole_number(v, low=0):
    """A metadata value that is an int >= low (JSON's true and false load as bools, which Python
    counts as ints)."""
    return isinstance(v, int) and not isinstance(v, bool) and v >= low


def vocabulary(meta, path):
    """The checkpoint's vocabulary (a list of distinct characters), checked."""
    chars = meta.get("vocab")
    if not (isinstance(chars, list) and chars and all(isinstance(c, str) and len(c) == 1 for c in chars)):
        raise MinrnnError(f"{path}: its metadata lacks a valid vocabulary (a list of characters)")
    if any(0xD800 <= ord(c) <= 0xDFFF for c in chars) or len(set(chars)) != len(chars):
        raise MinrnnError(f"{path}: its vocabulary holds surrogates or repeated characters")
    return chars
