"""`minrnn tune`: a search over models on Ray Tune (the optional extra minrnn[tune]).

Each trial is one call of the training function, a normal run in OUT/trials/<trial id>/ with
its own --minutes (or --iterations), so its schedule anneals as a normal run's. Every
evaluation reports its validation loss to Tune, and with it, once latest.npz holds that
iteration, latest.npz itself as Tune's checkpoint: a trial whose worker dies, and a search
interrupted and continued with --resume, start again from it. ASHA stops the weak trials early.

OUT holds search.json (the text, the budget, the space: what --resume needs), trials/ (the run
folders), search/ (Tune's own state and checkpoints), and the report: report.txt, curves.png.
"""
import json
import math
import os
import shlex
import shutil
import signal
import socket
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from . import api, checkpoint, config, curves, data, options
from .errors import MinrnnError
from .loop import budget_used, streams_for
from .options import PATH, Option
from .runfolder import read_log

# The default space, from what the defaults' sweep taught on two cores (README, "Defaults"): the
# GRU learnt fastest per minute, then the vanilla cell; 1-3 layers of 128-384 units fit minutes
# of training; Adam's rate between 1e-3 and 1e-2 on a log scale. A list is a choice, {"loguniform"
# or "uniform": [low, high]} a range, anything else a fixed setting of every trial. eval_every
# 200: 10-20 reports in a 5-minute trial for the scheduler, for under 10% of the time.
SPACE = {
    "cell": ["gru", "lstm", "rnn"],
    "hidden": [128, 192, 256, 384],
    "layers": [1, 2, 3],
    "embedding": [0, 32, 64],
    "dropout": [0.0, 0.1, 0.2],
    "lr": {"loguniform": [1e-3, 1e-2]},
    "batch_size": [16, 32, 64],
    "seq_length": [32, 64, 128],
    "eval_every": 200,
}
RANGES = ("loguniform", "uniform")
SET_BY_TUNE = {"minutes": "--minutes-per-trial", "iterations": "--iterations-per-trial",
               "epochs": "--minutes-per-trial or --iterations-per-trial", "threads": "--cores-per-trial",
               "sample_every": "nothing (trials print nothing)", "sample_length": "nothing (trials print nothing)",
               "encoding": "minrnn tune --encoding"}
# ASHA's rungs: a trial is first judged after 1/9 of its budget, then at 1/3, keeping the best
# third at each
REDUCTION, FIRST_RUNG = 3, 9
CONNECT_S = 5  # an address that does not answer within this is refused
STORE_FLOOR = 100 * 2**20  # a local Ray's object store, at least (Ray's own minimum is 75 MiB)
SEARCH, TRIALS, STATE = "search.json", "trials", "search"
HINT = "minrnn tune needs Ray Tune: pip install 'minrnn[tune]'"

OPTIONS = options.group(
    file=Option(PATH, None, "text file", positional="?", metavar="TEXT", unset="none: give it, or --resume/--report"),
    out=Option(PATH, None, "the search's folder", metavar="DIR", unset="runs/tune-<time>"),
    space=Option(PATH, None, "a JSON file of the default space's shape (below), replacing it", metavar="FILE",
                 unset="the default space"),
    trials=Option(int, 8, "trials to run", above=0),
    minutes_per_trial=Option(float, 5.0, "each trial's --minutes (its schedule anneals over them)", above=0),
    iterations_per_trial=Option(int, None, "each trial's --iterations, instead of minutes (reproducible to the bit)",
                                above=0, unset="none"),
    cores_per_trial=Option(int, 1, "cores (and BLAS threads) each trial gets; concurrent trials: cores / this",
                           above=0),
    cpus=Option(int, None, "cores of the local Ray", above=0, unset="all"),
    address=Option(str, None, "an existing Ray cluster's head (`ray start --head` prints it)", metavar="HOST:PORT",
                   unset="$RAY_ADDRESS, else a local Ray"),
    encoding=Option(str, "utf-8", "the text file's encoding", metavar="NAME", also=data.encoding_problem),
    seed=Option(int, 0, "seed of the draws from the space", low=0),
    retries=Option(int, 3, "times a failed trial continues from its latest.npz", low=0),
    resume=Option(PATH, None, "continue the interrupted search in OUT", metavar="OUT", unset="none"),
    report=Option(PATH, None, "print and write the report of the search in OUT, and exit", metavar="OUT",
                  unset="none"),
)
SEARCH_SETUP = ("file", "out", "space", "iterations_per_trial")  # what --resume and --report take from the search


