"""The training loop, top to bottom: batch -> grads -> clip -> step -> evaluate -> checkpoint.

B contiguous streams of the text advance T characters per iteration (char-rnn's layout); the
recurrent state is carried from one iteration to the next and reset at each epoch. Everything a
run needs to continue exactly is its TrainingState, saved in every checkpoint with the model and
the optimizer, so a resumed run ends bit-identical to an uninterrupted one. The settings are
config.Config's; the folder is runfolder.py's, the display progress.py's.
"""
import contextlib
import dataclasses
import math
import time
from pathlib import Path

import numpy as np

from . import checkpoint, data, recipe
from .config import CHECKPOINT_MINUTES, check
from .errors import FAILED, MinrnnError, said
from .evaluate import loss_per_char
from .memory import check_fits
from .model import CharRNN
from .optim import CLIPS, OPTIMIZERS, Averaged, average_slots, load_state, make_optimizer
from .progress import Progress, StopSignal
from .runfolder import TrainingFolder, mark_latest
from .sample import generate
from .shards import Shards


def _number(v):
    return not isinstance(v, bool) and isinstance(v, (int, float))


# TrainingState's numbers as a checkpoint's metadata holds them, each with its check
SAVED = {
    "iteration": checkpoint.whole_number,
    "position": checkpoint.whole_number,
    "elapsed_s": lambda v: _number(v) and 0 <= v < math.inf,
    "best_val": lambda v: _number(v) and not math.isnan(v),
    "first_loss": lambda v: v is None or _number(v),
    "smooth_loss": _number,
}


@dataclasses.dataclass
class TrainingState:
    """Where a run is, beyond its parameters and optimizer: all that a resumed run needs to go on
    exactly as if it had never stopped."""
    state: np.ndarray  # the recurrent state carried into the next chunk (layers, 1 or 2, B, H)
    dropout_rng: np.random.Generator  # the only random draws of training after initialisation
    iteration: int = 0
    position: int = 0  # the column of the streams the next chunk starts at
    elapsed_s: float = 0.0  # seconds of training across resumes: the clock of --minutes
    best_val: float = math.inf
    first_loss: float | None = None  # the first iteration's loss, that divergence is judged against
    smooth_loss: float = math.nan  # the loss averaged over about 10 iterations

    @classmethod
    def fresh(cls, cfg, model):
        # dropout draws from a generator of its own, so that nothing else moves its masks
        return cls(model.zero_state(cfg.batch_size), np.random.default_rng([cfg.seed, 1]))

    def checkpoint(self, model, opt, cfg, chars, text):
        """A checkpoint's (arrays, meta): parameters, optimizer state and carried state; the
        config, the model's description, the vocabulary, what identifies the run's text
        (data.fingerprint) and this state's numbers."""
        arrays = dict(model.params, state=self.state, **{f"opt.{k}": v for k, v in opt.state().items()})
        meta = {"config": dataclasses.asdict(cfg), "model": model.config.to_meta(), "vocab": chars, "text": text,
                **{name: getattr(self, name) for name in SAVED},
                "dropout_rng_state": self.dropout_rng.bit_generator.state}
        return arrays, meta

    @classmethod
    def restore(cls, path, cfg, chars, model, opt):
        """The run saved at path loaded into model and opt, every piece checked against the run;
        returns its TrainingState."""
        loaded, arrays, meta = checkpoint.read_run(path)
        if meta["vocab"] != chars:
            raise MinrnnError(f"{path}: its vocabulary differs from the text's; resume with the text "
                              "the run was started on")
        if loaded.config != model.config:
            raise MinrnnError(f"{path}: its model does not match the run's config")
        model.theta[...] = loaded.theta

        def bad(what):
            return MinrnnError(f"{path}: its training state is damaged ({what}); start again from "
                               f"best.npz with {said('init_from')}, or from scratch")
        saved = {}
        for name, current in opt.state().items():
            a = arrays.get(f"opt.{name}")
            if a is None or a.shape != current.shape or a.dtype != current.dtype or not np.isfinite(a).all():
                raise bad(f"optimizer state opt.{name} is missing, of the wrong shape, or not finite")
            saved[name] = a
        load_state(opt, saved)
        carried = arrays.get("state")
        if (carried is None or carried.shape != model.config.state_shape(cfg.batch_size)
                or carried.dtype != model.dtype or not np.isfinite(carried).all()):
            raise bad("the carried state is missing, of the wrong shape, or not finite")
        run = cls.fresh(cfg, model)
        run.state = carried.copy()
        for name, valid in SAVED.items():
            if not valid(meta.get(name)):
                raise bad(f"{name} is {meta.get(name)!r}")
            setattr(run, name, meta[name])
        if meta["dropout_rng_state"] is not None:  # None: a run that drew nothing (checkpoint.upgrade)
            try:
                run.dropout_rng.bit_generator.state = meta["dropout_rng_state"]
            except (TypeError, ValueError, KeyError) as e:
                raise bad(f"random generator state dropout_rng_state: {e}") from None
        return run


