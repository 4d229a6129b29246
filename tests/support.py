"""What several test files share: a small English-like text, the CLI run in process, the check
that an error is one clean line, and the loader for benchmark scripts. Test files import from
here, never from one another."""
import importlib.util
from pathlib import Path

import numpy as np

from minrnn.cli import main

ROOT = Path(__file__).resolve().parent.parent

# A small English-like text every test can train on: no test reads ../shared.
WORDS = ("the quick brown fox jumps over the lazy dog while a small bird sings in the old tree "
         "and the river runs down to the sea under a grey sky full of rain").split()


def make_text(n_chars, seed=0):
    rng = np.random.default_rng(seed)
    words, size = [], 0
    while size < n_chars:
        w = WORDS[rng.integers(len(WORDS))]
        words.append(w + ("\n" if rng.random() < 0.1 else " "))
        size += len(words[-1])
    return "".join(words)[:n_chars]


def run(capsys, *argv):
    """cli.main in-process: (exit code, stdout, stderr)."""
    try:
        code = main([str(a) for a in argv])
    except SystemExit as e:  # argparse's own exits
        code = e.code
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code, err, *words, exit_code=2):
    assert code == exit_code
    lines = err.strip().splitlines()
    assert "Traceback" not in err
    assert lines[-1].startswith("minrnn: error:") and all(w in lines[-1] for w in words), err


def load_benchmark(name):
    """benchmarks/<name>.py as a module: the benchmarks are scripts, not an importable package."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
