"""What the viz tests share: texts with quotations, models built by hand or drawn at random,
tiny training runs, and the page's data read back out of its HTML."""
import base64
import json
import re

import numpy as np

from minrnn.cli import main
from minrnn.model import CharRNN, ModelConfig


def make_model(V, H, cell="rnn", layers=1, seed=None):
    """A float64 model: all zeros, or drawn from a seeded generator."""
    config = ModelConfig(vocab_size=V, cell=cell, hidden=H, layers=layers, embedding=0, dropout=0.0, dtype="float64")
    return CharRNN(config, rng=None if seed is None else np.random.default_rng(seed), init_scale=0.5)


def quoted_text(n, seed=0):
    """Words with a quotation every few of them."""
    rng = np.random.default_rng(seed)
    words = "the cat sat on a mat and then said hello to the dog".split()
    out = []
    while sum(map(len, out)) < n:
        k = int(rng.integers(1, 5))
        chunk = " ".join(rng.choice(words, k))
        out.append(f'"{chunk}" ' if rng.random() < 0.4 else chunk + ("\n" if rng.random() < 0.2 else " "))
    return "".join(out)[:n]


# a small float64 run, trained for a few iterations: enough for a checkpoint and a log; at batch 1,
# so that `minrnn eval` (which evaluates in the run's layout) reads the text as the page does
TRAIN = ["--cell", "rnn", "--layers", "1", "--hidden", "16", "--seq-length", "16", "--batch-size", "1", "--eval-every", "10", "--sample-every", "0",
         "--dtype", "float64", "--quiet"]


def train_run(folder, text_path, iterations=40, *extra):
    code = main([str(a) for a in ("train", text_path, "--out", folder, "--iterations", iterations, *TRAIN, *extra)])
    assert code == 0
    return folder


def page_of(html):
    """The data a page carries, parsed back out of its HTML."""
    blob = re.search(r'<script type="application/json" id="minrnn-data">(.*?)</script>', html, re.S).group(1)
    return json.loads(blob)


def decode_page_arrays(page):
    """The page data's base64 arrays as NumPy arrays: the weights by name, and p_ngram."""
    weights = {name: np.frombuffer(base64.b64decode(w["data"]), w["dtype"]).reshape(w["shape"])
               for name, w in page["weights"].items()}
    return {"weights": weights, "p_ngram": np.frombuffer(base64.b64decode(page["p_ngram"]), "<f4")}
