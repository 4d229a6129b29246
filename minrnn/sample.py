"""Generation: one small matrix-vector step per character, then a pick from the distribution."""
import numpy as np

from .layers import softmax


def pick(logits, rng, temperature=1.0, top_k=0, greedy=False):
    """The next character's index from one row of logits (V,).

    Sampling draws one uniform number and inverts the cumulative distribution, which is what
    RandomState.choice(V, p=p) does; so a RandomState-seeded run makes min-char-rnn's picks."""
    if greedy:
        return int(np.argmax(logits))
    y = logits / temperature
    if 0 < top_k < len(y):
        kth = np.partition(y, -top_k)[-top_k]
        y = np.where(y >= kth, y, -np.inf)
    cdf = np.cumsum(softmax(y))
    cdf /= cdf[-1]
    return int(cdf.searchsorted(rng.random(), side="right"))


def generate(model, rng, h, seed_ix, n, temperature=1.0, top_k=0, greedy=False):
    """min-char-rnn's sample(h, seed_ix, n): feed seed_ix, pick the next character, feed that,
    n times. h is (1, H). Returns the n indices and the final state."""
    out = np.empty(n, np.int64)
    ix = np.array([seed_ix])
    for i in range(n):
        logits, h = model.step(ix, h)
        ix[0] = out[i] = pick(logits[0], rng, temperature, top_k, greedy)
    return out, h


def prime(model, ixs, h):
    """Run the model over a priming text's indices; the state after all but the last, which
    the caller feeds to `generate` as its seed."""
    for ix in ixs[:-1]:
        _, h = model.step(np.array([ix]), h)
    return h
