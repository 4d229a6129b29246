"""The Python face of minrnn: train, load, plot, and the Run and Model they return. The command
line (cli.py) stands on the same functions.

    import minrnn
    run = minrnn.train("input.txt", minutes=5, cell="lstm", layers=2)  # a Run
    run.plot()                                  # the loss curves, inline in Jupyter
    model = run.best                            # or minrnn.load("runs/latest"), or a .npz
    print(model.sample(300, prime="ROMEO:", temperature=0.8, seed=1))
    model.sample(200, prime="ROMEO:", n=8, stop="\\n\\n")  # 8 samples, each to a blank line
    model.sample(100, prime="ROMEO:", beam=8)   # the most likely text, by beam search
    for piece in model.stream(2000):            # a sample as it is made
        print(piece, end="", flush=True)
    model.evaluate("other.txt")                 # nats/char, bits/char, perplexity
    model.viz(text="a text of mine")            # the neuron page, inline
    minrnn.train(resume=run, minutes=10)        # the same run, continued

A text is given one of two ways, never guessed: the first argument (or file=) is always the path
of a text file; text= is always the text itself. Every function's keywords are options
(options.py) of the command of the same name (--batch-size is batch_size=): each call is judged
by the same checks as the command line's flags, before any work, and refused with the same
reasons, as MinrnnError (never an exit). The work itself is done where it belongs: plan.py and
loop.py train, sample.py samples, evaluate.py evaluates, viz/ makes the page, curves.py draws.
"""
import math
import sys
from pathlib import Path

from . import beam, checkpoint, curves, evaluate as evaluation, loop, options, plan, runfolder
from . import sample as sampling
from .config import from_meta
from .errors import MinrnnError, in_words
from .options import PATH, Option
from .viz import page

CHECKPOINT = options.group(path=Option(PATH, None, "a .npz file, or a run folder (its best.npz, else latest.npz)",
                                       positional="1", metavar="checkpoint"))


def info(text):
    print(f"minrnn: {in_words(text)}", file=sys.stderr, flush=True)


def _quiet(text):
    pass


@options.takes(plan.TRAIN, "minrnn.train", positional=("file",))
def train(a):
    """Train a model, as `minrnn train` does, and return the Run.

    file: a text file's path, or a list of files and folders (every file below a folder, in
    sorted order) read as one text (default ./input.txt if present, else Python's standard
    library source; with resume, the run's own); text: the text itself instead, kept in the run
    folder as text.txt. out: the run folder (default runs/<text>-<time>). resume: a run folder (or a
    Run) to continue exactly; init_from: a checkpoint or run folder whose weights a new run
    starts from. quiet: print nothing. on_eval: called with each evaluation's log row, after
    its checkpoint. The settings are `minrnn train --help`'s, as keywords: cell="lstm",
    hidden=128, minutes=5, ... Ctrl-C (KeyboardInterrupt) stops the run after the current step
    and saves it, and the returned Run can be resumed."""
    settled = plan.settle(a)
    say = _quiet if a.quiet else info
    for note in settled.notes:
        say(note)
    if settled.text is not None:
        plan.keep_text(settled)
    say(f"training on {settled.name}: {len(settled.ix):,} characters, {len(settled.chars)} distinct; "
        f"run folder {settled.out}")
    result = loop.train(settled.cfg, settled.ix, settled.chars, settled.out, resume=settled.resume,
                        init=settled.init, quiet=a.quiet, on_eval=a.on_eval)
    done = Run.trained(result["out"], result["stopped_by"])
    latest = done.path / "latest.npz"
    if not latest.exists():
        say("stopped before the first iteration: nothing was saved")
    else:
        how = "interrupted; saved" if done.stopped_by == "interrupted" else "saved"
        say(f"{how} at iteration {result['iteration']}: {latest}"
            + (f" (best val {result['best_val']:.4f} nats/char)" if math.isfinite(result["best_val"]) else ""))
    return done