@dataclasses.dataclass
class Training:
    """What the parts of one run share while it trains: its pieces, and the loop's bookkeeping
    (never saved; what a resumed run needs is its TrainingState): the iteration and time of the
    last save and evaluation, the window the displayed speed is measured over, the last
    validation loss."""
    cfg: object
    chars: list
    text: dict  # what identifies the run's text (data.fingerprint), saved in its checkpoints
    folder: TrainingFolder
    progress: Progress
    shards: Shards
    opt: object
    run: TrainingState
    val_ix: np.ndarray
    on_eval: object
    stop: StopSignal
    elapsed: object  # () -> the run's seconds of training, across resumes
    saved_at: int = 0
    saved_s: float = 0.0
    window_s: float = 0.0
    evaluated_at: int | None = None
    window_chars: int = 0
    val_loss: float = math.nan

    def speed(self):
        return self.window_chars / max(self.run.elapsed_s - self.window_s, 1e-9)


def step(shards, opt, x, y, state, cfg, dropout_rng=None):
    """One training iteration on a (T, B) chunk: the gradient of the mean loss per character,
    summed over the model's shards (shards.py), clipped as cfg says, and one optimizer step at
    opt.lr. Returns (the loss, the state after the chunk)."""
    model = shards.model
    masks = None if dropout_rng is None else model.dropout_masks(dropout_rng, *x.shape)
    loss, grad, state = shards.loss_and_grads(x, y, state, 1.0 / x.size, masks)
    CLIPS[cfg.clip_mode](grad, cfg.clip)
    opt.step(model.theta, grad)
    return loss, state


def budget_shares(cfg, per_epoch, iteration, elapsed_s):
    """The share used of each budget the run has, by name: of its iterations (--iterations, or
    --epochs' worth) and of its time (--minutes)."""
    return {name: share for name, share in (
        ("iterations", cfg.iterations and iteration / cfg.iterations),
        ("epochs", cfg.epochs and iteration / (cfg.epochs * per_epoch)),
        ("minutes", cfg.minutes and elapsed_s / (60 * cfg.minutes))) if share is not None}


def budget_used(cfg, per_epoch, iteration, elapsed_s):
    """The share of the run's budget used: of whichever budget is furthest along; 0 without a
    budget. Training stops at 1, and the schedule is laid out over it."""
    return max(budget_shares(cfg, per_epoch, iteration, elapsed_s).values(), default=0.0)


def spent(cfg, per_epoch, run, where):
    """The error for a run resumed with its budget used: which budget ran out, and what to give."""
    shares = budget_shares(cfg, per_epoch, run.iteration, run.elapsed_s)
    out = [name for name, share in shares.items() if share >= 1]
    said_out = [said(name, getattr(cfg, name)) + (f" ({run.elapsed_s / 60:.3g} minutes trained)" if name == "minutes"
                                                  else f" (at iteration {run.iteration})") for name in out]
    return MinrnnError(f"{where}: the run has used its budget: {' and '.join(said_out)} ran out; resume with a "
                       f"larger {' and '.join(said(name) for name in out)} (a total for the run)")


