"""Generation: one small matrix-vector step per character, then a pick from the distribution."""
import numpy as np

from .model import Generator


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


def generate(model, rng, state, seed_ix, n, temperature=1.0, top_k=0, greedy=False):
    """min-char-rnn's sample(h, seed_ix, n): feed seed_ix, pick the next character, feed that,
    n times, one cell step per layer each (model.Generator). state is the model's state at
    batch 1 (model.zero_state()). Returns the n indices and the final state."""
    gen = Generator(model, state)
    out = np.empty(n, np.int64)
    ix = seed_ix
    for i in range(n):
        ix = out[i] = pick(gen.step(ix), rng, temperature, top_k, greedy)
    return out, gen.state()


def prime(model, ixs, state):
    """Run the model over a priming text's indices; the state after all but the last, which
    the caller feeds to `generate` as its seed. The whole text goes through in one call."""
    if len(ixs) < 2:
        return state
    _, state, _ = model.forward(np.asarray(ixs[:-1]).reshape(-1, 1), np.asarray(state, model.dtype))
    return state
