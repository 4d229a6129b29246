"""Generation: one small matrix-vector step per character, then a pick from the distribution;
and what `minrnn sample` and Model.sample take (OPTIONS)."""
import numpy as np
from threadpoolctl import ThreadpoolController

from . import data, options
from .errors import MinrnnError, said
from .memory import check_fits
from .model import Stepper
from .options import Option

GREEDY_BELOW = 1e-6  # smaller temperatures overflow the logits; sampling at them is argmax anyway
BYTES_PER_CHAR = 20  # what a generated character costs in memory: its index and its decoded text
# the process's BLAS libraries, found once: threadpool_limits() reads /proc/self/maps at every call
# (about 0.3 ms, several times a small model's step)
_BLAS = ThreadpoolController()

OPTIONS = options.group(
    length=Option(int, 500, "characters to generate", above=0),
    prime=Option(str, "", "text to start from", shown="one random character"),
    temperature=Option(float, 1.0, "> 0: below 1 more conservative, above 1 more varied; below "
                       f"{GREEDY_BELOW:g} it is --greedy", above=0),
    top_k=Option(int, None, "sample among the k likeliest", above=0, unset="all", metavar="K"),
    greedy=Option(bool, False, "always take the likeliest character"),
    seed=Option(int, 0, "random seed", low=0),
)


def one_blas_thread():
    """The process's BLAS on one thread while in this context, so that no product's sum depends
    on the machine's cores."""
    return _BLAS.limit(limits=1)


def pick(logits, u, temperature=1.0, top_k=0, top_p=1.0, greedy=False):
    """The next character of each row of logits (N, V), given one uniform number u[i] in [0, 1)
    a row: greedy rows take the likeliest; the others invert the cumulative distribution of
    softmax(logits / temperature), over the top_k likeliest characters (0: all) and the smallest
    set of likeliest whose probability reaches top_p (1: all). Each setting is a number or one
    per row. Plain sampling is RandomState.choice(V, p=p)'s arithmetic, so that a
    RandomState-seeded run makes min-char-rnn's picks."""
    # shifted by the max, so that exp cannot overflow; the division by the sum is left to the
    # cumulative sum's last entry
    y = logits - logits.max(axis=1, keepdims=True)
    temperature = np.asarray(temperature, y.dtype).reshape(-1, 1)
    if (temperature != 1.0).any():
        y /= temperature
    p = np.exp(y, out=y)
    top_k, top_p = np.asarray(top_k).reshape(-1, 1), np.asarray(top_p, np.float64).reshape(-1, 1)
    if ((0 < top_k) & (top_k < p.shape[1])).any() or (top_p < 1).any():
        order = np.argsort(-p, axis=1, kind="stable")  # likeliest first; ties in vocabulary order
        ranked = np.take_along_axis(p, order, axis=1)
        keep = np.ones(p.shape, bool)
        if (top_k > 0).any():
            keep &= (np.arange(p.shape[1]) < np.where(top_k > 0, top_k, p.shape[1]))
        if (top_p < 1).any():  # a character is kept while the mass before it is short of top_p
            before = np.cumsum(ranked, axis=1, dtype=np.float64) - ranked
            keep &= before < top_p * ranked.sum(axis=1, keepdims=True, dtype=np.float64)
        np.put_along_axis(p, order, np.where(keep, ranked, 0), axis=1)
    cdf = np.cumsum(p, axis=1, out=p)
    cdf /= cdf[:, -1:]
    picks = (cdf <= np.asarray(u, cdf.dtype).reshape(-1, 1)).sum(axis=1)  # searchsorted(u, side="right")
    return np.where(greedy, logits.argmax(axis=1), picks)


def log_softmax(logits):
    """log softmax of each row of logits (N, V), in float64: the model's own log-probabilities of
    each row's next character (at temperature 1, whatever it is sampled at)."""
    y = logits.astype(np.float64)
    y -= y.max(axis=1, keepdims=True)
    return y - np.log(np.exp(y).sum(axis=1, keepdims=True))


def log_softmax_at(logits, ix):
    """log softmax(logits[i])[ix[i]] for each row: the log-probability of each row's next character."""
    return log_softmax(logits)[np.arange(len(ix)), ix]