def _ray():
    try:
        import ray
        from ray import tune
    except ImportError:
        raise MinrnnError(HINT) from None
    return ray, tune


def shown_space(space=SPACE):
    """The space as --help shows it: the JSON a --space file holds."""
    return json.dumps(space)


def read_space(path):
    """A --space file: JSON of SPACE's shape, every value checked as `minrnn train` checks its
    flags."""
    try:
        space = json.loads(Path(path).read_text("utf-8"))
    except FileNotFoundError:
        raise MinrnnError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise MinrnnError(f"{path}: cannot read it ({getattr(e, 'strerror', None) or e})") from None
    except json.JSONDecodeError as e:
        raise MinrnnError(f"{path}: not JSON ({e})") from None
    if not isinstance(space, dict) or not space:
        raise MinrnnError(f"{path}: a space is a JSON object of settings, like {shown_space({'hidden': [128, 256]})}")
    return check_space(space, path)


def check_space(space, source="the space"):
    """Each setting known to `minrnn train` and each of its values valid there, with train's
    own words: 'argument --hidden: 0 must be > 0', 'unrecognized arguments: --hiden'."""
    unknown = [config.flag(k) for k in space if k not in config.OPTIONS or not config.OPTIONS[k].cli]
    if unknown:
        raise MinrnnError(f"{source}: unrecognized arguments: {' '.join(unknown)}")
    for name, spec in space.items():
        if name in SET_BY_TUNE:
            raise MinrnnError(f"{source}: {config.flag(name)} is set by {SET_BY_TUNE[name]}, not by the space")
        if isinstance(spec, dict):
            if len(spec) != 1 or next(iter(spec)) not in RANGES or not isinstance(next(iter(spec.values())), list) \
                    or len(next(iter(spec.values()))) != 2:
                raise MinrnnError(f"{source}: {name}: a range is {{\"loguniform\": [low, high]}} or "
                                  "{\"uniform\": [low, high]}")
            kind, values = next(iter(spec.items()))
            if config.OPTIONS[name].kind is not float:
                raise MinrnnError(f"{source}: {name}: a range needs a real-valued setting; give a list of choices")
            if not (isinstance(values[0], (int, float)) and isinstance(values[1], (int, float))
                    and values[0] < values[1]):
                raise MinrnnError(f"{source}: {name}: a range's low must be a number below its high")
        else:
            values = spec if isinstance(spec, list) else [spec]
            if not values:
                raise MinrnnError(f"{source}: {name}: an empty list of choices")
        for value in values:
            why = config.problem(name, value)
            if why:
                raise MinrnnError(f"{source}: argument {config.flag(name)}: {value} {why}")
        if isinstance(spec, dict) and "loguniform" in spec and values[0] <= 0:
            raise MinrnnError(f"{source}: {name}: a loguniform range needs a low above 0; use uniform")
    return space


def _values(spec):
    """A space entry's values: its choices, its range's ends, or its one value."""
    return next(iter(spec.values())) if isinstance(spec, dict) else spec if isinstance(spec, list) else [spec]


def extremes(space):
    """Configs at the space's ends (every setting's first value; every last), for the rules that
    tie settings together, and one of the largest batch and sequence, for the text's length."""
    ends = [{name: _values(spec)[end] for name, spec in space.items()} for end in (0, -1)]
    largest = {name: max(_values(space[name])) for name in ("batch_size", "seq_length") if name in space}
    return ends + [{**ends[0], **largest}]


def _param_space(space, tune):
    def one(spec):
        if isinstance(spec, dict):
            kind, (low, high) = next(iter(spec.items()))
            return getattr(tune, kind)(low, high)
        return tune.choice(spec) if isinstance(spec, list) else spec
    return {name: one(spec) for name, spec in space.items()}


