"""The training settings: every setting of a run (Config), what each may be, and the one check
of a whole configuration, whether it came from the command line, the API or a checkpoint.

Each field of Config is an option (options.py): its help, default and valid values, from which
`minrnn train`'s flags and `minrnn.train`'s keywords are made. The model's own settings (cell,
hidden, layers, embedding, dropout, dtype) are defined in model.py and taken from there. `check`
then applies the rules that tie settings together: a setting that others make meaningless is
refused with what to do instead.
"""
import dataclasses

from . import data, options, recipe
from .errors import FieldError, MinrnnError, said
from .model import OPTIONS as MODEL_OPTIONS, ModelConfig
from .optim import CLIPS, OPTIMIZERS
from .options import PATH, Option

SCHEDULES = ("constant", "step", "cosine")
DEFAULT_EVAL_EVERY = 1000
# An evaluation's cap on the validation text: at the defaults on 2 cores, about a twentieth of the
# time between evaluations (7 s of 115 s; README, "Evaluation"); tinyshakespeare's 111k held-out
# characters, and those of any text up to 5 MB, are read whole
DEFAULT_VAL_CHARS = 500_000
CHECKPOINT_MINUTES = 10  # latest.npz is written at least this often, so that a slow model still saves
ARCHITECTURE = ("cell", "hidden", "layers", "embedding")  # what fixes the weights' shapes
BUDGET = ("iterations", "epochs", "minutes")
# The default shards (README, "Speed"; benchmarks/train_speed.py --shards): a shard needs about 16
# streams for its products to run near BLAS's speed, and more shards than 2 cost more in smaller
# products and Python per step than they gain (on 2 cores, 4 shards of 16 streams ran 15-25%
# slower than 2 of 32)
STREAMS_PER_SHARD = 16
MAX_DEFAULT_SHARDS = 2


def setting(kind, default, help, **rules):
    """A Config field: an option (options.Option's rules: above/low/below/high, choices, unset,
    resumable: may differ when a run is resumed)."""
    return options.field(Option(kind, default, help, **rules))


def model_setting(name):
    """A Config field that is the model's (model.py defines it)."""
    return options.field(MODEL_OPTIONS[name])


@dataclasses.dataclass(frozen=True)
class Config:
    # the model; the defaults (with batch 32 and Adam annealed over the budget) won a sweep for
    # the best validation loss in 5 minutes on 2 cores (README, "Defaults"); the dropout and the
    # rate are the recipe's, by the passes over the text the budget buys (recipe.py)
    cell: str = model_setting("cell")
    hidden: int = model_setting("hidden")
    layers: int = model_setting("layers")
    embedding: int = model_setting("embedding")
    dropout: float | None = options.field(dataclasses.replace(
        MODEL_OPTIONS["dropout"], default=None, unset=recipe.says("dropout")))
    dtype: str = model_setting("dtype")
    init_scale: float | None = setting(float, None, "standard deviation of normally drawn initial weights "
                                       "(min-char-rnn: 0.01)", above=0, unset="uniform in +-1/sqrt(inputs)")
    # the data
    seq_length: int = setting(int, 64, "characters per stream per iteration (truncated BPTT length)", above=0)
    batch_size: int = setting(int, 32, "parallel streams of the text", above=0)
    val_frac: float = setting(float, 0.1, "share of the text, at its end, held out for validation", low=0, below=1)
    encoding: str = setting(str, "utf-8", "the text files' encoding", metavar="NAME", also=data.encoding_problem)
    skip_unknown: bool = setting(bool, False, "leave out the text's characters outside the vocabulary of "
                                 "--init-from's checkpoint (counted and named)")
    corpus: tuple = setting(PATH, (), "the text's files, in order; none: the built-in corpus", many=True,
                            cli=False, api=False)
    # the optimisation
    optimizer: str = setting(str, "adam", "update rule", choices=tuple(OPTIMIZERS))
    lr: float | None = setting(float, None, "learning rate", above=0,
                               unset=recipe.says("lr"))
    momentum: float = setting(float, 0.0, "momentum of --optimizer sgd", low=0, below=1)
    lr_schedule: str | None = setting(str, None, "the rate over the run: constant; step: times --lr-decay "
                                      "every --lr-decay-every iterations; cosine: down to --lr-floor at the "
                                      "end of the budget", choices=SCHEDULES,
                                      unset="cosine when a budget is given, else constant")
    lr_decay: float = setting(float, 0.5, "factor of --lr-schedule step", above=0, high=1)
    lr_decay_every: int | None = setting(int, None, "iterations between --lr-schedule step's decays", above=0,
                                         unset="none")
    lr_floor: float = setting(float, 0.01, "the rate --lr-schedule cosine ends at, as a share of --lr", low=0,
                              below=1)
    average: float | None = setting(float, None, "span of a moving average of the weights (Polyak averaging), as a "
                                    "share of the budget's iterations; evaluations read it beside the weights, "
                                    "and best.npz keeps the better; 0: none", low=0, high=1,
                                    unset=recipe.says("average"))
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
    eval_every: int = setting(int, DEFAULT_EVAL_EVERY, "iterations between evaluations on the validation "
                              "text; 0: only at the end", low=0, resumable=True)
    val_chars: int = setting(int, DEFAULT_VAL_CHARS, "characters of the validation text an evaluation reads (its "
                             "first); 0: all of it", low=0, resumable=True)
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
    threads: int | None = setting(int, None, "threads to compute on: shards at once (each shard's products run "
                                  "on one thread, so that no sum depends on the threads)", above=0, high=4096,
                                  resumable=True, unset="all cores")

    def model(self, vocab_size):
        return ModelConfig(vocab_size, **{name: getattr(self, name) for name in MODEL_OPTIONS})

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


