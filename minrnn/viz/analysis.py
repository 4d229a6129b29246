"""What the neuron page shows that needs the whole text at once, computed with NumPy: simple
features of the text, every unit scored against every feature, gate saturation, and a character
n-gram baseline to compare the model with. The page itself runs the model (minrnn/viz/model.js)
for the activations and predictions it draws; it carries the model's weights for that.

Only `model.trace`, `model.config` and `model.params` are read from the model, and the page's
nats/char is evaluate.loss_per_char's (what `minrnn eval` prints); everything else works on
arrays. page.py assembles the page from what this computes.
"""
import base64
import dataclasses
import math

import numpy as np
from threadpoolctl import threadpool_limits

from ..cells import CELLS
from ..evaluate import loss_per_char
from ..layers import softmax

# The per-unit time series each cell exposes (cells.py), and which of them are sigmoid gates, in
# [0, 1] (the rest are tanh, in [-1, 1]).
SIGNALS = {name: cell.signals for name, cell in CELLS.items()}
GATES = {name: cell.sigmoid_gates for name, cell in CELLS.items()}
SATURATED = (0.1, 0.9)  # Karpathy, Johnson & Fei-Fei (2015): a gate below 0.1 is shut, above 0.9 open
TOP_K = 5  # next-character predictions the page shows per position
NGRAM_ORDER = 3  # characters of context
# add-k smoothing. Measured on held-out tenths, nats/char for k = 0.01, 0.05, 0.2, 0.5:
# tinyshakespeare 1.796, 1.777 (its best), 1.806, 1.870; the built-in Python corpus 0.804 (its
# best), 0.832, 0.905, 1.001. 0.05 is near the best of both.
NGRAM_K = 0.05
LEADERBOARD_ROWS = 30  # units kept per feature and per score on the page


# --- features of the text -----------------------------------------------------------------------

@dataclasses.dataclass
class Feature:
    name: str
    label: str
    values: np.ndarray  # float64 (T,): what correlation compares with
    binary: np.ndarray | None  # bool (T,): what AUC separates; None: correlation only
    about: str  # its definition, shown on the page


def _is_word(ch):
    return ch.isalnum() or ch == "_"


def text_features(text):
    """Simple properties of every character of a text, each a function of the text up to and
    including that character (what a unit that has just read it could know)."""
    T = len(text)
    quote, depth, column, after_newline, word, indent, comment = (np.zeros(T) for _ in range(7))
    delim = None  # the quote character of the open string, if any
    escaped = in_comment = False
    d = col = ind = 0
    leading = True  # still in the line's leading whitespace
    for t, ch in enumerate(text):
        column[t] = col
        after_newline[t] = t > 0 and text[t - 1] == "\n"
        word[t] = _is_word(ch)
        if leading and ch in " \t":
            ind += 1
        elif ch != "\n":
            leading = False
        indent[t] = ind
        if delim:  # inside a string; the closing quote itself is outside it
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == delim or (ch == "\n" and delim == "'"):  # '...' strings end with their line
                delim = None
            inside = delim is not None
        else:
            inside = False  # an opening quote is outside its string too
            if in_comment:
                in_comment = ch != "\n"
            elif ch == "#":
                in_comment = True
            elif ch == '"' or (ch == "'" and not (t > 0 and _is_word(text[t - 1]))):  # not an apostrophe
                delim = ch
            elif ch in "([{":  # brackets of the code or the prose, not of strings and comments
                d += 1
            elif ch in ")]}":
                d = max(d - 1, 0)
        quote[t] = inside
        comment[t] = in_comment
        depth[t] = d
        if ch == "\n":
            col = ind = 0
            leading = True
        else:
            col += 1
    return [
        Feature("quotes", "inside quotes", quote, quote > 0,
                "between a pair of \" or ' (the quote marks themselves not); a ' right after a letter "
                "is an apostrophe; '...' ends with its line; backslash escapes"),
        Feature("brackets", "bracket depth", depth, depth > 0,
                "( [ { opened and not yet closed, outside quotes and comments; AUC: depth >= 1"),
        Feature("column", "position in line", column, None,
                "characters since the last newline; correlation only (no natural cut for AUC)"),
        Feature("newline", "just after a newline", after_newline, after_newline > 0,
                "the first character of a line"),
        Feature("word", "inside a word", word, word > 0, "a letter, digit or underscore"),
        Feature("indent", "indentation depth", indent, indent > 0,
                "spaces and tabs leading the line, so far (each counts one); AUC: indented (>= 1)"),
        Feature("comment", "inside a comment", comment, comment > 0, "from a # outside quotes to the line's end"),
    ]


