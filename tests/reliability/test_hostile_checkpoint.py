"""Broken and hostile checkpoints: refused with one line by sample, eval, train --resume and
train --init-from; a pickle is never unpickled."""
import io
import json
import pickle
import shutil
import zipfile

import numpy as np
import pytest

from minrnn import checkpoint
from minrnn.data import MinrnnError

from .helpers import TINY, assert_clean_error, main, run, write_text

MARKER_NAME = "PWNED"


class Evil:
    """Unpickling this creates a marker file: proof that code ran."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    d = tmp_path_factory.mktemp("good")
    corpus = write_text(d / "t.txt", 3000)
    r = run("train", corpus, "--out", d / "run", *TINY, "--iterations", 4, "--eval-every", 2, "--quiet")
    assert r.returncode == 0, r.stderr
    return d / "run"


def rewrite(src, dst, change_arrays=None, change_meta=None, raw_meta=None):
    """Copy a checkpoint with its arrays or metadata changed, written as np.savez would."""
    with np.load(src) as z:
        arrays = {k: z[k] for k in z.files}
    meta = json.loads(arrays.pop("__meta__").tobytes())
    if change_arrays:
        change_arrays(arrays)
    if change_meta:
        change_meta(meta)
    blob = raw_meta if raw_meta is not None else json.dumps(meta).encode()
    with open(dst, "wb") as f:
        np.savez(f, __meta__=np.frombuffer(blob, np.uint8), **arrays)


def set_key(key, value):
    def change(d):
        d[key] = value
    return change


def set_in(entry, key, value):
    def change(meta):
        meta[entry][key] = value
    return change


def set_config(key, value):
    return set_in("config", key, value)


def set_model(key, value):
    return set_in("model", key, value)


def make_bad(name, good_file, path, marker):
    raw = good_file.read_bytes()
    if name == "empty":
        path.write_bytes(b"")
    elif name.startswith("truncated"):
        path.write_bytes(raw[:int(name.split("-")[1])])
    elif name == "text":
        path.write_text("this is not a checkpoint\n")
    elif name == "npy":
        np.save(path.with_suffix(".npy"), np.zeros(3))
        path.with_suffix(".npy").rename(path)
    elif name == "zip-of-text":
        with zipfile.ZipFile(path, "w") as z:
            z.writestr("__meta__", "{}")
            z.writestr("Wxh.npy", "hello")
    elif name == "pickle":
        path.write_bytes(pickle.dumps(Evil(marker)))
    elif name == "pickle-npy":
        np.save(path.with_suffix(".npy"), np.array([Evil(marker)], dtype=object), allow_pickle=True)
        path.with_suffix(".npy").rename(path)
    elif name == "object-array":
        rewrite(good_file, path, set_key("Wxh", np.array([Evil(marker)], dtype=object)))
    elif name == "object-meta":
        with np.load(good_file) as z:
            arrays = {k: z[k] for k in z.files}
        arrays["__meta__"] = np.array([Evil(marker)], dtype=object)
        with open(path, "wb") as f:
            np.savez(f, **arrays)
    elif name == "wrong-shape":
        rewrite(good_file, path, lambda a: a.__setitem__("Whh", np.zeros((3, 3), np.float32)))
    elif name == "wrong-dtype":
        rewrite(good_file, path, lambda a: a.__setitem__("Whh", a["Whh"].astype(np.float64)))
    elif name == "int-params":
        rewrite(good_file, path, lambda a: a.__setitem__("by", a["by"].astype(np.int32)))
    elif name == "nan-params":
        rewrite(good_file, path, lambda a: a["Why"].__setitem__((0, 0), np.nan))
    elif name == "missing-param":
        rewrite(good_file, path, lambda a: a.pop("bh"))
    elif name == "huge-shape-claim":  # an array header claiming 10**12 floats, in a tiny file
        header = io.BytesIO()
        np.lib.format.write_array_header_1_0(
            header, {"descr": "<f4", "fortran_order": False, "shape": (10**12,)})
        with zipfile.ZipFile(good_file) as src, zipfile.ZipFile(path, "w") as dst:
            for member in src.namelist():
                if member != "bh.npy":
                    dst.writestr(member, src.read(member))
            dst.writestr("bh.npy", header.getvalue() + b"\0" * 64)
    elif name == "format-version":
        rewrite(good_file, path, change_meta=set_key("format_version", 99))
    elif name == "meta-not-json":
        rewrite(good_file, path, raw_meta=b"{not json at all")
    elif name == "meta-not-utf8":
        rewrite(good_file, path, raw_meta=b"\xff\xfe{}")
    elif name == "meta-list":
        rewrite(good_file, path, raw_meta=b"[1, 2, 3]")
    elif name == "meta-deep":
        rewrite(good_file, path, raw_meta=b"[" * 100000 + b"]" * 100000)
    elif name == "meta-no-vocab":
        rewrite(good_file, path, change_meta=lambda m: m.pop("vocab"))
    elif name == "meta-bad-vocab":
        rewrite(good_file, path, change_meta=set_key("vocab", ["ab", 3]))
    elif name == "meta-surrogate-vocab":
        rewrite(good_file, path, change_meta=lambda m: m["vocab"].__setitem__(0, "\ud800"))
    elif name == "meta-duplicate-vocab":
        rewrite(good_file, path, change_meta=lambda m: m["vocab"].__setitem__(0, m["vocab"][1]))
    elif name == "meta-no-config":
        rewrite(good_file, path, change_meta=lambda m: m.pop("config"))
    elif name == "meta-no-model":
        rewrite(good_file, path, change_meta=lambda m: m.pop("model"))
    elif name == "meta-hidden-huge":
        rewrite(good_file, path, change_meta=set_model("hidden", 10**9))
    elif name == "meta-hidden-string":
        rewrite(good_file, path, change_meta=set_model("hidden", "eight"))
    elif name == "meta-dtype-object":
        rewrite(good_file, path, change_meta=set_model("dtype", "object"))
    elif name == "meta-cell-unknown":
        rewrite(good_file, path, change_meta=set_model("cell", "transformer"))
    elif name == "meta-layers-zero":
        rewrite(good_file, path, change_meta=set_model("layers", 0))
    elif name == "meta-seq-zero":
        rewrite(good_file, path, change_meta=set_config("seq_length", 0))
    elif name == "meta-batch-negative":
        rewrite(good_file, path, change_meta=set_config("batch_size", -3))
    elif name == "meta-config-unknown-key":
        rewrite(good_file, path, change_meta=set_config("warp_drive", True))
    elif name == "meta-optimizer-unknown":
        rewrite(good_file, path, change_meta=set_config("optimizer", "lbfgs"))
    elif name == "meta-iteration-string":
        rewrite(good_file, path, change_meta=set_key("iteration", "four"))
    elif name == "meta-position-negative":
        rewrite(good_file, path, change_meta=set_key("position", -5))
    elif name == "meta-rng-garbage":
        rewrite(good_file, path, change_meta=set_key("dropout_rng_state", {"bit_generator": "PCG64", "state": 3}))
    elif name == "meta-text-garbage":  # the run's text, its length and hash (format 3)
        rewrite(good_file, path, change_meta=set_key("text", {"characters": "many", "sha256": 5}))
    elif name == "opt-state-shape":
        rewrite(good_file, path, lambda a: a.__setitem__("opt.m", np.zeros(1, np.float32)))
    elif name == "opt-state-missing":
        rewrite(good_file, path, lambda a: a.pop("opt.v"))
    elif name == "h-shape":
        rewrite(good_file, path, lambda a: a.__setitem__("state", np.zeros((5, 5), np.float32)))
    elif name == "unchanged":
        shutil.copy(good_file, path)
    elif name == "h-nan":
        rewrite(good_file, path, lambda a: a["state"].__setitem__((0, 0, 0, 0), np.nan))
    else:
        raise KeyError(name)


# Bad for everything (sample, eval, resume, init-from) ...
BAD_MODEL = ["empty", "truncated-0", "truncated-1", "truncated-30", "truncated-500", "truncated-5000",
             "text", "npy", "zip-of-text", "pickle", "pickle-npy", "object-array", "object-meta",
             "wrong-shape", "wrong-dtype", "int-params", "nan-params", "missing-param", "huge-shape-claim",
             "format-version", "meta-not-json", "meta-not-utf8", "meta-list", "meta-deep", "meta-no-vocab",
             "meta-bad-vocab", "meta-surrogate-vocab", "meta-duplicate-vocab", "meta-no-model", "meta-cell-unknown",
             "meta-layers-zero", "meta-text-garbage",
             "meta-hidden-huge", "meta-hidden-string", "meta-dtype-object"]
# ... and bad only for some uses: name -> the uses that work (sample and --init-from need only
# the model; eval needs the model and its shards, never the run's batch).
BAD_STATE = {"meta-seq-zero": {"sample", "sample-folder", "init-from", "eval"},
             "meta-no-config": {"sample", "sample-folder", "init-from"},
             "meta-batch-negative": {"sample", "sample-folder", "init-from", "eval"},
             **{name: {"sample", "sample-folder", "init-from", "eval"} for name in (
                 "meta-config-unknown-key", "meta-optimizer-unknown", "meta-iteration-string",
                 "meta-position-negative", "meta-rng-garbage", "opt-state-shape", "opt-state-missing",
                 "h-shape", "h-nan")},
             "unchanged": {"sample", "sample-folder", "init-from", "eval", "resume"}}
WORDS = {"empty": ["damaged"], "text": ["not a minrnn checkpoint"], "pickle": ["pickle", "refused"],
         "pickle-npy": ["pickle", "refused"], "object-array": ["pickle", "refused"],
         "object-meta": ["pickle", "refused"], "wrong-shape": ["Whh", "expected"],
         "wrong-dtype": ["Whh", "expected"], "nan-params": ["NaN"], "missing-param": ["bh", "missing"],
         "format-version": ["version 99"], "meta-not-json": ["not valid JSON"], "meta-not-utf8": ["JSON"],
         "meta-deep": ["JSON"], "meta-no-vocab": ["vocab"], "meta-bad-vocab": ["vocab"],
         "meta-surrogate-vocab": ["vocab"], "meta-duplicate-vocab": ["vocab"],
         "meta-hidden-huge": ["Wxh", "expected"], "meta-dtype-object": ["dtype"],
         "opt-state-shape": ["opt.m"], "opt-state-missing": ["opt.v"], "h-shape": ["state"], "meta-cell-unknown": ["cell"],
         "meta-layers-zero": ["layers"], "meta-no-model": ["model"], "meta-text-garbage": ["the run's text"],
         "meta-optimizer-unknown": ["optimizer"], "meta-config-unknown-key": ["warp_drive"],
         "meta-position-negative": ["position"], "meta-iteration-string": ["iteration"]}


def place(tmp_path, good, name):
    """The bad checkpoint as the latest.npz (what --resume reads) and the best.npz (what sample
    reads of a run folder) of a copy of the run folder."""
    folder = tmp_path / "run"
    shutil.copytree(good, folder)
    marker = tmp_path / MARKER_NAME
    make_bad(name, good / "latest.npz", folder / "latest.npz", marker)
    if (folder / "latest.npz").exists():
        shutil.copy(folder / "latest.npz", folder / "best.npz")
    return folder, marker


def usages(folder, tmp_path):
    corpus = json.loads((folder / "config.json").read_text())["corpus"][0]
    return {
        "sample": ["sample", folder / "latest.npz", "--length", 20],
        "sample-folder": ["sample", folder, "--length", 20],
        "eval": ["eval", folder / "latest.npz", corpus],
        "resume": ["train", "--resume", folder, "--iterations", 8, "--quiet"],
        "init-from": ["train", corpus, "--init-from", folder / "latest.npz", "--out", tmp_path / "new",
                      *TINY, "--iterations", 2, "--quiet"],
    }


@pytest.mark.parametrize("name", BAD_MODEL + sorted(BAD_STATE))
def test_bad_checkpoint(tmp_path, capsys, good, name):
    folder, marker = place(tmp_path, good, name)
    for use, argv in usages(folder, tmp_path).items():
        code, out, err = main(capsys, *argv)
        if use in BAD_STATE.get(name, ()):
            assert code == 0, (use, err)
            continue
        assert_clean_error(code, err, *WORDS.get(name, []))
        assert out == "", use
        assert not marker.exists(), f"{use}: the pickle ran"


def test_pickle_is_refused_by_the_loaders_without_running(tmp_path):
    marker = tmp_path / MARKER_NAME
    for how in ("pickle", "pickle-npy"):
        path = tmp_path / f"{how}.npz"
        if how == "pickle":
            path.write_bytes(pickle.dumps(Evil(marker)))
        else:
            np.save(tmp_path / "x.npy", np.array([Evil(marker)], dtype=object), allow_pickle=True)
            (tmp_path / "x.npy").rename(path)
        for loader in (checkpoint.load, checkpoint.read_model):
            with pytest.raises(MinrnnError, match="pickle"):
                loader(path)
        assert not marker.exists()
    # and the marker would have been made, had it been unpickled: the test can see it
    pickle.loads(pickle.dumps(Evil(marker))).close()
    assert marker.exists()


def test_every_truncation_is_refused(tmp_path, good):
    raw = (good / "latest.npz").read_bytes()
    path = tmp_path / "cut.npz"
    for n in sorted(set(range(0, len(raw), max(1, len(raw) // 150))) | {len(raw) - 1, len(raw) - 22}):
        path.write_bytes(raw[:n])
        with pytest.raises(MinrnnError):
            checkpoint.read_run(path)


def test_missing_checkpoint_and_empty_folder(tmp_path, capsys):
    corpus = write_text(tmp_path / "t.txt")
    (tmp_path / "empty").mkdir()
    for argv, words in ((["sample", tmp_path / "nope.npz"], ["no such checkpoint"]),
                        (["eval", tmp_path / "nope.npz", corpus], ["no such checkpoint"]),
                        (["sample", tmp_path / "empty"], ["no checkpoint in this folder"]),
                        (["train", "--resume", tmp_path / "empty"], ["no checkpoint in this folder"]),
                        (["train", "--resume", tmp_path / "nope"], ["no such"]),
                        (["train", corpus, "--init-from", tmp_path / "nope.npz", "--out", tmp_path / "o"],
                         ["no such checkpoint"])):
        code, _, err = main(capsys, *argv)
        assert_clean_error(code, err, *words)


def test_resume_with_a_file_or_another_text(tmp_path, capsys, good):
    folder = tmp_path / "run"
    shutil.copytree(good, folder)
    code, _, err = main(capsys, "train", "--resume", folder / "latest.npz")
    assert_clean_error(code, err, "run folder")
    other = tmp_path / "other.txt"
    other.write_text("ZYXWVU 0123456789 " * 300)
    code, _, err = main(capsys, "train", other, "--resume", folder, "--iterations", 8)
    assert_clean_error(code, err, "vocabulary")
    # the run's own text gone: the message names the missing file
    corpus = write_text(tmp_path / "gone.txt", 3000)
    code, _, err = main(capsys, "train", corpus, "--out", tmp_path / "r2", *TINY, "--iterations", 2, "--quiet")
    assert code == 0, err
    corpus.unlink()
    code, _, err = main(capsys, "train", "--resume", tmp_path / "r2", "--iterations", 4)
    assert_clean_error(code, err, str(corpus), "no such file")
