"""The batched trainer, checkpoints, `sample` and `eval`."""
import dataclasses
import json
import math

import numpy as np
import pytest

from minrnn import checkpoint, data
from minrnn.model import CharRNN, ModelConfig
from minrnn.config import Config
from minrnn.evaluate import loss_per_char
from minrnn.loop import train
from support import assert_one_line_error, make_text, run

# a constant rate: these runs are resumed with a larger budget, which moves an annealed schedule
TINY = dict(hidden=16, seq_length=8, batch_size=4, eval_every=10, sample_every=0, lr=1e-2, lr_schedule="constant")


@pytest.fixture
def corpus():
    return data.encode(make_text(6000))


ONE_PLAIN_LAYER = dict(layers=1, embedding=0, dropout=0.0)  # what MODELS change
MODELS = [dict(cell="rnn"), dict(cell="lstm", layers=2), dict(cell="gru", layers=2, embedding=5)]


@pytest.mark.parametrize("kind", MODELS, ids=lambda k: "-".join(map(str, k.values())))
def test_batch_is_independent_streams(kind):
    """One call on B streams equals B calls on one stream each: losses and gradients add up."""
    rng = np.random.default_rng(0)
    model = CharRNN(ModelConfig(7, hidden=9, dtype="float64", **{**ONE_PLAIN_LAYER, **kind}), rng=rng, init_scale=0.3)
    x, y = rng.integers(7, size=(5, 3)), rng.integers(7, size=(5, 3))
    state0 = rng.standard_normal(model.config.state_shape(3))
    loss, grad, state = model.loss_and_grads(x, y, state0)
    grad, state = grad.copy(), state.copy()
    total, total_grad = 0.0, np.zeros_like(grad)
    for b in range(3):
        lb, gb, sb = model.loss_and_grads(x[:, b:b + 1], y[:, b:b + 1], state0[:, :, b:b + 1])
        total += lb
        total_grad += gb
        np.testing.assert_allclose(sb[:, :, 0], state[:, :, b], rtol=1e-12)
    assert loss == pytest.approx(total, rel=1e-12)
    np.testing.assert_allclose(grad, total_grad, rtol=1e-10, atol=1e-14)


def test_streams_layout():
    ix = np.arange(23)
    inputs, targets = data.streams(ix, 4)  # (23 - 1) // 4 = 5 characters per stream
    assert inputs.shape == (4, 5) and list(inputs[1]) == [5, 6, 7, 8, 9] and list(targets[1]) == [6, 7, 8, 9, 10]
    assert np.shares_memory(inputs, ix)  # views, not copies