def likeliest(logits, k):
    """The k likeliest next characters of each row of logits (N, V) and their log-probabilities,
    likeliest first (ties in vocabulary order): two (N, k) arrays."""
    logp = log_softmax(logits)
    order = np.argsort(-logp, axis=1, kind="stable")[:, :k]
    return order, np.take_along_axis(logp, order, axis=1)


def generate(model, rng, state, seed_ix, n, temperature=1.0, top_k=0, greedy=False):
    """min-char-rnn's sample(h, seed_ix, n) at batch 1: feed seed_ix, pick the next character
    with one uniform draw from rng (a Generator or a RandomState), feed that, n times, one cell
    step per layer each (model.Stepper). state is the model's state at batch 1
    (model.zero_state()). Returns the n indices and the final state."""
    stepper = Stepper(model, state)
    out = np.empty(n, np.int64)
    ix = np.array([seed_ix])
    for i in range(n):
        ix = pick(stepper.step(ix), rng.random(1), temperature, top_k, 1.0, greedy)
        out[i] = ix[0]
    return out, stepper.state()


def prime(model, ixs, state):
    """Run the model over a priming text's indices; the state after all but the last, which
    the caller feeds to `generate` as its seed."""
    if len(ixs) < 2:  # (a Stepper's prepared weights cost more than nothing)
        return state
    for _, state in priming(Stepper(model, state), ixs, len(ixs)):
        pass
    return state


def priming(stepper, ixs, chunk):
    """`prime` through `stepper` (one row, entering in its state): the generation step, a
    character at a time, which costs a long text no more memory than a short one, and a short
    one no more than its characters (the training forward transposes every weight at each call,
    30 times a 4-character prime's maths). Yields for every `chunk` characters of ixs[:-1] their
    logits (T, V), the model's prediction of each next character, and the state after them, so
    that a caller can do other work between chunks."""
    ixs = np.asarray(ixs, np.int64)
    for start in range(0, len(ixs) - 1, chunk):
        part = ixs[start:min(start + chunk, len(ixs) - 1)]
        logits = np.empty((len(part), stepper.logits.shape[-1]), stepper.dtype)
        for t in range(len(part)):
            logits[t] = stepper.step(part[t:t + 1])
        yield logits, stepper.state()


class StopScan:
    """One sample's text as it is made, cut at the first of its stop strings: `feed` a character,
    get back the text that can be shown now (what may still begin a stop string is held back)
    and whether a stop string has ended the sample (the stop string is never shown)."""

    def __init__(self, stops):
        self.stops = [s for s in stops if s]
        self.hold = max(map(len, self.stops), default=1) - 1
        self.text, self.shown, self.stopped = "", 0, False

    def feed(self, ch):
        self.text += ch
        for stop in self.stops:
            if self.text.endswith(stop):
                self.text = self.text[:-len(stop)]
                self.stopped = True
                return self.flush(), True
        ready = max(self.shown, len(self.text) - self.hold)
        out, self.shown = self.text[self.shown:ready], ready
        return out, False

    def flush(self):
        """The rest of the text, once nothing more comes."""
        out, self.shown = self.text[self.shown:], len(self.text)
        return out


