"""The `minrnn` command: argparse subcommands calling the package's functions, and the one
place where errors become a single line on stderr and an exit code (2: bad input, 1: failure).

argparse only parses: `train`'s settings, their help, defaults and valid values come from
config.Config, and config.check judges a configuration whatever its source."""
import argparse
import dataclasses
import math
import os
import signal
import sys
import textwrap
import time
from pathlib import Path

import numpy as np

from . import __version__, checkpoint, config, data, inspect, plot, run, tune, viz
from .classic import run_classic
from .errors import MinrnnError
from .model import ModelConfig, load as load_model
from .run import RunFolder
from .sample import generate, prime
from .train import evaluate, train

GREEDY_BELOW = 1e-6  # smaller temperatures overflow the logits; sampling at them is argmax anyway
METAVARS = {int: "N", float: "X", str: "NAME"}
VIZ_SAMPLE = 2000  # characters viz samples when given no text
VIZ_MAX_CHARS = 100_000  # one span each: past this the page grows slow to draw
VIZ_MAX_BYTES = 100_000_000  # the browser parses the page's data in one piece
VIZ_LARGE_BYTES = 20_000_000  # past this a page takes seconds to open: say how to make it smaller


def _number(kind, low, inclusive):
    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a valid {kind.__name__}") from None
        if not (value >= low if inclusive else value > low) or (kind is float and not math.isfinite(value)):
            raise argparse.ArgumentTypeError(f"{text} must be {'>=' if inclusive else '>'} {low}")
        return value
    return parse


positive_int, positive_float = _number(int, 0, False), _number(float, 0, False)
count = _number(int, 0, True)


def _at_most(parse, high):
    def bounded(text):
        value = parse(text)
        if value > high:
            raise argparse.ArgumentTypeError(f"{text} must be <= {high}")
        return value
    return bounded


def _setting(name):
    """The argparse type of a train setting: the text as the setting's kind, judged by
    config.problem, the one definition of what the setting may be."""
    kind = config.FIELDS[name].metadata["kind"]

    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a{'n int' if kind is int else ' number'}") from None
        why = config.problem(name, value)
        if why:
            raise argparse.ArgumentTypeError(f"{text} {why}")
        return value
    return parse


class _Help(argparse.HelpFormatter):
    """Every option's help ends with its default: the action's own, or for train's settings the
    Config's (their argparse default is SUPPRESS, so that a flag left out is known as such)."""

    def _get_help_string(self, action):
        shown = getattr(action, "shown_default", action.default)
        if action.help is None or action.nargs == 0 or shown is None or shown is argparse.SUPPRESS:
            return action.help
        return f"{action.help} (default: {str(shown).replace('%', '%%')})"

    def _split_lines(self, text, width):  # never inside a flag's name (--lr-\ndecay)
        return textwrap.wrap(" ".join(text.split()), width, break_on_hyphens=False)


