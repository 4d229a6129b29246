"""The training configuration: every setting of a run, what each may be, and the one check of a
whole configuration, whether it came from the command line or from a checkpoint.

Each field of Config carries its help text and its valid values. The command line's flags, their
help and their type checks are made from these fields (cli.py); `check` applies the same rules to
a configuration read from a checkpoint, then the rules that tie settings together: a setting that
others make meaningless is refused with what to do instead. The model's own fields (cell, hidden,
layers, embedding, dropout, dtype) are checked by ModelConfig.check, their one definition.
"""
import dataclasses
import math
import os

from . import data
from .cells import CELLS
from .errors import FieldError, MinrnnError
from .model import DTYPES, ModelConfig
from .optim import CLIPS, OPTIMIZERS

SCHEDULES = ("constant", "step", "cosine")
DEFAULT_EVAL_EVERY = 1000
CHECKPOINT_MINUTES = 10  # latest.npz is written at least this often, so that a slow model still saves
MODEL_FIELDS = tuple(f.name for f in dataclasses.fields(ModelConfig) if f.name != "vocab_size")
ARCHITECTURE = ("cell", "hidden", "layers", "embedding")  # what fixes the weights' shapes
BUDGET = ("iterations", "epochs", "minutes")
# The default shards (README, "Speed"; benchmarks/train_speed.py --shards): a shard needs about 16
# streams for its products to run near BLAS's speed, and more shards than 2 cost more in smaller
# products and Python per step than they gain (on 2 cores, 4 shards of 16 streams ran 15-25%
# slower than 2 of 32); a machine with more cores gives each shard's worker more BLAS threads
STREAMS_PER_SHARD = 16
MAX_DEFAULT_SHARDS = 2


def setting(kind, default, help, *, above=None, low=None, below=None, high=None, choices=None, unset=None,
            resumable=False, flag=True):
    """A Config field: its type, default and help; its range (above/below exclusive, low/high
    inclusive) or choices; `unset`, when None is allowed, says what None means; `resumable`:
    may differ when a run is resumed; `flag`: set from the command line."""
    return dataclasses.field(default=default, metadata=dict(
        kind=kind, help=help, above=above, low=low, below=below, high=high, choices=choices, unset=unset,
        resumable=resumable, flag=flag))


