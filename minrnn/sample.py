"""Generation: the model one character at a time for many rows at once (model.Stepper: the
cells' own step), a pick from each row's distribution, and what is built on them: N samples of
a prime, each with a random stream of its own (Batch, `sampled`), one sample as it is made
(`stream`); beam search is beam.py. OPTIONS is what `minrnn sample`, Model.sample and
Model.stream take, and `settle` judges a request against the model before any work."""
import contextlib
import dataclasses

import numpy as np
from threadpoolctl import ThreadpoolController

from . import data, options
from .cells import CELLS
from .errors import MinrnnError, said
from .memory import check_fits
from .model import Stepper
from .options import FUNCTION, Option

GREEDY_BELOW = 1e-6  # smaller temperatures overflow the logits; sampling at them is argmax anyway
# What a generated character costs in memory: in a row, its index and its log-probability (a
# list entry and a float object) and its text; in a beam search, its three history entries
BYTES_PER_CHAR = 64
ROW_BYTES = 4096  # and what a row costs besides its state: its random stream, buffers, Python objects


def _not_empty(text):
    return "is empty: it would end every sample before it begins; give one or more characters" if text == "" else None


OPTIONS = options.group(
    length=Option(int, 500, "characters to generate", above=0),
    prime=Option(str, "", "text to start from", shown="one random character"),
    temperature=Option(float, 1.0, "0: greedy, the likeliest character each time; below 1 more conservative, "
                       "above 1 more varied", low=0),
    top_k=Option(int, None, "sample among the k likeliest", above=0, unset="all", metavar="K"),
    top_p=Option(float, 1.0, "sample among the fewest likeliest characters whose probabilities add up to P "
                 "(nucleus sampling)", above=0, high=1, metavar="P", shown="1, all"),
    greedy=Option(bool, False, "always take the likeliest character"),
    n=Option(int, None, "samples to make at once, sample i with a random stream of its own (from the seed and i); "
             "with beam search, the most likely texts", above=0, flag="--num-samples", unset="1"),
    beam=Option(int, None, "beam search of width K for the most likely text, by the model's own probabilities",
                above=0, metavar="K", unset="none: sample"),
    stop=Option(str, None, "a text that ends a sample where it first appears, left out of it; several may be given",
                many=True, unset="none", also=_not_empty),
    seed=Option(int, 0, "random seed", low=0),
    json=Option(bool, False, "one JSON object a sample, a line each (JSON Lines): text (what was generated "
                "after the prime), prime, logprob, characters, finish", api=False),
    details=Option(bool, False, "return Sample objects (text, prime, logprob, characters, finish) instead of "
                   "strings", cli=False),
    until=Option(FUNCTION, None, "called before each character: when it returns True the samples end where "
                 "they are (finish 'interrupted')", cli=False, unset="none"),
)
# Model.stream makes one sample: the options that ask for more, or for something else back, are not its
STREAM = {name: option for name, option in OPTIONS.items() if name not in ("n", "beam", "details")}


def named(name, value=None):
    """An option of OPTIONS named in a message (errors.said, with the option's flag)."""
    return said(name, value, OPTIONS[name].dest)


@dataclasses.dataclass(frozen=True)
class Sample:
    """One text the model made after a prime: a line of `minrnn sample --json`, and what
    Model.sample(details=True) returns."""
    text: str  # what was generated after the prime (the stop string that ended it left out)
    prime: str
    logprob: float  # natural log of the text's probability given the prime, under the model (temperature 1)
    characters: int  # len(text): the characters logprob is the probability of
    finish: str  # "length", "stop" (a stop string ended it) or "interrupted" (until, Ctrl-C)

    @classmethod
    def of(cls, ix, logprob, finish, chars, prime):
        text = data.decode(ix, chars)
        return cls(text, prime, float(logprob), len(text), finish or "interrupted")