class Run:
    """A run folder: `path`, the run's settings (`config`), its iteration and best validation
    loss as its last checkpoint says (`iterations`, `best_val`); `best` and `latest` are its
    checkpoints' models, `log` its log.csv, `plot()` its loss curves. minrnn.Run("runs/x") is the
    run in that folder; train returns one, saying why it stopped (`stopped_by`). It stands for
    its folder wherever a path is taken (minrnn.load(run), train(resume=run))."""

    @options.takes(options.group(path=Option(PATH, None, "a run folder, or `latest` beside run folders")),
                   "minrnn.Run", positional=("path",))
    def __init__(self, a):
        self.path, self.stopped_by = runfolder.run_folder(a.path), None

    @classmethod
    def trained(cls, path, stopped_by):
        """The Run a training run left in path (which holds no checkpoint if it stopped at once)."""
        run = cls.__new__(cls)
        run.path, run.stopped_by = Path(path), stopped_by
        return run

    def _meta(self):
        latest = self.path / "latest.npz"
        return checkpoint.read_meta(latest) if latest.is_file() else None

    @property
    def iterations(self):
        """The iteration of the run's last checkpoint."""
        meta = self._meta()
        return meta["iteration"] if meta else 0

    @property
    def best_val(self):
        """The best validation loss the run has had (nats/char; inf before its first)."""
        meta = self._meta()
        return meta["best_val"] if meta else math.inf

    @property
    def config(self):
        """The run's settings (a config.Config), as its last checkpoint holds them."""
        return from_meta(self._meta() or {}, self.path / "latest.npz")

    def __fspath__(self):
        return str(self.path)

    def __repr__(self):
        meta = self._meta() or {"iteration": 0, "best_val": math.inf}
        best = f"{meta['best_val']:.4f} nats/char" if math.isfinite(meta["best_val"]) else "none"
        return (f"Run({str(self.path)!r}, iterations={meta['iteration']}, best val {best}"
                + (f", {self.stopped_by})" if self.stopped_by else ")"))

    @property
    def best(self):
        """The model of the best validation loss (best.npz)."""
        path = self.path / "best.npz"
        if not path.is_file():  # val_frac=0, or stopped before its first evaluation
            raise MinrnnError(f"{path}: no such checkpoint (a run saves it at an evaluation with a validation "
                              "loss); run.latest is its last checkpoint")
        return load(path)

    @property
    def latest(self):
        """The model as the run left it (latest.npz)."""
        return load(self.path / "latest.npz")

    @property
    def log(self):
        """log.csv as {column: array}: iteration, elapsed_s, train_loss, val_loss."""
        return runfolder.read_log(self.path)

    @options.takes(options.group(label=Option(str, None, "the run's name in the legend", unset="the folder's name")),
                   "Run.plot", positional=("label",))
    def plot(self, a):
        """The run's loss curves (a Plot)."""
        return plot(self, labels=[a.label] if a.label else None)


@options.takes(CHECKPOINT, "minrnn.load", positional=("path",))
def load(a):
    """The model of a checkpoint: a .npz file, or a run folder (its best.npz, else latest.npz),
    or `latest` beside run folders, or a Run."""
    where, which = runfolder.weights_file(a.path)
    net, meta = checkpoint.read_model(where)
    return Model(net, meta, Path(where), which)


def plot(*runs, labels=None):
    """Training and validation loss against iterations and against minutes, for one or more
    runs (Run objects or run folders), overlaid; labels: their names in the legend."""
    return _plot(runs=list(runs), labels=labels)


@options.takes(curves.OPTIONS, "minrnn.plot")
def _plot(a):
    if not a.runs:
        raise MinrnnError("minrnn.plot: give one or more runs")
    return curves.plot(a.runs, a.labels)


class Model:
    """A trained model with its vocabulary: sample, evaluate, viz."""

    def __init__(self, net, meta, path, which=None):
        self.net, self.meta, self.path = net, meta, path
        self.chars = meta["vocab"]
        self.which = which  # for a run folder: a line saying which of its checkpoints this is

    def __repr__(self):
        c = self.net.config
        return (f"Model({c.cell}, {c.layers} x {c.hidden}" + (f", embedding {c.embedding}" if c.embedding else "")
                + f", vocabulary {len(self.chars)}, {self.net.theta.size:,} parameters, {c.dtype}, "
                f"from {str(self.path)!r})")

    @options.takes(sampling.OPTIONS, "Model.sample", positional=("length",))
    def sample(self, a):
        """prime followed by `length` characters drawn from the model, as `minrnn sample` prints
        them (fewer where a stop string ends it). Without a prime the first character is drawn at
        random. With n, a list of n samples (sample i is the same whatever n is); with beam, the
        most likely text (with n, the n most likely) by beam search. details=True: Sample objects
        (text after the prime, prime, logprob, characters, finish) instead of strings."""
        primed = sampling.settle(self.net, self.chars, a)
        made = (beam.search if a.beam else sampling.sampled)(self.net, self.chars, primed, a)
        out = made if a.details else [s.prime + s.text for s in made]
        return out if a.n is not None else out[0]

    @options.takes(sampling.STREAM, "Model.stream", positional=("length",))
    def stream(self, a):
        """One sample as it is made: a generator of text pieces, the prime first (joined, they are
        the sample Model.sample makes with the same settings)."""
        return sampling.stream(self.net, self.chars, sampling.settle(self.net, self.chars, a), a)

    @options.takes(evaluation.OPTIONS, "Model.evaluate", positional=("file",))
    def evaluate(self, a):
        """The loss on a text file's characters (or on text=), as `minrnn eval` prints it:
        nats/char, bits/char, perplexity (an Evaluation)."""
        return evaluation.evaluate(self.net, self.chars, self.meta, self.path, a)

    @options.takes(page.OPTIONS, "Model.viz", positional=("file",))
    def viz(self, a):
        """The neuron page, as `minrnn viz` writes it, shown inline in Jupyter; .save(path) writes
        it. The text shown: a file (or text=), its first `length` characters; else a sample of
        `length` (default 2000) after prime."""
        return page.make_page(self.net, self.chars, self.path, self.meta, a)
