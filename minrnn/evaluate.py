"""A model's loss on a text, in nats per character: the run's validation, `minrnn eval` and
Model.evaluate are the one function `loss_per_char`."""
import dataclasses
import math
import os

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
)


def loss_per_char(model, ix, batch_size, seq_length, shards=None):
    """Mean loss per character, in nats, over the whole of ix (streams of its own), shared out
    as `shards` (a Shards of the model: the run's, so that its shards and threads apply) shares
    out the training streams; None: one shard on this thread."""
    B = max(1, min(batch_size, len(ix) - 1))
    inputs, targets = data.streams(ix, B)
    shards = shards or Shards(model, 1, 1)
    h = model.zero_state(B)
    total = 0.0
    for x, y in data.chunks(inputs, targets, seq_length):
        loss, h = shards.loss(x, y, h)
        total += loss
    return total / inputs.size


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

    def __repr__(self):
        return (f"Evaluation({self.name!r}, characters={self.characters:,}, unknown={self.unknown:,}, "
                f"{self.nats_per_char:.4f} nats/char, {self.bits_per_char:.4f} bits/char, "
                f"perplexity {self.perplexity:.3f})")


def evaluate(net, chars, meta, path, a):
    """Model.evaluate's work, its arguments `a` judged (OPTIONS): the text read against the
    vocabulary, then read in the run's own streams and shards (so that the run's validation loss
    and this agree) on a.threads threads."""
    ix, unknown, name = data.read_against(chars, a.file, a.text, a.encoding, a.skip_unknown)
    if len(ix) < 2:
        raise MinrnnError(f"{name}: needs at least 2 characters to evaluate")
    saved = meta.get("config")
    if not isinstance(saved, dict):
        raise MinrnnError(f"{path}: its metadata lacks the run's config")
    layout = []
    for key in ("batch_size", "seq_length", "shards"):
        v = saved.get(key)
        if not checkpoint.whole_number(v, 1):
            raise MinrnnError(f"{path}: its config has an invalid {key} ({v!r})")
        layout.append(v)
    B, T, S = layout
    with Shards(net, S, a.threads or os.cpu_count() or 1) as shards:
        return Evaluation(name, len(ix), unknown, loss_per_char(net, ix, B, T, shards))
