"""The `minrnn` command: argparse subcommands made from each command's options (options.py),
calling the functions a notebook calls (api.py) and printing what they return; and the one
place where errors become a single line on stderr and an exit code (2: bad input, 1: failure).

argparse only parses: every option's flag, help, default and valid values come from its one
definition, and the API judges a call by the same definitions."""
import argparse
import dataclasses
import json
import os
import signal
import sys
import textwrap
import time

from . import __version__, api, classic, curves, evaluate, options, outfile, plan, sample, serve, tune
from .api import info
from .errors import FACE, MinrnnError
from .progress import StopSignal
from .viz import page


class _Help(argparse.HelpFormatter):
    """Every option's help ends with its default, as its definition shows it (the argparse
    default is SUPPRESS, so that a flag left out is known as such)."""

    def _get_help_string(self, action):
        shown = getattr(action, "shown_default", None)
        if action.help is None or shown is None:
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


def cmd_train(a):
    api.train(**a.said())


def say_which(model):
    if model.which:
        info(model.which)


FLUSH_EVERY = 0.2  # seconds: the longest a streamed character waits in the output buffer


def write_as_made(pieces, out):
    """Text pieces written to `out` as they come: flushed at each line break, and whenever the
    next piece, expected after as long as the last one took, would leave text unflushed for
    more than FLUSH_EVERY seconds (a slow model flushes every piece, a fast one a few times a
    second: a flush is a system call). The first piece (the prime) is flushed at once."""
    flushed = last = time.monotonic() - FLUSH_EVERY
    for piece in pieces:
        out.write(piece)
        now = time.monotonic()
        if "\n" in piece or 2 * now - last - flushed >= FLUSH_EVERY:
            out.flush()
            flushed = now
        last = now


def cmd_sample(a):
    model = api.load(a.path)
    settings = api_said(a, sample.OPTIONS)
    out = sys.stdout
    try:
        with StopSignal() as stop:  # Ctrl-C and SIGTERM end the samples where they are, printed
            settings["until"] = lambda: stop.requested
            if a.json or a.n is not None or a.beam is not None:
                made = model.sample(**settings, details=True)
                made = made if a.n is not None else [made]
                say_which(model)
                if a.json:
                    out.write("".join(json.dumps(dataclasses.asdict(s)) + "\n" for s in made))
                else:  # one after another, a line of ---- between them
                    out.write("----\n".join(s.prime + s.text + "\n" for s in made))
            else:  # one sample, written as it is made
                pieces = model.stream(**settings)  # the request is judged here, before any output
                say_which(model)
                write_as_made(pieces, out)
                out.write("\n")
            out.flush()
    except UnicodeEncodeError as e:
        raise MinrnnError(f"the sample holds {e.object[e.start:e.end]!r}, which this terminal's encoding "
                          f"({e.encoding}) cannot show; set PYTHONIOENCODING=utf-8", exit_code=1) from None
    except BrokenPipeError:  # the reader has gone (`minrnn sample ... | head`): nothing more to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), out.fileno())  # so that the flush at exit is quiet too
        return
    if stop.requested:
        info("interrupted: the text ends where it was")


def api_said(a, options):
    """The options given on the command line that the API takes too, as keywords."""
    return a.said({name for name, option in options.items() if option.api})


def cmd_eval(a):
    model = api.load(a.path)
    result = model.evaluate(**api_said(a, evaluate.OPTIONS))
    say_which(model)
    print(json.dumps({"checkpoint": str(model.path), **result.as_dict()}) if a.json else result)


def cmd_viz(a):
    started = time.perf_counter()
    outfile.check(a.out)
    model = api.load(a.path)
    shown = model.viz(**api_said(a, page.OPTIONS))
    shown.save(a.out)
    say_which(model)
    info(f"wrote {a.out}: {len(shown.html.encode()) / 1e6:.1f} MB, {shown.characters:,} characters, {shown.model}, "
         f"in {time.perf_counter() - started:.1f} s")
    for line in shown.lines:
        info(line)


def cmd_plot(a):
    outfile.check(a.out)
    picture = api.plot(*a.runs, labels=a.labels)
    picture.save(a.out)
    info(f"wrote {a.out}: {picture.runs} run(s), {picture.points} logged points")