@dataclasses.dataclass(frozen=True)
class Config:
    # the model, as the user gives it (ModelConfig adds the vocabulary's size); the defaults
    # (with batch 32 and Adam 3e-3 annealed over the budget) won a sweep for the best
    # validation loss in 5 minutes on 2 cores, and dropout 0.1 the best in 8 minutes once the
    # sharded step doubled the characters a minute (README, "Defaults")
    cell: str = setting(str, "gru", "recurrent cell: rnn (tanh), lstm or gru", choices=tuple(CELLS))
    hidden: int = setting(int, 256, "hidden units per layer", above=0)
    layers: int = setting(int, 2, "stacked recurrent layers", above=0)
    embedding: int = setting(int, 0, "size of a learned input embedding; 0: one-hot input", low=0)
    dropout: float = setting(float, 0.1, "dropout on each layer's output, the last one's included", low=0, below=1)
    dtype: str = setting(str, "float32", "floating-point type of the parameters", choices=DTYPES)
    init_scale: float | None = setting(float, None, "standard deviation of normally drawn initial weights "
                                       "(min-char-rnn: 0.01)", above=0, unset="uniform in +-1/sqrt(inputs)")
    # the data
    seq_length: int = setting(int, 64, "characters per stream per iteration (truncated BPTT length)", above=0)
    batch_size: int = setting(int, 32, "parallel streams of the text", above=0)
    val_frac: float = setting(float, 0.1, "share of the text, at its end, held out for validation", low=0, below=1)
    encoding: str = setting(str, "utf-8", "the text file's encoding")
    corpus: str = setting(str, "", "the text's path; '': the built-in corpus", flag=False)
    # the optimisation
    optimizer: str = setting(str, "adam", "update rule", choices=tuple(OPTIMIZERS))
    lr: float = setting(float, 3e-3, "learning rate", above=0)
    momentum: float = setting(float, 0.0, "momentum of --optimizer sgd", low=0, below=1)
    lr_schedule: str | None = setting(str, None, "the rate over the run: constant; step: times --lr-decay "
                                      "every --lr-decay-every iterations; cosine: down to lr/10 at the end of "
                                      "the budget", choices=SCHEDULES,
                                      unset="cosine when a budget is given, else constant")
    lr_decay: float = setting(float, 0.5, "factor of --lr-schedule step", above=0, high=1)
    lr_decay_every: int | None = setting(int, None, "iterations between --lr-schedule step's decays", above=0,
                                         unset="none")
    warmup: float = setting(float, 0.0, "share of the budget over which the rate rises linearly from 0 before "
                            "the schedule", low=0, below=1)
    clip: float = setting(float, 5.0, "gradient clip threshold", above=0)
    clip_mode: str = setting(str, "norm", "norm: scale the whole gradient to an L2 norm of at most --clip; "
                             "value: clip each entry (min-char-rnn)", choices=tuple(CLIPS))
    # the budget: the run stops at whichever comes first; each is a total across resumes
    iterations: int | None = setting(int, None, "stop at this iteration", above=0, resumable=True,
                                     unset="none")
    epochs: int | None = setting(int, None, "stop after this many passes over the training text", above=0,
                                 resumable=True, unset="none")
    minutes: float | None = setting(float, None, "stop after this many minutes of training", above=0,
                                    resumable=True, unset="none")
    # what the run shows and saves; none of these changes what it computes
    eval_every: int = setting(int, DEFAULT_EVAL_EVERY, "iterations between evaluations on the whole "
                              "validation text; 0: only at the end", low=0, resumable=True)
    checkpoint_every: int | None = setting(int, None, "iterations between saves of latest.npz (and at least "
                                           f"every {CHECKPOINT_MINUTES} minutes)", above=0, resumable=True,
                                           unset=f"--eval-every's, or {DEFAULT_EVAL_EVERY} when it is 0")
    sample_every: int = setting(int, 1000, "iterations between printed samples; 0: never", low=0, resumable=True)
    sample_length: int = setting(int, 200, "characters per printed sample", above=0, resumable=True)
    seed: int = setting(int, 0, "seed of every random draw: initial weights, dropout, samples", low=0)
    # how the work of a step is shared out: --shards fixes what is computed, --threads only how
    # many cores compute it
    shards: int | None = setting(int, None, "parts of the batch, each a contiguous group of streams whose "
                                 "gradient is computed on its own and added in order; they run on --threads "
                                 "cores at once", above=0,
                                 unset=f"--batch-size // {STREAMS_PER_SHARD}, from 1 to {MAX_DEFAULT_SHARDS}")
    threads: int | None = setting(int, None, "threads: shards at once, and BLAS threads within them", above=0,
                                  high=4096, resumable=True,
                                  unset="all cores, or 1 for one shard of a small model")

    def model(self, vocab_size):
        return ModelConfig(vocab_size, **{name: getattr(self, name) for name in MODEL_FIELDS})

    def has_budget(self):
        return any(getattr(self, name) is not None for name in BUDGET)

    def schedule(self):
        """The schedule in force: annealing to the budget ends a run near its best (README,
        "Defaults"), and without a budget there is nothing to anneal to."""
        return self.lr_schedule or ("cosine" if self.has_budget() else "constant")

    def checkpoint_interval(self):
        return self.checkpoint_every or self.eval_every or DEFAULT_EVAL_EVERY

    def n_shards(self):
        return self.shards or default_shards(self.batch_size)