def settle(model, chars, a):
    """A request (OPTIONS' values `a`, each judged) judged as a whole against the model, before
    any work: settings that others make meaningless, a prime or a stop string the vocabulary
    cannot make, sizes that cannot fit in memory. Returns the prime's indices."""
    beam, n = getattr(a, "beam", None), getattr(a, "n", None)  # Model.stream has neither
    ignored = [name for name in ("temperature", "top_k", "top_p") if name in a.given]
    if beam is not None:
        clash = ignored + (["greedy"] if a.greedy else [])
        if clash:
            raise MinrnnError(f"{named('beam', beam)} searches by the model's own probabilities, so "
                              f"{named(clash[0], getattr(a, clash[0]))} would be ignored: leave it out, or sample "
                              f"without {named('beam')}")
        if n is not None and n > beam:
            raise MinrnnError(f"{named('n', n)} asks for more texts than {named('beam', beam)} keeps: give "
                              f"{named('n')} {beam} or less, or a wider {named('beam')}")
    elif a.greedy and ignored:
        raise MinrnnError(f"{named('greedy', True)} always takes the likeliest character, so "
                          f"{named(ignored[0], getattr(a, ignored[0]))} would be ignored: give one or the other "
                          f"({named('temperature', 0)} is greedy too)")
    vocabulary = set(chars)
    unknown = sorted(set(a.prime) - vocabulary)
    if unknown:
        raise MinrnnError(f"{named('prime')} has characters outside the model's vocabulary: "
                          + " ".join(map(repr, unknown)))
    for stop in a.stop or ():
        unknown = sorted(set(stop) - vocabulary)
        if unknown:
            raise MinrnnError(f"{named('stop')} {stop!r} can never match: {' '.join(map(repr, unknown))} "
                              f"{'is' if len(unknown) == 1 else 'are'} outside the model's vocabulary")
    rows = max(n or 1, beam or 1)
    cfg = model.config
    row_bytes = (ROW_BYTES + 32 * cfg.vocab_size  # pick's and log_softmax's float64 rows
                 + cfg.layers * sum(b.nbytes for b in CELLS[cfg.cell].alloc(1, 1, cfg.hidden, model.dtype)))
    what = (f"{named('beam' if beam else 'n', rows)} x " if rows > 1 else "") + named("length", a.length)
    check_length(a.length, rows=rows, row_bytes=row_bytes, what=what)
    lookup = {c: i for i, c in enumerate(chars)}
    return [lookup[c] for c in a.prime]


def check_length(length, name="length", rows=1, row_bytes=0, what=None):
    """`rows` texts of `length` generated characters (and `row_bytes` more each: the model's state)
    that fit in memory, refused before any work if not; `what` names the settings to lower
    (default: the length, as option `name`)."""
    check_fits(rows * (BYTES_PER_CHAR * length + row_bytes), what or said(name, length))


_blas = []  # the BLAS libraries NumPy uses, found once (finding them takes ~0.2 ms)


@contextlib.contextmanager
def one_thread():
    """BLAS on one thread while inside, so that no sum of a generated text depends on the
    machine's cores. Cheap enough to enter every step (threadpool_limits is ~0.2 ms)."""
    if not _blas:
        _blas.append(ThreadpoolController().select(user_api="blas").lib_controllers)
    libs = _blas[0]
    before = [lib.get_num_threads() for lib in libs]
    for lib, n in zip(libs, before):
        if n != 1:
            lib.set_num_threads(1)
    try:
        yield
    finally:
        for lib, n in zip(libs, before):
            if n != 1:
                lib.set_num_threads(n)


def _any(x):
    """Whether any of a setting (a number, or one a row) is true, without NumPy's cost for a number."""
    return x.any() if isinstance(x, np.ndarray) else bool(x)


def pick(logits, u, temperature=1.0, top_k=0, top_p=1.0, greedy=False):
    """The next character of each row of logits (N, V), given one uniform number u[i] in [0, 1)
    a row: greedy rows take the likeliest; the others invert the cumulative distribution of
    softmax(logits / temperature), over the top_k likeliest characters (0: all) and the smallest
    set of likeliest whose probability reaches top_p (1: all). Each setting is a number or one
    per row. Plain sampling is RandomState.choice(V, p=p)'s arithmetic, so that a
    RandomState-seeded run makes min-char-rnn's picks."""
    if greedy is True or (isinstance(greedy, np.ndarray) and greedy.all()):
        return logits.argmax(axis=1)
    # shifted by the max, so that exp cannot overflow; the division by the sum is left to the
    # cumulative sum's last entry
    y = logits - logits.max(axis=1, keepdims=True)
    if _any(temperature != 1.0):
        y /= np.asarray(temperature, y.dtype).reshape(-1, 1)
    p = np.exp(y, out=y)
    V = p.shape[1]
    if _any((0 < top_k) & (top_k < V)) or _any(top_p < 1):
        top_k, top_p = np.asarray(top_k).reshape(-1, 1), np.asarray(top_p, np.float64).reshape(-1, 1)
        order = np.argsort(-p, axis=1, kind="stable")  # likeliest first; ties in vocabulary order
        ranked = np.take_along_axis(p, order, axis=1)
        keep = np.ones(p.shape, bool)
        if (top_k > 0).any():
            keep &= (np.arange(V) < np.where(top_k > 0, top_k, V))
        if (top_p < 1).any():  # a character is kept while the mass before it is short of top_p
            before = np.cumsum(ranked, axis=1, dtype=np.float64) - ranked
            keep &= before < top_p * ranked.sum(axis=1, keepdims=True, dtype=np.float64)
        np.put_along_axis(p, order, np.where(keep, ranked, 0), axis=1)
    cdf = np.cumsum(p, axis=1, out=p)
    cdf /= cdf[:, -1:]
    picks = (cdf <= np.asarray(u, cdf.dtype).reshape(-1, 1)).sum(axis=1)  # searchsorted(u, side="right")
    return np.where(greedy, logits.argmax(axis=1), picks) if _any(greedy) else picks


