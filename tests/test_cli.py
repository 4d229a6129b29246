"""The `minrnn` command as a user meets it: help, version, a run, and one-line errors."""
import builtins
import subprocess
import sys

import pytest

from minrnn import __version__
from support import assert_one_line_error, run


def test_version_and_help(capsys):
    assert run(capsys, "--version")[:2] == (0, f"minrnn {__version__}\n")
    code, out, _ = run(capsys, "--help")
    assert code == 0 and all(c in out for c in ("classic", "train", "sample", "eval"))
    for command in ("classic", "train", "sample", "eval"):
        code, out, _ = run(capsys, command, "--help")
        assert code == 0 and out.startswith("usage: minrnn " + command)


def test_python_dash_m(text_file):
    result = subprocess.run([sys.executable, "-m", "minrnn", "classic", text_file, "--iterations", "101",
                             "--sample-length", "30"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("----\n ") and "iter 100, loss: " in result.stdout


def test_classic_defaults_to_input_txt(capsys, text_file, monkeypatch):
    monkeypatch.chdir(text_file.parent)
    code, out, _ = run(capsys, "classic", "--iterations", "1")
    assert code == 0 and "iter 0, loss:" in out


def test_classic_ctrl_c_ends_with_a_sample(capsys, text_file, monkeypatch):
    from minrnn import model
    calls = {"n": 0}
    original = model.CharRNN.loss_and_grads

    def interrupt_at_50(self, *a, **k):
        calls["n"] += 1
        if calls["n"] == 50:
            raise KeyboardInterrupt
        return original(self, *a, **k)

    monkeypatch.setattr(model.CharRNN, "loss_and_grads", interrupt_at_50)
    code, out, err = run(capsys, "classic", text_file, "--sample-length", "10")
    assert code == 0 and "Traceback" not in err
    assert "interrupted at iter 49" in out and out.rstrip().endswith("----")


@pytest.fixture
def bad_files(tmp_path):
    files = {
        "empty": b"",
        "short": b"only twenty chars!!",
        "bad_utf8": b"hello world, this is fine" * 4 + b"\xff\xfe then broken",
        "binary": b"ELF\x00\x01\x02" * 20,
    }
    for name, content in files.items():
        (tmp_path / name).write_bytes(content)
    (tmp_path / "folder").mkdir()
    return tmp_path


@pytest.mark.parametrize("name, words", [
    ("missing", ["missing", "no such file"]),
    ("folder", ["folder", "is a directory"]),
    ("empty", ["empty", "is empty"]),
    ("short", ["fewer than seq_length + 1 = 26"]),
    ("bad_utf8", ["bad_utf8", "not valid utf-8 at byte 100", "--encoding"]),
    ("binary", ["binary", "binary data"]),
])
def test_classic_bad_files(capsys, bad_files, name, words):
    code, _, err = run(capsys, "classic", bad_files / name, "--iterations", "1")
    assert_one_line_error(code, err, *words)


def test_classic_unreadable_file(capsys, text_file, monkeypatch):
    real_open = builtins.open

    def deny(path, *a, **k):  # tests may run as root, whom chmod does not stop
        if str(path) == str(text_file):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *a, **k)

    monkeypatch.setattr(builtins, "open", deny)
    code, _, err = run(capsys, "classic", text_file)
    assert_one_line_error(code, err, str(text_file), "permission denied")


def test_latin1_file_reads_with_encoding(capsys, tmp_path):
    path = tmp_path / "latin.txt"
    path.write_bytes(("café au lait et crème brûlée " * 5).encode("latin-1"))
    code, _, err = run(capsys, "classic", path, "--iterations", "1")
    assert_one_line_error(code, err, "not valid utf-8")
    code, out, _ = run(capsys, "classic", path, "--iterations", "1", "--encoding", "latin-1")
    assert code == 0 and "iter 0" in out
    code, _, err = run(capsys, "classic", path, "--encoding", "klingon")  # judged as train's --encoding is
    assert code == 2 and err == ("minrnn classic: error: argument --encoding: klingon is an unknown encoding "
                                 "(see minrnn classic --help)\n")


@pytest.mark.parametrize("flag, value", [
    ("--hidden", "0"), ("--seq-length", "-3"), ("--lr", "0"), ("--lr", "-0.1"), ("--lr", "nan"),
    ("--iterations", "0"), ("--sample-every", "0"), ("--sample-length", "-1"), ("--hidden", "ten"),
])
def test_classic_rejects_non_positive_arguments(capsys, text_file, flag, value):
    code, _, err = run(capsys, "classic", text_file, flag, value)
    assert code == 2 and "Traceback" not in err and flag in err.splitlines()[-1]