def learning_rate(cfg, iteration, used):
    """The rate for an iteration with `used` of the budget behind it: a linear rise from 0 over
    the first --warmup of the budget, then constant, step decay (every lr_decay_every
    iterations) or a cosine from lr down to lr * lr_floor over the rest of the budget."""
    if used < cfg.warmup:
        return cfg.lr * used / cfg.warmup
    schedule = cfg.schedule()
    if schedule == "step":
        return cfg.lr * cfg.lr_decay ** (iteration // cfg.lr_decay_every)
    if schedule == "cosine":
        done = min((used - cfg.warmup) / (1 - cfg.warmup), 1.0)
        return cfg.lr * (cfg.lr_floor + (1 - cfg.lr_floor) / 2 * (1 + math.cos(math.pi * done)))
    return cfg.lr


def average_decay(cfg, iteration, used):
    """The decay that makes the weights' moving average span --average of the budget's
    iterations, as many as `used` of the budget at `iteration` says it holds (for --minutes, an
    estimate that firms up as the run goes)."""
    span = cfg.average * iteration / used if used > 0 else 0.0
    return max(0.0, 1 - 1 / span) if span > 0 else 0.0


@contextlib.contextmanager
def averaged_weights(model, opt):
    """The model holding the moving average of its weights (opt: an Averaged), the raw weights,
    which training goes on from, put back after."""
    raw = model.theta.copy()
    model.theta[...] = opt.average
    try:
        yield
    finally:
        model.theta[...] = raw


def optimizer(cfg, model):
    """The run's optimizer of the model's weights; with --average, one that keeps their moving
    average, starting at the weights as they are now (the first)."""
    opt = make_optimizer(cfg.optimizer, model.theta.size, cfg.lr, model.dtype, cfg.momentum)
    return Averaged(opt, model.theta) if cfg.average else opt


def measured_rate(cfg, n_chars, inputs, targets, seconds, most=None):
    """This machine's iterations a second of the run's step, for the recipe: a throwaway model of
    the run's shape (with a long run's dropout and averaging, what they cost included) timed over
    `seconds` after one step to warm up, or over `most` steps (the run's other budgets: more would
    time what the run can never do). Its generators are its own: the run's draws are untouched."""
    longest = {**recipe.LONG, "average": recipe.AVERAGE_SHARE}
    probe = dataclasses.replace(cfg, **{k: v for k, v in longest.items() if getattr(cfg, k) is None})
    model = CharRNN(probe.model(n_chars), rng=np.random.default_rng(0))
    opt = optimizer(probe, model)
    rng, T = np.random.default_rng(0), cfg.seq_length
    x, y, state = inputs[:, :T].T, targets[:, :T].T, model.zero_state(cfg.batch_size)
    with Shards(model, cfg.shards, cfg.threads) as shards, np.errstate(all="ignore"):
        step(shards, opt, x, y, state, probe, rng)
        steps, start = 0, time.perf_counter()
        while not steps or (time.perf_counter() - start < seconds and steps < (most or math.inf)):
            step(shards, opt, x, y, state, probe, rng)
            steps += 1
    return steps / (time.perf_counter() - start)


def decided(cfg, resume, path, per_epoch, rate):
    """cfg with what the recipe decides (recipe.py) where it leaves a setting out, and the line
    that says so (None when there is nothing to say). A resumed run keeps what its recipe decided
    at its start, as saved in its checkpoint at `path`. rate: (steps at most) -> iterations a second."""
    missing = [name for name in recipe.DECIDED if getattr(cfg, name) is None]
    if not missing:
        return cfg, None
    if resume:
        saved = checkpoint.read_meta(path)["config"]
        return dataclasses.replace(cfg, **{name: saved.get(name) for name in missing}), None
    measured = rate(recipe.iterations_bought(dataclasses.replace(cfg, minutes=None), per_epoch, None)) \
        if cfg.minutes else None
    chosen, passes = recipe.decide(cfg, per_epoch, measured)
    return dataclasses.replace(cfg, **chosen), recipe.describe(chosen, passes, measured) if chosen else None


def streams_for(cfg, ix):
    """The training streams and the validation text, or an error saying what would fit."""
    train_ix, val_ix = data.split(ix, cfg.val_frac)
    B, T = cfg.batch_size, cfg.seq_length
    if (len(train_ix) - 1) // B < T:
        fits = max(0, (len(train_ix) - 1) // T)
        raise MinrnnError(
            f"the training text has {len(train_ix)} characters: too short for {said('batch_size', B)} "
            f"at {said('seq_length', T)}" + (f" (at most {said('batch_size', fits)} fits)" if fits else
                                             f" (at most {said('seq_length', max(1, len(train_ix) - 1))} fits, "
                                             f"with {said('batch_size', 1)}; or use a longer text)"))
    if cfg.val_frac > 0 and len(val_ix) < 2:
        raise MinrnnError(f"the validation split ({len(val_ix)} characters) is too small: "
                          f"use a longer text or {said('val_frac', 0)}")
    inputs, targets = data.streams(train_ix, B)
    return inputs, targets, val_ix


def diverged(run, cfg, what):
    return MinrnnError(f"training diverged at iteration {run.iteration} ({what}); try a lower {said('lr')} than "
                       f"{cfg.lr:g}. The last good checkpoint, if any, is untouched", exit_code=FAILED)


def watch(run, loss, cfg):
    """Track the loss; stop a run whose loss is not finite or whose smoothed loss has climbed
    past 3x the first. Judged on the loss smoothed over ~10 iterations: Adagrad's first steps
    from scratch (min-char-rnn's settings) lift it to 3.6x for a moment, then it falls."""
    if run.first_loss is None:
        run.first_loss = loss
    run.smooth_loss = loss if math.isnan(run.smooth_loss) else 0.9 * run.smooth_loss + 0.1 * loss
    if not math.isfinite(loss) or run.smooth_loss > 3 * run.first_loss:
        raise diverged(run, cfg, f"loss {run.smooth_loss:.3g}, first loss {run.first_loss:.3g}")


def save(t, name):
    """The run's checkpoint as `name` in its folder."""
    arrays, meta = t.run.checkpoint(t.shards.model, t.opt, t.cfg, t.chars, t.text)
    if not all(np.isfinite(a).all() for a in arrays.values()):  # never write NaN over good work
        raise diverged(t.run, t.cfg, "the parameters are no longer finite")
    checkpoint.save(t.folder.path / name, arrays, meta)


def show_sample(progress, model, cfg, run, last_char, chars):
    # a generator of its own for each sample, so that how often samples are shown never moves
    # the run's random draws
    rng = np.random.default_rng([cfg.seed, 2, run.iteration])
    text, _ = generate(model, rng, run.state[:, :, :1], last_char, cfg.sample_length)
    progress.line(f"---- sample at iteration {run.iteration}\n{data.decode(text, chars)}\n----")


def train(cfg, ix, chars, out_dir, resume=False, init=None, quiet=False, clock=time.monotonic, on_eval=None):
    """Train until cfg's budget is used (--iterations, --epochs, --minutes: totals across
    resumes; none: until a stop signal). resume: continue the run in out_dir from its
    latest.npz; init: a model whose weights a new run starts from. clock: seconds, for the time
    budget and the checkpoint floor (tests pass a fake one). on_eval: called with each
    evaluation's log row (and `saved`: whether latest.npz now holds that iteration), after the
    checkpoint that follows it, so that a caller (a Tune trial) can report it. Returns the
    run's summary."""
    check(cfg)
    cfg = dataclasses.replace(cfg, shards=cfg.n_shards())  # saved as a number: the run's own from here on
    if len(chars) < 2:
        raise MinrnnError("the text has only one distinct character, so there is nothing to learn")
    inputs, targets, val_ix = streams_for(cfg, ix)
    B, T = cfg.batch_size, cfg.seq_length
    per_epoch = inputs.shape[1] // T
    total = min(x for x in (cfg.iterations, cfg.epochs and cfg.epochs * per_epoch, math.inf) if x)
    slots = OPTIMIZERS[cfg.optimizer].slots + (average_slots(cfg.dtype) if cfg.average != 0 else 0)
    check_fits(cfg.model(len(chars)).train_bytes(slots, B, T, cfg.shards),
               f"a model with {said('hidden', cfg.hidden)} and {said('batch_size', B)} at {said('seq_length', T)}")
    # the recipe's measurement of a --minutes run: 0.2 s a minute of budget, 2 s at most
    seconds = min(2.0, 0.2 * (cfg.minutes or 0))
    cfg, recipe_line = decided(cfg, resume, Path(out_dir) / "latest.npz", per_epoch,
                               lambda most: measured_rate(cfg, len(chars), inputs, targets, seconds, most))
    model_config = cfg.model(len(chars))

    with TrainingFolder(out_dir) as folder:
        model = CharRNN(model_config, rng=np.random.default_rng(cfg.seed), init_scale=cfg.init_scale)
        if init is not None and not resume:
            for name, a in init.params.items():
                model.params[name][...] = a  # converted to this run's dtype
        opt = optimizer(cfg, model)
        if resume:
            run = TrainingState.restore(folder.path / "latest.npz", cfg, chars, model, opt)
            if budget_used(cfg, per_epoch, run.iteration, run.elapsed_s) >= 1:
                raise spent(cfg, per_epoch, run, folder.path)
        else:
            run = TrainingState.fresh(cfg, model)
        folder.write_config(cfg)
        mark_latest(folder.path)

        progress = Progress(None if total == math.inf else total, run.iteration,
                            budget_used(cfg, per_epoch, run.iteration, run.elapsed_s) if cfg.has_budget() else None,
                            quiet)
        start, elapsed_before = clock(), run.elapsed_s
        # overflow and NaN are caught as divergence, with a message: numpy's warnings would be noise
        with (progress, StopSignal() as stop, Shards(model, cfg.shards, cfg.threads) as shards,
              np.errstate(all="ignore")):
            t = Training(cfg, chars, data.fingerprint(ix), folder, progress, shards, opt, run, val_ix, on_eval, stop,
                         elapsed=lambda: elapsed_before + clock() - start, saved_at=run.iteration,
                         saved_s=run.elapsed_s, window_s=run.elapsed_s)
            if recipe_line and not quiet:
                progress.line(recipe_line)
            while True:
                run.elapsed_s = t.elapsed()
                used = budget_used(cfg, per_epoch, run.iteration, run.elapsed_s)
                end = "done" if used >= 1 else "interrupted" if stop.requested else None
                if end:
                    break
                if run.position + T > inputs.shape[1]:  # end of an epoch: back to the start, forget the state
                    run.position, run.state = 0, model.zero_state(B)

                x, y = inputs[:, run.position:run.position + T].T, targets[:, run.position:run.position + T].T
                opt.lr = learning_rate(cfg, run.iteration, used)
                if cfg.average:
                    opt.decay = average_decay(cfg, run.iteration, used)
                loss, run.state = step(shards, opt, x, y, run.state, cfg, run.dropout_rng)
                run.iteration += 1
                run.position += T
                run.elapsed_s = t.elapsed()  # the time the checkpoints below record
                watch(run, loss, cfg)

                t.window_chars += B * T
                progress.update(run.iteration, budget_used(cfg, per_epoch, run.iteration, run.elapsed_s), shown(t))
                if cfg.sample_every and run.iteration % cfg.sample_every == 0 and not quiet:
                    show_sample(progress, model, cfg, run, int(y[-1, 0]), chars)
                record(t)
            if run.first_loss is not None:  # the run did train: its end is recorded
                record(t, end)
    return {"iteration": run.iteration, "stopped_by": end, "val_loss": t.val_loss, "best_val": run.best_val,
            "out": str(folder.path), "params": model.params}


def shown(t):
    """What the bar and the plain lines show beside the iteration: the time budget's minutes, the
    smoothed loss, the last validation loss (once there is one), the speed."""
    run, cfg = t.run, t.cfg
    parts = (f"{min(run.elapsed_s / 60, cfg.minutes):.2f}/{cfg.minutes:g} min" if cfg.minutes else None,
             f"loss {run.smooth_loss:.3f}",
             f"val {t.val_loss:.3f}" if math.isfinite(t.val_loss) else None, f"{t.speed() / 1000:.0f}k chars/s")
    return ", ".join(part for part in parts if part)


def record(t, end=None):
    """After an iteration: evaluate if due, save latest.npz if due, tell on_eval. At the end (end:
    "done" when the budget is used, "interrupted"), evaluate once more unless this iteration was
    or the run was interrupted, and save whatever is unsaved."""
    run, cfg = t.run, t.cfg
    if end is None:
        due_eval = cfg.eval_every and run.iteration % cfg.eval_every == 0
        due_save = (run.iteration % cfg.checkpoint_interval() == 0
                    or run.elapsed_s - t.saved_s >= 60 * CHECKPOINT_MINUTES)
    else:
        due_eval = end == "done" and t.evaluated_at != run.iteration
        due_save = t.saved_at != run.iteration
    row = evaluation(t) if due_eval else None
    if due_save:
        save(t, "latest.npz")
        t.saved_at, t.saved_s = run.iteration, run.elapsed_s
    if row is not None and t.on_eval is not None:
        call_on_eval(t.on_eval, {**row, "saved": t.saved_at == run.iteration}, t.stop)


def call_on_eval(on_eval, row, stop):
    """A caller's on_eval; a KeyboardInterrupt it raises (Ctrl-C while a notebook's code runs)
    asks the loop to stop and save, as SIGINT does (StopSignal owns SIGINT during the loop, so
    this is where a KeyboardInterrupt can still come from)."""
    try:
        on_eval(row)
    except KeyboardInterrupt:
        stop.requested = True


def evaluation(t):
    """The validation loss (NaN without a validation split), logged with the training loss;
    best.npz saved when it is the best yet. A run that keeps a moving average of its weights reads
    both them and the average, and counts whichever is lower (the average starts at the first
    weights: it lags the raw weights early in a run and passes them late). Returns the log's row,
    with the best loss so far."""
    run, cfg, model, speed = t.run, t.cfg, t.shards.model, t.speed()
    val_ix = t.val_ix[:cfg.val_chars or None]
    val_loss, averaged = loss_per_char(model, val_ix, t.shards) if cfg.val_frac > 0 else math.nan, False
    if isinstance(t.opt, Averaged) and cfg.val_frac > 0:
        with averaged_weights(model, t.opt):
            val_loss, averaged = min((val_loss, False), (loss_per_char(model, val_ix, t.shards), True))
    if val_loss < run.best_val:
        run.best_val = val_loss
        with averaged_weights(model, t.opt) if averaged else contextlib.nullcontext():
            save(t, "best.npz")
    row = {"iteration": run.iteration, "elapsed_s": round(run.elapsed_s, 3),
           "train_loss": round(run.smooth_loss, 5), "val_loss": round(val_loss, 5), "lr": t.opt.lr,
           "chars_per_s": round(speed)}
    t.folder.log(row)
    if t.progress.bar is None:
        validated = (f", val {val_loss:.4f} nats/char ({val_loss / math.log(2):.4f} bits)"
                     f"{' (the average)' if averaged else ''}" if cfg.val_frac > 0 else "")
        t.progress.line(f"iter {run.iteration}: loss {run.smooth_loss:.4f}{validated}, {speed:.0f} chars/s")
    t.evaluated_at, t.val_loss = run.iteration, val_loss
    t.window_s, t.window_chars = t.elapsed(), 0
    return {**row, "val_loss": val_loss, "best_val": run.best_val}