def budget(search):
    """The settings every trial shares: its budget and its share of the cores."""
    fixed = {"threads": search["cores_per_trial"], "sample_every": 0}
    if search["iterations_per_trial"]:
        fixed["iterations"] = search["iterations_per_trial"]
    else:
        fixed["minutes"] = search["minutes_per_trial"]
    return fixed


def trial(settings, *, text, trials_dir):
    """One Tune trial: one training call in trials_dir/<trial id>, reporting every evaluation.
    Runs on a Ray worker."""
    import ray
    from ray import tune
    out = Path(trials_dir) / tune.get_context().get_trial_id()
    restored = tune.get_checkpoint()
    if restored is not None and not (out / "latest.npz").exists():
        # the folder is not on this node (or is gone): the run continues from Tune's copy
        out.mkdir(parents=True, exist_ok=True)
        with restored.as_directory() as d:
            shutil.copyfile(Path(d) / "latest.npz", out / ".latest.npz.tmp")
        os.replace(out / ".latest.npz.tmp", out / "latest.npz")
    node = ray.get_runtime_context().get_node_id()

    def report_to_tune(row):
        metrics = {k: row[k] for k in ("iteration", "elapsed_s", "train_loss", "val_loss", "best_val")}
        metrics["node_id"] = node
        if not row["saved"]:
            tune.report(metrics)
            return
        with tempfile.TemporaryDirectory() as d:
            try:  # a link costs nothing; Tune copies it into its storage
                os.link(out / "latest.npz", Path(d) / "latest.npz")
            except OSError:
                shutil.copyfile(out / "latest.npz", Path(d) / "latest.npz")
            tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(d))

    latest = out / "latest.npz"
    if latest.exists():
        meta = checkpoint.read_meta(latest)
        if budget_used(config.Config(**settings), None, meta["iteration"], meta["elapsed_s"]) >= 1:
            # it ended just as the search was interrupted, before Tune heard: say its end again
            log = read_log(out)
            tune.report({**{k: float(v[-1]) for k, v in log.items()}, "iteration": int(log["iteration"][-1]),
                         "best_val": float(np.nanmin(log["val_loss"])), "node_id": node})
            return
    try:  # a latest.npz here is this trial's own (Tune's checkpoint, or saved just before a failure)
        api.train(text=text, out=out, resume=out if latest.exists() else None, quiet=True, on_eval=report_to_tune,
                  **settings)
    except MinrnnError as e:
        # a run that diverged would diverge again from its checkpoint: it ends, as a result, where
        # a retry (for a worker that died) would only repeat it
        print(f"minrnn: trial {out.name} ended: {e}", file=sys.stderr)


def _check_address(address):
    """An address that does not answer is refused within seconds (Ray itself would retry for a
    minute or more)."""
    if address == "auto":
        return
    hostport = address.split("://", 1)[-1].rsplit("/", 1)[0]
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        raise MinrnnError(f"--address {address}: not HOST:PORT (the head node's, as `ray start --head` prints it)")
    try:
        socket.create_connection((host, int(port)), timeout=CONNECT_S).close()
    except OSError as e:
        raise MinrnnError(f"--address {address}: no Ray cluster answers there ({e.strerror or e}); start one "
                          "with `ray start --head`, or leave out --address for a local Ray") from None


def _connect(ray, address, cpus, text_bytes):
    """Ray: an existing connection (a caller's), the cluster at address, or a local Ray on this
    machine's cores (bound to 127.0.0.1: it needs no one else) whose object store holds the text
    and Tune's small messages (Ray's default would set aside 30% of the memory). Returns whether
    to shut it down."""
    if ray.is_initialized():
        return False
    address = address or os.environ.get("RAY_ADDRESS")
    if address:
        _check_address(address)
        try:
            ray.init(address=address, log_to_driver=False, logging_level="WARNING")
        except (ConnectionError, RuntimeError, ValueError) as e:
            raise MinrnnError(f"--address {address}: cannot join that Ray cluster ({e})") from None
    else:
        ray.init(num_cpus=cpus or os.cpu_count(), include_dashboard=False, _node_ip_address="127.0.0.1",
                 object_store_memory=max(STORE_FLOOR, 3 * text_bytes), log_to_driver=False, logging_level="WARNING")
    return True


