import numpy as np
import pytest

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


@pytest.fixture
def text_file(tmp_path):
    path = tmp_path / "input.txt"
    path.write_text(make_text(20_000), encoding="utf-8")
    return path
