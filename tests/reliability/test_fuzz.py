"""Property-based: random bytes to the loaders and random argument combinations to the CLI
give a clean result or a one-line error, never a traceback or an unexpected exception.

Examples are derandomized (the same every run, as CI needs); for a longer hunt,
MINRNN_FUZZ_SCALE=10 runs ten times as many and MINRNN_FUZZ_RANDOM=1 draws new ones each run."""
import codecs
import contextlib
import io
import itertools
import os
import pickle
import shutil

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from minrnn import checkpoint, cli, data
from minrnn.data import MinrnnError

from support import make_text

from .helpers import TINY

SCALE = int(os.environ.get("MINRNN_FUZZ_SCALE", "1"))
RANDOM = os.environ.get("MINRNN_FUZZ_RANDOM") == "1"


def fuzz(n):
    return settings(max_examples=n * SCALE, deadline=None, derandomize=not RANDOM, database=None,
                    suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """Files of every kind the CLI may be pointed at, made once."""
    d = tmp_path_factory.mktemp("fuzz")
    (d / "good.txt").write_text(make_text(3000))
    (d / "crlf.txt").write_bytes(make_text(3000).replace("\n", "\r\n").encode())
    (d / "bom.txt").write_bytes(codecs.BOM_UTF8 + make_text(3000).encode())
    (d / "empty.txt").write_bytes(b"")
    (d / "one.txt").write_text("z" * 500)
    (d / "short.txt").write_text("ab")
    (d / "latin.txt").write_bytes("crème brûlée ".encode("latin-1") * 100)
    (d / "binary.txt").write_bytes(bytes(range(256)) * 10)
    (d / "folder").mkdir()
    (d / "empty-run").mkdir()
    code = cli.main(["train", str(d / "good.txt"), "--out", str(d / "run"), *TINY, "--iterations", "4",
                     "--eval-every", "2", "--quiet"])
    assert code == 0
    good = (d / "run" / "latest.npz").read_bytes()
    (d / "cut.npz").write_bytes(good[: len(good) // 2])
    (d / "text.npz").write_text("not a checkpoint")
    (d / "pickle.npz").write_bytes(pickle.dumps({"a": 1}))
    flipped = bytearray(good)
    flipped[len(good) // 3] ^= 0xFF
    (d / "flipped.npz").write_bytes(bytes(flipped))
    shutil.copy(d / "run" / "latest.npz", d / "good.npz")
    return d


# ---------- text files -------------------------------------------------------------------

texty = st.one_of(
    st.binary(max_size=200),
    st.text(max_size=120).map(lambda s: s.encode("utf-8", "surrogatepass")),
    st.text(max_size=120).map(lambda s: codecs.BOM_UTF8 + s.encode("utf-8", "surrogatepass")),
    st.tuples(st.text(max_size=60), st.binary(max_size=4), st.text(max_size=60)).map(
        lambda t: t[0].encode("utf-8", "surrogatepass") + t[1] + t[2].encode("utf-8", "surrogatepass")),
)


@fuzz(300)
@given(raw=texty, chunk=st.integers(1, 16))
def test_read_corpus_random_bytes(work, raw, chunk):
    path = work / "fuzz.txt"
    path.write_bytes(raw)
    saved, data.CHUNK_BYTES = data.CHUNK_BYTES, chunk
    try:
        result = data.read_corpus(path)
        error = None
    except MinrnnError as e:
        result, error = None, str(e)
    finally:
        data.CHUNK_BYTES = saved
    bom = 3 if raw.startswith(codecs.BOM_UTF8) else 0
    try:
        expected = raw[bom:].decode("utf-8")
    except UnicodeDecodeError as e:
        assert error is not None
        if "at byte" in error:
            assert f"at byte {e.start + bom}" in error, (error, e)
        return
    if not expected or "\x00" in expected or len(set(expected)) < 2:
        assert error is not None and "\n" not in error
        return
    assert error is None, error
    ix, chars = result
    assert chars == sorted(set(expected)) and data.decode(ix, chars) == expected


# ---------- checkpoints ------------------------------------------------------------------

def load_all(path):
    for loader in (checkpoint.load, checkpoint.read_model,
                   checkpoint.read_run):
        try:
            loader(path)
        except MinrnnError as e:
            assert "\n" not in str(e)


prefixes = st.sampled_from([b"", b"PK\x03\x04", b"PK\x05\x06", b"\x93NUMPY\x01\x00", b"\x80\x04", b"{"])


@fuzz(200)
@given(prefix=prefixes, rest=st.binary(max_size=400))
def test_checkpoint_loaders_random_bytes(work, prefix, rest):
    path = work / "fuzz.npz"
    path.write_bytes(prefix + rest)
    load_all(path)


@fuzz(300)
@given(edits=st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 255)), min_size=1, max_size=4),
       cut=st.one_of(st.none(), st.floats(0, 1)))
def test_checkpoint_loaders_damaged_checkpoint(work, edits, cut):
    raw = bytearray((work / "good.npz").read_bytes())
    for where, value in edits:
        raw[int(where * len(raw))] = value
    if cut is not None:
        raw = raw[: int(cut * len(raw))]
    path = work / "fuzz.npz"
    path.write_bytes(bytes(raw))
    try:
        model, arrays, meta = checkpoint.read_run(path)
    except MinrnnError as e:
        assert "\n" not in str(e)
        return
    assert all(np.isfinite(model.params[k]).all() for k in model.params)  # whatever loads is usable


# ---------- the command line -------------------------------------------------------------

VALUES = ["0", "-1", "1", "2", "3", "8", "0.5", "1e-300", "1e308", "nan", "inf", "-inf", "abc", "",
          "99999999999999999999999", "0x10", " 3", "1_000", "0.999999", "-0"]
TEXTS = ["good.txt", "crlf.txt", "bom.txt", "empty.txt", "one.txt", "short.txt", "latin.txt", "binary.txt",
         "folder", "missing.txt", "good.npz"]
CKPTS = ["good.npz", "run", "cut.npz", "text.npz", "pickle.npz", "flipped.npz", "empty-run", "missing.npz",
         "good.txt", "folder"]
FLAGS = {
    "classic": {"--hidden": VALUES, "--seq-length": VALUES, "--lr": VALUES, "--seed": VALUES,
                "--sample-every": VALUES, "--sample-length": VALUES, "--print-every": VALUES,
                "--encoding": ["latin-1", "utf-16", "base64", "nope", ""]},
    "train": {"--hidden": VALUES, "--seq-length": VALUES, "--batch-size": VALUES, "--lr": VALUES,
              "--optimizer": ["adam", "sgd", "adagrad", "rmsprop", "lbfgs"], "--momentum": VALUES,
              "--lr-schedule": ["constant", "step", "cosine", "x"], "--lr-decay": VALUES,
              "--lr-decay-every": VALUES, "--clip": VALUES, "--clip-mode": ["norm", "value", "x"],
              "--dtype": ["float32", "float64", "int8"], "--val-frac": VALUES, "--eval-every": VALUES,
              "--sample-every": VALUES, "--seed": VALUES, "--threads": VALUES, "--epochs": VALUES,
              "--minutes": VALUES, "--encoding": ["latin-1", "utf-16", "rot13", "nope"],
              "--resume": CKPTS, "--init-from": CKPTS, "--out": ["NEW", "good.txt", "run", "good.txt/sub"]},
    "sample": {"--length": VALUES, "--temperature": VALUES, "--prime": ["", "the ", "é", "\udcff", "zz"],
               "--seed": VALUES, "--top-k": VALUES},
    "eval": {"--encoding": ["latin-1", "utf-16", "base64", "nope"]},
}
SWITCHES = {"train": ["--quiet"], "sample": ["--greedy"], "eval": ["--skip-unknown"], "classic": []}
counter = itertools.count()


@st.composite
def command_lines(draw):
    command = draw(st.sampled_from(sorted(FLAGS)))
    argv = [command]
    if command in ("classic", "train"):
        argv += [draw(st.sampled_from(TEXTS))] if draw(st.booleans()) or command == "classic" else []
    if command in ("sample", "eval"):
        argv.append(draw(st.sampled_from(CKPTS)))
    if command == "eval":
        argv.append(draw(st.sampled_from(TEXTS)))
    if command == "train":  # small by default; the drawn flags below may say otherwise
        argv += [*TINY, "--out", "NEW"]
    if command == "classic":
        argv += ["--hidden", "8", "--seq-length", "8"]
    flags = FLAGS[command]
    for flag in draw(st.lists(st.sampled_from(sorted(flags)), max_size=4, unique=True)):
        argv += [flag, draw(st.sampled_from(flags[flag]))]
    if SWITCHES[command]:
        argv += draw(st.lists(st.sampled_from(SWITCHES[command]), max_size=1))
    argv += draw(st.lists(st.text(st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)),
                                  max_size=6), max_size=2))  # stray words: argparse's job
    if command in ("classic", "train"):
        argv += ["--iterations", "2"]  # keep every example quick (argparse takes the last)
    return argv


@fuzz(150)
@given(argv=command_lines())
def test_cli_random_arguments(work, argv):
    fresh = f"out{next(counter)}"
    names = set(TEXTS) | set(CKPTS) | {"run", "good.txt/sub"}
    argv = [str(work / fresh) if a == "NEW" else str(work / a) if a in names else a for a in argv]
    out, err = io.StringIO(), io.StringIO()
    cwd = os.getcwd()
    os.chdir(work)  # classic's default input.txt and train's default runs/ land here
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = cli.main(argv)
            except SystemExit as e:  # argparse: usage errors (2), --help / --version (0)
                code = e.code
                assert code in (0, 2), (argv, err.getvalue())
                if code == 2:
                    assert "error:" in err.getvalue().strip().split("\n")[-1]
                return
    finally:
        os.chdir(cwd)
    stderr = err.getvalue()
    assert "Traceback" not in stderr, (argv, stderr)
    if code != 0:
        assert code in (1, 2), (argv, code, stderr)
        errors = [line for line in stderr.split("\n") if line.startswith("minrnn: error: ")]
        assert len(errors) == 1 and stderr.rstrip().endswith(errors[0]), (argv, stderr)