@dataclasses.dataclass(frozen=True)
class Command:
    run: object  # the function, given the options' Values
    options: dict
    help: str
    description: str
    epilog: str | None = None


COMMANDS = {
    "classic": Command(classic.command, classic.OPTIONS, "min-char-rnn, exactly: batch 1, float64, Adagrad",
                       "Train min-char-rnn's vanilla RNN and print as it prints."),
    "train": Command(cmd_train, plan.TRAIN, "batched training with validation and checkpoints",
                     "Train a character-level RNN; checkpoints go to a run folder. The budget flags are totals "
                     "for the run, counted across resumes."),
    "sample": Command(cmd_sample, {**api.CHECKPOINT, **sample.OPTIONS}, "generate text from a checkpoint",
                      "Generate text from a checkpoint; the text alone goes to stdout: one sample as it is made, "
                      "several with a line of ---- between them, or JSON Lines (--json). Ctrl-C ends the text "
                      "where it is."),
    "eval": Command(cmd_eval, {**api.CHECKPOINT, **evaluate.OPTIONS}, "a checkpoint's loss on a text file",
                    "Loss of a checkpoint on a text file: nats/char, bits/char, perplexity."),
    "viz": Command(cmd_viz, {**api.CHECKPOINT, **page.OPTIONS},
                   "an HTML page to see inside a model: units, predictions, a baseline",
                   "Write one self-contained HTML page (it opens from disk, offline) showing a text coloured by "
                   "any unit, the model's next-character guesses, the units that track simple features of the "
                   "text, gate saturation and where the model beats an n-gram model."),
    "plot": Command(cmd_plot, curves.OPTIONS, "loss curves of one or more runs (needs minrnn[plot])",
                    "Training and validation loss against iterations and against minutes, from each run "
                    "folder's log.csv, runs overlaid."),
    "serve": Command(serve.command, serve.OPTIONS, "an OpenAI-compatible completions server (needs minrnn[serve])",
                     "Serve models over HTTP with OpenAI's completions API (POST /v1/completions, GET /v1/models, "
                     "GET /health), so that the official openai client and the tools that speak it work unchanged "
                     "with base_url http://HOST:PORT/v1. Requests running at once share one batched step per "
                     "character. SIGTERM or Ctrl-C ends the requests in flight and exits 0."),
    "tune": Command(tune.command, tune.OPTIONS, "a search over models on Ray Tune (needs minrnn[tune])",
                    "Train many models on one text, a few at a time on this machine's cores or on a Ray cluster, "
                    "stopping the weak ones early (ASHA, on the validation loss of each evaluation); each trial "
                    "is a run folder in OUT/trials/. At the end: a table of the trials, best first, the best "
                    "trial's folder, the command lines that reproduce and continue it, and OUT/curves.png.",
                    "The default space (a list: a choice; loguniform/uniform: a range; a value: fixed): "
                    f"{tune.shown_space()}"),
}


def build_parser():
    parser = _Parser(
        prog="minrnn", description="Character-level recurrent language models, from scratch in NumPy.")
    parser.add_argument("--version", action="version", version=f"minrnn {__version__}",
                        help="show the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    parser.commands = sub.choices
    for name, command in COMMANDS.items():
        p = sub.add_parser(name, help=command.help, description=command.description, epilog=command.epilog)
        options.add_arguments(p, command.options)
    return parser


def _one_line(message):
    """An error stays one line even when it quotes a file name holding a line break."""
    return str(message).replace("\r", "\\r").replace("\n", "\\n")


def main(argv=None):
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:  # said by the subcommand's parser, whose --help lists what it takes
        parser.commands[args.command].error(f"unrecognized arguments: {' '.join(extra)}")
    command = COMMANDS[args.command]
    face = FACE.set("cli")  # messages name options as flags
    try:
        command.run(options.parsed(args, command.options))
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
    finally:
        FACE.reset(face)
    return 0


def entry():
    """The `minrnn` command (console script and python -m minrnn): main(), then exit. A Ctrl-C
    that arrives once the work is done and saved would otherwise raise KeyboardInterrupt inside
    the interpreter's shutdown and print a traceback; there is nothing left to interrupt."""
    code = main()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    return code