def test_vocabulary_is_sorted_and_index_dtype_smallest(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text("\ufeffbca\r\nab\u00e9", encoding="utf-8")  # a BOM, Windows line ending, non-ASCII
    ix, chars = data.read_corpus(path)
    assert chars == sorted(chars) == ["\n", "\r", "a", "b", "c", "\u00e9"]
    assert ix.dtype == np.uint8 and data.decode(ix, chars) == "bca\r\nab\u00e9"
    assert data.index_dtype(300) == np.uint16


def test_training_learns_and_writes_its_folder(tmp_path, corpus):
    ix, chars = corpus
    result = train(Config(**TINY, iterations=60), ix, chars, tmp_path / "run", quiet=True)
    assert result["iteration"] == 60
    assert {p.name for p in (tmp_path / "run").iterdir()} >= {"latest.npz", "best.npz", "log.csv", "config.json"}
    rows = (tmp_path / "run" / "log.csv").read_text().splitlines()
    assert rows[0] == "iteration,elapsed_s,train_loss,val_loss,lr,chars_per_s" and len(rows) == 7
    first_val, last_val = float(rows[1].split(",")[3]), float(rows[-1].split(",")[3])
    assert last_val < first_val < math.log(len(chars)) + 0.1
    assert json.loads((tmp_path / "run" / "config.json").read_text())["hidden"] == 16


@pytest.mark.parametrize("optimizer, extra", [("adam", {}), ("rmsprop", {}), ("adagrad", {"clip_mode": "value"}),
                                              ("sgd", {"momentum": 0.9, "lr_schedule": "step", "lr_decay_every": 15})])
def test_resume_is_bit_identical(tmp_path, corpus, optimizer, extra):
    ix, chars = corpus
    cfg = Config(**dict(TINY, optimizer=optimizer, **extra))
    whole = train(dataclasses.replace(cfg, iterations=40), ix, chars, tmp_path / "a", quiet=True)["params"]
    train(dataclasses.replace(cfg, iterations=20), ix, chars, tmp_path / "b", quiet=True)
    resumed = train(dataclasses.replace(cfg, iterations=40), ix, chars, tmp_path / "b", resume=True, quiet=True)["params"]
    for name in whole:
        assert np.array_equal(whole[name], resumed[name]), name


def test_resume_across_an_epoch_boundary(tmp_path, corpus):
    ix, chars = corpus  # 6000 chars, 90% train, 4 streams of 8: 168 iterations an epoch
    cfg = Config(**dict(TINY, eval_every=50))
    whole = train(dataclasses.replace(cfg, iterations=200), ix, chars, tmp_path / "a", quiet=True)["params"]
    train(dataclasses.replace(cfg, iterations=150), ix, chars, tmp_path / "b", quiet=True)
    resumed = train(dataclasses.replace(cfg, iterations=200), ix, chars, tmp_path / "b", resume=True, quiet=True)["params"]
    assert all(np.array_equal(whole[n], resumed[n]) for n in whole)


def test_checkpoint_round_trip(tmp_path):
    arrays = {"Wxh": np.arange(6, dtype=np.float32).reshape(2, 3), "h": np.zeros((1, 2))}
    meta = {"vocab": ["a", "\u00e9"], "iteration": 7}
    checkpoint.save(tmp_path / "c.npz", arrays, meta)
    loaded, loaded_meta = checkpoint.load(tmp_path / "c.npz")
    assert loaded_meta == dict(meta, format_version=checkpoint.FORMAT_VERSION)
    assert all(np.array_equal(loaded[k], arrays[k]) and loaded[k].dtype == arrays[k].dtype for k in arrays)
    assert not list(tmp_path.glob(".*.tmp"))


def test_pickled_and_object_checkpoints_are_refused(tmp_path):
    marker = tmp_path / "ran"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    np.savez(tmp_path / "obj.npz", __meta__=np.array([Evil()], dtype=object))
    with pytest.raises(data.MinrnnError, match="pickled"):
        checkpoint.load(tmp_path / "obj.npz")
    import pickle
    (tmp_path / "p.npz").write_bytes(pickle.dumps(Evil()))
    with pytest.raises(data.MinrnnError, match="pickled|not a minrnn checkpoint"):
        checkpoint.load(tmp_path / "p.npz")
    assert not marker.exists()


@pytest.fixture
def trained(tmp_path, corpus):
    ix, chars = corpus
    train(Config(**TINY, iterations=30), ix, chars, tmp_path / "run", quiet=True)
    return tmp_path / "run"


def test_sample_prints_text_alone(capsys, trained):
    code, out, err = run(capsys, "sample", trained / "best.npz", "--length", "50", "--prime", "the ", "--seed", "3")
    assert code == 0 and err == "" and out.startswith("the ") and len(out) == 4 + 50 + 1
    again = run(capsys, "sample", trained, "--length", "50", "--prime", "the ", "--seed", "3")
    assert again[1] == out  # the seed fixes the text; a run folder means its best.npz ...
    assert again[2] == f"minrnn: reading {trained / 'best.npz'} (the best validation loss)\n"  # ... and says so
    greedy = [run(capsys, "sample", trained, "--greedy", "--prime", "t", "--seed", str(s), "--length", "20")[1]
              for s in (1, 2)]
    assert greedy[0] == greedy[1]  # greedy ignores the seed
    code, out, _ = run(capsys, "sample", trained, "--top-k", "1", "--prime", "t", "--length", "20")
    assert code == 0 and out == greedy[0]  # top-k 1 is greedy


def test_sample_errors(capsys, trained, tmp_path):
    code, _, err = run(capsys, "sample", trained, "--prime", "the ZEBRA")
    assert_one_line_error(code, err, "outside the model's vocabulary", "'A'", "'B'", "'Z'")
    code, _, err = run(capsys, "sample", trained, "--temperature", "-0.5")
    assert code == 2 and "--temperature" in err and "Traceback" not in err
    code, _, err = run(capsys, "sample", tmp_path / "nothing")
    assert_one_line_error(code, err, "no such checkpoint")
    (tmp_path / "empty").mkdir()
    code, _, err = run(capsys, "sample", tmp_path / "empty")
    assert_one_line_error(code, err, "no checkpoint in this folder")


def test_eval(capsys, trained, tmp_path):
    good = tmp_path / "good.txt"
    good.write_text(make_text(3000, seed=5))
    code, out, _ = run(capsys, "eval", trained, good)
    nats = float(out.split("loss ")[1].split()[0])
    assert code == 0 and "bits/char" in out and "perplexity" in out and 0 < nats < 4
    bad = tmp_path / "bad.txt"
    bad.write_text(make_text(3000, seed=5) + "XYZ!")
    code, _, err = run(capsys, "eval", trained, bad)
    assert_one_line_error(code, err, "4 characters ('!' 1, 'X' 1, 'Y' 1, 'Z' 1) outside", "--skip-unknown")
    code, out, _ = run(capsys, "eval", trained, bad, "--skip-unknown")
    assert code == 0 and float(out.split("loss ")[1].split()[0]) == pytest.approx(nats, rel=1e-6)


def test_train_cli_builtin_corpus_sample_and_resume(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no input.txt here: the built-in corpus
    args = ["train", "--hidden", "8", "--batch-size", "2", "--seq-length", "8", "--iterations", "3",
            "--eval-every", "0", "--val-frac", "0.01", "--out", "r"]
    code, _, err = run(capsys, *args)
    assert code == 0, err
    assert "stdlib" in err and "characters" in err and "r/latest.npz" in err
    code, _, err = run(capsys, *args)
    assert_one_line_error(code, err, "already holds a run", "--resume")
    code, _, err = run(capsys, "train", "--resume", "r", "--iterations", "5", "--hidden", "9")
    assert_one_line_error(code, err, "--hidden")
    code, _, err = run(capsys, "train", "--resume", "r", "--iterations", "5", "--quiet")
    assert code == 0 and err == ""
    assert checkpoint.load("r/latest.npz")[1]["iteration"] == 5


def test_init_from_checks_vocabulary(capsys, trained, tmp_path):
    fits = tmp_path / "fits.txt"
    fits.write_text(make_text(4000, seed=9))
    code, _, err = run(capsys, "train", fits, "--init-from", trained / "best.npz", "--iterations", "2",
                       "--batch-size", "2", "--seq-length", "8", "--out", tmp_path / "ft", "--quiet")
    assert code == 0, err
    alien = tmp_path / "alien.txt"
    alien.write_text(make_text(4000, seed=9) + "QQ")
    code, _, err = run(capsys, "train", alien, "--init-from", trained, "--out", tmp_path / "ft2")
    assert_one_line_error(code, err, "2 characters ('Q' 2) outside the model's vocabulary", "--skip-unknown")


def test_evaluate_covers_the_whole_split(corpus):
    ix, chars = corpus
    model = CharRNN(ModelConfig(len(chars), hidden=8, dtype="float64", cell="rnn", **ONE_PLAIN_LAYER))  # zero weights: uniform predictions
    assert loss_per_char(model, ix[:3001]) == pytest.approx(math.log(len(chars)))


def test_too_short_for_a_batch_says_what_fits(capsys, tmp_path):
    path = tmp_path / "t.txt"
    path.write_text(make_text(400))
    code, _, err = run(capsys, "train", path, "--batch-size", "64", "--seq-length", "16", "--out", tmp_path / "o")
    assert_one_line_error(code, err, "too short for --batch-size 64", "at most --batch-size 22")


def test_min_char_rnn_settings_are_not_mistaken_for_divergence(tmp_path):
    """Adagrad at 0.1 from 0.01-scale weights spikes the loss to ~3.6x for a few iterations."""
    ix, chars = data.encode(make_text(20_000, seed=2))
    cfg = Config(hidden=100, seq_length=25, batch_size=1, optimizer="adagrad", lr=0.1, clip_mode="value",
                 dtype="float64", init_scale=0.01, eval_every=0, sample_every=0)
    assert train(dataclasses.replace(cfg, iterations=300), ix, chars, tmp_path / "r", quiet=True)["iteration"] == 300


@pytest.mark.parametrize("kind", MODELS, ids=lambda k: "-".join(map(str, k.values())))
def test_generate_follows_the_model_forward(kind):
    """Generation (model.Stepper: one cell step per layer, products folded into tables) must
    give the chunked forward's states and greedy picks for the same characters."""
    from minrnn.sample import generate
    rng = np.random.default_rng(4)
    model = CharRNN(ModelConfig(11, hidden=13, dtype="float64", **{**ONE_PLAIN_LAYER, **kind}), rng=rng, init_scale=0.5)
    state0 = rng.standard_normal(model.config.state_shape(1))
    picks, state = generate(model, rng, state0, 3, 6, greedy=True)
    inputs = np.concatenate([[3], picks[:-1]]).reshape(-1, 1)
    logits, forward_state, _ = model.forward(inputs, state0)
    assert list(logits.argmax(axis=1)) == list(picks)
    np.testing.assert_allclose(state, forward_state, rtol=1e-12)


def test_on_eval_reports_each_evaluation_after_its_checkpoint(tmp_path, corpus):
    ix, chars = corpus
    rows = []

    def seen(row):  # latest.npz already holds the iteration reported when `saved` says so
        rows.append((row, checkpoint.load(tmp_path / "run" / "latest.npz", names=())[1]["iteration"]))
    cfg = dataclasses.replace(Config(**TINY), iterations=25, eval_every=10)
    train(cfg, ix, chars, tmp_path / "run", quiet=True, on_eval=seen)
    assert [r["iteration"] for r, _ in rows] == [10, 20, 25]
    assert all(saved_it == r["iteration"] and r["saved"] for r, saved_it in rows)
    assert rows[-1][0]["best_val"] == min(r["val_loss"] for r, _ in rows)
