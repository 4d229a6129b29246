"""What a training run shows and hears while it runs: a progress bar (tqdm) on a terminal and in
a notebook, plain lines elsewhere, and Ctrl-C or SIGTERM asking it to stop after the current step."""
import signal
import sys
import time
import warnings


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
    PLAIN_EVERY seconds; nothing when quiet."""

    PLAIN_EVERY = 30.0

    def __init__(self, total, initial, quiet):
        self.quiet = quiet
        self.bar = None
        self.last_line = time.perf_counter()
        if not quiet and (sys.stderr.isatty() or in_notebook()):
            with warnings.catch_warnings():  # without ipywidgets tqdm.auto says so, then uses the text bar
                warnings.simplefilter("ignore")
                from tqdm.auto import tqdm
            self.bar = tqdm(total=total, initial=initial, unit="it", dynamic_ncols=True, file=sys.stderr)

    def update(self, it, stats):
        if self.bar is not None:
            self.bar.update(it - self.bar.n)
            self.bar.set_postfix_str(stats, refresh=False)
        elif time.perf_counter() - self.last_line >= self.PLAIN_EVERY:
            self.line(f"iter {it}: {stats}")

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
