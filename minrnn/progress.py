"""What a training run shows and hears while it runs: a progress bar (tqdm) on a terminal and in
a notebook, plain lines elsewhere, and Ctrl-C or SIGTERM asking it to stop after the current step."""
import signal
import sys
import time
import warnings

import tqdm


class StopSignal:
    """Ctrl-C and SIGTERM ask the loop to stop after the current step instead of raising, so a
    checkpoint being written is never cut short (a second Ctrl-C only asks again)."""

    def __init__(self):
        self.requested = False
        self._old = {}

    def __enter__(self):
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self._old[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread: leave signals alone
                pass
        return self

    def _handle(self, signum, frame):
        self.requested = True

    def __exit__(self, *exc):
        for sig, old in self._old.items():
            signal.signal(sig, old)


def in_notebook():
    """Whether this runs in a Jupyter kernel (tqdm.auto's own test)."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return shell is not None and "IPKernelApp" in shell.config


class Progress:
    """A tqdm bar on a terminal, and in a notebook (tqdm.auto: a widget where ipywidgets is
    installed, else the text bar); elsewhere plain lines at each evaluation and at least every
    PLAIN_EVERY seconds; nothing when quiet. A run with a budget shows the share of it used and
    the time left, whichever budget it is (iterations, epochs, minutes); one without, the
    iterations."""

    PLAIN_EVERY = 30.0
    # the share of the budget, the time so far and left, then the iteration and what the run says
    BUDGET_BAR = "{l_bar}{bar}| {elapsed}<{remaining}{postfix}"

    def __init__(self, total, iteration, used, quiet):
        """total: the iterations the budget allows (None: no such budget); iteration: the run's
        iteration at the start; used: the share of its budget used then (None: it has none)."""
        self.quiet, self.total, self.budgeted = quiet, total, used is not None
        self.bar = None
        self.started = self.last_line = time.perf_counter()
        self.used_at_start = used
        if not quiet and (sys.stderr.isatty() or in_notebook()):
            with warnings.catch_warnings():  # without ipywidgets tqdm.auto says so, then uses the text bar
                warnings.simplefilter("ignore")
                from tqdm.auto import tqdm as bar
            if self.budgeted:
                self.bar = bar(total=100, initial=self._percent(used), bar_format=self.BUDGET_BAR,
                                dynamic_ncols=True, file=sys.stderr)
            else:
                self.bar = bar(total=None, initial=iteration, unit="it", dynamic_ncols=True, file=sys.stderr)

    @staticmethod
    def _percent(used):
        return round(100 * min(used, 1.0), 2)

    def update(self, iteration, used, stats):
        """The run at `iteration`, with `used` of its budget behind it; stats: what it says beside."""
        where = f"iteration {iteration:,}" + (f"/{self.total:,}" if self.total is not None else "")
        if self.bar is not None:
            self.bar.update(self._percent(used) - self.bar.n if self.budgeted else iteration - self.bar.n)
            self.bar.set_postfix_str(f"{where}, {stats}" if self.budgeted else stats, refresh=False)
        elif time.perf_counter() - self.last_line >= self.PLAIN_EVERY:
            self.line(f"{where}{self.left(used)}: {stats}")

    def left(self, used):
        """' (42%, 2:54 left)': the share of the budget used and the time left at the pace since
        the run started; '' without a budget."""
        if not self.budgeted:
            return ""
        pace = (used - self.used_at_start) / max(time.perf_counter() - self.started, 1e-9)
        left = tqdm.tqdm.format_interval((1 - min(used, 1.0)) / pace) if pace > 0 else "?"
        return f" ({min(used, 1.0):.0%}, {left} left)"

    def line(self, text):
        self.last_line = time.perf_counter()
        if self.quiet:
            return
        if self.bar is not None:
            self.bar.write(text, file=sys.stderr)
        else:
            print(text, file=sys.stderr, flush=True)

    def close(self):
        if self.bar is not None:
            self.bar.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
