"""The sharded step (shards.py) changes nothing but the speed: its gradient is the unsharded
one, the threads never change a result, a resumed sharded run is bit-identical, the memory
check counts every shard's buffer, and a bad --shards gets one line."""
import dataclasses

import numpy as np
import pytest

from minrnn import data
from minrnn.config import Config
from minrnn.model import CharRNN, ModelConfig
from minrnn.shards import Shards, bounds
from minrnn.evaluate import loss_per_char
from minrnn.loop import train
from support import assert_one_line_error, make_text, run

V, H, T = 7, 6, 5
TOLERANCE = 1e-6
ONE_PLAIN_LAYER = dict(layers=1, embedding=0, dropout=0.0)  # what MODELS change
MODELS = {  # every cell; stacked; with an embedding; with dropout
    "rnn": dict(cell="rnn"),
    "lstm": dict(cell="lstm"),
    "gru": dict(cell="gru"),
    "rnn-3-layers": dict(cell="rnn", layers=3),
    "lstm-2-layers-embedding-dropout": dict(cell="lstm", layers=2, embedding=4, dropout=0.3),
    "gru-2-layers-embedding-dropout": dict(cell="gru", layers=2, embedding=3, dropout=0.5),
}
TINY = dict(hidden=16, seq_length=8, batch_size=6, eval_every=10, sample_every=0, lr=1e-2, lr_schedule="constant")


def rel_error(a, b):
    return np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b)))


def test_bounds_are_contiguous_and_cover_the_batch():
    assert bounds(7, 3) == [slice(0, 3), slice(3, 5), slice(5, 7)]
    assert bounds(4, 4) == [slice(k, k + 1) for k in range(4)]
    assert bounds(5, 1) == [slice(0, 5)]


@pytest.mark.parametrize("n_shards, threads", [(2, 1), (3, 2), (5, 2)])
@pytest.mark.parametrize("kind", sorted(MODELS))
def test_sharded_gradient_is_the_unsharded_one(kind, n_shards, threads):
    """float64: the shards' summed gradient, loss and carried state against one pass over the
    whole batch, with the same dropout masks and a random state entering the chunk (uneven
    shards included: 5 streams in 3)."""
    rng = np.random.default_rng(3)
    B = 5
    config = ModelConfig(V, hidden=H, dtype="float64", **{**ONE_PLAIN_LAYER, **MODELS[kind]})
    model = CharRNN(config, rng=rng, init_scale=0.5)
    inputs, targets = rng.integers(V, size=(T, B)), rng.integers(V, size=(T, B))
    state0 = rng.standard_normal(config.state_shape(B)) * 0.5
    masks = model.dropout_masks(np.random.default_rng(7), T, B)
    loss, grad, state = model.loss_and_grads(inputs, targets, state0, 0.5, masks)
    grad = grad.copy()
    with Shards(model, n_shards, threads) as shards:
        s_loss, s_grad, s_state = shards.loss_and_grads(inputs, targets, state0, 0.5, masks)
        e_loss, e_state = shards.loss(inputs, targets, state0)
    start = 0
    for name, param in model.params.items():  # per parameter, so that a failure names it
        part = slice(start, start + param.size)
        assert rel_error(s_grad[part], grad[part]) < TOLERANCE, name
        start += param.size
    assert s_loss == pytest.approx(loss, rel=1e-12)
    assert np.allclose(s_state, state, rtol=1e-12, atol=0)
    plain_loss, plain_state = model.loss(inputs, targets, state0)
    assert e_loss == pytest.approx(plain_loss, rel=1e-12) and np.allclose(e_state, plain_state, rtol=1e-12, atol=0)


@pytest.fixture(scope="module")
def corpus():
    return data.encode(make_text(8000, seed=5))


def trained(tmp_path, corpus, name, **settings):
    ix, chars = corpus
    cfg = Config(**{**TINY, **settings})
    result = train(cfg, ix, chars, tmp_path / name, quiet=True)
    return result["params"], (tmp_path / name / "log.csv").read_text().splitlines()


@pytest.mark.parametrize("kind", ["lstm-2-layers-embedding-dropout", "gru-2-layers-embedding-dropout"])
def test_threads_never_change_results(tmp_path, corpus, kind):
    """The same run on 1 thread and on 2: every parameter and every logged loss bit-identical,
    with uneven shards (6 streams in 4) and dropout."""
    model = {k: v for k, v in MODELS[kind].items()}
    one, log_one = trained(tmp_path, corpus, "one", iterations=25, shards=4, threads=1, **model)
    two, log_two = trained(tmp_path, corpus, "two", iterations=25, shards=4, threads=2, **model)
    assert all(np.array_equal(one[k], two[k]) for k in one)
    strip = lambda rows: [r.rsplit(",", 1)[0].split(",", 2)[::2] for r in rows]  # the time and speed differ
    assert strip(log_one) == strip(log_two)