def log_softmax(logits):
    """log softmax of each row of logits (N, V), in float64: the model's own log-probabilities of
    the next character (at temperature 1, whatever it is sampled at)."""
    y = logits.astype(np.float64)
    y -= y.max(axis=1, keepdims=True)
    y -= np.log(np.exp(y).sum(axis=1, keepdims=True))
    return y


def at(logp, ix):
    """logp[i, ix[i]] for each row of log-probabilities (N, V): each row's log-probability of its
    character ix[i]."""
    return logp[np.arange(len(ix)), ix]


def likeliest(logp, k):
    """The k likeliest next characters of each row of log-probabilities (N, V) and theirs,
    likeliest first (ties in vocabulary order): two (N, k) arrays."""
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
    30 times a 4-character prime's maths), and gives the text the same arithmetic whoever primes
    it (minrnn sample, minrnn serve). Yields for every `chunk` characters of ixs[:-1] their
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
    and whether a stop string has ended the sample (the stop string is never shown). `kept`
    counts the characters of the text so far, shown or held back."""

    def __init__(self, stops):
        # longest first: of two stop strings ending on the same character, the text ends before
        # the one that began first
        self.stops = sorted((s for s in stops if s), key=len, reverse=True)
        self.hold = max(map(len, self.stops), default=1) - 1
        self.held, self.kept, self.stopped = "", 0, False

    def feed(self, ch):
        self.held += ch  # never longer than the longest stop string: no text grows here
        self.kept += 1
        for stop in self.stops:
            if self.held.endswith(stop):
                self.held = self.held[:-len(stop)]
                self.kept -= len(stop)
                self.stopped = True
                return self.flush(), True
        ready = len(self.held) - self.hold
        if ready <= 0:
            return "", False
        out, self.held = self.held[:ready], self.held[ready:]
        return out, False

    def flush(self):
        """The text held back, once nothing more comes."""
        out, self.held = self.held, ""
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
        # each row's uniform numbers drawn and not yet used: a block of its stream, and how far it is used
        self.uniforms, self.used = np.zeros((0, self.BLOCK)), np.zeros(0, np.intp)
        self._next_id = 0
        self._order = self._settings = None  # the rows in order and their settings, made again when rows come or go

    def __len__(self):
        return len(self.ids)

    def add(self, primed, rng, length, temperature=1.0, top_k=0, top_p=1.0, greedy=False, stop=(), state=None,
            top=0):
        """A new row, after the prime `primed` (indices; empty: its first character drawn from
        rng), to make `length` characters; `state`: the model's state after primed[:-1], when the
        caller has it (rows of one prime share it); `top`: how many of the likeliest characters
        to keep, with their log-probabilities, at each step (Row.tops). A temperature below
        GREEDY_BELOW is greedy. Returns the row's id."""
        if not len(primed):
            primed = [int(rng.integers(len(self.chars)))]
        if state is None:
            with one_thread():
                state = prime(self.model, primed, self.model.zero_state(1))
        greedy = bool(greedy or temperature < GREEDY_BELOW)
        row = Row(self._next_id, rng, length, 1.0 if greedy else temperature, top_k, top_p, greedy,
                  StopScan(stop) if any(stop) else None, top)
        self._next_id += 1
        self.stepper.append(state)
        self.ids.append(row.id)
        self.rows[row.id] = row
        self.feed = np.append(self.feed, primed[-1])
        self.uniforms = np.concatenate([self.uniforms, np.zeros((1, self.BLOCK))])
        self.used = np.append(self.used, self.BLOCK)  # none drawn yet
        self._order = self._settings = None
        return row.id

    def drop(self, ids):
        """Rows leave the batch (ended, or no longer wanted)."""
        ids = set(ids)
        keep = [i for i, row_id in enumerate(self.ids) if row_id not in ids]
        if len(keep) < len(self.ids):
            self.stepper.take(keep)
            self.feed, self.uniforms, self.used = self.feed[keep], self.uniforms[keep], self.used[keep]
            self.ids = [self.ids[i] for i in keep]
            self._order = self._settings = None

    def settings(self, rows):
        """pick's temperature, top_k, top_p and greedy for these rows (the batch's, in order): each
        one number when the rows agree (pick's cheap case), else one a row."""
        if self._settings is None:
            columns = [np.array([getattr(row, name) for row in rows])
                       for name in ("temperature", "top_k", "top_p", "greedy")]
            self._settings = [c[0].item() if len(c) and (c == c[0]).all() else c for c in columns]
        return self._settings

    def uniform(self, rows):
        """Each row's next uniform number, from its own stream (rows: the batch's, in order)."""
        for i in np.flatnonzero(self.used == self.BLOCK):
            self.uniforms[i], self.used[i] = rows[i].rng.random(self.BLOCK), 0
        u = self.uniforms[np.arange(len(rows)), self.used]
        self.used += 1
        return u

    def step(self):
        """One character for every row. Returns (ids, picks, ended): the rows' ids and their new
        characters, in order, and the ids of the rows that ended with this step, which have left
        the batch (their Row keeps what they made)."""
        if self._order is None:
            self._order = [self.rows[i] for i in self.ids]
        rows, ids = self._order, list(self.ids)
        # a huge temperature is uniform sampling: its overflow is fine
        with one_thread(), np.errstate(over="ignore", under="ignore"):
            logits = self.stepper.step(self.feed)
            picks = pick(logits, self.uniform(rows), *self.settings(rows))
            logps = log_softmax(logits)
            logp = at(logps, picks)
            topped = [i for i, row in enumerate(rows) if row.top]
            if topped:
                k = max(rows[i].top for i in topped)
                for i, order, lp in zip(topped, *likeliest(logps[topped], k)):
                    rows[i].tops.append((order[:rows[i].top], lp[:rows[i].top]))
        ended = [row.id for row, ix, lp in zip(rows, picks.tolist(), logp.tolist()) if row.take(ix, lp, self.chars[ix])]
        self.feed = picks
        if ended:
            self.drop(ended)
        return ids, picks, ended