class Batch:
    """Samples made together: every row advances one character per step, in one batched step
    of the model (model.Stepper: the cells' own step), each picking its character with a
    uniform number from a random stream of its own, so that a row's text never depends on the
    other rows. Rows join with `add` and leave when they end (their length, or a stop string),
    or when `drop`ped; `step` advances them all."""

    BLOCK = 64  # uniform numbers drawn at a time from each row's stream: the same numbers as one by one

    def __init__(self, model, chars):
        self.model, self.chars = model, chars
        self.stepper = Stepper(model, model.zero_state(0))
        self.ids = []  # the rows' ids, in the stepper's order
        self.rows = {}  # id -> Row
        self.feed = np.zeros(0, np.int64)  # each row's next input character
        self._next_id = 0

    def __len__(self):
        return len(self.ids)

    def add(self, primed, rng, length, temperature=1.0, top_k=0, top_p=1.0, greedy=False, stop=(), state=None,
            top=0):
        """A new row, after the prime `primed` (indices; empty: its first character drawn from
        rng), to make `length` characters; `state`: the model's state after primed[:-1], when the
        caller has it (rows of one prime share it); `top`: how many of the likeliest characters
        to keep, with their log-probabilities, at each step (Row.tops). Returns the row's id."""
        if not len(primed):
            primed = [int(rng.integers(len(self.chars)))]
        if state is None:
            with one_blas_thread():
                state = prime(self.model, primed, self.model.zero_state(1))
        row = Row(self._next_id, rng, length, temperature, top_k, top_p, bool(greedy or temperature < GREEDY_BELOW),
                  StopScan(stop) if any(stop) else None, top)
        self._next_id += 1
        self.stepper.append(state)
        self.ids.append(row.id)
        self.rows[row.id] = row
        self.feed = np.append(self.feed, primed[-1])
        return row.id

    def drop(self, ids):
        """Rows leave the batch (ended, or no longer wanted)."""
        ids = set(ids)
        keep = [i for i, row_id in enumerate(self.ids) if row_id not in ids]
        if len(keep) < len(self.ids):
            self.stepper.take(keep)
            self.feed = self.feed[keep]
            self.ids = [self.ids[i] for i in keep]

    def step(self):
        """One character for every row. Returns (ids, picks, ended): the rows' ids and their new
        characters, in order, and the ids of the rows that ended with this step, which have left
        the batch (their Row keeps what they made)."""
        rows = [self.rows[i] for i in self.ids]
        with one_blas_thread(), np.errstate(over="ignore", under="ignore"):
            logits = self.stepper.step(self.feed)
            u = np.array([row.uniform(self.BLOCK) for row in rows])
            picks = pick(logits, u, [r.temperature for r in rows], [r.top_k for r in rows],
                         [r.top_p for r in rows], np.array([r.greedy for r in rows], bool))
            logp = log_softmax_at(logits, picks)
            topped = [i for i, row in enumerate(rows) if row.top]
            if topped:
                k = max(rows[i].top for i in topped)
                for i, order, lp in zip(topped, *likeliest(logits[topped], k)):
                    rows[i].tops.append((order[:rows[i].top], lp[:rows[i].top]))
        ended = []
        for row, ix, lp in zip(rows, picks.tolist(), logp.tolist()):
            if row.take(ix, lp, self.chars[ix]):
                ended.append(row.id)
        self.feed = picks
        self.drop(ended)
        return [r.id for r in rows], picks, ended


class Row:
    """One sample of a Batch: its settings, its random stream, what it has made."""

    def __init__(self, row_id, rng, length, temperature, top_k, top_p, greedy, scan, top=0):
        self.id, self.rng, self.length = row_id, rng, length
        self.temperature, self.top_k, self.top_p, self.greedy = temperature, top_k or 0, top_p, greedy
        self.scan = scan  # a StopScan where the row has stop strings
        self.made, self.logps = [], []  # indices and their log-probabilities (temperature 1)
        self.top, self.tops = top, []  # at each step: (the `top` likeliest indices, their log-probabilities)
        self.finish = None  # "stop" or "length" once it ends
        self._uniforms, self._at = np.empty(0), 0

    def uniform(self, block):
        """The next number of the row's stream (drawn `block` at a time)."""
        if self._at == len(self._uniforms):
            self._uniforms, self._at = self.rng.random(block), 0
        self._at += 1
        return self._uniforms[self._at - 1]

    def take(self, ix, logp, ch):
        """Record the row's new character; whether the row has now ended."""
        self.made.append(ix)
        self.logps.append(logp)
        if self.scan is not None and self.scan.feed(ch)[1]:
            self.finish = "stop"
        elif len(self.made) >= self.length:
            self.finish = "length"
        return self.finish is not None

    def result(self):
        """(the indices of the text, its log-probability given the prime, why it ended): the text
        stops before the stop string that ended it, and its log-probability counts only it."""
        n = len(self.made) if self.scan is None else len(self.scan.text)
        return self.made[:n], float(sum(self.logps[:n])), self.finish
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
    with one_blas_thread(), np.errstate(over="ignore", under="ignore"):
        state = prime(model, primed, model.zero_state())
        ixs, _ = generate(model, rng, state, primed[-1], a.length, a.temperature, a.top_k or 0, greedy)
    return np.concatenate([primed if a.prime else [], ixs]).astype(np.int64)


def sample_text(model, chars, a):
    """What `minrnn sample` prints and Model.sample returns: the prime and the sample, as text."""
    return data.decode(sampled(model, chars, a), chars)
