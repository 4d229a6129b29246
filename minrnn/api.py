"""What a notebook calls, and what the command line stands on: train, load, plot, and the objects
they return (Run, Model, Evaluation, Page, Plot).

    import minrnn
    run = minrnn.train("input.txt", minutes=5, cell="lstm", layers=2)  # a Run
    run.plot()                                  # the loss curves, inline in Jupyter
    model = run.best                            # or minrnn.load("runs/latest"), or a .npz
    print(model.sample(300, prime="ROMEO:", temperature=0.8, seed=1))
    model.evaluate("other.txt")                 # nats/char, bits/char, perplexity
    model.viz(text="a text of mine")            # the neuron page, inline
    minrnn.train(resume=run, minutes=10)        # the same run, continued

A text is given one of two ways, never guessed: the first argument (or file=) is always the path
of a text file; text= is always the text itself. train's keyword arguments are config.py's
fields (--batch-size is batch_size=); they are judged by the same checks as the command line's
flags and refused with the same messages, as MinrnnError (never an exit). Messages about how
settings combine name them by their flags, as the command line says them.
"""
import dataclasses
import difflib
import html
import inspect as pyinspect
import io
import math
import numbers
import os
import sys
import time
from pathlib import Path

import numpy as np

from . import checkpoint, config, data, inspect, plot as plotting, run as runs, viz as page_template
from .errors import FieldError, MinrnnError
from .model import load as load_model
from .run import RunFolder
from .sample import generate, prime as prime_state
from .shards import Shards
from .train import evaluate, train as train_loop

GREEDY_BELOW = 1e-6  # smaller temperatures overflow the logits; sampling at them is argmax anyway
VIZ_SAMPLE = 2000  # characters viz samples when given no text
VIZ_MAX_CHARS = 100_000  # one span each: past this the page grows slow to draw
VIZ_MAX_BYTES = 100_000_000  # the browser parses the page's data in one piece
TEXT_COPY = "text.txt"  # where a run trained on text= keeps its text, so that it can be resumed


def info(text):
    print(f"minrnn: {text}", file=sys.stderr, flush=True)


def _quiet(text):
    pass


