"""Large texts: the corpus is held once (as its index array), slices of it stay views, and
eval and sample read only the parameters of a checkpoint."""
import numpy as np

from minrnn import checkpoint, data
from support import load_benchmark

from .helpers import TINY, main, write_text


def test_peak_rss_of_training_on_20mb(tmp_path):
    """The 200 MB measurement of benchmarks/scale_rss.py, at 20 MB: what the text adds to the
    peak resident memory of `minrnn train` stays under 3x its index array."""
    bench = load_benchmark("scale_rss")
    r = bench.measure(20, tmp_path)
    bench.report(r)
    assert r["index_bytes"] == 20_000_000  # ASCII, 27 characters: one byte an index
    assert r["growth"] <= r["bound_growth"], r
    assert r["peak_rss"] <= r["fixed_rss"] + r["bound_peak"], r


def test_slices_of_the_corpus_are_views(tmp_path):
    path = write_text(tmp_path / "t.txt", 50_000)
    ix, chars = data.read_corpus(path)
    assert ix.dtype == np.uint8 and ix.flags.c_contiguous
    train_ix, val_ix = data.split(ix, 0.1)
    inputs, targets = data.streams(train_ix, 7)
    for part in (train_ix, val_ix, inputs, targets):
        assert np.shares_memory(part, ix), "a copy of the corpus"
    for x, y in data.chunks(inputs, targets, 16):
        assert np.shares_memory(x, ix) and np.shares_memory(y, ix)
        break


def test_decoding_keeps_one_chunk_in_memory(tmp_path, monkeypatch):
    """The file is decoded chunk by chunk; no piece handed out is larger than a chunk."""
    path = write_text(tmp_path / "t.txt", 300_000)
    monkeypatch.setattr(data, "CHUNK_BYTES", 1 << 14)
    sizes = [len(t) for t in data._decoded_chunks(path, "utf-8")]
    assert max(sizes) <= (1 << 14) + 4 and sum(sizes) == 300_000  # + the 4 bytes read for a byte-order mark


def test_eval_and_sample_read_only_the_parameters(tmp_path, capsys, monkeypatch):
    corpus = write_text(tmp_path / "t.txt", 3000)
    code, _, err = main(capsys, "train", corpus, "--out", tmp_path / "run", *TINY, "--iterations", 4, "--quiet")
    assert code == 0, err
    read = []
    real = checkpoint._read_array

    def spy(path, zf, name, expect=None):
        read.append(name)
        return real(path, zf, name, expect)

    monkeypatch.setattr(checkpoint, "_read_array", spy)
    wanted = {"__meta__", "Wxh", "Whh", "Why", "bh", "by"}
    for argv in (["sample", tmp_path / "run", "--length", 10], ["eval", tmp_path / "run", corpus]):
        read.clear()
        code, _, err = main(capsys, *argv)
        assert code == 0, err
        assert set(read) == wanted and len(read) == len(wanted), read
