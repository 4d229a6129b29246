"""Runs on disk: resuming every cell exactly, checkpoints on their own clock, `latest` beside
the run folders, and which checkpoint of a run folder each command reads."""
import dataclasses
import os
import shutil

import numpy as np
import pytest

from minrnn import checkpoint, config, data, loop
from minrnn.config import Config
from minrnn.model import CharRNN
from minrnn.optim import make_optimizer
from minrnn.shards import Shards
from support import assert_one_line_error, make_text, run

# a constant rate: these runs are resumed with a larger budget, which moves an annealed schedule
TINY = dict(hidden=8, seq_length=8, batch_size=3, eval_every=5, sample_every=0, lr=0.01, lr_schedule="constant")
FLAGS = ["--hidden", "8", "--batch-size", "2", "--seq-length", "8"]


@pytest.fixture(scope="module")
def corpus():
    return data.encode(make_text(3000))


@pytest.fixture
def text(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text(make_text(3000))
    return path


def same_checkpoints(a, b):
    """Every array bit for bit, and every number and generator state of the run."""
    (arrays_a, meta_a), (arrays_b, meta_b) = checkpoint.load(a), checkpoint.load(b)
    assert sorted(arrays_a) == sorted(arrays_b)
    for k in arrays_a:
        assert arrays_a[k].dtype == arrays_b[k].dtype and arrays_a[k].tobytes() == arrays_b[k].tobytes(), k
    for k in ("iteration", "position", "first_loss", "dropout_rng_state", "model", "vocab"):
        assert meta_a[k] == meta_b[k], k
    assert np.array_equal(meta_a["smooth_loss"], meta_b["smooth_loss"])


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_resume_is_bit_identical_for_every_cell(tmp_path, corpus, capsys, cell):
    """Two layers, dropout and an embedding, stopped at 100 iterations and resumed across the
    epoch's end at 112 (2700 training characters in 3 streams of 8 a step); the resumed part
    prints samples and evaluates on other intervals, which must change nothing it computes."""
    ix, chars = corpus
    cfg = Config(**TINY, cell=cell, layers=2, dropout=0.3, embedding=5, iterations=130)
    loop.train(cfg, ix, chars, tmp_path / "whole", quiet=True)
    loop.train(dataclasses.replace(cfg, iterations=100), ix, chars, tmp_path / "split", quiet=True)
    shown = dataclasses.replace(cfg, sample_every=4, sample_length=10, eval_every=7)
    loop.train(shown, ix, chars, tmp_path / "split", resume=True)
    assert "---- sample at iteration 104" in capsys.readouterr().err
    same_checkpoints(tmp_path / "whole" / "latest.npz", tmp_path / "split" / "latest.npz")


def test_step_is_the_loop_s_step(tmp_path, corpus):
    """train.step, what the benchmark times, is what train() does for an iteration."""
    ix, chars = corpus
    cfg = Config(**TINY, cell="gru", dropout=0.2, iterations=4, clip=0.5)
    trained = loop.train(cfg, ix, chars, tmp_path / "r", quiet=True)["params"]
    model = CharRNN(cfg.model(len(chars)), rng=np.random.default_rng(cfg.seed))
    opt = make_optimizer(cfg.optimizer, model.theta.size, cfg.lr, model.dtype)
    inputs, targets = data.streams(data.split(ix, cfg.val_frac)[0], cfg.batch_size)
    state, dropout_rng = model.zero_state(cfg.batch_size), np.random.default_rng([cfg.seed, 1])
    for p in range(0, 4 * cfg.seq_length, cfg.seq_length):
        x, y = inputs[:, p:p + cfg.seq_length].T, targets[:, p:p + cfg.seq_length].T
        _, state = loop.step(Shards(model, 1, 1), opt, x, y, state, cfg, dropout_rng)
    assert all(np.array_equal(model.params[k], trained[k]) for k in trained)


@pytest.fixture
def saves(monkeypatch):
    """The iterations at which latest.npz is written."""
    written = []
    real = checkpoint.save

    def spy(path, arrays, meta):
        if path.name == "latest.npz":
            written.append(meta["iteration"])
        real(path, arrays, meta)
    monkeypatch.setattr(checkpoint, "save", spy)
    return written


def test_checkpoints_on_their_own_clock(tmp_path, corpus, saves):
    ix, chars = corpus
    loop.train(Config(**dict(TINY, eval_every=0), checkpoint_every=4, iterations=10), ix, chars,
                       tmp_path / "a", quiet=True)
    assert saves == [4, 8, 10]  # and at the end
    saves.clear()
    loop.train(Config(**dict(TINY, eval_every=3), iterations=7), ix, chars, tmp_path / "b", quiet=True)
    assert saves == [3, 6, 7]  # by default, at each evaluation
    assert Config(eval_every=0).checkpoint_interval() == 1000  # evaluation off: never only at the end


def test_checkpoints_at_least_every_ten_minutes(tmp_path, corpus, saves, monkeypatch):
    """A model slow enough that 200 s pass each iteration (a fake clock that moves with each
    step): latest.npz every 3 iterations, though --checkpoint-every asks for every 1000."""
    ix, chars = corpus
    clock = {"now": 0.0}
    real = CharRNN.loss_and_grads

    def slow(self, *a, **k):
        clock["now"] += 200.0
        return real(self, *a, **k)
    monkeypatch.setattr(CharRNN, "loss_and_grads", slow)
    assert config.CHECKPOINT_MINUTES == 10
    loop.train(Config(**dict(TINY, eval_every=0), checkpoint_every=1000, iterations=10), ix, chars,
                       tmp_path / "r", quiet=True, clock=lambda: clock["now"])
    assert saves == [3, 6, 9, 10]


def test_latest_names_the_newest_run(capsys, tmp_path, text):
    runs = tmp_path / "runs"
    for name in ("a", "b"):
        code, _, err = run(capsys, "train", text, "--out", runs / name, *FLAGS, "--iterations", "2", "--quiet")
        assert code == 0, err
    assert os.readlink(runs / "latest") == "b"  # relative: the folder of runs can move
    code, out, err = run(capsys, "sample", runs / "latest", "--length", "5")
    assert code == 0 and err == f"minrnn: reading {runs / 'latest' / 'best.npz'} (the best validation loss)\n"
    code, _, err = run(capsys, "train", "--resume", runs / "a", "--iterations", "3", "--quiet")
    assert code == 0, err
    assert os.readlink(runs / "latest") == "a"  # the run most recently trained


def test_latest_is_a_file_where_links_cannot_be_made(capsys, tmp_path, text, monkeypatch):
    def no_links(*a, **k):
        raise OSError(1, "Operation not permitted")
    monkeypatch.setattr(os, "symlink", no_links)
    runs = tmp_path / "runs"
    code, _, err = run(capsys, "train", text, "--out", runs / "a", *FLAGS, "--iterations", "2", "--quiet")
    assert code == 0, err
    assert (runs / "latest").read_text() == "a\n" and not (runs / "latest").is_symlink()
    code, out, err = run(capsys, "sample", runs / "latest", "--length", "5")
    assert code == 0 and err == f"minrnn: reading {runs / 'a' / 'best.npz'} (the best validation loss)\n"
    code, out, err = run(capsys, "eval", runs / "latest", text)
    assert code == 0 and "nats/char" in out
    code, _, err = run(capsys, "train", "--resume", runs / "latest", "--iterations", "3", "--quiet")
    assert code == 0, err
    assert checkpoint.load(runs / "a" / "latest.npz", names=())[1]["iteration"] == 3


def test_latest_of_the_user_is_left_alone(capsys, tmp_path, text):
    (tmp_path / "runs" / "latest").mkdir(parents=True)
    code, _, err = run(capsys, "train", text, "--out", tmp_path / "runs" / "a", *FLAGS, "--iterations", "2", "--quiet")
    assert code == 0, err
    assert (tmp_path / "runs" / "latest").is_dir() and not (tmp_path / "runs" / "latest").is_symlink()


def test_a_folder_of_runs_names_them(capsys, tmp_path, text):
    runs = tmp_path / "runs"
    for name in ("first", "second"):
        code, _, err = run(capsys, "train", text, "--out", runs / name, *FLAGS, "--iterations", "2", "--quiet")
        assert code == 0, err
    os.utime(runs / "first" / "latest.npz", (2e9, 2e9))  # first is now the most recently written
    expected = (f"minrnn: error: {runs}: a folder of runs, not a run; name one, newest first: {runs / 'latest'} "
                f"(= second), {runs / 'first'}, {runs / 'second'}\n")
    for argv in (["sample", runs], ["eval", runs, text], ["train", "--resume", runs]):
        code, out, err = run(capsys, *argv)
        assert (code, out, err) == (2, "", expected), argv


def test_sample_and_eval_read_best_then_latest(capsys, tmp_path, text):
    out = tmp_path / "r"
    code, _, err = run(capsys, "train", text, "--out", out, *FLAGS, "--iterations", "4", "--eval-every", "2", "--quiet")
    assert code == 0, err
    code, best, err = run(capsys, "eval", out, text)
    assert err == f"minrnn: reading {out / 'best.npz'} (the best validation loss)\n"
    assert best == run(capsys, "eval", out / "best.npz", text)[1]
    (out / "best.npz").unlink()
    code, latest, err = run(capsys, "eval", out, text)
    assert err == f"minrnn: reading {out / 'latest.npz'} (the last checkpoint; no best.npz)\n"
    assert code == 0 and latest == run(capsys, "eval", out / "latest.npz", text)[1]
    code, _, err = run(capsys, "sample", out, "--prime", "Z")  # an error stays the only line
    assert_one_line_error(code, err, "--prime")
    assert len(err.splitlines()) == 1


def test_resume_reads_latest_not_best(capsys, tmp_path, text):
    out = tmp_path / "r"
    code, _, err = run(capsys, "train", text, "--out", out, *FLAGS, "--iterations", "4", "--eval-every", "2", "--quiet")
    assert code == 0, err
    shutil.copy(text, out / "best.npz")  # whatever best.npz holds, --resume does not read it
    code, _, err = run(capsys, "train", "--resume", out, "--iterations", "6", "--quiet")
    assert code == 0, err
    assert checkpoint.load(out / "latest.npz", names=())[1]["iteration"] == 6
