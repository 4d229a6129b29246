"""The training loop, top to bottom: batch -> grads -> clip -> step -> eval -> checkpoint.

B contiguous streams of the text advance T characters per iteration (char-rnn's layout); the
recurrent state is carried from one iteration to the next and reset at each epoch. Everything a
run needs to continue exactly goes into its checkpoints (run.RunState), so a resumed run ends
bit-identical to an uninterrupted one. The settings are config.Config's; the folder, the
display and the saved state are run.py's.
"""
import math
import time

import numpy as np
from threadpoolctl import threadpool_limits

from . import checkpoint, config, data
from .config import blas_threads, check, check_fits
from .errors import FAILED, MinrnnError
from .model import CharRNN
from .optim import CLIPS, OPTIMIZERS, make_optimizer
from .run import Progress, RunFolder, RunState, StopSignal, mark_latest, restore, to_checkpoint
from .sample import generate


def step(model, opt, x, y, state, cfg, dropout_rng=None):
    """One training iteration on a (T, B) chunk: the gradient of the mean loss per character,
    clipped as cfg says, and one optimizer step at opt.lr. Returns (the loss, the state after
    the chunk)."""
    loss, grad, state = model.loss_and_grads(x, y, state, 1.0 / x.size, dropout_rng)
    CLIPS[cfg.clip_mode](grad, cfg.clip)
    opt.step(model.theta, grad)
    return loss, state


def budget_used(cfg, per_epoch, iteration, elapsed_s):
    """The share of the run's budget used: of its iterations (--iterations, or --epochs' worth)
    or of its time (--minutes), whichever is further along; 0 without a budget. Training stops
    at 1, and the schedule is laid out over it."""
    shares = [0.0]
    if cfg.iterations:
        shares.append(iteration / cfg.iterations)
    if cfg.epochs:
        shares.append(iteration / (cfg.epochs * per_epoch))
    if cfg.minutes:
        shares.append(elapsed_s / (60 * cfg.minutes))
    return max(shares)


