"""The neuron page's maths, checked by value: text features, unit scores, gate saturation, the
n-gram baseline, and a hand-built model whose quote-tracking unit must come out on top."""
import itertools

import numpy as np
import pytest

from minrnn import data
from minrnn.layers import softmax
from minrnn.viz import analysis
from viz_support import decode_page_arrays, make_model, quoted_text


def feature(text, name):
    return next(f for f in analysis.text_features(text) if f.name == name)


@pytest.mark.parametrize("text, name, expected", [
    ('say "hi" ok', "quotes", [0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0]),
    ('"a\\"b"', "quotes", [0, 1, 1, 1, 1, 0]),  # an escaped quote does not close
    ("it's 'x'", "quotes", [0, 0, 0, 0, 0, 0, 1, 0]),  # an apostrophe opens nothing
    ("'ab\ncd", "quotes", [0, 1, 1, 0, 0, 0]),  # '...' ends with its line
    ('"ab\ncd"e', "quotes", [0, 1, 1, 1, 1, 1, 0, 0]),  # "..." does not (docstrings, prose)
    ('a # "b"\nc', "quotes", [0] * 9),
    ('a # "b"\nc', "comment", [0, 0, 1, 1, 1, 1, 1, 0, 0]),
    ('"#"x', "comment", [0, 0, 0, 0]),
    ('f(a[b]) "(" (', "brackets", [0, 1, 1, 2, 2, 1, 0, 0, 0, 0, 0, 0, 1]),
    ("a)(", "brackets", [0, 0, 1]),  # never below zero
    ("ab\n  cd\n\tx", "column", [0, 1, 2, 0, 1, 2, 3, 4, 0, 1]),
    ("ab\n  cd\n\tx", "newline", [0, 0, 0, 1, 0, 0, 0, 0, 1, 0]),
    ("ab\n  cd\n\tx", "indent", [0, 0, 0, 1, 2, 2, 2, 2, 1, 1]),
    ("a_1 b-", "word", [1, 1, 1, 0, 1, 0]),
])
def test_features_by_value(text, name, expected):
    f = feature(text, name)
    assert f.values.tolist() == expected
    if f.binary is not None:
        assert f.binary.tolist() == [v > 0 for v in expected]


def test_graded_features_say_how_they_are_cut():
    by_name = {f.name: f for f in analysis.text_features("x")}
    assert by_name["column"].binary is None and "correlation only" in by_name["column"].about
    assert ">= 1" in by_name["brackets"].about and ">= 1" in by_name["indent"].about


def test_correlations_match_numpy_and_leave_constants_out():
    rng = np.random.default_rng(0)
    acts = rng.standard_normal((50, 4))
    acts[:, 3] = 0.7  # a unit stuck at one value
    feats = np.stack([acts[:, 0] * 2 + rng.standard_normal(50), np.ones(50), rng.random(50)], axis=1)
    r = analysis.correlations(acts, feats)
    for f, u in itertools.product((0, 2), range(3)):
        assert r[f, u] == pytest.approx(np.corrcoef(feats[:, f], acts[:, u])[0, 1], abs=1e-12)
    assert np.isnan(r[1]).all() and np.isnan(r[:, 3]).all()
    assert r[0, 0] > 0.8


def test_auc_equals_a_brute_force_pairwise_count():
    rng = np.random.default_rng(1)
    acts = np.round(rng.standard_normal((40, 5)), 1)  # rounded: plenty of ties
    acts[:, 4] = 0.0
    positive = rng.random((40, 2)) < 0.3
    positive[:, 1] = acts[:, 0] > 0.2  # one feature that unit 0 separates perfectly
    got = analysis.aucs(acts, positive, block=2)  # blocks smaller than H: the blocking is exercised
    for f, u in itertools.product(range(2), range(5)):
        p, n = acts[positive[:, f], u], acts[~positive[:, f], u]
        wins = (p[:, None] > n[None, :]).sum() + 0.5 * (p[:, None] == n[None, :]).sum()
        assert got[f, u] == pytest.approx(wins / (len(p) * len(n)), abs=1e-12)
    assert got[1, 0] == 1.0 and got[0, 4] == 0.5
    assert np.isnan(analysis.aucs(acts, np.zeros((40, 1), bool))).all()  # nothing to separate


def test_saturation_shares():
    gates = {g: np.full((4, 2), 0.5) for g in ("i", "f", "o")}
    gates["f"][:, 0] = [0.05, 0.5, 0.95, 0.99]
    (s,) = analysis.saturation([gates], "lstm")
    assert s["f"][0].tolist() == [0.25, 0.0] and s["f"][1].tolist() == [0.5, 0.0]
    assert set(s) == {"i", "f", "o"}
    assert analysis.saturation([{"h": np.zeros((4, 2))}], "rnn") == [{}]


def test_ngram_by_value():
    """Counted by hand: train "abcabd", k = 0.5, V = 4."""
    train, _ = data.encode("abcabd", list("abcd"))
    query, _ = data.encode("abca", list("abcd"))
    p = analysis.ngram_probs(train, query, 4, order=3, k=0.5)
    assert np.isnan(p[0])
    # "a" -> "b": a starts 2 contexts, both followed by b; "ab" -> "c": 1 of 2; "abc" -> "a": 1 of 1
    np.testing.assert_allclose(p[1:], [(2 + 0.5) / (2 + 2), (1 + 0.5) / (2 + 2), (1 + 0.5) / (1 + 2)])
    unseen, _ = data.encode("dd", list("abcd"))
    assert analysis.ngram_probs(train, unseen, 4, order=3, k=0.5)[1] == pytest.approx(1 / 4)