def _progress(tune, say):
    """One line a trial as it starts and ends, instead of Tune's tables."""
    class Lines(tune.Callback):
        def on_trial_start(self, iteration, trials, trial, **info):
            say(f"trial {trial.trial_id} started: " + " ".join(f"{k}={_shown(v)}" for k, v in trial.config.items()))

        def on_trial_complete(self, iteration, trials, trial, **info):
            r, c = trial.last_result, trial.config
            done = finished(c.get("iterations"), c.get("minutes"), r.get("iteration", 0), r.get("elapsed_s", 0))
            say(f"trial {trial.trial_id} {'done' if done else 'stopped early'} at iteration {r.get('iteration')}: "
                f"best val {r.get('best_val', math.nan):.4f}")

        def on_trial_error(self, iteration, trials, trial, **info):
            say(f"trial {trial.trial_id} failed (Tune retries it from its latest.npz up to --retries times): "
                f"{trial.error_file or ''}")
    return Lines()


def _tuner(tune, search, text, out, restore, say):
    trainable = tune.with_resources(tune.with_parameters(trial, text=text, trials_dir=str(out / TRIALS)),
                                    {"cpu": search["cores_per_trial"]})
    if restore:
        return tune.Tuner.restore(str(out / STATE), trainable, resume_unfinished=True, resume_errored=True)
    attr, max_t = (("iteration", search["iterations_per_trial"]) if search["iterations_per_trial"]
                   else ("elapsed_s", 60 * search["minutes_per_trial"]))
    scheduler = tune.schedulers.ASHAScheduler(time_attr=attr, max_t=max_t, grace_period=max_t / FIRST_RUNG,
                                              reduction_factor=REDUCTION)
    return tune.Tuner(
        trainable,
        param_space={**_param_space(search["space"], tune), **budget(search)},
        tune_config=tune.TuneConfig(
            metric="val_loss", mode="min", num_samples=search["trials"], scheduler=scheduler, reuse_actors=False,
            search_alg=tune.search.BasicVariantGenerator(random_state=search["seed"]),
            trial_dirname_creator=lambda t: t.trial_id),
        run_config=tune.RunConfig(
            name=STATE, storage_path=str(out), verbose=0, callbacks=[_progress(tune, say)],
            failure_config=tune.FailureConfig(max_failures=search["retries"]),
            checkpoint_config=tune.CheckpointConfig(num_to_keep=1)))


def read_text(path, encoding):
    """The text as `minrnn train` reads it (so that a trial's vocabulary is that run's)."""
    ix, chars = data.read_corpus(path, encoding)
    return ix, chars, data.decode(ix, chars)


def command(a, say=print):
    """`minrnn tune`, its options `a` parsed: a new search, --resume or --report."""
    given = [name for name in SEARCH_SETUP if getattr(a, name)]
    for flag, folder in (("--resume", a.resume), ("--report", a.report)):
        if folder and given:
            raise MinrnnError(f"{flag} continues or reports a search as it was set up; leave out "
                              + ", ".join("TEXT" if name == "file" else OPTIONS[name].dest for name in given))
    if a.resume and a.report:
        raise MinrnnError("give one of --resume and --report")
    if a.report:
        return report_search(a.report, say=say)
    if a.resume:
        return resume(a.resume, address=a.address, cpus=a.cpus, say=say)
    if not a.file:
        raise MinrnnError("give the text to search on: minrnn tune TEXT (or --resume OUT, --report OUT)")
    return search(a, say=say)


