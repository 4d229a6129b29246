"""A model's loss on a text, in nats per character: the run's validation, `minrnn eval` and
Model.evaluate are the one function `loss_per_char`."""
import dataclasses
import math
import os

import numpy as np

from . import checkpoint, data, options
from .errors import MinrnnError
from .options import PATH, Option
from .shards import Shards

OPTIONS = options.group(
    file=Option(PATH, None, "text file", positional="1", unset="none: give text="),
    text=Option(str, None, "the text itself, instead of a file", cli=False, unset="none"),
    skip_unknown=Option(bool, False, "drop characters outside the vocabulary"),
    encoding=Option(str, "utf-8", "the file's text encoding", metavar="NAME", also=data.encoding_problem),
    threads=Option(int, None, "threads to compute on; the loss is the same on any number", above=0, high=4096,
                   unset="all cores"),
    json=Option(bool, False, "print the result as one JSON object", api=False),
)


# How a text is read to measure a model's loss on it (README, "Evaluation"): as one stream when it
# is short, else in windows of WINDOW predictions, each read after the WARMUP characters before it
# (not scored), so that a window starts about where one stream would be. Measured on
# tinyshakespeare's held-out text with the default model (benchmarks/eval_windows.py; README,
# "Evaluation"): these move the loss by under 1e-6 of one stream's, against a budget of 0.2%
# (without the warm-up: 0.4%), at the speed of the best window size tried.
WINDOW = 1000
WARMUP = 100
# windows read at once, and steps a forward pass takes: fixed, so that only the text and the
# model's shards decide what is summed, in what order (never the threads, nor the run's batch)
WINDOWS_AT_ONCE = 64
CHUNK = 64


def windows(ix, starts):
    """(inputs, targets, scored), each (steps, windows): the windows whose first predictions are
    at `starts` (the prediction at p reads ix[p] and is scored on ix[p + 1]), each beginning up to
    WARMUP characters earlier; `scored` marks the window's own predictions. Past a window's end a
    column reads on (or, past the text's end, repeats its last character), never scored."""
    n = len(ix) - 1
    lead = np.minimum(starts, WARMUP)
    ends = np.minimum(starts + WINDOW, n)
    at = (starts - lead)[None, :] + np.arange(int((lead + ends - starts).max()))[:, None]
    scored = (at >= starts) & (at < ends)
    at = np.minimum(at, n - 1)
    return ix[at], ix[at + 1], scored


def loss_per_char(model, ix, shards=None):
    """The model's mean loss per character of ix, in nats: each character but the first predicted
    from those before it. A text of up to WINDOW + 1 characters is read as one stream from an
    empty state, as the neuron page reads it; a longer one in windows (`windows`), WINDOWS_AT_ONCE
    at a time, shared out as `shards` (a Shards of the model) shares out a batch; None: one shard
    on this thread. The run's validation, `minrnn eval`, Model.evaluate and the page's figure."""
    shards = shards or Shards(model, 1, 1)
    starts = np.arange(0, len(ix) - 1, WINDOW)
    total = 0.0
    for first in range(0, len(starts), WINDOWS_AT_ONCE):
        inputs, targets, scored = windows(ix, starts[first:first + WINDOWS_AT_ONCE])
        state = model.zero_state(inputs.shape[1])
        for t in range(0, len(inputs), CHUNK):
            loss, state = shards.loss(inputs[t:t + CHUNK], targets[t:t + CHUNK], state, scored[t:t + CHUNK])
            total += loss
    return total / (len(ix) - 1)


@dataclasses.dataclass(frozen=True)
class Evaluation:
    """A model's loss on a text; str() is what `minrnn eval` prints."""
    name: str
    characters: int
    unknown: int  # characters outside the vocabulary, left out (skip_unknown)
    nats_per_char: float

    @property
    def bits_per_char(self):
        return self.nats_per_char / math.log(2)

    @property
    def perplexity(self):
        return math.exp(self.nats_per_char)

    def __str__(self):
        skipped = f" ({self.unknown:,} outside the vocabulary left out)" if self.unknown else ""
        return (f"{self.name}: {self.characters:,} characters{skipped}\nloss {self.nats_per_char:.4f} nats/char, "
                f"{self.bits_per_char:.4f} bits/char, perplexity {self.perplexity:.3f}")

    def as_dict(self):
        """What `minrnn eval --json` prints."""
        return {"text": self.name, "characters": self.characters, "unknown": self.unknown,
                "nats_per_char": self.nats_per_char, "bits_per_char": self.bits_per_char, "perplexity": self.perplexity}

    def __repr__(self):
        return (f"Evaluation({self.name!r}, characters={self.characters:,}, unknown={self.unknown:,}, "
                f"{self.nats_per_char:.4f} nats/char, {self.bits_per_char:.4f} bits/char, "
                f"perplexity {self.perplexity:.3f})")


def evaluate(net, chars, meta, path, a):
    """Model.evaluate's work, its arguments `a` judged (OPTIONS): the text read against the
    vocabulary, then its loss (loss_per_char) over the run's own shards on a.threads threads,
    so that the run's validation loss and this agree."""
    ix, unknown, name = data.read_against(chars, a.file, a.text, a.encoding, a.skip_unknown)
    if len(ix) < 2:
        raise MinrnnError(f"{name}: needs at least 2 characters to evaluate")
    saved = meta.get("config")
    if not isinstance(saved, dict):
        raise MinrnnError(f"{path}: its metadata lacks the run's config")
    if not checkpoint.whole_number(saved.get("shards"), 1):
        raise MinrnnError(f"{path}: its config has an invalid shards ({saved.get('shards')!r})")
    with Shards(net, saved["shards"], a.threads or os.cpu_count() or 1) as shards:
        return Evaluation(name, len(ix), unknown, loss_per_char(net, ix, shards))