def test_ngram_is_a_distribution():
    """For any context, seen or not, full or short, p over the vocabulary sums to 1."""
    text = "the cat sat on the mat; the rat ate the hat"
    chars = sorted(set(text))
    train, _ = data.encode(text, chars)
    for context in ("the", "at ", "ooo", "e", "th"):
        total = sum(analysis.ngram_probs(train, data.encode(context + c, chars)[0], len(chars))[-1] for c in chars)
        assert total == pytest.approx(1.0)


def quote_model(chars, H=8, seed=0, G=20.0):
    """A vanilla RNN whose unit 0 is +1 exactly between double quotes (the quote marks
    excluded) and -1 elsewhere. A tanh unit adds its inputs, so it cannot flip on a quote by
    itself (parity is XOR); two units can, with a third that marks "no longer at the start":

        inside[t-1] = (s0 + s1) / 2 + s2      (0 or 1; 0 at the zero initial state)
        s0[t] = [inside[t-1] and no quote now]      s1[t] = [no inside[t-1] and a quote now]
        s2[t] = +1 from the first step on

    each as tanh(G * (a margin of 1/2 around the decision)). Units 3.. are random."""
    V, q = len(chars), chars.index('"')
    model = make_model(V, H)
    p = model.params
    rng = np.random.default_rng(seed)
    p["Wxh"][...] = rng.standard_normal((H, V))
    p["Whh"][...] = rng.standard_normal((H, H)) * 0.5
    p["Why"][...] = rng.standard_normal((V, H)) * 0.5
    p["Wxh"][:3] = p["Whh"][:3] = 0.0
    # s0 = tanh(G (inside - quote - 1/2)),  s1 = tanh(G (quote - inside - 1/2)),  s2 = tanh(G)
    p["Whh"][0, :3] = [G / 2, G / 2, G]
    p["Wxh"][0, q], p["bh"][0] = -G, -G / 2
    p["Whh"][1, :3] = [-G / 2, -G / 2, -G]
    p["Wxh"][1, q], p["bh"][1] = G, -G / 2
    p["bh"][2] = G
    return model


def test_a_quote_tracking_unit_ranks_first():
    text = quoted_text(3000)
    ix, chars = data.encode(text)
    model = quote_model(chars)
    _, acts = model.trace(ix)
    inside = feature(text, "quotes").values
    np.testing.assert_allclose(acts[0]["h"][:, 0], 2 * inside - 1, atol=1e-6)  # the construction works
    scores = analysis.score_units(acts, analysis.text_features(text))
    for by in ("corr", "auc"):
        board = analysis.leaderboard(scores, "quotes", by)
        assert board[0][:3] == (0, "h", 0), board[:3]
        assert board[0][3] > 0.999 and board[0][4] == 1.0
        assert all(row[2] != 2 for row in board)  # the constant unit has no score
        assert abs(board[1][3]) < 0.9  # and nothing else comes close


@pytest.mark.parametrize("cell, layers", [("rnn", 1), ("lstm", 2), ("gru", 2)])
def test_trace_probabilities_are_the_models(cell, layers):
    """The page's per-character probabilities are the model's: their mean -log p is the loss
    `minrnn eval` reports (train.evaluate at batch 1, any chunk length)."""
    from minrnn.evaluate import loss_per_char
    text = quoted_text(700, seed=3)
    ix, chars = data.encode(text)
    model = quote_model(chars, seed=4) if cell == "rnn" else make_model(len(chars), 8, cell, layers, seed=4)
    logits, acts = model.trace(ix)
    probs = softmax(logits.astype(np.float64))
    p_self = analysis.p_self(probs, ix)
    assert analysis.mean_nats(p_self) == pytest.approx(loss_per_char(model, ix), rel=1e-12)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    assert np.isnan(p_self[0]) and p_self[5] == probs[4, ix[5]]
    assert len(acts) == layers and all(set(a) == set(analysis.SIGNALS[cell]) for a in acts)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_traced_signals_are_the_cells(cell):
    """What the page colours by is what the cell computes: gates in [0, 1], the rest in [-1, 1],
    and for an LSTM h = o * tanh(c)."""
    ix, chars = data.encode(quoted_text(300))
    _, acts = make_model(len(chars), 8, cell, 2, seed=1).trace(ix)
    for a in acts:
        for name, x in a.items():
            assert x.shape == (300, 8)
            low = 0 if name in analysis.GATES[cell] else -1
            assert low <= x.min() and x.max() <= 1 and np.ptp(x) > 0.1, name
        if cell == "lstm":
            np.testing.assert_allclose(a["h"], a["o"] * a["tanh_c"], atol=1e-12)


def test_page_data_for_an_lstm_carries_its_weights_and_every_gate():
    text = quoted_text(400)
    ix, chars = data.encode(text)
    model = make_model(len(chars), 6, "lstm", 2, seed=0)
    ngram = analysis.ngram_probs(ix, ix, len(chars))
    page = analysis.page_data(model, ix, chars, ngram, {"checkpoint": "c", "text": "t", "ngram": "n"})
    arrays = decode_page_arrays(page)
    assert page["signals"] == [["h", "tanh_c", "i", "f", "o", "g"]] * 2
    for name, a in model.params.items():  # the model itself, to run in the page
        assert page["weights"][name]["shape"] == list(a.shape) and np.array_equal(arrays["weights"][name], a)
    assert page["gates"] == ["i", "f", "o"] and len(page["saturation"]) == 2
    assert len(page["saturation"][1]["o"][0]) == 6
    small = analysis.page_data(model, ix, chars, ngram, {}, signals=["h"])
    assert small["signals"] == [["h"]] * 2 and {r[2] for r in small["leaderboard"]} == {"h"}
    assert len(small["saturation"]) == 2  # saturation comes from every gate either way