def default_shards(batch_size):
    return max(1, min(MAX_DEFAULT_SHARDS, batch_size // STREAMS_PER_SHARD))


FIELDS = {f.name: f for f in dataclasses.fields(Config)}
DEFAULTS = Config()


def flag(name):
    return "--" + name.replace("_", "-")


def shown_default(name):
    """A setting's default as --help shows it."""
    value, unset = getattr(DEFAULTS, name), FIELDS[name].metadata["unset"]
    return unset if value is None else f"{value:g}" if isinstance(value, float) else str(value)


def _range(m):
    """The rule of a field's range, in words: 'must be > 0', 'must be in [0, 1)'."""
    lo = (f"({m['above']:g}" if m["above"] is not None else f"[{m['low']:g}" if m["low"] is not None else None)
    hi = (f"{m['below']:g})" if m["below"] is not None else f"{m['high']:g}]" if m["high"] is not None else None)
    if lo and hi:
        return f"must be in {lo}, {hi}"
    if lo:
        return f"must be {'>' if lo[0] == '(' else '>='} {lo[1:]}"
    return f"must be {'<' if hi[-1] == ')' else '<='} {hi[:-1]}"


def problem(name, value):
    """Why `value` cannot be the setting `name`, or None when it can. The one definition of
    each setting's valid values: the command line's types and `check` both ask it."""
    m = FIELDS[name].metadata
    if value is None and m["unset"] is not None:
        return None
    if name in MODEL_FIELDS:
        try:
            ModelConfig(2, **{name: value}).check()
        except FieldError as e:
            return e.why
        return None
    kind = m["kind"]
    if kind is float and (isinstance(value, bool) or not isinstance(value, (int, float))):
        return "is not a number"
    if kind is float and not math.isfinite(value):
        return "is not a finite number"
    if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
        return "is not an int"
    if kind is str and not isinstance(value, str):
        return "is not a string"
    if m["choices"] and value not in m["choices"]:
        return f"is not one of {', '.join(m['choices'])}"
    if any(m[k] is not None for k in ("above", "low", "below", "high")):
        if not ((m["above"] is None or value > m["above"]) and (m["low"] is None or value >= m["low"])
                and (m["below"] is None or value < m["below"]) and (m["high"] is None or value <= m["high"])):
            return _range(m)
    if name == "encoding":
        return data.encoding_problem(value)
    return None


def check(cfg, source=None):
    """Every setting valid and meaningful, or a MinrnnError naming the first that is not; the
    same rules for the command line (source None) and a checkpoint's config (source names it)."""
    for name in FIELDS:
        why = problem(name, getattr(cfg, name))
        if why:
            raise FieldError(source or "config", name, getattr(cfg, name), why)
    where = f"{source}: " if source else ""

    def only_with(name, condition, instead):
        if getattr(cfg, name) != getattr(DEFAULTS, name) and not condition:
            raise MinrnnError(f"{where}{flag(name)} applies only {instead}, or leave it out")

    if cfg.n_shards() > cfg.batch_size:
        raise MinrnnError(f"{where}--shards {cfg.n_shards()} is more than --batch-size {cfg.batch_size}: each "
                          "shard needs a stream of its own; give at most --shards " + str(cfg.batch_size))
    if cfg.schedule() == "step" and cfg.lr_decay_every is None:
        raise MinrnnError(f"{where}--lr-schedule step needs --lr-decay-every N, the iterations between decays")
    only_with("lr_decay", cfg.schedule() == "step", "to --lr-schedule step: add it")
    only_with("lr_decay_every", cfg.schedule() == "step", "to --lr-schedule step: add it")
    only_with("momentum", cfg.optimizer == "sgd", "to --optimizer sgd (the others keep running averages of "
                                                  "their own): add it")
    only_with("sample_length", cfg.sample_every > 0, "when samples are printed: give --sample-every N")
    if not cfg.has_budget():
        if cfg.lr_schedule == "cosine":
            raise MinrnnError(f"{where}--lr-schedule cosine lays the rate out over the budget: give --iterations, "
                              "--epochs or --minutes, or use --lr-schedule constant")
        only_with("warmup", False, "as a share of a budget: give --iterations, --epochs or --minutes")
    return cfg


def from_meta(meta, path):
    """The Config a checkpoint's run was made with, checked."""
    saved = meta.get("config")
    if not isinstance(saved, dict):
        raise MinrnnError(f"{path}: its metadata lacks the run's config")
    unknown = sorted(set(saved) - set(FIELDS))
    if unknown:
        raise MinrnnError(f"{path}: its config has settings this minrnn does not know: {', '.join(unknown)}")
    # format 1 predates the model's own fields: its model (one vanilla layer) fills them in
    saved = {**ModelConfig.from_meta(meta, path).to_meta(), **saved}
    # runs from before shards computed their step as one shard
    saved.setdefault("shards", 1)
    # checkpoints of format 1, and the first of format 2, wrote 0 for these when they were not set
    saved = {k: None if k in ("init_scale", "lr_decay_every", "threads") and v == 0 and not isinstance(v, bool)
             else v for k, v in saved.items()}
    return check(Config(**saved), source=f"{path}: its config")


def resumed(saved, given, path):
    """The run's config with what the command line may change on resume (the budget, what it
    shows and saves) changed; any other flag that differs is refused. Returns (config, warnings)."""
    clash = [f"{flag(k)} ({getattr(saved, k)} in the run)" for k, v in given.items()
             if not FIELDS[k].metadata["resumable"] and v != getattr(saved, k)]
    if clash:
        raise MinrnnError(f"--resume continues {path} as it was configured; these flags differ from it: "
                          + ", ".join(clash))
    cfg = check(dataclasses.replace(saved, **given))
    warnings = []
    moved = [flag(k) for k in BUDGET if getattr(cfg, k) != getattr(saved, k)]
    if moved and (cfg.schedule() == "cosine" or cfg.warmup):
        warnings.append(f"the learning-rate schedule is laid out over the budget, and {', '.join(moved)} "
                        "changed it: the rate continues from where the new budget puts this point of the run")
    return cfg, warnings


def fine_tuned(cfg, given, model, path):
    """The config of a new run starting from a checkpoint's weights: the model's fields the
    command line leaves out come from the checkpoint; one that would change the weights' shapes
    is refused (a different --dtype converts them, a different --dropout applies)."""
    for name in ARCHITECTURE:
        if name in given and given[name] != getattr(model, name):
            raise MinrnnError(f"{flag(name)} {given[name]} differs from {getattr(model, name)} in {path}: "
                              f"--init-from keeps the checkpoint's model; leave out {flag(name)}, or train a "
                              "new model without --init-from")
    if "init_scale" in given:
        raise MinrnnError("--init-scale has no effect with --init-from (the weights come from the checkpoint); "
                          "leave it out")
    return dataclasses.replace(cfg, **{k: getattr(model, k) for k in MODEL_FIELDS if k not in given})


def physical_memory():
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def check_fits(nbytes, what):
    """Refuse, before allocating, what could never fit in this machine's memory."""
    total = physical_memory()
    if total and nbytes > total:
        raise MinrnnError(f"{what} needs about {nbytes / 2**30:,.1f} GiB, more than this machine's "
                          f"{total / 2**30:,.1f} GiB of memory")


def threads(cfg):
    """The threads a run computes on: --threads, else every core, except for a model of one
    shard whose products are small: below about 300k multiply-adds per recurrent step
    (B x H x gates*H) a second BLAS thread's hand-off costs what it saves
    (benchmarks/blas_threads.py). Shards on threads of their own gain at any size. On a machine
    whose other cores are busy, --threads 1 is safer."""
    if cfg.threads:
        return cfg.threads
    macs = cfg.batch_size * cfg.hidden * CELLS[cfg.cell].gates * cfg.hidden
    return 1 if cfg.n_shards() == 1 and macs < 300_000 else os.cpu_count() or 1
