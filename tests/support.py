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


# The notebook seed's second cell, verbatim (../shared/seeds/notebook-vanilla-rnn.txt): its first
# cell is reference/notebook.py.
NOTEBOOK_CELL_2 = r"""
# Training example: learn to predict next character for a very small corpus
# Paste as a new cell below the previous one and run both.

data = "hello world\n" * 200  # small corpus repeated to give enough steps
chars = sorted(list(set(data)))
vocab_size = len(chars)
char_to_ix = {ch: i for i, ch in enumerate(chars)}
ix_to_char = {i: ch for ch, i in char_to_ix.items()}

print("Vocab size:", vocab_size)
print("Chars:", chars)

# Hyperparameters
hidden_size = 100
seq_len = 25
learning_rate = 1e-1
iterations = 3000
print_every = 300

# Initialize model
rnn = VanillaRNN(input_size=vocab_size, hidden_size=hidden_size, output_size=vocab_size,
                 seq_len=seq_len, learning_rate=learning_rate)

# Prepare data as list of indices
data_ix = [char_to_ix[ch] for ch in data]
data_len = len(data_ix)

# Training loop (simple SGD over sequence chunks)
p = 0  # data pointer
smooth_loss = -np.log(1.0 / vocab_size) * seq_len

for it in range(1, iterations + 1):
    # prepare inputs and targets
    if p + seq_len + 1 >= data_len or it == 1:
        hprev = np.zeros((hidden_size, 1))  # reset RNN memory
        p = 0  # go from start of data
    inputs = data_ix[p:p + seq_len]
    targets = data_ix[p + 1:p + seq_len + 1]

    # forward
    xs, hs, ys, ps = rnn.forward(inputs, hprev)
    loss = rnn.compute_loss(ps, targets)
    smooth_loss = smooth_loss * 0.999 + loss * 0.001

    # backward
    grads, hprev = rnn.backward(xs, hs, ps, targets)
    rnn.update_params(grads)

    p += seq_len  # move data pointer

    if it % print_every == 0 or it == 1:
        print(f"Iter {it}, loss: {smooth_loss:.4f}")
        # sample from the model
        sample_ix = rnn.sample(seed_ix=inputs[0], n=50, h=hs[seq_len-1])
        txt = ''.join(ix_to_char[ix] for ix in sample_ix)
        print("----\n", txt, "\n----")

# Final sample after training
seed = char_to_ix['h']
sample_ix = rnn.sample(seed_ix=seed, n=100)
print("Final sample:\n", ''.join(ix_to_char[ix] for ix in sample_ix))
"""

# Numbers each command refuses while parsing its arguments (the API refuses the same values)
BAD_VALUES = ["0", "-1", "nan", "inf", "abc", ""]
NUMERIC = {
    "classic": {"--hidden": ["0", "-1", "abc", "1.5"], "--seq-length": ["0", "-2"], "--lr": BAD_VALUES,
                "--seed": ["-1", str(2**32)], "--iterations": ["0", "-5"], "--sample-every": ["0"],
                "--sample-length": ["0", "-1"], "--print-every": ["0"]},
    "train": {"--hidden": ["0", "-1", "x"], "--seq-length": ["0", "-1"], "--batch-size": ["0", "-4"],
              "--lr": BAD_VALUES, "--momentum": ["1", "-0.1", "nan"], "--lr-decay": ["0", "1.5", "inf"],
              "--lr-decay-every": ["0"], "--clip": ["0", "-1", "inf"], "--val-frac": ["1", "-0.1", "2"],
              "--eval-every": ["-1"], "--sample-every": ["-1"], "--seed": ["-1"], "--threads": ["0", "99999"],
              "--iterations": ["0", "-1"], "--epochs": ["0"], "--minutes": ["0", "-1", "nan"],
              "--optimizer": ["lbfgs"], "--dtype": ["float16"], "--lr-schedule": ["linear"],
              "--lr-floor": ["1", "-0.1", "nan"], "--average": ["1.5", "-0.1", "nan"], "--dropout": ["1", "-0.1"]},
    "sample": {"--length": ["0", "-1"], "--temperature": ["-1", "-0.5", "nan", "inf", "abc", ""],
               "--top-k": ["0", "-1"], "--top-p": ["0", "1.5", "-0.1", "nan"], "--num-samples": ["0", "-2", "1.5"],
               "--beam": ["0", "-1"], "--seed": ["-1"]},
    "serve": {"--port": ["-1", "65536", "abc"], "--max-batch": ["0", "-1"], "--max-queue": ["-1", "x"],
              "--max-length": ["0"], "--max-body": ["0", "1.5"]},
}


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