def search(a, say=print):
    """A new search, its options `a` (OPTIONS'): checks everything it can before Ray starts,
    then runs the trials. Returns the report's rows (see `report_search`)."""
    out = Path(a.out or f"runs/tune-{time.strftime('%Y%m%d-%H%M%S')}").resolve()
    if (out / SEARCH).exists():
        raise MinrnnError(f"{out}: already holds a search; continue it with --resume {out} or choose another --out")
    ray, tune = _ray()
    space = read_space(a.space) if a.space else check_space(SPACE)
    ix, chars, text = read_text(a.file, a.encoding)
    fixed = {name: getattr(a, name) for name in ("trials", "minutes_per_trial", "iterations_per_trial",
                                                  "cores_per_trial")}
    for corner in extremes(space):
        cfg = config.check(config.Config(**corner, **budget(fixed), encoding=a.encoding))
        streams_for(cfg, ix)  # the largest batch and sequence fit the text
    record = {"text": str(Path(a.file).resolve()), "encoding": a.encoding, **fixed, "seed": a.seed,
              "retries": a.retries, "space": space}
    out.mkdir(parents=True, exist_ok=True)
    (out / SEARCH).write_text(json.dumps(record, indent=2) + "\n", "utf-8")
    return _run(ray, tune, record, text, out, a.address, a.cpus, restore=False, say=say)


def resume(out, *, address=None, cpus=None, say=print):
    """Continue an interrupted search: finished trials stay as they are, the others continue
    from their checkpoints."""
    out = Path(out).resolve()
    record = read_record(out)
    ray, tune = _ray()
    if not (out / STATE).is_dir():
        raise MinrnnError(f"{out / STATE}: Tune's state of the search is missing, so it cannot continue")
    _, _, text = read_text(record["text"], record["encoding"])
    return _run(ray, tune, record, text, out, address, cpus, restore=True, say=say)


def _run(ray, tune, record, text, out, address, cpus, restore, say):
    # a snapshot of Tune's state follows each checkpoint (num_to_keep=1): many, and small
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    shut = _connect(ray, address, cpus, len(text.encode()))
    try:
        tuner = _tuner(tune, record, text, out, restore, say)
        ours = signal.getsignal(signal.SIGINT)
        tuner.fit()
        # Tune stops at a Ctrl-C (saving its state) and then, only then, puts the SIGINT handler
        # it found back in place; the trials' statuses say TERMINATED either way
        interrupted = signal.getsignal(signal.SIGINT) is ours
    finally:
        if shut:
            ray.shutdown()
    rows = report_search(out, say=say)
    if interrupted:
        raise MinrnnError(f"the search was interrupted; continue it with minrnn tune --resume {out}", exit_code=130)
    return rows


