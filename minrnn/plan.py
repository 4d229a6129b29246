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
    file=Option(PATH, None, "text files, or folders of them (every file below, in sorted order), read as one "
                "text", positional="*", many=True, metavar="FILE",
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


def _files_read(source, shown=10):
    """A note naming the files of a text of several, in the order read."""
    names = ", ".join(map(str, source.files[:shown]))
    more = f" and {len(source.files) - shown} more (all named in the run's config.json)" if len(source.files) > shown else ""
    return f"reading {len(source.files)} files, in this order: {names}{more}"


def _same_text(latest, meta, source, skip_unknown):
    """The resumed run's text as indices into its vocabulary, refused when it is not the text the run
    trained on (its length and hash, data.fingerprint; a run saved before they were, by the
    characters it holds), saying how to go on anyway: a new run from the run's weights."""
    ix, _, unknown = source.encode(meta["vocab"], skip_unknown=True)
    if unknown and not skip_unknown:
        why = f"it has {data.counted(unknown)} outside the run's vocabulary"
    elif meta["text"] is not None and data.fingerprint(ix) != meta["text"]:
        n = meta["text"]["characters"]
        why = (f"{len(ix):,} characters, the run's {n:,}" if len(ix) != n else
               f"as long as the run's, {n:,} characters, but not the same")
    else:
        return ix
    raise MinrnnError(f"{latest}: the run trained on another text than {source.where} ({why}); resume it on its "
                      f"own text, or train on this one from its weights in a new run, with "
                      f"{said('init_from', str(latest.parent))}")


def settle(a):
    """The run's arguments `a` (TRAIN's, judged) as a Plan."""
    given = {name: getattr(a, name) for name in a.given if name in config.OPTIONS}
    files, text, out = a.file, a.text, a.out
    if a.quiet and given.get("sample_every"):
        raise MinrnnError(f"{said('quiet')} prints no samples; leave out {said('sample_every')} or {said('quiet')}")
    if files and text is not None:
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
        cfg, warnings = config.resumed(config.from_meta(meta, latest), given, latest)
        notes += [f"warning: {warning}" for warning in warnings]
        source = (data.open_text(text=text) if text is not None else
                  data.corpus_text(files or cfg.corpus, cfg.encoding))
        ix, chars = _same_text(latest, meta, source, cfg.skip_unknown), meta["vocab"]
        if text is not None:  # kept in the run folder, as a new run keeps it
            cfg = dataclasses.replace(cfg, corpus=(str((out / TEXT_COPY).resolve()),))
        elif files:  # the run's text, moved: found there from now on
            cfg = dataclasses.replace(cfg, corpus=tuple(str(f.resolve()) for f in source.files))
    else:
        if not files and text is None and Path("input.txt").exists():
            files = ["input.txt"]
        if "encoding" in given and not files:
            raise MinrnnError(f"{said('encoding')} applies to a text file, and none is given (the built-in corpus is "
                              f"Python's own source); give {said('file', flag='FILE')}, or leave out {said('encoding')}")
        if "skip_unknown" in given and a.init_from is None:
            raise MinrnnError(f"{said('skip_unknown')} applies only with {said('init_from')}, whose checkpoint's "
                              "vocabulary the text is read against (a new model's is its text's own); leave it out")
        cfg, chars = config.Config(**given), None
        if a.init_from is not None:
            path, which = weights_file(a.init_from)
            start, meta = checkpoint.read_model(path)
            cfg, chars, init = config.fine_tuned(cfg, given, start.config, path), meta["vocab"], start
            notes += [which] if which else []
        config.check(cfg)
        if out is not None:  # before reading what may be a large text
            check_out(Path(out))
        source = data.open_text(text=text) if text is not None else data.corpus_text(files, cfg.encoding)
        ix, chars, unknown = source.encode(chars, cfg.skip_unknown)
        if unknown:
            notes.append(f"left out {data.counted(unknown)} outside the vocabulary of {path}")
        out = Path(out) if out is not None else _new_folder(files[0] if files else source.name)
        check_out(out)
        corpus = [out / TEXT_COPY] if text is not None else source.files
        cfg = dataclasses.replace(cfg, corpus=tuple(str(Path(f).resolve()) for f in corpus))
    if len(source.files) > 1:
        notes.append(_files_read(source))
    return Plan(cfg, ix, chars, source.name, Path(out), a.resume is not None, init, text, notes)


def keep_text(plan):
    """text= saved where the run's config says its corpus is, written whole or not at all."""
    try:
        raw = plan.text.encode(plan.cfg.encoding)
    except UnicodeEncodeError as e:
        raise MinrnnError(f"text= holds {e.object[e.start:e.end]!r}, which {plan.cfg.encoding} cannot write") from None
    outfile.write(Path(plan.cfg.corpus[0]), raw)