OPTIONS = options.of_dataclass(Config)
DEFAULTS = Config()


def flag(name):
    """A setting's flag (or what a name that is none would be: --hiden)."""
    return OPTIONS[name].dest if name in OPTIONS else "--" + name.replace("_", "-")


BUDGET_WORDS = f"{said('iterations')}, {said('epochs')} or {said('minutes')}"


def problem(name, value):
    """Why `value` cannot be the setting `name`, or None when it can."""
    return OPTIONS[name].problem(value)


def meaningless(cfg):
    """The settings that others make meaningless: (name, what to do instead) for each setting
    away from its default that applies only when another setting says so."""
    rules = (("lr_decay", cfg.schedule() == "step", f"to {said('lr_schedule', 'step')}: add it"),
             ("lr_decay_every", cfg.schedule() == "step", f"to {said('lr_schedule', 'step')}: add it"),
             ("momentum", cfg.optimizer == "sgd", f"to {said('optimizer', 'sgd')} (the others keep running averages "
                                                  "of their own): add it"),
             ("sample_length", cfg.sample_every > 0, f"when samples are printed: give {said('sample_every', 'N')}"),
             ("lr_floor", cfg.schedule() == "cosine", f"to {said('lr_schedule', 'cosine')}: add it, or give "
                                                      f"{BUDGET_WORDS}"),
             ("warmup", cfg.has_budget(), f"as a share of a budget: give {BUDGET_WORDS}"),
             ("average", cfg.has_budget(), f"as a share of a budget: give {BUDGET_WORDS}"))
    return [(name, instead) for name, applies, instead in rules
            if not applies and getattr(cfg, name) != getattr(DEFAULTS, name)]


def check(cfg, source=None):
    """Every setting valid and meaningful, or a MinrnnError naming the first that is not; the
    same rules for the command line (source None) and a checkpoint's config (source names it)."""
    for name in OPTIONS:
        why = problem(name, getattr(cfg, name))
        if why:
            raise FieldError(source or "config", name, getattr(cfg, name), why)
    where = f"{source}: " if source else ""
    if cfg.n_shards() > cfg.batch_size:
        raise MinrnnError(f"{where}{said('shards', cfg.n_shards())} is more than {said('batch_size', cfg.batch_size)}: "
                          f"each shard needs a stream of its own; give at most {said('shards', cfg.batch_size)}")
    if cfg.schedule() == "step" and cfg.lr_decay_every is None:
        raise MinrnnError(f"{where}{said('lr_schedule', 'step')} needs {said('lr_decay_every', 'N')}, the iterations "
                          "between decays")
    if not cfg.has_budget() and cfg.lr_schedule == "cosine":
        raise MinrnnError(f"{where}{said('lr_schedule', 'cosine')} lays the rate out over the budget: give "
                          f"{BUDGET_WORDS}, or use {said('lr_schedule', 'constant')}")
    if meaningless(cfg):
        name, instead = meaningless(cfg)[0]
        raise MinrnnError(f"{where}{said(name)} applies only {instead}, or leave it out")
    return cfg


def from_meta(meta, path):
    """The Config a checkpoint's run was made with (its metadata upgraded: checkpoint.py), checked."""
    saved = meta.get("config")
    if not isinstance(saved, dict):
        raise MinrnnError(f"{path}: its metadata lacks the run's config")
    unknown = sorted(set(saved) - set(OPTIONS))
    if unknown:
        raise MinrnnError(f"{path}: its config has settings this minrnn does not know: {', '.join(unknown)}")
    return check(Config(**saved), source=f"{path}: its config")


def resumed(saved, given, path):
    """The run's config with what the command line may change on resume (the budget, what it
    shows and saves) changed; any other setting given that differs is refused. Only what was given
    is judged: a saved setting that a change made meaningless (the run's --sample-length, when
    --sample-every 0 is given) goes back to its default. Returns (config, warnings)."""
    clash = [f"{said(k)} ({getattr(saved, k)} in the run)" for k, v in given.items()
             if not OPTIONS[k].resumable and v != getattr(saved, k)]
    if clash:
        raise MinrnnError(f"{said('resume')} continues {path} as it was configured; these settings differ from "
                          "it: " + ", ".join(clash))
    cfg = dataclasses.replace(saved, **given)
    dropped = [name for name, _ in meaningless(cfg) if OPTIONS[name].resumable and name not in given]
    cfg = check(dataclasses.replace(cfg, **{name: getattr(DEFAULTS, name) for name in dropped}))
    warnings = [f"the run's {said(name, getattr(saved, name))} no longer applies and is left out" for name in dropped]
    moved = [said(k) for k in BUDGET if getattr(cfg, k) != getattr(saved, k)]
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
            raise MinrnnError(f"{said(name, given[name])} differs from {getattr(model, name)} in {path}: "
                              f"{said('init_from')} keeps the checkpoint's model; leave out {said(name)}, or train "
                              f"a new model without {said('init_from')}")
    if "init_scale" in given:
        raise MinrnnError(f"{said('init_scale')} has no effect with {said('init_from')} (the weights come from the "
                          "checkpoint); leave it out")
    return dataclasses.replace(cfg, **{k: getattr(model, k) for k in MODEL_OPTIONS if k not in given})
