"""Loss curves of training runs, drawn with matplotlib (the optional extra minrnn[plot]), from
each run folder's log.csv (one row per evaluation; val_loss is nan when validation is off)."""
import io
from pathlib import Path

import numpy as np

from . import options, outfile
from .errors import MinrnnError, said
from .options import PATH, Option
from .runfolder import read_log

OPTIONS = options.group(
    runs=Option(PATH, None, "run folders", positional="+", many=True, metavar="RUN_DIR"),
    labels=Option(str, None, "a run's name in the legend, once per RUN_DIR", flag="--label", many=True,
                  metavar="NAME", unset="the folder's name"),
    out=Option(PATH, "loss.png", "the picture: png, svg or pdf", metavar="FILE", api=False),
)
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


def _log_helps(values, span):
    v = values[np.isfinite(values)]
    return len(v) > 1 and v.min() > 0 and v.max() / v.min() >= span


def figure(run_dirs, labels=None):
    """Training and validation loss against iterations and against minutes, one colour per run:
    (the Figure, the number of logged points drawn)."""
    logs = [read_log(d) for d in run_dirs]
    Figure = figure_class()
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


class Plot:
    """Loss curves: inline in Jupyter as a PNG; save(path) writes png, svg or pdf by the name's
    extension."""

    DPI = 120

    def __init__(self, figure, runs, points):
        self.figure, self.runs, self.points = figure, runs, points

    def __repr__(self):
        return f"Plot({self.runs} run(s), {self.points} logged points; .save(path) writes it)"

    def _repr_png_(self):
        buffer = io.BytesIO()
        self.figure.savefig(buffer, format="png", dpi=self.DPI)
        return buffer.getvalue()

    @options.takes(options.group(path=Option(PATH, None, "the file to write: png, svg or pdf")), "Plot.save",
                   positional=("path",))
    def save(self, a):
        """Write the picture to a.path."""
        outfile.check(a.path)
        save(self.figure, a.path, self.DPI)
        return Path(a.path)


def plot(runs, labels=None):
    """The Plot of runs (run folders or Runs), each named in the legend by labels (default: its
    folder's name)."""
    if labels and len(labels) != len(runs):
        raise MinrnnError(f"{said('labels', flag='--label')} gives {len(labels)} label(s) for {len(runs)} run "
                          "folder(s); give one per folder, or none")
    fig, points = figure(runs, labels)
    return Plot(fig, len(runs), points)