class _Parser(argparse.ArgumentParser):
    """One line for argparse's own errors too, without the usage block; no abbreviated flags
    (--hid would be --hidden today and an error once another --hid... flag exists). Subcommands'
    parsers are made of this class as well."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)
        kwargs.setdefault("formatter_class", _Help)
        super().__init__(*args, **kwargs)

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {_one_line(message)} (see {self.prog} --help)\n")


def build_parser():
    parser = _Parser(
        prog="minrnn", description="Character-level recurrent language models, from scratch in NumPy.")
    parser.add_argument("--version", action="version", version=f"minrnn {__version__}",
                        help="show the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    parser.commands = sub.choices

    c = sub.add_parser("classic", help="min-char-rnn, exactly: batch 1, float64, Adagrad",
                       description="Train min-char-rnn's vanilla RNN and print as it prints.")
    c.add_argument("file", nargs="?", default="input.txt", help="text file")
    c.add_argument("--hidden", type=positive_int, metavar="N", default=100, help="hidden units")
    c.add_argument("--seq-length", type=positive_int, metavar="N", default=25, help="BPTT chunk length")
    c.add_argument("--lr", type=positive_float, metavar="X", default=0.1, help="Adagrad learning rate")
    c.add_argument("--seed", type=_at_most(count, 2**32 - 1), metavar="N", default=0, help="RandomState seed")
    c.add_argument("--iterations", type=positive_int, metavar="N", help="stop after this many").shown_default = "until Ctrl-C"
    c.add_argument("--sample-every", type=positive_int, metavar="N", default=100, help="iterations between samples")
    c.add_argument("--sample-length", type=positive_int, metavar="N", default=200, help="characters per sample")
    c.add_argument("--print-every", type=positive_int, metavar="N", default=100, help="iterations between loss lines")
    c.add_argument("--encoding", default="utf-8", metavar="NAME", help="the file's text encoding")

    t = sub.add_parser("train", help="batched training with validation and checkpoints",
                       description="Train a character-level RNN; checkpoints go to a run folder. The budget "
                                   "flags are totals for the run, counted across resumes.")
    t.add_argument("file", nargs="?", help="text file").shown_default = (
        "./input.txt if present, else Python's standard library source; with --resume, the run's")
    for name, field in config.FIELDS.items():
        m = field.metadata
        if m["flag"]:
            metavar = "{" + ",".join(m["choices"]) + "}" if m["choices"] else METAVARS[m["kind"]]
            t.add_argument(config.flag(name), type=_setting(name), default=argparse.SUPPRESS, help=m["help"],
                           metavar=metavar).shown_default = config.shown_default(name)
    t.add_argument("--out", metavar="DIR", help="run folder").shown_default = "runs/<corpus>-<time>"
    t.add_argument("--resume", metavar="DIR", help="continue the run in DIR exactly (its latest.npz)")
    t.add_argument("--init-from", metavar="CKPT", help="start a new run from a checkpoint's weights (a run "
                                                        "folder: its best.npz, else latest.npz)")
    t.add_argument("--quiet", action="store_true", help="print nothing but errors")

    s = sub.add_parser("sample", help="generate text from a checkpoint",
                       description="Generate text from a checkpoint; the text alone goes to stdout.")
    s.add_argument("checkpoint", help="a .npz file, or a run folder (its best.npz, else latest.npz)")
    s.add_argument("--length", type=positive_int, metavar="N", default=500, help="characters to generate")
    s.add_argument("--temperature", type=positive_float, metavar="X", default=1.0,
                   help=f"> 0: below 1 more conservative, above 1 more varied; below {GREEDY_BELOW:g} it is "
                        "--greedy")
    s.add_argument("--prime", default="", metavar="TEXT", help="text to start from").shown_default = "one random character"
    s.add_argument("--seed", type=count, metavar="N", default=0, help="random seed")
    s.add_argument("--top-k", type=positive_int, metavar="K", help="sample among the k likeliest").shown_default = "all"
    s.add_argument("--greedy", action="store_true", help="always take the likeliest character")

    e = sub.add_parser("eval", help="a checkpoint's loss on a text file",
                       description="Loss of a checkpoint on a text file: nats/char, bits/char, perplexity.")
    e.add_argument("checkpoint", help="a .npz file, or a run folder (its best.npz, else latest.npz)")
    e.add_argument("file", help="text file")
    e.add_argument("--skip-unknown", action="store_true", help="drop characters outside the vocabulary")
    e.add_argument("--encoding", default="utf-8", metavar="NAME", help="the file's text encoding")

    v = sub.add_parser("viz", help="an HTML page to see inside a model: units, predictions, a baseline",
                       description="Write one self-contained HTML page (it opens from disk, offline) showing "
                                   "a text coloured by any unit, the model's next-character guesses, the "
                                   "units that track simple features of the text, gate saturation and where "
                                   "the model beats an n-gram model.")
    v.add_argument("checkpoint", help="a .npz file, or a run folder (its best.npz, else latest.npz)")
    which = v.add_mutually_exclusive_group()
    which.add_argument("--text", metavar="FILE", help="show this text").shown_default = "a sample from the model"
    which.add_argument("--prime", default="", metavar="TEXT", help="sample the text from the model, starting with "
                                                                    "this").shown_default = "one random character"
    v.add_argument("--length", type=positive_int, metavar="N", help="characters: of the sample, or the first of "
                                                                    "FILE").shown_default = f"{VIZ_SAMPLE}, or all of FILE"
    v.add_argument("--seed", type=count, metavar="N", default=0, help="the sample's random seed")
    v.add_argument("--train-text", metavar="FILE", help="count the n-gram baseline from FILE").shown_default = (
        "the run's training text, named in the checkpoint")
    v.add_argument("--signals", metavar="A,B", help="the signals the page carries per character and ranks, "
                                                    "comma-separated; fewer make a smaller page").shown_default = (
        "all: h; an LSTM's h,tanh_c,i,f,o,g; a GRU's h,r,z,n")
    v.add_argument("--skip-unknown", action="store_true", help="drop characters outside the vocabulary")
    v.add_argument("--encoding", default="utf-8", metavar="NAME", help="the text files' encoding")
    v.add_argument("--out", default="viz.html", metavar="FILE", help="the page")

    p = sub.add_parser("plot", help="loss curves of one or more runs (needs minrnn[plot])",
                       description="Training and validation loss against iterations and against minutes, "
                                   "from each run folder's log.csv, runs overlaid.")
    p.add_argument("runs", nargs="+", metavar="RUN_DIR", help="run folders")
    p.add_argument("--label", action="append", metavar="NAME", help="a run's name in the legend, once per "
                                                                    "RUN_DIR").shown_default = "the folder's name"
    p.add_argument("--out", default="loss.png", metavar="FILE", help="the picture: png, svg or pdf")

    u = sub.add_parser("tune", help="a search over models on Ray Tune (needs minrnn[tune])",
                       description="Train many models on one text, a few at a time on this machine's cores or "
                                   "on a Ray cluster, stopping the weak ones early (ASHA, on the validation "
                                   "loss of each evaluation); each trial is a run folder in OUT/trials/. At the "
                                   "end: a table of the trials, best first, the best trial's folder, the "
                                   "command lines that reproduce and continue it, and OUT/curves.png.",
                       epilog="The default space (a list: a choice; loguniform/uniform: a range; a value: "
                              f"fixed): {tune.shown_space()}")
    u.add_argument("file", nargs="?", metavar="TEXT", help="text file").shown_default = "none: give it, or --resume/--report"
    u.add_argument("--out", metavar="DIR", help="the search's folder").shown_default = "runs/tune-<time>"
    u.add_argument("--space", metavar="FILE", help="a JSON file of the default space's shape (below), replacing "
                                                   "it").shown_default = "the default space"
    u.add_argument("--trials", type=positive_int, metavar="N", default=8, help="trials to run")
    u.add_argument("--minutes-per-trial", type=positive_float, metavar="X", default=5.0,
                   help="each trial's --minutes (its schedule anneals over them)")
    u.add_argument("--iterations-per-trial", type=positive_int, metavar="N", help="each trial's --iterations, "
                   "instead of minutes (reproducible to the bit)").shown_default = "none"
    u.add_argument("--cores-per-trial", type=positive_int, metavar="N", default=1,
                   help="cores (and BLAS threads) each trial gets; concurrent trials: cores / this")
    u.add_argument("--cpus", type=positive_int, metavar="N", help="cores of the local Ray").shown_default = "all"
    u.add_argument("--address", metavar="HOST:PORT", help="an existing Ray cluster's head "
                   "(`ray start --head` prints it)").shown_default = "$RAY_ADDRESS, else a local Ray"
    u.add_argument("--encoding", default="utf-8", metavar="NAME", help="the text file's encoding")
    u.add_argument("--seed", type=count, metavar="N", default=0, help="seed of the draws from the space")
    u.add_argument("--retries", type=count, metavar="N", default=3, help="times a failed trial continues from "
                                                                        "its latest.npz")
    u.add_argument("--resume", metavar="OUT", help="continue the interrupted search in OUT")
    u.add_argument("--report", metavar="OUT", help="print and write the report of the search in OUT, and exit")
    return parser


def _check_sample_length(n, flag):
    # generate() holds the indices and the decoded text: about 20 bytes a character
    config.check_fits(20 * n, f"{flag} {n}")


def info(text):
    print(f"minrnn: {text}", file=sys.stderr, flush=True)


def cmd_classic(args):
    _check_sample_length(args.sample_length, "--sample-length")
    ix, chars = data.read_corpus(args.file, args.encoding)
    config.check_fits(ModelConfig(len(chars), hidden=args.hidden, dtype="float64").train_bytes(1, 1, args.seq_length),
                      f"a model with --hidden {args.hidden}")
    run_classic(ix, chars, args.hidden, args.seq_length, args.lr, args.seed, args.iterations,
                args.sample_every, args.sample_length, args.print_every)


def load_corpus(path, encoding, chars=None):
    if path:
        ix, chars = data.read_corpus(path, encoding, chars)
        return ix, chars, str(path)
    ix, builtin_chars, name = data.builtin_corpus()
    if chars is not None and builtin_chars != chars:
        raise MinrnnError(f"the built-in corpus ({name}) does not fit the checkpoint's vocabulary")
    return ix, builtin_chars, name


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


def cmd_train(args):
    given = {name: getattr(args, name) for name in config.FIELDS if hasattr(args, name)}
    say = (lambda text: None) if args.quiet else info
    if args.quiet and given.get("sample_every"):
        raise MinrnnError("--quiet prints no samples; leave out --sample-every or --quiet")
    init = which = None
    if args.resume:
        if args.init_from:
            raise MinrnnError("--init-from starts a new run and --resume continues one: give one of them")
        if args.out and Path(args.out) != Path(args.resume):
            raise MinrnnError("--resume continues the run in its own folder; leave out --out")
        latest = run.run_checkpoint(args.resume)
        out = latest.parent
        RunFolder.check_free(out)
        saved, vocabulary = run.read_saved(latest)
        cfg, warnings = config.resumed(saved, given, latest)
        if args.file:  # the run's text, moved: found there from now on
            cfg = dataclasses.replace(cfg, corpus=str(Path(args.file).resolve()))
        ix, chars, name = load_corpus(cfg.corpus, cfg.encoding)
        run.check_vocabulary(vocabulary, chars, latest)  # before anything is printed
        for warning in warnings:
            say(f"warning: {warning}")
    else:
        path = args.file or ("input.txt" if Path("input.txt").exists() else "")
        if "encoding" in given and not path:
            raise MinrnnError("--encoding applies to a text file, and none is given (the built-in corpus is "
                              "Python's own source); give FILE, or leave out --encoding")
        cfg = config.Config(**given, corpus=str(Path(path).resolve()) if path else "")
        chars = None
        if args.init_from:
            ckpt, which, init, meta = read_weights(args.init_from)
            cfg, chars = config.fine_tuned(cfg, given, init.config, ckpt), meta["vocab"]
        config.check(cfg)
        if args.out:  # before reading what may be a large text
            check_out(Path(args.out))
        ix, chars, name = load_corpus(path, cfg.encoding, chars)
        out = Path(args.out) if args.out else Path("runs") / f"{Path(name).stem}-{time.strftime('%Y%m%d-%H%M%S')}"
        check_out(out)
    if which:
        say(which)
    say(f"training on {name}: {len(ix):,} characters, {len(chars)} distinct; run folder {out}")
    result = train(cfg, ix, chars, out, resume=bool(args.resume), init=init, quiet=args.quiet)
    latest = Path(result["out"]) / "latest.npz"
    if not latest.exists():
        say("stopped before the first iteration: nothing was saved")
        return
    how = "interrupted; saved" if result["stopped_by"] == "interrupted" else "saved"
    say(f"{how} at iteration {result['iteration']}: {latest}"
        + (f" (best val {result['best_val']:.4f} nats/char)" if math.isfinite(result["best_val"]) else ""))


def read_weights(path):
    """(path, which, model, meta) of the checkpoint a command reads weights from; `which`, for a
    run folder, is a line saying which of its checkpoints that is, for stderr once the command
    has succeeded (so that an error stays the only line)."""
    path, which = run.weights_checkpoint(path)
    model, _, meta = load_model(path)
    return path, which, model, meta


def tell(which):
    if which:
        info(which)


def sampled(model, chars, prime_text, length, seed, temperature=1.0, top_k=0, greedy=False):
    """The indices of prime_text followed by `length` characters sampled from the model."""
    lookup = {c: i for i, c in enumerate(chars)}
    unknown = sorted(set(prime_text) - set(chars))
    if unknown:
        raise MinrnnError("--prime has characters outside the model's vocabulary: " + " ".join(map(repr, unknown)))
    rng = np.random.default_rng(seed)
    primed = [lookup[c] for c in prime_text] or [int(rng.integers(len(chars)))]
    state = prime(model, primed, model.zero_state())
    with np.errstate(over="ignore", under="ignore"):  # a huge temperature is uniform sampling: fine
        ixs, _ = generate(model, rng, state, primed[-1], length, temperature, top_k, greedy)
    return np.concatenate([primed if prime_text else [], ixs]).astype(np.int64)


def cmd_sample(args):
    _check_sample_length(args.length, "--length")
    _, which, model, meta = read_weights(args.checkpoint)
    greedy = args.greedy or args.temperature < GREEDY_BELOW
    ixs = sampled(model, meta["vocab"], args.prime, args.length, args.seed, args.temperature, args.top_k or 0, greedy)
    text = data.decode(ixs, meta["vocab"]) + "\n"
    tell(which)
    try:
        sys.stdout.write(text)
    except UnicodeEncodeError as e:
        raise MinrnnError(f"the sample holds {e.object[e.start:e.end]!r}, which this terminal's encoding "
                          f"({e.encoding}) cannot show; set PYTHONIOENCODING=utf-8", exit_code=1) from None


def read_for_model(path, chars, encoding, skip_unknown):
    """A text file as indices into a model's vocabulary; characters outside it are counted in
    an error, or dropped with skip_unknown."""
    data.check_encoding(encoding)
    if skip_unknown:
        return data.read_corpus_skipping_unknown(path, chars, encoding)[0]
    unknown = data.count_unknown(path, chars, encoding)
    if unknown:
        raise MinrnnError(f"{path}: {unknown} character(s) are outside the model's vocabulary; "
                          "pass --skip-unknown to leave them out")
    return data.read_corpus(path, encoding, chars)[0]


def cmd_eval(args):
    path, which, model, meta = read_weights(args.checkpoint)
    ix = read_for_model(args.file, meta["vocab"], args.encoding, args.skip_unknown)
    if len(ix) < 2:
        raise MinrnnError(f"{args.file}: needs at least 2 characters to evaluate")
    layout = []
    for name, default in (("batch_size", 1), ("seq_length", 25)):
        saved = meta.get("config")
        v = saved.get(name, default) if isinstance(saved, dict) else None
        if not checkpoint.whole_number(v, 1):
            raise MinrnnError(f"{path}: its config has an invalid {name} ({v!r})")
        layout.append(v)
    nats = evaluate(model, ix, *layout)
    tell(which)
    print(f"{args.file}: {len(ix):,} characters\n"
          f"loss {nats:.4f} nats/char, {nats / math.log(2):.4f} bits/char, perplexity {math.exp(nats):.3f}")


def check_out_file(path):
    """An output file's problems, found before the work that fills it."""
    path = Path(path)
    if path.is_dir():
        raise MinrnnError(f"{path}: is a folder; --out takes a file name")
    if not path.parent.is_dir():
        raise MinrnnError(f"{path}: cannot write there (no folder {path.parent})")
    if not os.access(path.parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise MinrnnError(f"{path}: cannot write there (permission denied)")


def ngram_text(args, meta, chars, page_ix):
    """(indices, note, warning) of the text the n-gram baseline is counted from: --train-text,
    else the run's training text as the run split it (the part it trained on), else the page's
    own text, with a note saying what that means."""
    if args.train_text:
        ix = read_for_model(args.train_text, chars, args.encoding, args.skip_unknown)
        return ix, f"n-gram counted from {args.train_text} ({len(ix):,} characters).", False
    saved = meta["config"]
    corpus, val = saved.get("corpus"), saved.get("val_frac", 0)
    if not isinstance(corpus, str):
        why = "the checkpoint names no training text"
    else:
        try:
            ix, _, name = load_corpus(corpus, saved.get("encoding", "utf-8"), chars)
        except (MinrnnError, LookupError, TypeError) as e:
            why = f"the run's training text could not be used ({e})"
        else:
            val = val if isinstance(val, float) and 0 <= val < 1 else 0
            ix = data.split(ix, val)[0]
            return ix, (f"n-gram counted from the run's training text, {name}: the {len(ix):,} characters "
                        "the RNN trained on" + (f" (its last {val:.0%} held out)." if val else ".")), False
    return page_ix, (f"n-gram counted from this page's own text, since {why}: it has seen every character it "
                     "predicts, so it looks better than it is. Give the training text with --train-text FILE."), True


def viz_text(args, model, chars):
    """(indices, a line saying what they are) of the text the page shows: --text FILE (its first
    --length characters), else a sample of --length characters after --prime."""
    if args.text:
        ix = read_for_model(args.text, chars, args.encoding, args.skip_unknown)
        whole, ix = len(ix), ix[:args.length]
        if len(ix) < 2:
            raise MinrnnError(f"{args.text}: needs at least 2 characters to show")
        return ix, f"Text: {args.text}" + (f", its first {len(ix):,} of {whole:,} characters." if len(ix) < whole else ".")
    length = args.length or VIZ_SAMPLE
    _check_sample_length(length, "--length")
    return sampled(model, chars, args.prime, length, args.seed), (
        f"Text: {length:,} characters sampled from the model (seed {args.seed}, temperature 1)"
        + (f" after the prime {args.prime!r}." if args.prime else "."))


def cmd_viz(args):
    started = time.perf_counter()
    check_out_file(args.out)
    where, which, model, meta = read_weights(args.checkpoint)
    chars = meta["vocab"]
    ix, about = viz_text(args, model, chars)
    cell, n_layers, hidden = model.config.cell, model.config.layers, model.config.hidden
    signals = inspect.SIGNALS[cell] if args.signals is None else args.signals.split(",")
    wrong = [name for name in signals if name not in inspect.SIGNALS[cell]]
    if wrong or not signals:
        raise MinrnnError(f"--signals: {', '.join(map(repr, wrong)) or 'none given'}; the {cell.upper()}'s "
                          f"signals are {','.join(inspect.SIGNALS[cell])}")
    size = inspect.page_bytes(len(ix), n_layers, hidden, len(set(signals)))
    if len(ix) > VIZ_MAX_CHARS or size > VIZ_MAX_BYTES:
        fit = min(VIZ_MAX_CHARS, int(len(ix) * VIZ_MAX_BYTES / size))
        raise MinrnnError(f"a page of {len(ix):,} characters is too large to draw (about {size / 1e6:,.0f} MB); "
                          f"pass --length {fit:,} or less")
    train_ix, note, warning = ngram_text(args, meta, chars, ix)
    page_data = inspect.page_data(model, ix, chars, inspect.ngram_probs(train_ix, ix, len(chars)),
                                  {"checkpoint": str(where), "text": about, "ngram": note, "ngram_warning": warning},
                                  signals)
    page = viz.render(page_data, f"minrnn viz: {where.parent.name}/{where.name}")
    try:
        Path(args.out).write_text(page, "utf-8")
    except OSError as e:
        raise MinrnnError(f"cannot write {args.out} ({e.strerror or e})", exit_code=1) from None
    tell(which)
    info(f"wrote {args.out}: {len(page.encode()) / 1e6:.1f} MB, {len(ix):,} characters, {cell} {n_layers} x {hidden}, "
         f"in {time.perf_counter() - started:.1f} s")
    if len(signals) > 1 and size > VIZ_LARGE_BYTES:
        info(f"a large page: --signals h would make it about {inspect.page_bytes(len(ix), n_layers, hidden, 1) / 1e6:.1f} "
             "MB (the leaderboard then ranks h alone; gate saturation still shows every gate)")
    if warning:
        info(note)
    for fi, f in enumerate(page_data["features"]):
        best = next((r for r in page_data["leaderboard"] if r[0] == fi), None)  # best first per feature
        if best:
            info(f"  {f['label']}: layer {best[1] + 1} {best[2]} unit {best[3]}, r {best[4]:+.2f}"
                 + (f", AUC {best[5]:.2f}" if best[5] is not None else ""))
        else:
            info(f"  {f['label']}: constant in this text")


def cmd_plot(args):
    if args.label and len(args.label) != len(args.runs):
        raise MinrnnError(f"--label is given {len(args.label)} time(s) for {len(args.runs)} run folder(s); "
                          "give one per folder, or none")
    check_out_file(args.out)
    done = plot.plot_runs(args.runs, args.out, args.label)
    info(f"wrote {args.out}: {done['runs']} run(s), {done['points']} logged points")


def cmd_tune(args):
    given = [f for f in ("file", "out", "space", "iterations_per_trial") if getattr(args, f)]
    for flag, folder in (("--resume", args.resume), ("--report", args.report)):
        if folder and given:
            raise MinrnnError(f"{flag} continues or reports a search as it was set up; leave out "
                              + ", ".join("TEXT" if f == "file" else config.flag(f) for f in given))
    if args.resume and args.report:
        raise MinrnnError("give one of --resume and --report")
    if args.report:
        tune.report(args.report, say=print)
    elif args.resume:
        tune.resume(args.resume, address=args.address, cpus=args.cpus, say=print)
    elif not args.file:
        raise MinrnnError("give the text to search on: minrnn tune TEXT (or --resume OUT, --report OUT)")
    else:
        out = Path(args.out) if args.out else Path("runs") / f"tune-{time.strftime('%Y%m%d-%H%M%S')}"
        tune.search(args.file, out, space=tune.read_space(args.space) if args.space else None, trials=args.trials,
                    minutes_per_trial=args.minutes_per_trial, iterations_per_trial=args.iterations_per_trial,
                    cores_per_trial=args.cores_per_trial, cpus=args.cpus, address=args.address,
                    encoding=args.encoding, seed=args.seed, retries=args.retries, say=print)


COMMANDS = {"classic": cmd_classic, "train": cmd_train, "sample": cmd_sample, "eval": cmd_eval,
            "viz": cmd_viz, "plot": cmd_plot, "tune": cmd_tune}


def _one_line(message):
    """An error stays one line even when it quotes a file name holding a line break."""
    return str(message).replace("\r", "\\r").replace("\n", "\\n")


def main(argv=None):
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:  # said by the subcommand's parser, whose --help lists what it takes
        parser.commands[args.command].error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        COMMANDS[args.command](args)
    except MinrnnError as e:
        print(f"minrnn: error: {_one_line(e)}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("minrnn: interrupted", file=sys.stderr)
        return 130
    except MemoryError:
        print("minrnn: error: out of memory", file=sys.stderr)
        return 1
    except OSError as e:
        print("minrnn: error: " + _one_line(f"{e.strerror or e}" + (f": {e.filename}" if e.filename else "")),
              file=sys.stderr)
        return 1
    return 0


def entry():
    """The `minrnn` command (console script and python -m minrnn): main(), then exit. A Ctrl-C
    that arrives once the work is done and saved would otherwise raise KeyboardInterrupt inside
    the interpreter's shutdown and print a traceback; there is nothing left to interrupt."""
    code = main()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    return code
