"""A run's arguments settled into a Plan before it starts: which text (a file, text=, the run's
own, or the built-in corpus), which folder, and which config: new, resumed, or fine-tuned from a
checkpoint (--init-from), with every check between them, in the order that finds a mistake
before a long read of the text. `minrnn train` and minrnn.train both come here."""
import dataclasses
import time
from pathlib import Path

import numpy as np

from . import checkpoint, config, data, options, outfile
from .errors import MinrnnError, said
from .options import FUNCTION, PATH, Option
from .runfolder import TrainingFolder, resume_file, weights_file

TEXT_COPY = "text.txt"  # where a run trained on text= keeps its text, so that it can be resumed

# The run's own arguments; with config.OPTIONS (the settings), what `minrnn train` takes
OPTIONS = options.group(
    file=Option(PATH, None, "text file", positional="?",
                unset="./input.txt if present, else Python's standard library source; with --resume, the run's"),
    text=Option(str, None, "the text itself, instead of a file: kept in the run folder as text.txt", cli=False,
                unset="none", hint="text= takes the text itself; a file's path goes first, or as file="),
    out=Option(PATH, None, "run folder", metavar="DIR", unset="runs/<corpus>-<time>"),
    resume=Option(PATH, None, "continue the run in DIR exactly (its latest.npz)", metavar="DIR",
                  unset="none: a new run"),
    init_from=Option(PATH, None, "start a new run from a checkpoint's weights (a run folder: its best.npz, else "
                     "latest.npz)", metavar="CKPT", unset="none: weights drawn from --seed"),
    quiet=Option(bool, False, "print nothing but errors"),
    on_eval=Option(FUNCTION, None, "called with each evaluation's log row, after its checkpoint", cli=False,
                   unset="none"),
)
TRAIN = {**{name: option for name, option in config.OPTIONS.items() if option.api}, **OPTIONS}


@dataclasses.dataclass
class Plan:
    """A run settled: everything the training loop needs, and what to say before it starts."""
    cfg: config.Config
    ix: np.ndarray
    chars: list
    name: str  # the text's, for the display
    out: Path
    resume: bool
    init: object  # a CharRNN whose weights a new run starts from, or None
    text: str | None  # text= given: written to out/text.txt, the run's corpus
    notes: list  # lines to say before training: which checkpoint was read, warnings


def _given_text(text, chars=None):
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
                raise MinrnnError(f"{folder}: exists and is not a folder; choose another {said('out')}")
            break
    TrainingFolder.check_free(out)
    if (out / "latest.npz").exists():
        raise MinrnnError(f"{out}: already holds a run; continue it with {said('resume', str(out))} or choose "
                          f"another {said('out')}")


def _new_folder(name):
    """runs/<corpus>-<time>, with -2, -3... when a run started in the same second has it."""
    base = Path("runs") / f"{Path(name).stem}-{time.strftime('%Y%m%d-%H%M%S')}"
    out, n = base, 1
    while out.exists():
        n += 1
        out = base.with_name(f"{base.name}-{n}")
    return out


def settle(a):
    """The run's arguments `a` (TRAIN's, judged) as a Plan."""
    given = {name: getattr(a, name) for name in a.given if name in config.OPTIONS}
    file, text, out = a.file, a.text, a.out
    if a.quiet and given.get("sample_every"):
        raise MinrnnError(f"{said('quiet')} prints no samples; leave out {said('sample_every')} or {said('quiet')}")
    if file and text is not None:
        raise MinrnnError("give the text as a file or as text=, not both")
    if text is not None and "encoding" in given:
        raise MinrnnError("encoding applies to a text file; text= is the text itself: leave out encoding")
    notes, init = [], None
    if a.resume is not None:
        if a.init_from is not None:
            raise MinrnnError(f"{said('init_from')} starts a new run and {said('resume')} continues one: give one "
                              "of them")
        if out is not None and Path(out) != Path(a.resume):
            raise MinrnnError(f"{said('resume')} continues the run in its own folder; leave out {said('out')}")
        latest = resume_file(a.resume)
        out = latest.parent
        TrainingFolder.check_free(out)
        meta = checkpoint.read_meta(latest)
        saved = config.from_meta(meta, latest)
        cfg, warnings = config.resumed(saved, given, latest)
        if text is not None:
            file = out / TEXT_COPY
            ix, chars, name = _given_text(text)
        if file:  # the run's text, moved: found there from now on
            cfg = dataclasses.replace(cfg, corpus=str(Path(file).resolve()))
        if text is None:
            ix, chars, name = data.load_corpus(cfg.corpus, cfg.encoding)
        if meta["vocab"] != chars:  # before anything is printed
            raise MinrnnError(f"{latest}: its vocabulary differs from the text's; resume with the text "
                              "the run was started on")
        notes += [f"warning: {warning}" for warning in warnings]
    else:
        if not file and text is None and Path("input.txt").exists():
            file = "input.txt"
        if "encoding" in given and not file:
            raise MinrnnError(f"{said('encoding')} applies to a text file, and none is given (the built-in corpus is "
                              f"Python's own source); give {said('file', flag='FILE')}, or leave out {said('encoding')}")
        cfg = config.Config(**given, corpus=str(Path(file).resolve()) if file else "")
        chars = None
        if a.init_from is not None:
            path, which = weights_file(a.init_from)
            start, meta = checkpoint.read_model(path)
            cfg, chars, init = config.fine_tuned(cfg, given, start.config, path), meta["vocab"], start
            notes += [which] if which else []
        config.check(cfg)
        if out is not None:  # before reading what may be a large text
            check_out(Path(out))
        ix, chars, name = _given_text(text, chars) if text is not None else data.load_corpus(file, cfg.encoding, chars)
        out = Path(out) if out is not None else _new_folder(name)
        check_out(out)
        if text is not None:
            cfg = dataclasses.replace(cfg, corpus=str((out / TEXT_COPY).resolve()))
    return Plan(cfg, ix, chars, name, Path(out), a.resume is not None, init, text, notes)


def keep_text(plan):
    """text= saved where the run's config says its corpus is, written whole or not at all."""
    try:
        raw = plan.text.encode(plan.cfg.encoding)
    except UnicodeEncodeError as e:
        raise MinrnnError(f"text= holds {e.object[e.start:e.end]!r}, which {plan.cfg.encoding} cannot write") from None
    outfile.write(Path(plan.cfg.corpus), raw)
