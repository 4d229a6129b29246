"""The `minrnn` command: argparse subcommands that call the API a notebook calls (api.py) and
print what it returns, and the one place where errors become a single line on stderr and an
exit code (2: bad input, 1: failure).

argparse only parses: `train`'s settings, their help, defaults and valid values come from
config.Config, and config.check judges a configuration whatever its source."""
import argparse
import signal
import sys
import textwrap
import time

from . import __version__, api, config, data, tune
from .api import info
from .classic import run_classic
from .errors import MinrnnError
from .model import ModelConfig

METAVARS = {int: "N", float: "X", str: "NAME"}


def _number(kind, low, inclusive, high=None):
    """An argparse type: the text as a number, judged by api.number_problem (what the API's
    keywords are judged by)."""
    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a{'n int' if kind is int else ' number'}") from None
        why = api.number_problem(value, kind, low, inclusive, high)
        if why:
            raise argparse.ArgumentTypeError(f"{text} {why}")
        return value
    return parse


positive_int, positive_float = _number(int, 0, False), _number(float, 0, False)
count = _number(int, 0, True)


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
    c.add_argument("--seed", type=_number(int, 0, True, 2**32 - 1), metavar="N", default=0, help="RandomState seed")
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
    t.add_argument("--resume", metavar="DIR", help="continue the run in DIR exactly (its latest.npz)"
                   ).shown_default = "none: a new run"
    t.add_argument("--init-from", metavar="CKPT", help="start a new run from a checkpoint's weights (a run "
                                                        "folder: its best.npz, else latest.npz)"
                   ).shown_default = "none: weights drawn from --seed"
    t.add_argument("--quiet", action="store_true", help="print nothing but errors")

    s = sub.add_parser("sample", help="generate text from a checkpoint",
                       description="Generate text from a checkpoint; the text alone goes to stdout.")
    s.add_argument("checkpoint", help="a .npz file, or a run folder (its best.npz, else latest.npz)")
    s.add_argument("--length", type=positive_int, metavar="N", default=500, help="characters to generate")
    s.add_argument("--temperature", type=positive_float, metavar="X", default=1.0,
                   help=f"> 0: below 1 more conservative, above 1 more varied; below {api.GREEDY_BELOW:g} it is "
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
    e.add_argument("--threads", type=positive_int, metavar="N", help="threads to compute on; the loss is the same on "
                                                                      "any number").shown_default = "all cores"

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
                                                                    "FILE").shown_default = f"{api.VIZ_SAMPLE}, or all of FILE"
    v.add_argument("--seed", type=count, metavar="N", default=0, help="the sample's random seed")
    v.add_argument("--train-text", metavar="FILE", help="count the n-gram baseline from FILE").shown_default = (
        "the run's training text, named in the checkpoint")
    v.add_argument("--signals", metavar="A,B", help="the signals the page offers and ranks, comma-separated "
                                                    "(the page computes them: they cost it no size)").shown_default = (
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


def cmd_classic(args):
    api.sample_fits(args.sample_length, "--sample-length")
    ix, chars = data.read_corpus(args.file, args.encoding)
    config.check_fits(ModelConfig(len(chars), hidden=args.hidden, dtype="float64").train_bytes(1, 1, args.seq_length),
                      f"a model with --hidden {args.hidden}")
    run_classic(ix, chars, args.hidden, args.seq_length, args.lr, args.seed, args.iterations,
                args.sample_every, args.sample_length, args.print_every)


def cmd_train(args):
    given = {name: getattr(args, name) for name in config.FIELDS if hasattr(args, name)}
    api.train(args.file, out=args.out, resume=args.resume, init_from=args.init_from, quiet=args.quiet, **given)


def tell(which):
    if which:
        info(which)


def cmd_sample(args):
    model = api.load(args.checkpoint)
    text = model.sample(args.length, prime=args.prime, temperature=args.temperature, top_k=args.top_k,
                        greedy=args.greedy, seed=args.seed) + "\n"
    tell(model.which)
    try:
        sys.stdout.write(text)
    except UnicodeEncodeError as e:
        raise MinrnnError(f"the sample holds {e.object[e.start:e.end]!r}, which this terminal's encoding "
                          f"({e.encoding}) cannot show; set PYTHONIOENCODING=utf-8", exit_code=1) from None


def cmd_eval(args):
    model = api.load(args.checkpoint)
    result = model.evaluate(args.file, skip_unknown=args.skip_unknown, encoding=args.encoding, threads=args.threads)
    tell(model.which)
    print(result)


def cmd_viz(args):
    started = time.perf_counter()
    api.check_out_file(args.out)
    model = api.load(args.checkpoint)
    page = model.viz(args.text, length=args.length, prime=args.prime, seed=args.seed, train_text=args.train_text,
                     signals=args.signals, skip_unknown=args.skip_unknown, encoding=args.encoding)
    page.save(args.out)
    tell(model.which)
    info(f"wrote {args.out}: {len(page.html.encode()) / 1e6:.1f} MB, {page.characters:,} characters, {page.model}, "
         f"in {time.perf_counter() - started:.1f} s")
    for line in page.lines:
        info(line)


def cmd_plot(args):
    api.check_out_file(args.out)
    picture = api.plot(*args.runs, labels=args.label)
    picture.save(args.out)
    info(f"wrote {args.out}: {picture.runs} run(s), {picture.points} logged points")


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
        tune.search(args.file, args.out, space=tune.read_space(args.space) if args.space else None, trials=args.trials,
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
