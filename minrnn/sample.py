"""Generation: one small matrix-vector step per character, then a pick from the distribution;
and what `minrnn sample` and Model.sample take (OPTIONS)."""
import numpy as np
from threadpoolctl import threadpool_limits

from . import data, options
from .errors import MinrnnError, said
from .memory import check_fits
from .model import Generator
from .options import Option

GREEDY_BELOW = 1e-6  # smaller temperatures overflow the logits; sampling at them is argmax anyway
BYTES_PER_CHAR = 20  # what a generated character costs in memory: its index and its decoded text

OPTIONS = options.group(
    length=Option(int, 500, "characters to generate", above=0),
    prime=Option(str, "", "text to start from", shown="one random character"),
    temperature=Option(float, 1.0, "> 0: below 1 more conservative, above 1 more varied; below "
                       f"{GREEDY_BELOW:g} it is --greedy", above=0),
    top_k=Option(int, None, "sample among the k likeliest", above=0, unset="all", metavar="K"),
    greedy=Option(bool, False, "always take the likeliest character"),
    seed=Option(int, 0, "random seed", low=0),
)


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


def check_length(length, name="length"):
    """A length of generated text that fits in memory, refused before any work if not."""
    check_fits(BYTES_PER_CHAR * length, said(name, length))


def sampled(model, chars, a):
    """The indices of a.prime followed by a.length characters drawn from the model, as OPTIONS
    describe them (`a` holds their values, judged). Without a prime the first character is drawn
    at random. On one BLAS thread, so that the text never depends on the machine's cores."""
    unknown = sorted(set(a.prime) - set(chars))
    if unknown:
        raise MinrnnError(f"{said('prime')} has characters outside the model's vocabulary: "
                          + " ".join(map(repr, unknown)))
    check_length(a.length)
    lookup = {c: i for i, c in enumerate(chars)}
    rng = np.random.default_rng(a.seed)
    primed = [lookup[c] for c in a.prime] or [int(rng.integers(len(chars)))]
    greedy = a.greedy or a.temperature < GREEDY_BELOW
    # a huge temperature is uniform sampling: its overflow is fine
    with threadpool_limits(1), np.errstate(over="ignore", under="ignore"):
        state = prime(model, primed, model.zero_state())
        ixs, _ = generate(model, rng, state, primed[-1], a.length, a.temperature, a.top_k or 0, greedy)
    return np.concatenate([primed if a.prime else [], ixs]).astype(np.int64)


def sample_text(model, chars, a):
    """What `minrnn sample` prints and Model.sample returns: the prime and the sample, as text."""
    return data.decode(sampled(model, chars, a), chars)
