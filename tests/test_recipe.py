"""The recipe that reads the budget (issue 23): its decision as a pure function of the text's
length, the measured rate and the budget, at its edges; the decision saved and said; an explicit
setting always winning; the moving average of the weights (what it computes, what best.npz
holds, its checkpoint round trip and a bit-identical resume); old runs resuming as they were."""
import dataclasses
import itertools
import json
import math
import numpy as np
import pytest

from minrnn import checkpoint, config, data, loop, recipe
from minrnn.config import Config
from minrnn.evaluate import loss_per_char
from minrnn.model import CharRNN
from minrnn.optim import Adam, Averaged
from support import assert_one_line_error, make_text, run

SMALL = dict(cell="rnn", layers=1, hidden=8, batch_size=2, seq_length=8, sample_every=0)
FLAGS = ["--cell", "rnn", "--layers", "1", "--hidden", "8", "--batch-size", "2", "--seq-length", "8",
         "--sample-every", "0"]


def decide(per_epoch=100, rate=None, **settings):
    return recipe.decide(Config(**settings), per_epoch, rate)


def test_a_short_budget_gets_a_short_runs_settings():
    chosen, passes = decide(iterations=300)  # 3 passes of 100 iterations
    assert passes == 3 and chosen == {"dropout": 0.0, "lr": 4e-3, "average": 0.0}


def test_a_long_budget_gets_dropout_and_from_ten_passes_an_average():
    assert decide(epochs=6)[0] == {"dropout": 0.1, "lr": 3e-3, "average": 0.0}
    assert decide(epochs=recipe.AVERAGE_FROM)[0] == {"dropout": 0.1, "lr": 3e-3, "average": recipe.AVERAGE_SHARE}
    assert decide(iterations=599)[0]["dropout"] == 0.0  # 5.99 passes: still short