# --- scores -------------------------------------------------------------------------------------

def _constant(x, axis=0):
    """Columns too flat for a correlation to mean anything (a unit stuck at +-1, a feature that
    never changes in this text)."""
    return np.ptp(x, axis=axis) <= 1e-9


def correlations(acts, feats):
    """Pearson correlation of every unit (columns of acts, (T, H)) with every feature (columns
    of feats, (T, F)): (F, H), NaN where either side is constant."""
    a = acts - acts.mean(axis=0)
    f = feats - feats.mean(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (f.T @ a) / np.outer(np.linalg.norm(f, axis=0), np.linalg.norm(a, axis=0))
    r[_constant(feats)] = np.nan
    r[:, _constant(acts)] = np.nan
    return np.clip(r, -1.0, 1.0)


def _ranks(a):
    """Ranks (1..T) along each row of a (U, T), ties sharing their average rank. Rows, not
    columns: sorting contiguous rows is 1.5x faster; and an unstable sort is 3x faster than a
    stable one, with no effect here, since tied values share one rank anyway."""
    T = a.shape[1]
    order = np.argsort(a, axis=1)
    s = np.take_along_axis(a, order, axis=1)
    idx = np.arange(T)
    first = np.ones(s.shape, bool)
    first[:, 1:] = s[:, 1:] != s[:, :-1]  # where a run of equal values starts
    last = np.ones(s.shape, bool)
    last[:, :-1] = first[:, 1:]
    start = np.maximum.accumulate(np.where(first, idx, 0), axis=1)
    end = np.minimum.accumulate(np.where(last, idx, T - 1)[:, ::-1], axis=1)[:, ::-1]
    ranks = np.empty(s.shape)
    np.put_along_axis(ranks, order, (start + end) / 2 + 1, axis=1)
    return ranks


def aucs(acts, positive, block=64):
    """Single-unit AUC of every unit (columns of acts, (T, H)) for every binary feature (columns
    of positive, (T, F)): (F, H), the chance that the unit is higher at a random position where
    the feature holds than at one where it does not, ties counting half (Mann-Whitney U).
    0.5 = no separation; 0 or 1 = perfect. NaN where a feature is all one value."""
    P = positive.sum(axis=0).astype(np.float64)
    N = positive.shape[0] - P
    out = np.empty((positive.shape[1], acts.shape[1]))
    pos = positive.astype(np.float64)
    for j in range(0, acts.shape[1], block):  # in blocks: the ranks are block x T arrays
        out[:, j:j + block] = (_ranks(np.ascontiguousarray(acts[:, j:j + block].T)) @ pos).T
    with np.errstate(invalid="ignore", divide="ignore"):
        out = (out - (P * (P + 1) / 2)[:, None]) / (P * N)[:, None]
    out[(P == 0) | (N == 0)] = np.nan
    return out


@dataclasses.dataclass
class Scores:
    """Every unit's scores: corr and auc are (F, U) over the units listed in `units`, each
    (layer, signal, unit index); auc is NaN for correlation-only features."""
    features: list
    units: list
    corr: np.ndarray
    auc: np.ndarray


def score_units(layers_acts, features):
    """Every unit of every layer and signal scored against every feature."""
    feats = np.stack([f.values for f in features], axis=1)
    has_auc = [i for i, f in enumerate(features) if f.binary is not None]
    binary = np.stack([features[i].binary for i in has_auc], axis=1)
    units, corr, auc = [], [], []
    for li, signals in enumerate(layers_acts):
        for name, a in signals.items():
            a = np.asarray(a, np.float64)
            units += [(li, name, u) for u in range(a.shape[1])]
            corr.append(correlations(a, feats))
            block = np.full((len(features), a.shape[1]), np.nan)
            block[has_auc] = aucs(a, binary)
            auc.append(block)
    return Scores(features, units, np.concatenate(corr, axis=1), np.concatenate(auc, axis=1))


def leaderboard(scores, feature, by="corr", n=LEADERBOARD_ROWS):
    """The n units that best track one feature, best first: by |correlation|, or by AUC in
    either direction (|AUC - 0.5|). Returns [(layer, signal, unit, corr, auc)]; units with no
    score (constant) are left out."""
    f = [x.name for x in scores.features].index(feature)
    key = np.abs(scores.corr[f]) if by == "corr" else np.abs(scores.auc[f] - 0.5)
    scored = ~np.isnan(key) & ~np.isnan(scores.corr[f])  # a constant unit has no correlation
    order = [i for i in np.argsort(-key, kind="stable") if scored[i]][:n]
    return [(*scores.units[i], float(scores.corr[f, i]), float(scores.auc[f, i])) for i in order]


def saturation(layers_acts, cell):
    """Per layer, per gate: (share of time below 0.1, share above 0.9), each (H,)."""
    low, high = SATURATED
    return [{g: ((a[g] < low).mean(axis=0), (a[g] > high).mean(axis=0)) for g in GATES[cell]}
            for a in layers_acts]


# --- predictions and the n-gram baseline -------------------------------------------------------

def p_self(probs, ix):
    """p_self[t], the probability the model gave ix[t] before it came (NaN at t = 0: the model
    starts by reading ix[0])."""
    p = np.full(len(ix), np.nan)
    p[1:] = probs[np.arange(len(ix) - 1), ix[1:]]
    return p


def _codes(ix, n, V):
    """Every window of n consecutive indices as one integer (base V), window i starting at i."""
    ix = np.asarray(ix, np.int64)
    code = np.zeros(len(ix) - n + 1, np.int64)
    for i in range(n):
        code = code * V + ix[i:len(ix) - n + 1 + i]
    return code


def ngram_probs(train_ix, ix, V, order=NGRAM_ORDER, k=NGRAM_K):
    """p(ix[t] | the `order` characters before it), counted from train_ix with add-k
    smoothing: (count(context, char) + k) / (count(context) + k V). The first positions, with
    less context, use what they have. NaN at t = 0, which has none (as p_self's)."""
    ix = np.asarray(ix)
    p = np.full(len(ix), np.nan)
    for n in range(1, order + 1):
        # positions with exactly n characters before them; all the rest have the full order
        ts = np.arange(n, len(ix) if n == order else min(n + 1, len(ix)))
        if not len(ts):
            break
        if len(train_ix) > n:
            # one sort: codes of (context, next) pairs sorted are sorted by context too, so both
            # counts are ranges found by binary search, a context's pairs being [c V, c V + V)
            pairs = np.sort(_codes(train_ix, n + 1, V))
            q = _codes(ix, n + 1, V)[ts - n]
            within = lambda lo, hi: np.searchsorted(pairs, hi) - np.searchsorted(pairs, lo)
            joint, context = within(q, q + 1), within(q - q % V, q - q % V + V)
        else:  # a training text too short to hold one such window: nothing counted
            joint = context = 0
        p[ts] = (joint + k) / (context + k * V)
    return p


def mean_nats(p):
    """Mean -log p over the positions that have a prediction."""
    return float(-np.log(p[1:]).mean())


# --- the page's data ---------------------------------------------------------------------------

def page_bytes(T, n_layers, hidden):
    """About how large the page will be, in bytes, before it is computed. The page computes
    its signals and predictions from the weights it carries, so its size is the weights (an
    LSTM's four gate blocks per layer, the most any cell has, as float32 base64) and a few
    bytes per character (the text, the n-gram's probabilities), whatever signals it shows."""
    weights = n_layers * 4 * hidden * 2 * hidden
    return int(4 / 3 * 4 * weights + T * (1 + 4 / 3 * 4))


def _finite(x, digits=4):
    """A float for JSON (which has no NaN): rounded, or None."""
    return None if x is None or not math.isfinite(x) else round(float(x), digits)


def page_data(model, ix, chars, ngram_p, info, signals=None):
    """Everything the neuron page shows, as a JSON-ready dict whose large arrays are base64: the
    model's weights (the page runs the model, minrnn/viz/model.js, over this text and whatever
    its reader types), and what needs the whole text at once: unit scores, gate saturation, the
    n-gram's probabilities. ngram_p: the baseline's p for every ix[t] (ngram_probs); info:
    strings about the model and texts (checkpoint, text, ngram) shown as they are; signals: the
    ones the page offers and ranks (default all: six a unit for an LSTM). Gate saturation is
    computed from every gate either way."""
    with threadpool_limits(1):  # small products: on a busy machine a second BLAS thread only waits
        return _page_data(model, ix, chars, ngram_p, info, signals)


def _page_data(model, ix, chars, ngram_p, info, signals):
    b64 = lambda a: base64.b64encode(np.ascontiguousarray(a).tobytes()).decode("ascii")
    cell, n_layers, hidden = model.config.cell, model.config.layers, model.config.hidden
    signals = [name for name in SIGNALS[cell] if signals is None or name in signals]
    logits, layers_acts = model.trace(np.asarray(ix))
    probs = softmax(logits.astype(np.float64))
    p_rnn = p_self(probs, ix)
    text = "".join(chars[i] for i in ix)
    features = text_features(text)
    scores = score_units([{name: a[name] for name in signals} for a in layers_acts], features)
    rows = {}
    for fi, f in enumerate(features):
        for by in ("corr", "auc"):
            for layer, signal, unit, r, auc in leaderboard(scores, f.name, by):
                rows[(fi, layer, signal, unit)] = [fi, layer, signal, unit, _finite(r), _finite(auc)]
    board = sorted(rows.values(), key=lambda r: (r[0], -abs(r[4] or 0)))
    rnn_wins = p_rnn[1:] > ngram_p[1:]
    best = max(board, key=lambda r: abs(r[4] or 0), default=[0, 0, signals[0], 0])  # the page opens on it
    return {
        "info": info,
        "model": {"cell": cell, "layers": n_layers, "hidden": hidden, "vocab_size": len(chars),
                  "embedding": model.config.embedding},
        "text": text,
        "signals": [signals for _ in range(n_layers)],
        "gates": list(GATES[cell]),
        # the checkpoint's own values in its own dtype, little-endian: the page runs the model
        "weights": {name: {"shape": list(a.shape), "dtype": a.dtype.newbyteorder("<").str,
                           "data": b64(a.astype(a.dtype.newbyteorder("<")))} for name, a in model.params.items()},
        "top_k": TOP_K,
        "p_ngram": b64(ngram_p.astype("<f4")),
        "vocab": list(chars),
        "features": [{"name": f.name, "label": f.label, "about": f.about, "auc": f.binary is not None,
                      "constant": bool(_constant(f.values))} for f in features],
        "leaderboard": board,
        "saturation": [{g: [[_finite(x, 3) for x in lo], [_finite(x, 3) for x in hi]]
                        for g, (lo, hi) in s.items()} for s in saturation(layers_acts, cell)],
        "summary": {"rnn_nats": _finite(loss_per_char(model, ix)),  # `minrnn eval`'s figure for this text "ngram_nats": _finite(mean_nats(ngram_p)),
                    "rnn_wins": _finite(rnn_wins.mean(), 4), "ngram_order": NGRAM_ORDER, "ngram_k": NGRAM_K},
        "start": {"layer": best[1], "signal": best[2], "unit": best[3]},
    }
