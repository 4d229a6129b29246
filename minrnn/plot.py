"""Loss curves of training runs, drawn with matplotlib (the optional extra minrnn[plot]).

A run folder's log.csv has one row per evaluation: iteration, elapsed_s, train_loss, val_loss,
lr, chars_per_s (val_loss is nan when validation is off)."""
import csv
from pathlib import Path

import numpy as np

from .errors import MinrnnError

COLUMNS = ("iteration", "elapsed_s", "train_loss", "val_loss")  # the ones plotted
# A log axis once the values span this factor: iterations and minutes over decades, where the
# early part needs room; a loss falling 3x, where the late gains would look flat.
LOG_X_SPAN, LOG_Y_SPAN = 30, 3


def figure_class():
    """matplotlib's Figure, or a one-line hint to install it. Figure with its Agg canvas needs
    no display and leaves pyplot's global state alone."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise MinrnnError("plotting needs matplotlib: pip install 'minrnn[plot]'") from None
    return Figure


def read_log(run_dir):
    """A run folder's log.csv as {column: float array}, checked."""
    run_dir = Path(run_dir)
    if not run_dir.exists():
        raise MinrnnError(f"{run_dir}: no such run folder")
    if not run_dir.is_dir():
        raise MinrnnError(f"{run_dir}: not a run folder (give the folder that holds log.csv)")
    path = run_dir / "log.csv"
    if not path.is_file():
        raise MinrnnError(f"{run_dir}: no log.csv in this folder (is it a run folder? a run writes its log "
                          "at its first evaluation)")
    try:
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.reader(f)
            header = next(reader, None)
            missing = [c for c in COLUMNS if c not in (header or [])]
            if missing:
                raise MinrnnError(f"{path}: not a minrnn log (no column {', '.join(missing)} in its header)")
            at = [header.index(c) for c in COLUMNS]
            rows = []
            for row in reader:
                if len(row) != len(header):
                    raise MinrnnError(f"{path}: damaged at line {reader.line_num} "
                                      f"({len(row)} fields, the header has {len(header)})")
                try:
                    rows.append([float(row[i]) for i in at])
                except ValueError:
                    raise MinrnnError(f"{path}: damaged at line {reader.line_num} (a value is not a number)") from None
    except (UnicodeDecodeError, csv.Error) as e:
        raise MinrnnError(f"{path}: damaged ({type(e).__name__}: {e})") from None
    except OSError as e:
        raise MinrnnError(f"{path}: cannot read it ({e.strerror or e})") from None
    if not rows:
        raise MinrnnError(f"{path}: no rows yet (a run logs at each evaluation)")
    return dict(zip(COLUMNS, np.array(rows).T))


def _log_helps(values, span):
    v = values[np.isfinite(values)]
    return len(v) > 1 and v.min() > 0 and v.max() / v.min() >= span


def figure(run_dirs, labels=None):
    """Training and validation loss against iterations and against minutes, one colour per run:
    (the Figure, the number of logged points drawn)."""
    Figure = figure_class()
    logs = [read_log(d) for d in run_dirs]
    labels = labels or [Path(d).resolve().name for d in run_dirs]
    fig = Figure(figsize=(12, 4.2), constrained_layout=True)
    axes = fig.subplots(1, 2, sharey=True)
    for n, (log, label) in enumerate(zip(logs, labels)):
        style = {"color": f"C{n % 10}", "marker": "o" if len(log["iteration"]) < 20 else None, "markersize": 3}
        for ax, x in zip(axes, (log["iteration"], log["elapsed_s"] / 60)):
            ax.plot(x, log["train_loss"], label=f"{label} train", **style)
            if np.isfinite(log["val_loss"]).any():
                ax.plot(x, log["val_loss"], "--", label=f"{label} validation", **style)
    everything = lambda key: np.concatenate([log[key] for log in logs])
    for ax, key, xlabel in zip(axes, ("iteration", "elapsed_s"), ("iteration", "minutes")):
        ax.set_xlabel(xlabel)
        ax.grid(alpha=0.3)
        if _log_helps(everything(key), LOG_X_SPAN):
            ax.set_xscale("log")
    losses = np.concatenate([everything("train_loss"), everything("val_loss")])
    if _log_helps(losses, LOG_Y_SPAN):
        axes[0].set_yscale("log")
    axes[0].set_ylabel("loss (nats/char)")
    axes[0].set_title("against iterations")
    axes[1].set_title("against minutes")
    axes[1].legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.02, 1))  # outside: never over a curve
    return fig, sum(len(log["iteration"]) for log in logs)


def save(fig, out, dpi=120):
    """The figure into `out`; its extension picks the format: png, svg, pdf."""
    try:
        fig.savefig(out, dpi=dpi)
    except OSError as e:
        raise MinrnnError(f"cannot write {out} ({e.strerror or e})", exit_code=1) from None
    except ValueError as e:  # matplotlib's word for an extension it cannot write
        raise MinrnnError(f"{out}: {e}") from None