def number_problem(value, kind, low, inclusive=False, high=None):
    """Why value cannot be a `kind` above low (at least low when inclusive; at most high), or
    None. The one rule for the numbers of sample, eval and viz: the command line's types ask it."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral if kind is int else numbers.Real):
        return f"is not a{'n int' if kind is int else ' number'}"
    if not (value >= low if inclusive else value > low) or (kind is float and not math.isfinite(value)):
        return f"must be {'>=' if inclusive else '>'} {low}"
    if high is not None and value > high:
        return f"must be <= {high}"
    return None


def _judge(source, name, value, kind, low, inclusive=False):
    why = number_problem(value, kind, low, inclusive)
    if why:
        raise FieldError(source, name, value, why)
    return kind(value)


def sample_fits(n, flag):
    # generate() holds the indices and the decoded text: about 20 bytes a character
    config.check_fits(20 * n, f"{flag} {n}")


def check_out_file(path):
    """An output file's problems, found before the work that fills it."""
    path = Path(path)
    if path.is_dir():
        raise MinrnnError(f"{path}: is a folder; --out takes a file name")
    if not path.parent.is_dir():
        raise MinrnnError(f"{path}: cannot write there (no folder {path.parent})")
    if not os.access(path.parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise MinrnnError(f"{path}: cannot write there (permission denied)")


# --- training ---------------------------------------------------------------------------------

def settings_given(settings):
    """train's keyword arguments as config.Config's fields, each judged by config.problem (what
    the command line's flags ask); an unknown name is refused naming the closest valid ones."""
    flags = [name for name, f in config.FIELDS.items() if f.metadata["flag"]]
    given = {}
    for name, value in settings.items():
        if name not in flags:
            close = difflib.get_close_matches(name, flags, n=3, cutoff=0.5)
            raise MinrnnError(f"minrnn.train: no setting {name!r}; "
                              + (f"did you mean {' or '.join(close)}?" if close else
                                 f"the settings are {', '.join(flags)}"))
        kind = config.FIELDS[name].metadata["kind"]
        if not isinstance(value, bool) and isinstance(value, numbers.Integral if kind is int else numbers.Real):
            value = kind(value)  # 1 for lr is 1.0, NumPy's ints are ints: as the command line parses them
        why = config.problem(name, value)
        if why:
            raise FieldError("minrnn.train", name, value, why)
        given[name] = value
    return given


def load_corpus(path, encoding, chars=None):
    """(indices, vocabulary, name) of a text file, or of the built-in corpus for path ''."""
    if path:
        ix, chars = data.read_corpus(path, encoding, chars)
        return ix, chars, str(path)
    ix, builtin_chars, name = data.builtin_corpus()
    if chars is not None and builtin_chars != chars:
        raise MinrnnError(f"the built-in corpus ({name}) does not fit the checkpoint's vocabulary")
    return ix, builtin_chars, name


def _given_text(text, chars=None):
    if not isinstance(text, str):
        raise MinrnnError(f"text= takes the text itself, a string, not {type(text).__name__}; a file's path "
                          "goes first, or as file=")
    if "\x00" in text:
        raise MinrnnError("text=: contains NUL characters, so it looks like binary data, not text")
    if not text:
        raise MinrnnError("text=: is empty")
    ix, chars = data.encode(text, chars)
    return ix, chars, "text"


def check_out(out):
    """The --out folder's problems, found before a long read of the text."""
    for folder in (out, *out.parents):
        if folder.exists():
            if not folder.is_dir():
                raise MinrnnError(f"{folder}: exists and is not a folder; choose another --out")
            break
    RunFolder.check_free(out)
    if (out / "latest.npz").exists():
        raise MinrnnError(f"{out}: already holds a run; continue it with --resume {out} or choose another --out")


def _new_folder(name):
    """runs/<corpus>-<time>, with -2, -3... when a run started in the same second has it."""
    base = Path("runs") / f"{Path(name).stem}-{time.strftime('%Y%m%d-%H%M%S')}"
    out, n = base, 1
    while out.exists():
        n += 1
        out = base.with_name(f"{base.name}-{n}")
    return out


@dataclasses.dataclass
class Plan:
    """A run settled: everything train's loop needs, and what to say before it starts."""
    cfg: config.Config
    ix: np.ndarray
    chars: list
    name: str  # the text's, for the display
    out: Path
    resume: bool
    init: object  # a CharRNN whose weights a new run starts from, or None
    text: str | None  # text= given: written to out/text.txt, the run's corpus
    notes: list  # lines to say before training: which checkpoint was read, warnings


def settle(file=None, text=None, out=None, resume=None, init_from=None, quiet=False, settings=None):
    """The one place where a run's arguments become a Plan: the text, the folder, the config
    (new, resumed or fine-tuned from a checkpoint) and every check between them, in the order
    that finds a mistake before a long read of the text."""
    given = settings_given(settings or {})
    if quiet and given.get("sample_every"):
        raise MinrnnError("--quiet prints no samples; leave out --sample-every or --quiet")
    file = os.fspath(file) if file is not None else None
    if file and text is not None:
        raise MinrnnError("give the text as a file or as text=, not both")
    if text is not None and "encoding" in given:
        raise MinrnnError("--encoding applies to a text file; text= is the text itself: leave out encoding")
    notes, init = [], None
    if resume is not None:
        if init_from is not None:
            raise MinrnnError("--init-from starts a new run and --resume continues one: give one of them")
        if out is not None and Path(out) != Path(resume):
            raise MinrnnError("--resume continues the run in its own folder; leave out --out")
        latest = runs.run_checkpoint(resume)
        out = latest.parent
        RunFolder.check_free(out)
        saved, vocabulary = runs.read_saved(latest)
        cfg, warnings = config.resumed(saved, given, latest)
        if text is not None:
            file = out / TEXT_COPY
            ix, chars, name = _given_text(text)
        if file:  # the run's text, moved: found there from now on
            cfg = dataclasses.replace(cfg, corpus=str(Path(file).resolve()))
        if text is None:
            ix, chars, name = load_corpus(cfg.corpus, cfg.encoding)
        runs.check_vocabulary(vocabulary, chars, latest)  # before anything is printed
        notes += [f"warning: {warning}" for warning in warnings]
    else:
        if not file and text is None and Path("input.txt").exists():
            file = "input.txt"
        if "encoding" in given and not file:
            raise MinrnnError("--encoding applies to a text file, and none is given (the built-in corpus is "
                              "Python's own source); give FILE, or leave out --encoding")
        cfg = config.Config(**given, corpus=str(Path(file).resolve()) if file else "")
        chars = None
        if init_from is not None:
            start = load(init_from)
            cfg, chars, init = config.fine_tuned(cfg, given, start.net.config, start.path), start.chars, start.net
            notes += [start.which] if start.which else []
        config.check(cfg)
        if out is not None:  # before reading what may be a large text
            check_out(Path(out))
        ix, chars, name = _given_text(text, chars) if text is not None else load_corpus(file, cfg.encoding, chars)
        out = Path(out) if out is not None else _new_folder(name)
        check_out(out)
        if text is not None:
            cfg = dataclasses.replace(cfg, corpus=str((out / TEXT_COPY).resolve()))
    return Plan(cfg, ix, chars, name, Path(out), resume is not None, init, text, notes)


def _keep_text(path, text, encoding):
    """text= saved where the run's config says its corpus is, written whole or not at all."""
    try:
        raw = text.encode(encoding)
    except UnicodeEncodeError as e:
        raise MinrnnError(f"text= holds {e.object[e.start:e.end]!r}, which {encoding} cannot write") from None
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(raw)
    os.replace(tmp, path)


def train(file=None, *, text=None, out=None, resume=None, init_from=None, quiet=False, on_eval=None, **settings):
    """Train a model, as `minrnn train` does, and return the Run.

    file: a text file's path (default ./input.txt if present, else Python's standard library
    source; with resume, the run's own); text: the text itself instead, kept in the run folder
    as text.txt. out: the run folder (default runs/<text>-<time>). resume: a run folder (or a
    Run) to continue exactly; init_from: a checkpoint or run folder whose weights a new run
    starts from. quiet: print nothing. on_eval: called with each evaluation's log row, after
    its checkpoint. settings: `minrnn train --help`'s, as keywords: cell="lstm", hidden=128,
    minutes=5, ... Ctrl-C (KeyboardInterrupt) stops the run after the current step and saves
    it, and the returned Run can be resumed."""
    plan = settle(file, text, out, resume, init_from, quiet, settings)
    say = _quiet if quiet else info
    for note in plan.notes:
        say(note)
    if plan.text is not None:
        _keep_text(Path(plan.cfg.corpus), plan.text, plan.cfg.encoding)
    say(f"training on {plan.name}: {len(plan.ix):,} characters, {len(plan.chars)} distinct; run folder {plan.out}")
    result = train_loop(plan.cfg, plan.ix, plan.chars, plan.out, resume=plan.resume, init=plan.init, quiet=quiet,
                        on_eval=on_eval)
    done = Run(result["out"], result["iteration"], result["best_val"], result["stopped_by"])
    latest = done.folder / "latest.npz"
    if not latest.exists():
        say("stopped before the first iteration: nothing was saved")
    else:
        how = "interrupted; saved" if done.stopped_by == "interrupted" else "saved"
        say(f"{how} at iteration {done.iterations}: {latest}"
            + (f" (best val {done.best_val:.4f} nats/char)" if math.isfinite(done.best_val) else ""))
    return done


def _document_settings(function):
    """function's signature and help list train's settings, from config.py's fields (so that
    help(minrnn.train) and a notebook's completion show them), without a second list of them."""
    fields = [name for name, f in config.FIELDS.items() if f.metadata["flag"]]
    signature = pyinspect.signature(function)
    params = [p for p in signature.parameters.values() if p.kind is not p.VAR_KEYWORD]
    params += [pyinspect.Parameter(name, pyinspect.Parameter.KEYWORD_ONLY, default=getattr(config.DEFAULTS, name))
               for name in fields]
    function.__signature__ = signature.replace(parameters=params)
    function.__doc__ += "\n\n    Settings:\n" + "".join(
        f"      {name} ({config.shown_default(name)}): {config.FIELDS[name].metadata['help']}\n" for name in fields)
    return function


train = _document_settings(train)


class Run:
    """A run folder, as train returns it: `best` and `latest` are its checkpoints' models, `log`
    its log.csv, `plot()` its loss curves. It stands for its folder wherever a path is taken
    (minrnn.load(run), train(resume=run))."""

    def __init__(self, folder, iterations, best_val, stopped_by):
        self.folder = Path(folder)
        self.iterations, self.best_val, self.stopped_by = iterations, best_val, stopped_by

    def __fspath__(self):
        return str(self.folder)

    def __repr__(self):
        best = f"{self.best_val:.4f} nats/char" if math.isfinite(self.best_val) else "none"
        return f"Run({str(self.folder)!r}, iterations={self.iterations}, best val {best}, {self.stopped_by})"

    @property
    def best(self):
        """The model of the best validation loss (best.npz)."""
        path = self.folder / "best.npz"
        if not path.is_file():  # val_frac=0, or stopped before its first evaluation
            raise MinrnnError(f"{path}: no such checkpoint (a run saves it at an evaluation with a validation "
                              "loss); run.latest is its last checkpoint")
        return load(path)

    @property
    def latest(self):
        """The model as the run left it (latest.npz)."""
        return load(self.folder / "latest.npz")

    @property
    def log(self):
        """log.csv as {column: array}: iteration, elapsed_s, train_loss, val_loss."""
        return plotting.read_log(self.folder)

    def plot(self, label=None):
        return plot(self, labels=[label] if label else None)


# --- reading a model --------------------------------------------------------------------------

def load(path):
    """The model of a checkpoint: a .npz file, or a run folder (its best.npz, else latest.npz),
    or `latest` beside run folders, or a Run."""
    where, which = runs.weights_checkpoint(path)
    net, _, meta = load_model(where)
    return Model(net, meta, Path(where), which)


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

    def _indices(self, file, text, encoding, skip_unknown):
        """(indices into the vocabulary, characters outside it, name) of a file or a text;
        characters outside the vocabulary are an error, or left out with skip_unknown."""
        if (file is None) == (text is None):
            raise MinrnnError("give a text file's path, or the text itself as text=")
        if text is not None:
            if not isinstance(text, str):
                raise MinrnnError(f"text= takes the text itself, a string, not {type(text).__name__}")
            chunks, where = (lambda: iter([text])), "text="
        else:
            data.check_encoding(encoding)
            chunks, where = data.file_chunks(file, encoding), str(file)
        unknown = data.count_unknown(chunks, self.chars)
        if unknown and not skip_unknown:
            raise MinrnnError(f"{where}: {unknown} character(s) are outside the model's vocabulary; "
                              "pass --skip-unknown to leave them out")
        name = "text" if text is not None else str(file)
        if skip_unknown and text != "":  # an empty text= is empty, not all unknown
            return data.encode_skipping_unknown(chunks, self.chars, where)[0], unknown, name
        if text is not None:
            return data.encode(text, self.chars, where, "is empty")[0], 0, name
        return data.read_corpus(file, encoding, self.chars)[0], 0, name

    def _sampled(self, prime, length, seed, temperature=1.0, top_k=0, greedy=False):
        """The indices of prime followed by `length` characters sampled from the model."""
        lookup = {c: i for i, c in enumerate(self.chars)}
        unknown = sorted(set(prime) - set(self.chars))
        if unknown:
            raise MinrnnError("--prime has characters outside the model's vocabulary: "
                              + " ".join(map(repr, unknown)))
        rng = np.random.default_rng(seed)
        primed = [lookup[c] for c in prime] or [int(rng.integers(len(self.chars)))]
        state = prime_state(self.net, primed, self.net.zero_state())
        with np.errstate(over="ignore", under="ignore"):  # a huge temperature is uniform sampling: fine
            ixs, _ = generate(self.net, rng, state, primed[-1], length, temperature, top_k, greedy)
        return np.concatenate([primed if prime else [], ixs]).astype(np.int64)

    def sample(self, length=500, *, prime="", temperature=1.0, top_k=None, greedy=False, seed=0):
        """prime followed by `length` characters drawn from the model, as `minrnn sample` prints
        them: temperature > 0 (below 1 more conservative; below 1e-6 it is greedy), top_k: among
        the k likeliest (None: all), greedy: always the likeliest, seed: of the draws (default
        0: the same text each time). Without a prime the first character is drawn at random."""
        source = "Model.sample"
        length = _judge(source, "length", length, int, 0)
        temperature = _judge(source, "temperature", temperature, float, 0)
        top_k = 0 if top_k is None else _judge(source, "top_k", top_k, int, 0)
        seed = _judge(source, "seed", seed, int, 0, inclusive=True)
        if not isinstance(prime, str):
            raise FieldError(source, "prime", prime, "is not a string")
        sample_fits(length, "--length")
        ixs = self._sampled(prime, length, seed, temperature, top_k, bool(greedy) or temperature < GREEDY_BELOW)
        return data.decode(ixs, self.chars)

    def evaluate(self, file=None, *, text=None, skip_unknown=False, encoding="utf-8", threads=None):
        """The loss on a text file's characters (or on text=), as `minrnn eval` prints it:
        nats/char, bits/char, perplexity; skip_unknown leaves out characters outside the
        vocabulary (counted in `unknown`), else they are an error. The text is read in the
        run's own streams and shards (so the run's validation loss and this agree), on
        `threads` threads (None: every core; never a change to the result)."""
        threads = (os.cpu_count() or 1) if threads is None else _judge("Model.evaluate", "threads", threads, int, 0)
        ix, unknown, name = self._indices(file, text, encoding, skip_unknown)
        if len(ix) < 2:
            raise MinrnnError(f"{name}: needs at least 2 characters to evaluate")
        layout = []
        # runs from before shards computed in one
        for key, default in (("batch_size", 1), ("seq_length", 25), ("shards", 1)):
            saved = self.meta.get("config")
            v = saved.get(key, default) if isinstance(saved, dict) else None
            if not checkpoint.whole_number(v, 1):
                raise MinrnnError(f"{self.path}: its config has an invalid {key} ({v!r})")
            layout.append(v)
        B, T, S = layout
        with Shards(self.net, S, threads) as shards:
            return Evaluation(name, len(ix), unknown, evaluate(self.net, ix, B, T, shards))

    def _ngram_text(self, train_text, encoding, skip_unknown, page_ix):
        """(indices, note, warning) of the text the n-gram baseline is counted from: train_text,
        else the run's training text as the run split it (the part it trained on), else the
        page's own text, with a note saying what that means."""
        if train_text is not None:
            ix = self._indices(train_text, None, encoding, skip_unknown)[0]
            return ix, f"n-gram counted from {train_text} ({len(ix):,} characters).", False
        saved = self.meta["config"]
        corpus, val = saved.get("corpus"), saved.get("val_frac", 0)
        if not isinstance(corpus, str):
            why = "the checkpoint names no training text"
        else:
            try:
                ix, _, name = load_corpus(corpus, saved.get("encoding", "utf-8"), self.chars)
            except (MinrnnError, LookupError, TypeError) as e:
                why = f"the run's training text could not be used ({e})"
            else:
                val = val if isinstance(val, float) and 0 <= val < 1 else 0
                ix = data.split(ix, val)[0]
                return ix, (f"n-gram counted from the run's training text, {name}: the {len(ix):,} characters "
                            "the RNN trained on" + (f" (its last {val:.0%} held out)." if val else ".")), False
        return page_ix, (f"n-gram counted from this page's own text, since {why}: it has seen every character "
                         "it predicts, so it looks better than it is. Give the training text with "
                         "--train-text FILE."), True

    def _viz_text(self, file, text, length, prime, seed, encoding, skip_unknown):
        """(indices, a line saying what they are) of the text the page shows: a file's or text='s
        first `length` characters, else a sample of `length` characters after prime."""
        if file is not None or text is not None:
            if prime:
                raise MinrnnError("--prime starts a sampled text, and a text is given: give one of them")
            ix, _, name = self._indices(file, text, encoding, skip_unknown)
            whole, ix = len(ix), ix[:length]
            if len(ix) < 2:
                raise MinrnnError(f"{name}: needs at least 2 characters to show")
            return ix, (f"Text: {name}" + (f", its first {len(ix):,} of {whole:,} characters." if len(ix) < whole
                                           else "."))
        length = length or VIZ_SAMPLE
        sample_fits(length, "--length")
        return self._sampled(prime, length, seed), (
            f"Text: {length:,} characters sampled from the model (seed {seed}, temperature 1)"
            + (f" after the prime {prime!r}." if prime else "."))

    def viz(self, file=None, *, text=None, length=None, prime="", seed=0, train_text=None, signals=None,
            skip_unknown=False, encoding="utf-8"):
        """The neuron page, as `minrnn viz` writes it, shown inline in Jupyter; .save(path) writes it.
        The text shown: a file (or text=), its first `length` characters; else a sample of `length`
        (default 2000) after prime. train_text: the file the n-gram baseline is counted from
        (default the run's training text). signals: the ones the page offers and ranks, a list or "h,c"
        (default all)."""
        source = "Model.viz"
        if length is not None:
            length = _judge(source, "length", length, int, 0)
        seed = _judge(source, "seed", seed, int, 0, inclusive=True)
        if isinstance(signals, str):
            signals = signals.split(",")
        ix, about = self._viz_text(file, text, length, prime, seed, encoding, skip_unknown)
        cell, n_layers, hidden = self.net.config.cell, self.net.config.layers, self.net.config.hidden
        signals = inspect.SIGNALS[cell] if signals is None else list(signals)
        wrong = [name for name in signals if name not in inspect.SIGNALS[cell]]
        if wrong or not signals:
            raise MinrnnError(f"--signals: {', '.join(map(repr, wrong)) or 'none given'}; the {cell.upper()}'s "
                              f"signals are {','.join(inspect.SIGNALS[cell])}")
        size = inspect.page_bytes(len(ix), n_layers, hidden)
        if len(ix) > VIZ_MAX_CHARS or size > VIZ_MAX_BYTES:
            fit = min(VIZ_MAX_CHARS, int(len(ix) * VIZ_MAX_BYTES / size))
            raise MinrnnError(f"a page of {len(ix):,} characters is too large to draw (about {size / 1e6:,.0f} MB); "
                              f"pass --length {fit:,} or less")
        train_ix, note, warning = self._ngram_text(train_text, encoding, skip_unknown, ix)
        where = self.path
        page_data = inspect.page_data(self.net, ix, self.chars, inspect.ngram_probs(train_ix, ix, len(self.chars)),
                                      {"checkpoint": str(where), "text": about, "ngram": note,
                                       "ngram_warning": warning}, signals)
        page = page_template.render(page_data, f"minrnn viz: {where.parent.name}/{where.name}")
        lines = [note] if warning else []
        for fi, f in enumerate(page_data["features"]):
            best = next((r for r in page_data["leaderboard"] if r[0] == fi), None)  # best first per feature
            lines.append(f"  {f['label']}: layer {best[1] + 1} {best[2]} unit {best[3]}, r {best[4]:+.2f}"
                         + (f", AUC {best[5]:.2f}" if best[5] is not None else "") if best else
                         f"  {f['label']}: constant in this text")
        return Page(page, len(ix), f"{cell} {n_layers} x {hidden}", lines)


# --- pictures ---------------------------------------------------------------------------------

class Page:
    """The neuron page: one self-contained HTML document. Jupyter shows it in an iframe (its
    script and styles stay its own); save(path) writes the file `minrnn viz` writes."""

    HEIGHT = 760  # pixels of the notebook's frame; the page scrolls inside it

    def __init__(self, html_text, characters, model, lines):
        self.html, self.characters, self.model = html_text, characters, model
        self.lines = lines  # what `minrnn viz` says about it: warnings, the best unit per feature

    def __repr__(self):
        return (f"Page({self.characters:,} characters, {self.model}, {len(self.html.encode()) / 1e6:.1f} MB; "
                ".save(path) writes it)")

    def _repr_html_(self):
        return (f'<iframe srcdoc="{html.escape(self.html, quote=True)}" style="width: 100%; '
                f'height: {self.HEIGHT}px; border: 1px solid #ccc"></iframe>')

    def save(self, path):
        check_out_file(path)
        try:
            Path(path).write_text(self.html, "utf-8")
        except OSError as e:
            raise MinrnnError(f"cannot write {path} ({e.strerror or e})", exit_code=1) from None
        return Path(path)


class Plot:
    """Loss curves (matplotlib, the extra minrnn[plot]): inline in Jupyter as a PNG; save(path)
    writes png, svg or pdf by the name's extension."""

    DPI = 120

    def __init__(self, figure, runs, points):
        self.figure, self.runs, self.points = figure, runs, points

    def __repr__(self):
        return f"Plot({self.runs} run(s), {self.points} logged points; .save(path) writes it)"

    def _repr_png_(self):
        buffer = io.BytesIO()
        self.figure.savefig(buffer, format="png", dpi=self.DPI)
        return buffer.getvalue()

    def save(self, path):
        check_out_file(path)
        plotting.save(self.figure, path, self.DPI)
        return Path(path)


def plot(*run_dirs, labels=None):
    """Training and validation loss against iterations and against minutes, for one or more
    runs (Run objects or run folders), overlaid; labels: their names in the legend."""
    if not run_dirs:
        raise MinrnnError("plot: give one or more runs")
    if labels and len(labels) != len(run_dirs):
        raise MinrnnError(f"--label is given {len(labels)} time(s) for {len(run_dirs)} run folder(s); "
                          "give one per folder, or none")
    figure, points = plotting.figure(run_dirs, labels)
    return Plot(figure, len(run_dirs), points)
