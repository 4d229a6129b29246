"""The training recipe: the settings whose best value depends on how many passes over the text a
run makes, decided at its start from its budget, so that a fast machine and a slow one both end
with the best model they can make in it (README, "The recipe").

A run with a budget in iterations or epochs knows its passes; a --minutes budget buys as many as
this machine's step rate allows, measured by timing a few steps before the run starts
(loop.measured_rate). Then, by the passes:
  - fewer than SHORT_RUN: no dropout and a higher rate (a model that sees the text a few times
    has not begun to overfit it; dropout only slows its learning);
  - SHORT_RUN or more: dropout 0.1 and the rate that suits it;
  - AVERAGE_FROM or more: the evaluations also read a moving average of the weights spanning
    the last third of the run, and best.npz keeps it when it reads better (a long run's weights
    wander about a minimum that their average sits nearer).
Without a budget there is nothing to count: a run that goes on until it is stopped is a long one,
without averaging (its span would be a share of nothing). What a run was given is never
changed; what the recipe decides is saved in the run's config like any other setting, so that
resuming it, or the command that reproduces it, needs no second measurement.
"""
# Measured on tiny-shakespeare with the default model (README, "The recipe"): at 3 passes no
# dropout and lr 4e-3 beat the old defaults (dropout 0.1, lr 3e-3) by 0.03 nats; at 12, dropout
# 0.1 at lr 3e-3 was best, and an average over a third of the run gained 0.008-0.017 nats, while
# at 3 and 8 passes it lost 0.004-0.02.
SHORT_RUN = 6
AVERAGE_FROM = 10
SHORT = {"dropout": 0.0, "lr": 4e-3, "average": 0.0}
LONG = {"dropout": 0.1, "lr": 3e-3, "average": 0.0}
AVERAGE_SHARE = 1 / 3
DECIDED = tuple(SHORT)  # the settings the recipe decides when a run leaves them out


def says(name):
    """What --help shows as the default of a setting the recipe decides."""
    if name == "average":
        return f"the recipe's: {AVERAGE_SHARE:.2g} from {AVERAGE_FROM} passes over the text, else 0"
    return f"the recipe's: {SHORT[name]:g} below {SHORT_RUN} passes over the text, else {LONG[name]:g}"


def iterations_bought(cfg, per_epoch, rate):
    """The iterations the run's budget buys: the least of --iterations, --epochs' worth and
    --minutes' worth at `rate` iterations a second (None: not measured); None without a budget."""
    bought = [cfg.iterations, cfg.epochs and cfg.epochs * per_epoch,
              cfg.minutes and rate and cfg.minutes * 60 * rate]
    bought = [n for n in bought if n]
    return min(bought) if bought else None


def decide(cfg, per_epoch, rate=None):
    """(settings, passes): the recipe's value of each of DECIDED that cfg leaves out (None), for a
    run of `per_epoch` iterations a pass over its text that steps `rate` iterations a second
    (needed only for a --minutes budget); passes is what the budget buys, None without one."""
    iterations = iterations_bought(cfg, per_epoch, rate)
    passes = None if iterations is None else iterations / per_epoch
    if passes is None:
        chosen = dict(LONG)
    else:
        chosen = dict(SHORT if passes < SHORT_RUN else LONG)
        chosen["average"] = AVERAGE_SHARE if passes >= AVERAGE_FROM else 0.0
    if not cfg.has_budget():
        del chosen["average"]  # a share of no budget: left unset, which is none
    return {name: v for name, v in chosen.items() if getattr(cfg, name) is None}, passes


def describe(decided, passes, rate):
    """The one line a run prints at its start about what the recipe decided."""
    settings = ", ".join(f"{name} {value:.3g}" for name, value in decided.items())
    if passes is None:
        return f"recipe: no budget, so a long run's settings: {settings}"
    measured = f" at {rate:.1f} iterations/s measured" if rate else ""
    return f"recipe: the budget buys {passes:.3g} passes over the text{measured}: {settings}"