def read_record(out):
    try:
        record = json.loads((Path(out) / SEARCH).read_text("utf-8"))
    except FileNotFoundError:
        raise MinrnnError(f"{out}: not a search folder (no {SEARCH}; a search writes it when it starts)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise MinrnnError(f"{Path(out) / SEARCH}: damaged ({e})") from None
    return record


def finished(iterations, minutes, iteration, elapsed_s):
    """Whether a trial's last evaluation (iteration, elapsed_s) was its budget's end. A run stops
    at the first iteration that finds its time used, so its last evaluation can be a moment
    before the time itself: within a second, or two iterations' time, counts as the end."""
    if iterations:
        return iteration >= iterations
    margin = max(1.0, 2 * elapsed_s / max(iteration, 1))
    return bool(minutes) and elapsed_s >= 60 * minutes - margin


def trial_rows(out):
    """Every trial that logged an evaluation: its folder, settings, iterations, minutes, best
    validation loss and whether it stopped before its budget, best first."""
    rows = []
    trials = Path(out) / TRIALS
    for folder in sorted(trials.iterdir() if trials.is_dir() else []):
        if folder.is_symlink() or not folder.is_dir():  # `latest`, beside the run folders
            continue
        try:
            settings = json.loads((folder / "config.json").read_text("utf-8"))
            log = read_log(folder)
        except (OSError, json.JSONDecodeError, MinrnnError):
            continue  # started, but not yet evaluated
        cfg = config.Config(**settings)
        iteration, elapsed = int(log["iteration"][-1]), float(log["elapsed_s"][-1])
        val = log["val_loss"][~np.isnan(log["val_loss"])]
        rows.append({"folder": folder, "config": cfg, "iteration": iteration, "minutes": elapsed / 60,
                     "best_val": float(val.min()) if len(val) else math.nan,
                     "stopped_early": not finished(cfg.iterations, cfg.minutes, iteration, elapsed),
                     "log": log})
    return sorted(rows, key=lambda r: (math.isnan(r["best_val"]), r["best_val"]))


def train_command_line(text, cfg, extra):
    """The `minrnn train` command line of cfg's settings (those not at their defaults; a float
    as repr writes it, which reads back as the same number)."""
    flags = [f"{config.flag(k)} {shlex.quote(repr(v) if isinstance(v, float) else str(v))}"
             for k, option in config.OPTIONS.items()
             if option.cli and (v := getattr(cfg, k)) != getattr(config.DEFAULTS, k)]
    return " ".join(["minrnn train", shlex.quote(str(text)), *flags, *extra])


def report_search(out, say=print):
    """The table, the best trial and its two command lines, printed and written to
    OUT/report.txt, and every trial's validation curve against time in OUT/curves.png."""
    out = Path(out).resolve()
    record = read_record(out)
    rows = trial_rows(out)
    if not rows:
        raise MinrnnError(f"{out}: no trial has reported an evaluation yet")
    searched = [k for k, v in record["space"].items() if isinstance(v, (list, dict))]
    head = ["trial", *searched, "iterations", "minutes", "best val", "stopped early"]
    table = [head] + [[r["folder"].name, *(_shown(getattr(r["config"], k)) for k in searched), str(r["iteration"]),
                       f"{r['minutes']:.2f}", f"{r['best_val']:.4f}", "yes" if r["stopped_early"] else "no"]
                      for r in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(head))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(line, widths)) for line in table]
    best = rows[0]
    cfg, text = best["config"], record["text"]
    longer = (f"--iterations {2 * cfg.iterations}" if cfg.iterations else f"--minutes {_shown(2 * cfg.minutes)}")
    lines += ["", f"best: {best['folder']} (best val {best['best_val']:.4f} nats/char)",
              "reproduce it:  " + train_command_line(text, cfg, (["--encoding", record["encoding"]] if record["encoding"] != "utf-8"
                                                     else []) + ["--out", "runs/best"]),
              "continue it:   " + " ".join(["minrnn train --resume", shlex.quote(str(best["folder"])), longer])
              + "  (the budget is a total for the run)"]
    written = [out / "report.txt"]
    (out / "report.txt").write_text("\n".join(lines) + "\n", "utf-8")
    try:
        draw_trial_curves(rows, searched, out / "curves.png")
        written.append(out / "curves.png")
    except MinrnnError as e:  # matplotlib missing: the table still stands
        lines.append(f"(no curves.png: {e})")
    say("\n".join(lines))
    say("wrote " + ", ".join(map(str, written)))
    return rows


def _shown(v):
    return f"{v:g}" if isinstance(v, float) else str(v)


def draw_trial_curves(rows, searched, path):
    """Every trial's validation loss against minutes of training, the best in bold; the legend
    names each trial's searched settings."""
    Figure = curves.figure_class()
    fig = Figure(figsize=(10, 5 + 0.18 * len(rows)), constrained_layout=True)
    ax = fig.subplots()
    for n, r in enumerate(rows):
        log = r["log"]
        settings = " ".join(f"{k}={v:.3g}" if isinstance(v := getattr(r["config"], k), float) else f"{k}={v}"
                            for k in searched)
        ax.plot(log["elapsed_s"] / 60, log["val_loss"], lw=2.5 if n == 0 else 1, color=f"C{n % 10}",
                ls="-" if n < 10 else "--", label=f"{r['best_val']:.3f} {r['folder'].name} {settings}"
                + (" (stopped)" if r["stopped_early"] else ""))
    ax.set_xlabel("minutes of training")
    ax.set_ylabel("validation loss (nats/char)")
    ax.set_title(f"{len(rows)} trials; the legend: best validation loss first")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.12))  # below: never over a curve
    try:
        fig.savefig(path, dpi=110)
    except OSError as e:
        raise MinrnnError(f"cannot write {path} ({e.strerror or e})", exit_code=1) from None
