"""Ctrl-C and SIGTERM save and exit 0; one folder, one run; a diverging run stops and keeps
the last good checkpoint."""
import math
import re
import signal
import time

import numpy as np
import pytest

from minrnn import checkpoint, model as model_module
from minrnn.data import MinrnnError
from minrnn.runfolder import TrainingFolder

from .helpers import (TINY, assert_clean_error, assert_clean_proc, kill9, main, run, start,
                      start_training, tmp_files, wait_for, wait_training, write_text)

LONG = ["--iterations", 10**7]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_saves_prints_the_path_and_exits_0(tmp_path, sig):
    corpus = write_text(tmp_path / "t.txt")
    out = tmp_path / "run"
    proc = start_training(tmp_path, corpus, "--out", out, *TINY, *LONG, "--eval-every", "0")
    wait_training(proc)  # in the loop; with --eval-every 0 the first checkpoint would come at 1000
    assert not (out / "latest.npz").exists()
    proc.send_signal(sig)
    proc.communicate(timeout=30)
    err = proc.errfile.read_text()
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    m = re.search(r"interrupted; saved at iteration (\d+): (\S+latest\.npz)", err)
    assert m, err
    assert m.group(2) == str(out / "latest.npz")
    _, meta = checkpoint.read_model(out / "latest.npz")
    assert meta["iteration"] == int(m.group(1)) > 0
    assert tmp_files(out) == []


def test_repeated_ctrl_c_while_saving_does_not_corrupt(tmp_path):
    """A burst of SIGINTs (the impatient user) while the final checkpoint of a larger model
    is being written: it is written whole, and no traceback."""
    corpus = write_text(tmp_path / "t.txt")
    for delay in (0.0, 0.002, 0.01):
        out = tmp_path / f"run{delay}"
        proc = start_training(tmp_path, corpus, "--out", out, "--hidden", "300", "--batch-size", "2",
                              "--seq-length", "4", *LONG, "--eval-every", "0", "--threads", "1")
        wait_training(proc)
        proc.send_signal(signal.SIGINT)
        time.sleep(delay)
        for _ in range(20):
            if proc.poll() is not None:
                break
            proc.send_signal(signal.SIGINT)
            time.sleep(0.001)
        proc.communicate(timeout=30)
        err = proc.errfile.read_text()
        # 0, or a signal that came after the checkpoint was written and the path printed:
        # Python then exits as the default handler would (130, or killed by SIGINT)
        assert proc.returncode in (0, 130, -signal.SIGINT), err
        assert "Traceback" not in err
        checkpoint.read_run(out / "latest.npz")
        assert tmp_files(out) == []


def test_second_run_in_the_same_folder_is_refused(tmp_path):
    corpus = write_text(tmp_path / "t.txt")
    out = tmp_path / "run"
    first = start_training(tmp_path, corpus, "--out", out, *TINY, *LONG, "--eval-every", "0")
    try:
        wait_training(first)
        # no checkpoint yet: the lock is what refuses
        second = run("train", corpus, "--out", out, *TINY, "--iterations", 5)
        assert_clean_proc(second, "another minrnn run is using", str(out))
        first.send_signal(signal.SIGINT)
        first.communicate(timeout=30)
        assert first.returncode == 0
        # now a checkpoint exists: a fresh --out is refused, --resume is the way
        second = run("train", corpus, "--out", out, *TINY, "--iterations", 5)
        assert_clean_proc(second, "--resume")
        first = start("train", "--resume", out, *LONG, "--eval-every", "1")
        wait_for((out / "log.csv").exists, proc=first)  # the resumed run is training
        second = run("train", "--resume", out, *LONG)
        assert_clean_proc(second, "another minrnn run is using")
    finally:
        if first.poll() is None:
            kill9(first)
    # a crashed (SIGKILLed) run leaves .lock behind but not the lock: resume goes on
    assert (out / ".lock").exists()
    again = run("train", "--resume", out, "--iterations", checkpoint.load(out / "latest.npz")[1]["iteration"] + 3)
    assert again.returncode == 0, again.stderr


def test_lock_in_process_and_released_after_a_failed_run(tmp_path, capsys):
    a = TrainingFolder(tmp_path / "r")
    with pytest.raises(MinrnnError, match="another minrnn run"):
        TrainingFolder(tmp_path / "r")
    a.close()
    TrainingFolder(tmp_path / "r").close()
    # a run that fails (here: diverges) must not keep the folder locked in this process
    corpus = write_text(tmp_path / "t.txt")
    code, _, err = main(capsys, "train", corpus, "--out", tmp_path / "d", *TINY, "--optimizer", "sgd",
                        "--lr", "1e39", "--iterations", 50, "--eval-every", 1, "--quiet")
    assert code == 1, err
    TrainingFolder(tmp_path / "d").close()


def test_divergence_with_a_huge_learning_rate(tmp_path):
    corpus = write_text(tmp_path / "t.txt")
    out = tmp_path / "run"
    for lr in ("1e39", "1000"):  # 1e39 overflows float32 parameters; 1000 explodes the loss
        proc = run("train", corpus, "--out", out / lr, *TINY, "--optimizer", "sgd", "--lr", lr,
                   "--iterations", 200, "--eval-every", 1, "--quiet")
        assert_clean_proc(proc, "diverged", "lower --lr", exit_code=1)
        for name in ("latest.npz", "best.npz"):
            if (out / lr / name).exists():  # whatever was saved is finite and loads
                checkpoint.read_run(out / lr / name)
        assert tmp_files(out / lr) == []


@pytest.mark.parametrize("bad", ["nan-loss", "exploding-loss", "inf-gradient"])
def test_divergence_keeps_the_last_good_checkpoint(tmp_path, capsys, monkeypatch, bad):
    """The loss turns bad from the 13th iteration on (or an infinite gradient makes the parameters
    NaN in the step to iteration 15, which is then evaluated); checkpoints come every 5. latest.npz must stay the one from iteration
    10, byte for byte, and nothing with NaN is ever written."""
    corpus = write_text(tmp_path / "t.txt")
    out = tmp_path / "run"
    real = model_module.CharRNN.loss_and_grads
    calls = {"n": 0}

    def patched(self, *a, **k):
        loss, grad, h = real(self, *a, **k)
        calls["n"] += 1
        if bad == "exploding-loss" and calls["n"] >= 13:  # a sustained explosion, caught within 3
            loss = loss * 10
        elif calls["n"] == (15 if bad == "inf-gradient" else 13):
            if bad == "nan-loss":
                loss = math.nan
            else:
                grad[...] = np.inf
        return loss, grad, h

    monkeypatch.setattr(model_module.CharRNN, "loss_and_grads", patched)
    saved = {}
    real_save = checkpoint.save

    def spy(path, arrays, meta):
        for k, a in arrays.items():
            assert np.isfinite(a).all(), f"non-finite {k} written to {path}"
        real_save(path, arrays, meta)
        saved[path.name] = path.read_bytes()

    monkeypatch.setattr(checkpoint, "save", spy)
    code, _, err = main(capsys, "train", corpus, "--out", out, *TINY, "--iterations", 100,
                        "--eval-every", 5)
    assert_clean_error(code, err.splitlines()[-1] + "\n", "diverged", "--lr", exit_code=1)
    assert checkpoint.load(out / "latest.npz")[1]["iteration"] == 10
    assert (out / "latest.npz").read_bytes() == saved["latest.npz"]
    assert tmp_files(out) == []
