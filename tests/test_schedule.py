"""The learning rate over a run, by value: constant, step, cosine over iterations, epochs or
minutes, the warm-up; and a run resumed under a time budget continuing its schedule where it
stopped. Time is a fake clock that moves only when the model takes a training step, so that
every run here sees the same times on any machine."""
import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest

from minrnn import checkpoint, config, data, loop
from minrnn.config import Config
from minrnn.errors import in_words
from minrnn.model import CharRNN
from support import make_text

# every setting the recipe would decide given, so that no run here times its step (recipe.py)
TINY = dict(hidden=8, seq_length=8, batch_size=4, eval_every=3, sample_every=0, lr=0.01, dropout=0.0, average=0.0)


def cosine(lr, done, floor=0.01):
    return lr * (floor + (1 - floor) / 2 * (1 + math.cos(math.pi * done)))


def test_constant_and_step():
    lr = loop.learning_rate
    constant = Config(lr=0.1)
    assert lr(constant, 0, 0.0) == lr(constant, 500, 0.7) == 0.1
    step = Config(lr=0.1, lr_schedule="step", lr_decay_every=10, lr_decay=0.5)
    assert [lr(step, it, 0.0) for it in (0, 9, 10, 19, 25)] == [0.1, 0.1, 0.05, 0.05, 0.025]


def test_cosine_and_warmup():
    lr = loop.learning_rate
    cos = Config(lr=0.1, lr_schedule="cosine", iterations=100)
    # not given: cosine over a budget, constant without one
    assert Config(iterations=100).schedule() == "cosine" and Config().schedule() == "constant"
    assert [lr(cos, 0, used) for used in (0.0, 0.5, 1.0)] == pytest.approx([0.1, 0.0505, 0.001])
    # down to --lr-floor's share of the rate: a tenth, as before format 4
    tenth = dataclasses.replace(cos, lr_floor=0.1)
    assert [lr(tenth, 0, used) for used in (0.0, 0.5, 1.0)] == pytest.approx([0.1, 0.055, 0.01])
    warm = Config(lr=0.1, lr_schedule="constant", warmup=0.2, minutes=1)
    assert [lr(warm, 0, used) for used in (0.0, 0.1, 0.2, 0.9)] == pytest.approx([0.0, 0.05, 0.1, 0.1])
    both = Config(lr=0.1, lr_schedule="cosine", warmup=0.2, epochs=3)
    # the cosine runs over what the warm-up leaves: from 0.2 to 1
    assert [lr(both, 0, used) for used in (0.1, 0.2, 0.6, 1.0)] == pytest.approx([0.05, 0.1, 0.0505, 0.001])


def test_budget_used():
    used = loop.budget_used
    assert used(Config(iterations=100), 50, 25, 999.0) == 0.25
    assert used(Config(epochs=2), 50, 25, 999.0) == 0.25
    assert used(Config(minutes=2), 50, 25, 30.0) == 0.25
    assert used(Config(iterations=100, minutes=1), 50, 10, 30.0) == 0.5  # whichever is further along
    assert used(Config(), 50, 10**6, 10.0**6) == 0.0


class Clock:
    """Seconds that advance by `tick` with each training step the model takes."""

    def __init__(self, tick, start=0.0):
        self.now, self.tick, self.steps = start, tick, 0

    def __call__(self):
        return self.now


class Stop:
    """StopSignal's stand-in: asks the loop to stop once the clock has seen `after` steps."""

    def __init__(self, clock, after):
        self.clock, self.after = clock, after

    @property
    def requested(self):
        return self.clock.steps >= self.after

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        pass


@pytest.fixture
def lab(monkeypatch, tmp_path):
    """train() with a step clock, recording (iteration, budget used, rate) for every step."""
    ix, chars = data.encode(make_text(6000))
    state = {"clock": None, "record": []}
    real_step, real_rate, real_stop = CharRNN.loss_and_grads, loop.learning_rate, loop.StopSignal

    def step(self, *a, **k):
        clock = state["clock"]
        clock.now += clock.tick
        clock.steps += 1
        return real_step(self, *a, **k)

    def rate(cfg, iteration, used):
        lr = real_rate(cfg, iteration, used)
        state["record"].append((iteration, used, lr))
        return lr

    monkeypatch.setattr(CharRNN, "loss_and_grads", step)
    monkeypatch.setattr(loop, "learning_rate", rate)

    def go(cfg, out, tick=1.0, start=0.0, stop_after=None, resume=False):
        state["clock"], state["record"] = Clock(tick, start), []
        monkeypatch.setattr(loop, "StopSignal",
                            real_stop if stop_after is None else lambda: Stop(state["clock"], stop_after))
        result = loop.train(cfg, ix, chars, tmp_path / out, resume=resume, quiet=True, clock=state["clock"])
        return result, state["record"]
    return go


