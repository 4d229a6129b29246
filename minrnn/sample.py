"""Generation: one small matrix-vector step per character, then a pick from the distribution."""
import numpy as np

from . import layers


def pick(logits, rng, temperature=1.0, top_k=0, greedy=False):
    """The next character's index from one row of logits (V,).

    Sampling draws one uniform number and inverts the cumulative distribution, which is what
    RandomState.choice(V, p=p) does; so a RandomState-seeded run makes min-char-rnn's picks."""
    best = logits.argmax()
    if greedy:
        return int(best)
    # Shifted by the max so that exp cannot overflow. At V ~ 100 every call is overhead: argmax
    # and ufunc.accumulate cost a fifth of .max() and half of np.cumsum.
    y = logits - logits[best]
    if temperature != 1.0:
        y /= temperature
    if 0 < top_k < len(y):
        kth = np.partition(y, -top_k)[-top_k]
        y[y < kth] = -np.inf
    # softmax's division is left out: dividing the cumulative sum by its last entry normalises
    cdf = np.add.accumulate(np.exp(y, out=y), out=y)
    cdf /= cdf[-1]
    return int(cdf.searchsorted(rng.random(), side="right"))


def generate(model, rng, h, seed_ix, n, temperature=1.0, top_k=0, greedy=False):
    """min-char-rnn's sample(h, seed_ix, n): feed seed_ix, pick the next character, feed that,
    n times. h is (1, H). Returns the n indices and the final state.

    Each character is CharRNN's forward for one step (lookup, rnn, affine), written out for a
    single vector so that it costs a few small NumPy calls (~8 us at H=100) instead of a trip
    through the batched layers (~30 us); tests/test_train.py checks the two agree."""
    p = model.params
    # the transposed copies make each step's products row-vector-times-contiguous-matrix,
    # the fastest form (layers.py)
    x_of = layers.lookup_table(p["Wxh"], p["bh"])
    WhhT, WhyT, by = np.ascontiguousarray(p["Whh"].T), np.ascontiguousarray(p["Why"].T), p["by"]
    h = np.array(h, model.dtype).reshape(-1)  # a copy: the caller's state is left alone
    hraw, logits = np.empty_like(h), np.empty(len(by), model.dtype)
    out = np.empty(n, np.int64)
    ix = seed_ix
    for i in range(n):
        h.dot(WhhT, out=hraw)
        hraw += x_of[ix]
        np.tanh(hraw, out=h)
        h.dot(WhyT, out=logits)
        logits += by
        ix = out[i] = pick(logits, rng, temperature, top_k, greedy)
    return out, h[None, :]


def prime(model, ixs, h):
    """Run the model over a priming text's indices; the state after all but the last, which
    the caller feeds to `generate` as its seed. The whole text goes through in one call."""
    if len(ixs) < 2:
        return h
    hs, _, _ = model.forward(np.asarray(ixs[:-1]).reshape(-1, 1), np.asarray(h, model.dtype))
    return hs[-1]
