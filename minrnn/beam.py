"""Beam search: the most likely continuations of a prime, by the model's own probabilities.

K beams advance together as K rows of one model.Stepper. At each step every beam's total
log-probability is extended by each of the V next characters', the K best of the K x V
extensions go on (the rows reordered, repeated or dropped with Stepper.take), and an extension
that completes a stop string is a finished text when it is among the K best (so that K=1 is
greedy decoding, stop strings and all). The search ends after `length` characters, or as soon
as the M-th best finished text is likelier than every beam still going (a total only falls).
K = V^length keeps every text: exhaustive search."""
import numpy as np

from .model import Stepper
from .sample import Sample, log_softmax, one_thread, prime


class BeamSearch:
    """A beam search from one prime, step by step (`step`), keeping each step's choices so that
    any beam's text can be read back (`text`)."""

    def __init__(self, model, primed, state, width, length, stops, best):
        """primed: the prime's indices (at least one); state: the model's state after primed[:-1];
        stops: the stop strings as index arrays; best: how many texts to return."""
        self.width, self.length, self.best = width, length, best
        self.stops = [np.asarray(s) for s in stops]
        self.stepper = Stepper(model, state)
        self.feed = np.array(primed[-1:])
        self.total = np.zeros(1)  # each beam's log-probability so far
        # each beam's last characters, as far as a stop string could reach back (-1: before the text)
        self.tail = np.full((1, max(map(len, self.stops), default=1) - 1), -1)
        # each step's beams: their parent among the step before's, their character, its log-probability
        self.parent = np.zeros((length, width), np.intp)
        self.char = np.zeros((length, width), np.intp)
        self.char_logp = np.zeros((length, width))
        self.t = 0  # steps made
        self.finished = []  # (total, characters kept, step, beam, finish), best first

    def going(self):
        """Whether a beam still going could yet be among the best texts."""
        return (self.t < self.length and len(self.total) > 0
                and (len(self.finished) < self.best or self.finished[-1][0] < self.total.max()))

    def _ends_on(self, stop):
        """(beams,): whether each beam ends on all of `stop` but its last character."""
        return (self.tail[:, self.tail.shape[1] - len(stop) + 1:] == stop[:-1]).all(axis=1)

    def step(self):
        with one_thread(), np.errstate(over="ignore", under="ignore"):
            logits = self.stepper.step(self.feed)
        logp = log_softmax(logits)
        V = logp.shape[1]
        total = (self.total[:, None] + logp).ravel()
        ends = np.zeros(logp.shape, bool)  # whether each extension ends on a stop string
        for stop in self.stops:
            ends[:, stop[-1]] |= self._ends_on(stop)
        ends = ends.ravel()
        order = np.argsort(-total, kind="stable")  # best first; ties: the earlier beam, then character
        for k in order[:self.width][ends[order[:self.width]]]:
            self._finish(total[k], *divmod(k, V))
        going = order[~ends[order]][:self.width]
        parent, char = np.divmod(going, V)
        t, n = self.t, len(going)
        self.parent[t, :n], self.char[t, :n], self.char_logp[t, :n] = parent, char, logp.flat[going]
        self.total, self.feed = total[going], char
        self.tail = np.concatenate([self.tail[parent], char[:, None]], axis=1)[:, 1:]
        self.stepper.take(parent)
        self.t += 1
        if self.t == self.length:
            for k in range(n):
                self._keep((self.total[k], self.t, t, k, "length"))

    def _finish(self, total, beam, char):
        """An extension of `beam` by `char` that ends on a stop string: a finished text, without it
        (without the longest, where two end here: the text ends before the one that began first)."""
        cut = max(len(s) for s in self.stops if s[-1] == char and self._ends_on(s)[beam])
        # the text is the first t + 1 - cut characters of the extension, all of them the beam's
        self._keep((total, self.t + 1 - cut, self.t - 1, beam, "stop"))

    def _keep(self, entry):
        self.finished.append(entry)
        self.finished.sort(key=lambda e: -e[0])  # stable: of equals, the first found first
        del self.finished[self.best:]

    def text(self, kept, t, beam):
        """(the first `kept` characters of the beam that was number `beam` after step t, their
        log-probability): read back through each step's parents."""
        ix, logp = [], []
        for s in range(t, -1, -1):
            ix.append(self.char[s, beam])
            logp.append(self.char_logp[s, beam])
            beam = self.parent[s, beam]
        return ix[::-1][:kept], float(sum(logp[::-1][:kept]))

    def results(self):
        """The best texts, best first, as (indices, log-probability, finish): those finished, and
        when the search was cut short, the beams still going as they are (finish None)."""
        entries = list(self.finished)
        if self.t < self.length:
            entries += [(self.total[k], self.t, self.t - 1, k, None) for k in range(len(self.total))]
            entries.sort(key=lambda e: -e[0])
        return [(*self.text(kept, t, beam), finish) for _, kept, t, beam, finish in entries[:self.best]]


def search(model, chars, primed, a):
    """The a.n (default 1) most likely texts of up to a.length characters after the prime's
    indices (settle's; none: the first character drawn from the seed's stream, as a sample's is),
    found by a beam of a.beam, as Sample objects, most likely first. A text that ends on a stop
    string is ranked by its probability with the stop string (what ending there takes); its
    logprob, as every sample's, is the probability of the text alone."""
    if not primed:
        primed = [int(np.random.default_rng([a.seed, 0]).integers(len(chars)))]
    with one_thread():
        state = prime(model, primed, model.zero_state(1))
    lookup = {c: i for i, c in enumerate(chars)}
    stops = [[lookup[c] for c in stop] for stop in a.stop or ()]
    beams = BeamSearch(model, primed, state, a.beam, a.length, stops, a.n or 1)
    while beams.going() and not (a.until is not None and a.until()):
        beams.step()
    return [Sample.of(ix, logprob, finish, chars, a.prime) for ix, logprob, finish in beams.results()]
