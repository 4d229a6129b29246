"""Checkpoints written by minrnn's format 1 (one vanilla layer, before ModelConfig) still load,
sample, evaluate, fine-tune and resume. tests/data/v1-run was made by that code (commit b2f0496)
on tests/data/v1-tiny.txt with --hidden 8 --batch-size 2 --seq-length 8 --iterations 20."""
import json
import shutil
from pathlib import Path

import pytest

from minrnn import checkpoint

from minrnn import data
from minrnn.model import ModelConfig
from minrnn.evaluate import loss_per_char
from support import assert_one_line_error, run

DATA = Path(__file__).parent / "data"
RUN, TEXT = DATA / "v1-run", DATA / "v1-tiny.txt"
# format 1's own loss_per_char() of this checkpoint on this text at batch 1, T = 25: one stream, what
# `minrnn eval` now reads a text as (in windows of 1,000 after 100 characters of context: the same to 1e-5)
V1_LOSS = 3.2661362473215245


def test_format1_model_is_one_vanilla_layer():
    model, meta = checkpoint.read_model(RUN / "latest.npz")
    assert checkpoint.load(RUN / "latest.npz", names=())[1]["format_version"] == 1
    assert model.config == ModelConfig(len(meta["vocab"]), "rnn", 8, 1, 0, 0.0, "float32")
    ix, _ = data.read_corpus(TEXT, "utf-8", meta["vocab"])
    assert loss_per_char(model, ix) == pytest.approx(V1_LOSS, rel=1e-5)


def test_format1_samples_and_evaluates(capsys):
    code, out, err = run(capsys, "sample", RUN / "latest.npz", "--length", 40, "--prime", "the ")
    assert code == 0 and out.startswith("the ") and len(out) == 4 + 40 + 1, err
    code, out, err = run(capsys, "eval", RUN / "latest.npz", TEXT)
    assert code == 0 and f"loss {V1_LOSS:.4f} nats/char" in out, err  # read as one stream, as format 1 read it at batch 1


def test_format1_fine_tunes_and_resumes(capsys, tmp_path):
    code, _, err = run(capsys, "train", TEXT, "--init-from", RUN / "latest.npz", "--iterations", 5,
                       "--batch-size", 2, "--seq-length", 8, "--out", tmp_path / "ft", "--quiet")
    assert code == 0, err
    folder = tmp_path / "v1"
    shutil.copytree(RUN, folder)
    config = json.loads((folder / "config.json").read_text())
    config["corpus"] = str(TEXT)
    (folder / "config.json").write_text(json.dumps(config))
    code, _, err = run(capsys, "train", TEXT, "--resume", folder, "--iterations", 25, "--quiet")
    assert code == 0, err
    _, meta = checkpoint.read_model(folder / "latest.npz")
    assert meta["format_version"] == checkpoint.FORMAT_VERSION and meta["iteration"] == 25


def test_format1_cannot_be_fine_tuned_as_another_cell(capsys, tmp_path):
    code, _, err = run(capsys, "train", TEXT, "--init-from", RUN / "latest.npz", "--cell", "lstm",
                       "--out", tmp_path / "x")
    assert_one_line_error(code, err, "--cell")
