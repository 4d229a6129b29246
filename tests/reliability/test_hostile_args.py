"""Bad arguments: refused with a message naming the flag, a non-zero exit and no traceback."""
import re

import pytest

from support import NUMERIC

from .helpers import TINY, assert_argparse_error, assert_clean_error, main, run, write_text

def cases():
    for command, flags in NUMERIC.items():
        for flag, values in flags.items():
            for value in values:
                yield command, flag, value


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("args")
    corpus = write_text(d / "t.txt", 3000)
    r = run("train", corpus, "--out", d / "run", *TINY, "--iterations", 2, "--quiet")
    assert r.returncode == 0, r.stderr
    return corpus, d / "run"


@pytest.mark.parametrize("command, flag, value", list(cases()))
def test_bad_number(tmp_path, capsys, files, command, flag, value):
    corpus, run_dir = files
    base = {"classic": ["classic", corpus], "train": ["train", corpus, "--out", tmp_path / "o"],
            "sample": ["sample", run_dir], "serve": ["serve", run_dir]}[command]
    code, out, err = main(capsys, *base, flag, value)
    assert_argparse_error(code, err, flag)
    assert out == ""


def test_batch_too_large_says_what_fits(tmp_path, capsys):
    corpus = write_text(tmp_path / "t.txt", 1000)  # 900 training characters
    code, _, err = main(capsys, "train", corpus, "--out", tmp_path / "o", "--hidden", 8, "--seq-length", 50,
                        "--batch-size", 64, "--iterations", 2)
    line = assert_clean_error(code, err.split("\n", 1)[1] if err.startswith("minrnn: training") else err,
                              "--batch-size 64", "fits")
    fits = int(re.search(r"at most --batch-size (\d+) fits", line).group(1))
    assert fits == (900 - 1) // 50
    code, _, err = main(capsys, "train", corpus, "--out", tmp_path / "o", "--hidden", 8, "--seq-length", 50,
                        "--batch-size", fits, "--iterations", 2, "--quiet")
    assert code == 0, err  # what the message offers does fit
    code, _, err = main(capsys, "train", corpus, "--out", tmp_path / "o2", "--hidden", 8, "--seq-length", 5000,
                        "--batch-size", 1, "--iterations", 2, "--quiet")
    line = assert_clean_error(code, err, "--seq-length")
    fits = int(re.search(r"at most --seq-length (\d+) fits", line).group(1))
    code, _, err = main(capsys, "train", corpus, "--out", tmp_path / "o2", "--hidden", 8, "--seq-length", fits,
                        "--batch-size", 1, "--iterations", 2, "--quiet")
    assert code == 0, err


def test_validation_split_too_small(tmp_path, capsys):
    corpus = write_text(tmp_path / "t.txt", 15)
    code, _, err = main(capsys, "train", corpus, "--out", tmp_path / "o", "--hidden", 8, "--seq-length", 4,
                        "--batch-size", 1, "--iterations", 2, "--quiet")
    assert_clean_error(code, err, "validation", "--val-frac 0")


def test_absurd_sizes_are_refused_before_allocating(tmp_path, capsys, files):
    corpus, run_dir = files
    huge = str(10**9)
    for argv, words in (
            (["train", corpus, "--out", tmp_path / "o", "--hidden", huge, "--batch-size", 1, "--seq-length", 4,
              "--quiet"], ["--hidden", "memory"]),
            (["classic", corpus, "--hidden", huge], ["--hidden", "memory"]),
            (["classic", corpus, "--sample-length", str(10**30)], ["--sample-length", "memory"]),
            (["sample", run_dir, "--length", str(10**30)], ["--length", "memory"]),
            (["train", corpus, "--out", tmp_path / "o", "--batch-size", str(10**30), "--quiet"],
             ["--batch-size", "fits"])):
        code, _, err = main(capsys, *argv)
        assert_clean_error(code, err, *words)


def test_tiny_and_huge_temperatures_work(capsys, files):
    run_dir = files[1] / "latest.npz"  # a file: stderr stays empty
    greedy = main(capsys, "sample", run_dir, "--length", 40, "--greedy")
    assert greedy[0] == 0
    for t in ("0", "1e-300", "1e-7"):  # 0 is greedy; the others argmax, in the limit (dividing would overflow)
        code, out, err = main(capsys, "sample", run_dir, "--length", 40, "--temperature", t)
        assert code == 0 and out == greedy[1] and err == "", err
    code, out, err = main(capsys, "sample", run_dir, "--length", 40, "--temperature", "1e300")
    assert code == 0 and len(out) == 41 and err == ""


def test_prime_outside_the_vocabulary(capsys, files):
    _, run_dir = files
    code, out, err = main(capsys, "sample", run_dir, "--prime", "Ωmega")
    assert_clean_error(code, err, "--prime", "'Ω'")
    code, out, err = main(capsys, "sample", run_dir, "--prime", "\udcff")  # undecodable argv byte
    assert_clean_error(code, err, "--prime")


def test_resume_flag_clashes(tmp_path, capsys, files):
    corpus, run_dir = files
    code, _, err = main(capsys, "train", "--resume", run_dir, "--hidden", 16)
    assert_clean_error(code, err, "--hidden")
    code, _, err = main(capsys, "train", "--resume", run_dir, "--init-from", run_dir)
    assert_clean_error(code, err, "--init-from", "--resume")
    code, _, err = main(capsys, "train", "--resume", run_dir, "--out", tmp_path / "elsewhere")
    assert_clean_error(code, err, "--out")
    code, _, err = main(capsys, "train", "--lr-schedule", "cosine", corpus, "--out", tmp_path / "c", *TINY, "--quiet")
    assert_clean_error(code, err, "cosine", "--iterations")


def test_stopped_before_the_first_iteration(tmp_path, capsys, files):
    corpus, _ = files
    code, _, err = main(capsys, "train", corpus, "--out", tmp_path / "o", *TINY, "--minutes", "1e-9")
    assert code == 0 and "nothing was saved" in err
    # and the folder can be used again
    code, _, err = main(capsys, "train", corpus, "--out", tmp_path / "o", *TINY, "--iterations", 2, "--quiet")
    assert code == 0, err


def test_console_script_errors_are_one_line(tmp_path):
    """The real command, in a subprocess: no traceback for a bad file, checkpoint or flag."""
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"PK\x03\x04garbage")
    (tmp_path / "empty").mkdir()  # a folder stands for its files, and this one has none
    for args, code in ((["sample", bad], 2), (["eval", bad, bad], 2), (["classic", tmp_path / "none.txt"], 2),
                       (["train", tmp_path / "empty"], 2)):
        proc = run(*args)
        assert_clean_error(proc.returncode, proc.stderr, exit_code=code)
    proc = run("sample", bad, "--length", "-3")
    assert_argparse_error(proc.returncode, proc.stderr, "--length")