def test_cosine_by_iterations(lab):
    result, record = lab(Config(**TINY, lr_schedule="cosine", iterations=10), "r")
    assert result["iteration"] == 10
    assert [r[:2] for r in record] == [(i, i / 10) for i in range(10)]
    assert [r[2] for r in record] == pytest.approx([cosine(0.01, i / 10) for i in range(10)], rel=1e-12)


def test_cosine_by_epochs(lab):
    cfg = Config(**dict(TINY, batch_size=8, seq_length=16), lr_schedule="cosine", epochs=2)
    per_epoch = (5400 - 1) // 8 // 16  # 90% of 6000 characters for training, in 8 streams
    result, record = lab(cfg, "r")
    assert result["iteration"] == len(record) == 2 * per_epoch
    assert [r[2] for r in record] == pytest.approx([cosine(0.01, i / (2 * per_epoch)) for i in range(2 * per_epoch)],
                                                   rel=1e-12)


def test_cosine_and_warmup_by_minutes(lab):
    cfg = Config(**TINY, lr_schedule="cosine", warmup=0.2, minutes=1)
    result, record = lab(cfg, "r", tick=6.0)  # 10 steps fill the minute
    assert result["iteration"] == 10
    assert [r[1] for r in record] == pytest.approx([i / 10 for i in range(10)], rel=1e-12)
    expected = [0.01 * i / 2 for i in range(2)] + [cosine(0.01, (i / 10 - 0.2) / 0.8) for i in range(2, 10)]
    assert [r[2] for r in record] == pytest.approx(expected, rel=1e-12)


def test_a_resumed_time_budget_continues_the_schedule(lab):
    """Stopped after 7 of the 15 steps a minute holds at 4 s a step, then resumed on a clock that
    reads something else entirely: each resumed step sees the time, the share of the budget and
    the rate the uninterrupted run saw, and the run ends bit-identical."""
    cfg = Config(**dict(TINY, dropout=0.2), lr_schedule="cosine", warmup=0.2, minutes=1, layers=2)
    whole, whole_record = lab(cfg, "whole", tick=4.0)
    assert whole["iteration"] == len(whole_record) == 15
    first, _ = lab(cfg, "split", tick=4.0, start=100.0, stop_after=7)
    assert first["stopped_by"] == "interrupted" and first["iteration"] == 7
    assert checkpoint.load(Path(first["out"]) / "latest.npz", names=())[1]["elapsed_s"] == 28.0
    resumed, record = lab(cfg, "split", tick=4.0, start=5000.0, resume=True)
    assert record == whole_record[7:]
    a, b = (checkpoint.load(Path(done["out"]) / "latest.npz")[0] for done in (whole, resumed))
    assert all(np.array_equal(a[k], b[k]) for k in a)


def test_resume_with_another_budget_relays_the_schedule(lab):
    """--minutes is the run's total: resumed with 2 instead of 1 at 28 s, the schedule stands at
    28/120 of the budget, and the command line is told that the rate moves."""
    cfg = Config(**TINY, lr_schedule="cosine", minutes=1)
    lab(cfg, "r", tick=4.0, stop_after=7)
    longer, warnings = config.resumed(cfg, {"minutes": 2.0}, "r/latest.npz")
    assert longer.minutes == 2.0 and len(warnings) == 1 and "--minutes changed it" in in_words(warnings[0], "cli")
    result, record = lab(longer, "r", tick=4.0, resume=True)
    assert record[0] == (7, 28 / 120, cosine(0.01, 28 / 120))
    assert result["iteration"] == 30  # 120 s at 4 s a step
    assert config.resumed(dataclasses.replace(cfg, lr_schedule="constant"), {"minutes": 2.0}, "r")[1] == []