class Row:
    """One sample of a Batch: its settings, its random stream (drawn by the Batch), what it has made."""

    def __init__(self, row_id, rng, length, temperature, top_k, top_p, greedy, scan, top=0):
        self.id, self.rng, self.length = row_id, rng, length
        self.temperature, self.top_k, self.top_p, self.greedy = temperature, top_k or 0, top_p, greedy
        self.scan = scan  # a StopScan where the row has stop strings
        self.made, self.logps = [], []  # indices and their log-probabilities (temperature 1)
        self.top, self.tops = top, []  # at each step: (the `top` likeliest indices, their log-probabilities)
        self.finish = None  # "stop" or "length" once it ends

    def take(self, ix, logp, ch):
        """Record the row's new character; whether the row has now ended."""
        self.made.append(ix)
        self.logps.append(logp)
        if self.scan is not None and self.scan.feed(ch)[1]:
            self.finish = "stop"
        elif len(self.made) >= self.length:
            self.finish = "length"
        return self.finish is not None

    def ready(self):
        """How many characters of the text can be shown now: all that it has made, but for those
        that may still begin a stop string (until it ends) and the stop string that ended it."""
        if self.scan is None:
            return len(self.made)
        return self.scan.kept - (0 if self.finish else len(self.scan.held))

    def result(self):
        """(the indices of the text, its log-probability given the prime, why it ended): the text
        stops before the stop string that ended it, and its log-probability counts only it."""
        n = len(self.made) if self.scan is None else self.scan.kept
        return self.made[:n], float(sum(self.logps[:n])), self.finish


def _rows(model, chars, primed, a, n):
    """A Batch of n rows of a's settings after the prime, row i seeded by (a.seed, i), so that
    sample i is the same whatever n is; and the rows' ids."""
    batch = Batch(model, chars)
    state = None
    if primed:  # computed once for every row; without a prime each row draws its first character
        with one_thread():
            state = prime(model, primed, model.zero_state(1))
    ids = [batch.add(primed, np.random.default_rng([a.seed, i]), a.length, a.temperature, a.top_k or 0,
                     a.top_p, a.greedy, a.stop or (), state) for i in range(n)]
    return batch, ids


def _going(batch, a):
    return len(batch) and not (a.until is not None and a.until())


def sampled(model, chars, primed, a):
    """The a.n samples (default 1) of a's settings after the prime's indices `primed` (settle's),
    as Sample objects, made together in one Batch."""
    batch, ids = _rows(model, chars, primed, a, getattr(a, "n", None) or 1)
    while _going(batch, a):
        batch.step()
    return [Sample.of(*batch.rows[i].result(), chars, a.prime) for i in ids]


def stream(model, chars, primed, a):
    """One sample of a's settings as it is made, a generator of text pieces: the prime, then the
    text as the model makes it (what may still begin a stop string is held back until it
    cannot). What it yields, joined, is the sample Model.sample makes with the same settings."""
    batch, (row_id,) = _rows(model, chars, primed, a, 1)
    row = batch.rows[row_id]

    def pieces():
        if a.prime:
            yield a.prime
        shown = 0
        while _going(batch, a):
            batch.step()
            ready = row.ready()
            if ready > shown:
                yield data.decode(row.made[shown:ready], chars)
                shown = ready
    return pieces()