def test_a_tiny_text_and_a_huge_one():
    # 2 iterations a pass: a minute at 10 iterations a second is 300 passes
    chosen, passes = decide(per_epoch=2, rate=10.0, minutes=1)
    assert passes == 300 and chosen["average"] == recipe.AVERAGE_SHARE and chosen["dropout"] == 0.1
    # a text of a billion characters: an hour buys a small part of one pass
    chosen, passes = decide(per_epoch=10**9 // 2048, rate=12.0, minutes=60)
    assert passes < 0.1 and chosen == recipe.SHORT


def test_minutes_are_iterations_at_the_measured_rate_and_the_least_budget_counts():
    assert decide(per_epoch=500, rate=12.5, minutes=8)[1] == 8 * 60 * 12.5 / 500  # 12 passes
    assert decide(per_epoch=500, rate=12.5, minutes=8, iterations=1000)[1] == 2  # the iterations run out first
    assert decide(per_epoch=500, rate=12.5, minutes=8, epochs=3)[1] == 3


def test_no_budget_is_a_long_run_without_an_average():
    chosen, passes = decide()
    assert passes is None and chosen == {"dropout": 0.1, "lr": 3e-3}  # no average: a share of nothing


def test_what_is_given_wins():
    chosen, _ = decide(iterations=300, dropout=0.3, average=0.5)
    assert chosen == {"lr": 4e-3}
    assert decide(iterations=300, dropout=0.0, lr=1e-3, average=0.0)[0] == {}


def test_the_help_says_the_rule():
    assert recipe.says("dropout") == "the recipe's: 0 below 6 passes over the text, else 0.1"
    assert recipe.says("average") == "the recipe's: 0.33 from 10 passes over the text, else 0"


@pytest.fixture
def corpus():
    return data.encode(make_text(5000))


def test_a_minutes_run_measures_says_and_saves_what_it_decided(tmp_path, capsys):
    text = tmp_path / "t.txt"
    text.write_text(make_text(5000))
    code, out, err = run(capsys, "train", text, "--out", tmp_path / "r", *FLAGS, "--minutes", "0.01",
                         "--eval-every", "0")
    assert code == 0, err
    line = next(line for line in err.splitlines() if line.startswith("recipe: "))
    saved = json.loads((tmp_path / "r" / "config.json").read_text())
    # what the line says is what the run saved (which branch a small model takes depends on the
    # machine's speed, so none is asserted)
    assert "passes over the text at " in line and "iterations/s measured" in line
    assert line.endswith(f": dropout {saved['dropout']:.3g}, lr {saved['lr']:.3g}, average {saved['average']:.3g}")
    assert saved["lr_floor"] == 0.01
    # the run's own settings from now on: a resume neither measures nor decides again
    code, out, err = run(capsys, "train", "--resume", tmp_path / "r", "--minutes", "0.02", "--eval-every", "0")
    assert code == 0, err
    assert "recipe" not in err and json.loads((tmp_path / "r" / "config.json").read_text())["average"] == saved["average"]


def test_the_rate_is_measured_on_a_throwaway_model(tmp_path, corpus):
    """Timing the step draws nothing from the run's generators: a run whose recipe measured
    trains bit-identically to one given the same decision (on a clock that ticks per look)."""
    ix, chars = corpus
    cfg = Config(**SMALL, minutes=0.5, eval_every=5, dropout=0.2)
    loop.train(cfg, ix, chars, tmp_path / "measured", quiet=True, clock=itertools.count(0, 1.5).__next__)
    decided = checkpoint.read_meta(tmp_path / "measured" / "latest.npz")["config"]
    given = dataclasses.replace(cfg, lr=decided["lr"], average=decided["average"])
    loop.train(given, ix, chars, tmp_path / "given", quiet=True, clock=itertools.count(0, 1.5).__next__)
    a, b = (checkpoint.load(tmp_path / run / "latest.npz")[0] for run in ("measured", "given"))
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    inputs, targets, _ = loop.streams_for(cfg, ix)
    assert 0 < loop.measured_rate(dataclasses.replace(cfg, shards=1), len(chars), inputs, targets, 0.05) < math.inf


def test_the_decay_spans_the_share_of_the_budget():
    cfg = Config(iterations=300, average=1 / 3)
    assert loop.average_decay(cfg, 0, 0.0) == 0.0  # the average starts at the first step's weights
    assert loop.average_decay(cfg, 150, 0.5) == pytest.approx(1 - 1 / 100)
    timed = Config(minutes=1, average=0.5)  # 40 iterations in a fifth of the minute: 200 in all
    assert loop.average_decay(timed, 40, 0.2) == pytest.approx(1 - 1 / 100)


def test_the_average_is_an_exponential_moving_average_in_float64():
    theta = np.ones(4, np.float32)
    opt = Averaged(Adam(4, 0.1, dtype=np.float32), theta)
    seen = [theta.astype(np.float64)]
    expected = theta.astype(np.float64)
    for i, decay in enumerate((0.0, 0.5, 0.9, 0.9)):
        opt.decay = decay
        opt.step(theta, np.full(4, i - 1.5, np.float32))
        seen.append(theta.astype(np.float64))
        expected = decay * expected + (1 - decay) * seen[-1]
    assert opt.average.dtype == np.float64 and np.array_equal(opt.average, expected)
    assert set(opt.state()) == {"m", "v", "t", "average"}
    opt.lr = 0.5
    assert opt.optimizer.lr == 0.5


def test_best_keeps_the_better_of_the_weights_and_their_average(tmp_path, corpus):
    """One evaluation, at the end: it counts the lower of the raw weights' loss and the average's,
    and best.npz holds those weights; latest.npz the raw weights, which training goes on from."""
    ix, chars = corpus
    cfg = Config(**SMALL, iterations=30, eval_every=0, average=0.5, dropout=0.0, lr=1e-2)
    result = loop.train(cfg, ix, chars, tmp_path / "r", quiet=True)
    arrays, _ = checkpoint.load(tmp_path / "r" / "latest.npz")
    raw, _ = checkpoint.read_model(tmp_path / "r" / "latest.npz")
    best, _ = checkpoint.read_model(tmp_path / "r" / "best.npz")
    average = CharRNN(raw.config)
    average.theta[...] = arrays["opt.average"]
    _, val_ix = data.split(ix, cfg.val_frac)
    losses = {name: loss_per_char(m, val_ix) for name, m in (("raw", raw), ("average", average))}
    assert result["best_val"] == min(losses.values())
    kept = min(losses, key=losses.get)
    assert np.array_equal(best.theta, (raw if kept == "raw" else average).theta)
    assert not np.array_equal(raw.theta, average.theta)


def test_resume_with_an_average_is_bit_identical(tmp_path, corpus):
    ix, chars = corpus
    cfg = Config(**SMALL, iterations=24, eval_every=6, average=0.5, dropout=0.2)
    loop.train(cfg, ix, chars, tmp_path / "whole", quiet=True)

    def stop_at_12(row):  # as Ctrl-C in a notebook: the run saves and stops
        if row["iteration"] == 12:
            raise KeyboardInterrupt
    first = loop.train(cfg, ix, chars, tmp_path / "split", quiet=True, on_eval=stop_at_12)
    assert (first["iteration"], first["stopped_by"]) == (12, "interrupted")
    loop.train(cfg, ix, chars, tmp_path / "split", resume=True, quiet=True)
    for name in ("latest.npz", "best.npz"):
        a, b = (checkpoint.load(tmp_path / run / name)[0] for run in ("whole", "split"))
        assert a.keys() == b.keys() and "opt.average" in a and all(np.array_equal(a[k], b[k]) for k in a)
    rows = [(tmp_path / run / "log.csv").read_text().splitlines() for run in ("whole", "split")]
    assert [r.split(",")[3] for r in rows[0]] == [r.split(",")[3] for r in rows[1]]  # the same validation losses


def test_a_resumed_run_keeps_what_its_recipe_decided(tmp_path, corpus):
    """loop.train given a config that leaves the recipe's settings out, to resume: the run's own."""
    ix, chars = corpus
    cfg = Config(**SMALL, iterations=10)
    loop.train(cfg, ix, chars, tmp_path / "r", quiet=True)
    loop.train(dataclasses.replace(cfg, iterations=12), ix, chars, tmp_path / "r", resume=True, quiet=True)
    saved = checkpoint.read_meta(tmp_path / "r" / "latest.npz")["config"]
    assert (saved["dropout"], saved["lr"], saved["average"], saved["iterations"]) == (0.0, 4e-3, 0.0, 12)


def format_3(path, **config):
    """Rewrite a checkpoint as format 3 wrote it: no lr_floor or average among its settings (and
    `config`'s changes to them)."""
    arrays, meta = checkpoint.load(path)
    for name in ("lr_floor", "average"):
        del meta["config"][name]
    meta["config"].update(config)
    meta["format_version"] = 3
    blob = np.frombuffer(json.dumps(meta).encode(), np.uint8)
    with open(path, "wb") as f:
        np.savez(f, **{checkpoint.META_KEY: blob}, **arrays)


def test_a_run_from_before_the_recipe_resumes_with_its_own_settings(tmp_path, capsys):
    text = tmp_path / "t.txt"
    text.write_text(make_text(5000))
    code, _, err = run(capsys, "train", text, "--out", tmp_path / "r", *FLAGS, "--iterations", "6", "--quiet",
                       "--dropout", "0.1", "--lr", "3e-3", "--average", "0")
    assert code == 0, err
    format_3(tmp_path / "r" / "latest.npz")
    meta = checkpoint.read_meta(tmp_path / "r" / "latest.npz")
    assert (meta["config"]["lr_floor"], meta["config"]["average"]) == (0.1, 0.0)  # what those runs did
    code, out, err = run(capsys, "train", "--resume", tmp_path / "r", "--iterations", "8", "--eval-every", "0")
    assert code == 0, err
    assert "recipe" not in err
    saved = json.loads((tmp_path / "r" / "config.json").read_text())
    assert (saved["lr_floor"], saved["average"], saved["dropout"], saved["lr"]) == (0.1, 0.0, 0.1, 3e-3)


def test_a_run_without_a_budget_from_before_the_recipe_loads(tmp_path, corpus):
    """No budget, so no cosine and nothing to average: the upgrade adds neither (either would be
    a setting that applies only with a budget)."""
    ix, chars = corpus
    loop.train(Config(**SMALL, iterations=4, lr=3e-3, dropout=0.1, average=0.0), ix, chars, tmp_path / "r",
               quiet=True)
    format_3(tmp_path / "r" / "latest.npz", iterations=None)
    cfg = config_of(tmp_path / "r" / "latest.npz")
    assert (cfg.lr_floor, cfg.average, cfg.schedule()) == (0.01, None, "constant")


def config_of(path):
    return config.from_meta(checkpoint.read_meta(path), path)


@pytest.mark.parametrize("flags, message", [
    (["--average", "0.5"], "--average applies only as a share of a budget: give --iterations, --epochs or "
                           "--minutes, or leave it out"),
    (["--lr-floor", "0.1", "--iterations", "5", "--lr-schedule", "constant"],
     "--lr-floor applies only to --lr-schedule cosine: add it, or give --iterations, --epochs or --minutes, "
     "or leave it out"),
    (["--average", "1.5", "--iterations", "5"], "argument --average: 1.5 must be in [0, 1]"),
    (["--lr-floor", "1", "--iterations", "5"], "argument --lr-floor: 1 must be in [0, 1)"),
])
def test_refused_up_front(tmp_path, capsys, flags, message):
    text = tmp_path / "t.txt"
    text.write_text(make_text(2000))
    code, _, err = run(capsys, "train", text, "--out", tmp_path / "r", *FLAGS, *flags)
    if message.startswith("argument"):  # refused while parsing, by the option's range
        assert (code, err) == (2, f"minrnn train: error: {message} (see minrnn train --help)\n")
    else:
        assert_one_line_error(code, err, message)