@pytest.mark.parametrize("shards", [1, 3])
def test_threads_never_change_results_whatever_the_shards(tmp_path, corpus, shards):
    """The run that once differed on OpenBLAS's Haswell kernels (every AVX2-only CPU's): an LSTM
    2 x 48, 16 streams of 16, dropout 0.2, as one shard (what B < 32 gets by default) and as
    three, on 1 and 2 threads: every weight bit-identical. CI runs this file under the default,
    Haswell and Prescott kernels."""
    settings = dict(cell="lstm", layers=2, hidden=48, batch_size=16, seq_length=16, dropout=0.2, iterations=30,
                    shards=shards, eval_every=0)
    one, _ = trained(tmp_path, corpus, "one", threads=1, **settings)
    two, _ = trained(tmp_path, corpus, "two", threads=2, **settings)
    assert all(np.array_equal(one[k], two[k]) for k in one)


def test_shards_change_only_the_order_of_sums(tmp_path, corpus):
    """A run of 3 shards and one of 1 start alike (float64, so the order of sums is all that
    differs in a first step) and then stay close."""
    one, _ = trained(tmp_path, corpus, "s1", iterations=3, shards=1, dtype="float64")
    three, _ = trained(tmp_path, corpus, "s3", iterations=3, shards=3, dtype="float64")
    assert all(np.allclose(one[k], three[k], rtol=1e-9, atol=1e-12) for k in one)


def test_resume_with_shards_is_bit_identical(tmp_path, corpus):
    ix, chars = corpus
    cfg = Config(**TINY, cell="gru", layers=2, dropout=0.2, shards=3, threads=2)
    whole = train(dataclasses.replace(cfg, iterations=40), ix, chars, tmp_path / "a", quiet=True)["params"]
    train(dataclasses.replace(cfg, iterations=25), ix, chars, tmp_path / "b", quiet=True)
    resumed = train(dataclasses.replace(cfg, iterations=40, threads=1), ix, chars, tmp_path / "b", resume=True,
                    quiet=True)["params"]
    assert all(np.array_equal(whole[k], resumed[k]) for k in whole)


def test_validation_is_sharded_as_training_is(corpus):
    """evaluate over the run's shards: the same loss on 1 and 2 threads, bit for bit, and the
    unsharded loss up to the order of sums."""
    ix, chars = corpus
    model = CharRNN(ModelConfig(len(chars), "lstm", 8, 2, dropout=0.0), rng=np.random.default_rng(0))
    with Shards(model, 3, 1) as s1, Shards(model, 3, 2) as s2:
        a, b = loss_per_char(model, ix[:5000], s1), loss_per_char(model, ix[:5000], s2)
    assert a == b
    assert a == pytest.approx(loss_per_char(model, ix[:5000]), rel=1e-5)


def test_memory_check_counts_every_shard():
    config = ModelConfig(65, "gru", 32, 2, dropout=0.0)
    one, four = config.train_bytes(2, 32, 64, shards=1), config.train_bytes(2, 32, 64, shards=4)
    assert four - one == 3 * config.n_params() * 4


def test_the_run_saves_its_shards_and_resume_keeps_them(capsys, tmp_path, text_file):
    out = tmp_path / "run"
    code, _, err = run(capsys, "train", text_file, "--out", out, "--hidden", 8, "--layers", 1, "--batch-size", 32,
                       "--seq-length", 8, "--iterations", 3, "--quiet")
    assert code == 0, err
    assert '"shards": 2' in (out / "config.json").read_text()  # the default, 32 // 16, as a number
    code, _, err = run(capsys, "train", "--resume", out, "--shards", 4, "--iterations", 5)
    assert_one_line_error(code, err, "--shards (2 in the run)")
    code, _, err = run(capsys, "train", "--resume", out, "--shards", 2, "--iterations", 5, "--quiet")
    assert code == 0, err


@pytest.mark.parametrize("argv, words", [
    (["--shards", "0"], ["argument --shards: 0 must be > 0"]),
    (["--shards", "9", "--batch-size", "8"], ["--shards 9 is more than --batch-size 8"]),
    (["--shards", "x"], ["argument --shards: 'x' is not an int"]),
])
def test_bad_shards_get_one_line(capsys, text_file, tmp_path, argv, words):
    code, _, err = run(capsys, "train", text_file, "--out", tmp_path / "r", "--iterations", 1, *argv)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "error:" in err and "Traceback" not in err
    assert all(w in err for w in words), err


def test_eval_reads_the_run_s_shards_on_any_threads(capsys, tmp_path, corpus):
    """`minrnn eval` of the held-out text prints the run's own validation loss (same streams,
    same shards), and the same figure on 1 thread as on 2."""
    ix, chars = corpus
    cfg = Config(**{**TINY, "batch_size": 8}, shards=3, iterations=20, val_frac=0.25)
    train(cfg, ix, chars, tmp_path / "run", quiet=True)
    val = tmp_path / "val.txt"
    val.write_text(data.decode(data.split(ix, cfg.val_frac)[1], chars), encoding="utf-8")
    logged = float((tmp_path / "run" / "log.csv").read_text().splitlines()[-1].split(",")[3])
    printed = []
    for threads in (1, 2):
        code, out, err = run(capsys, "eval", tmp_path / "run" / "latest.npz", val, "--threads", threads)
        assert code == 0, err
        printed.append(out)
    assert printed[0] == printed[1]
    assert float(printed[0].split("loss ")[1].split()[0]) == pytest.approx(logged, abs=1e-4)