def learning_rate(cfg, iteration, used):
    """The rate for an iteration with `used` of the budget behind it: a linear rise from 0 over
    the first --warmup of the budget, then constant, step decay (every lr_decay_every
    iterations) or a cosine from lr down to lr/10 over the rest of the budget."""
    if used < cfg.warmup:
        return cfg.lr * used / cfg.warmup
    schedule = cfg.schedule()
    if schedule == "step":
        return cfg.lr * cfg.lr_decay ** (iteration // cfg.lr_decay_every)
    if schedule == "cosine":
        done = min((used - cfg.warmup) / (1 - cfg.warmup), 1.0)
        return cfg.lr * (0.1 + 0.45 * (1 + math.cos(math.pi * done)))
    return cfg.lr


def evaluate(model, ix, batch_size, seq_length):
    """Mean loss per character, in nats, over the whole of ix (streams of its own)."""
    B = max(1, min(batch_size, len(ix) - 1))
    inputs, targets = data.streams(ix, B)
    h = model.zero_state(B)
    total = 0.0
    for x, y in data.chunks(inputs, targets, seq_length):
        loss, h = model.loss(x, y, h)
        total += loss
    return total / inputs.size


def streams_for(cfg, ix):
    """The training streams and the validation text, or an error saying what would fit."""
    train_ix, val_ix = data.split(ix, cfg.val_frac)
    B, T = cfg.batch_size, cfg.seq_length
    if (len(train_ix) - 1) // B < T:
        fits = max(0, (len(train_ix) - 1) // T)
        raise MinrnnError(
            f"the training text has {len(train_ix)} characters: too short for --batch-size {B} "
            f"at --seq-length {T}" + (f" (at most --batch-size {fits} fits)" if fits else
                                       f" (at most --seq-length {max(1, len(train_ix) - 1)} fits, "
                                       "with --batch-size 1; or use a longer text)"))
    if cfg.val_frac > 0 and len(val_ix) < 2:
        raise MinrnnError(f"the validation split ({len(val_ix)} characters) is too small: "
                          "use a longer text or --val-frac 0")
    inputs, targets = data.streams(train_ix, B)
    return inputs, targets, val_ix


def diverged(run, cfg, what):
    return MinrnnError(f"training diverged at iteration {run.iteration} ({what}); try a lower --lr than "
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


def save(path, run, model, opt, cfg, chars):
    arrays, meta = to_checkpoint(run, model, opt, cfg, chars)
    if not all(np.isfinite(a).all() for a in arrays.values()):  # never write NaN over good work
        raise diverged(run, cfg, "the parameters are no longer finite")
    checkpoint.save(path, arrays, meta)


def show_sample(progress, model, cfg, run, last_char, chars):
    # a generator of its own for each sample, so that how often samples are shown never moves
    # the run's random draws
    rng = np.random.default_rng([cfg.seed, 2, run.iteration])
    text, _ = generate(model, rng, run.state[:, :, :1], last_char, cfg.sample_length)
    progress.line(f"---- sample at iteration {run.iteration}\n{data.decode(text, chars)}\n----")


def report(on_eval, row, stop):
    """A caller's on_eval; a KeyboardInterrupt it raises (Ctrl-C while a notebook's code runs)
    asks the loop to stop and save, as SIGINT does (StopSignal owns SIGINT during the loop, so
    this is where a KeyboardInterrupt can still come from)."""
    try:
        on_eval(row)
    except KeyboardInterrupt:
        stop.requested = True


def train(cfg, ix, chars, out_dir, resume=False, init=None, quiet=False, clock=time.monotonic, on_eval=None):
    """Train until cfg's budget is used (--iterations, --epochs, --minutes: totals across
    resumes; none: until a stop signal). resume: continue the run in out_dir from its
    latest.npz; init: a model whose weights a new run starts from. clock: seconds, for the time
    budget and the checkpoint floor (tests pass a fake one). on_eval: called with each
    evaluation's log row (and `saved`: whether latest.npz now holds that iteration), after the
    checkpoint that follows it, so that a caller (a Tune trial) can report it. Returns the
    run's summary."""
    check(cfg)
    if len(chars) < 2:
        raise MinrnnError("the text has only one distinct character, so there is nothing to learn")
    inputs, targets, val_ix = streams_for(cfg, ix)
    B, T = cfg.batch_size, cfg.seq_length
    per_epoch = inputs.shape[1] // T
    total = min(x for x in (cfg.iterations, cfg.epochs and cfg.epochs * per_epoch, math.inf) if x)
    model_config = cfg.model(len(chars))
    check_fits(model_config.train_bytes(OPTIMIZERS[cfg.optimizer].slots, B, T),
               f"a model with --hidden {cfg.hidden} and --batch-size {B} at --seq-length {T}")

    with RunFolder(out_dir) as folder:
        model = CharRNN(model_config, rng=np.random.default_rng(cfg.seed), init_scale=cfg.init_scale)
        opt = make_optimizer(cfg.optimizer, model.theta.size, cfg.lr, model.dtype, cfg.momentum)
        if resume:
            run = restore(folder.path / "latest.npz", cfg, chars, model, opt)
            if budget_used(cfg, per_epoch, run.iteration, run.elapsed_s) >= 1:
                raise MinrnnError(f"{folder.path}: the run has used its budget; resume with a larger "
                                  "--iterations, --epochs or --minutes (each a total for the run)")
        else:
            run = RunState.fresh(cfg, model)
            if init is not None:
                for name, a in init.params.items():
                    model.params[name][...] = a  # converted to this run's dtype
        folder.write_config(cfg)
        mark_latest(folder.path)

        progress = Progress(None if total == math.inf else total, run.iteration, quiet)
        start, elapsed_before = clock(), run.elapsed_s
        saved_at, saved_s, logged_at = run.iteration, run.elapsed_s, None
        window_s, window_chars = run.elapsed_s, 0  # for the display's characters per second
        val_loss, stopped_by = math.nan, "done"
        # overflow and NaN are caught as divergence, with a message: numpy's warnings would be noise
        with progress, StopSignal() as stop, threadpool_limits(blas_threads(cfg)), np.errstate(all="ignore"):
            while True:
                run.elapsed_s = elapsed_before + clock() - start
                used = budget_used(cfg, per_epoch, run.iteration, run.elapsed_s)
                if used >= 1:
                    break
                if stop.requested:
                    stopped_by = "interrupted"
                    break
                if run.position + T > inputs.shape[1]:  # end of an epoch: back to the start, forget the state
                    run.position, run.state = 0, model.zero_state(B)

                x, y = inputs[:, run.position:run.position + T].T, targets[:, run.position:run.position + T].T
                opt.lr = learning_rate(cfg, run.iteration, used)
                loss, run.state = step(model, opt, x, y, run.state, cfg, run.dropout_rng)
                run.iteration += 1
                run.position += T
                run.elapsed_s = elapsed_before + clock() - start  # the time the checkpoints below record
                watch(run, loss, cfg)

                window_chars += B * T
                speed = window_chars / max(run.elapsed_s - window_s, 1e-9)
                progress.update(run.iteration, f"loss {run.smooth_loss:.3f} val {val_loss:.3f} "
                                               f"{speed / 1000:.0f}k chars/s")
                if cfg.sample_every and run.iteration % cfg.sample_every == 0 and not quiet:
                    show_sample(progress, model, cfg, run, int(y[-1, 0]), chars)
                row = None
                if cfg.eval_every and run.iteration % cfg.eval_every == 0:
                    row = evaluation(folder, progress, model, opt, cfg, run, val_ix, chars, speed)
                    val_loss = row["val_loss"]
                    logged_at, window_s, window_chars = run.iteration, elapsed_before + clock() - start, 0
                if (run.iteration % cfg.checkpoint_interval() == 0
                        or run.elapsed_s - saved_s >= 60 * config.CHECKPOINT_MINUTES):
                    save(folder.path / "latest.npz", run, model, opt, cfg, chars)
                    saved_at, saved_s = run.iteration, run.elapsed_s
                if row is not None and on_eval is not None:
                    report(on_eval, {**row, "saved": saved_at == run.iteration}, stop)

            if run.first_loss is not None:  # the end, by the budget or a signal
                row = None
                if stopped_by == "done" and logged_at != run.iteration:
                    speed = window_chars / max(run.elapsed_s - window_s, 1e-9)
                    row = evaluation(folder, progress, model, opt, cfg, run, val_ix, chars, speed)
                    val_loss = row["val_loss"]
                if saved_at != run.iteration:
                    save(folder.path / "latest.npz", run, model, opt, cfg, chars)
                if row is not None and on_eval is not None:
                    report(on_eval, {**row, "saved": True}, stop)
    return {"iteration": run.iteration, "stopped_by": stopped_by, "val_loss": val_loss, "best_val": run.best_val,
            "out": str(folder.path), "params": model.params}


def evaluation(folder, progress, model, opt, cfg, run, val_ix, chars, speed):
    """The validation loss (NaN without a validation split), logged with the training loss;
    best.npz saved when it is the best yet. Returns the log's row, with the best loss so far."""
    val_loss = evaluate(model, val_ix, cfg.batch_size, cfg.seq_length) if cfg.val_frac > 0 else math.nan
    row = {"iteration": run.iteration, "elapsed_s": round(run.elapsed_s, 3),
           "train_loss": round(run.smooth_loss, 5), "val_loss": round(val_loss, 5), "lr": opt.lr,
           "chars_per_s": round(speed)}
    folder.log(row)
    if progress.bar is None:
        progress.line(f"iter {run.iteration}: loss {run.smooth_loss:.4f}, val {val_loss:.4f} nats/char "
                      f"({val_loss / math.log(2):.4f} bits), {speed:.0f} chars/s")
    if val_loss < run.best_val:
        run.best_val = val_loss
        save(folder.path / "best.npz", run, model, opt, cfg, chars)
    return {**row, "val_loss": val_loss, "best_val": run.best_val}
