"""The training config and the command line made from it: one-line argument errors, every
flag's help with its default, settings that others make meaningless refused, and --init-from
keeping the checkpoint's model."""
import re
from pathlib import Path

import numpy as np
import pytest

from minrnn import checkpoint, config
from minrnn.cli import build_parser
from minrnn.errors import FieldError, MinrnnError
from support import assert_one_line_error, make_text, run

TINY = ["--cell", "rnn", "--layers", "1", "--hidden", "8", "--batch-size", "2", "--seq-length", "8"]


@pytest.fixture
def text(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text(make_text(3000))
    return path


def test_argument_error_is_exactly_one_line(capsys):
    code, out, err = run(capsys, "train", "--hidden", "0")
    assert (code, out) == (2, "")
    assert err == "minrnn train: error: argument --hidden: 0 must be > 0 (see minrnn train --help)\n"


@pytest.mark.parametrize("argv, message", [
    (["train", "--layers", "0"], "argument --layers: 0 must be > 0"),
    (["train", "--dropout", "1"], "argument --dropout: 1 must be in [0, 1)"),
    (["train", "--cell", "lstn"], "argument --cell: lstn is not one of rnn, lstm, gru"),
    (["train", "--lr", "nan"], "argument --lr: nan is not a finite number"),
    (["train", "--hidden", "1.5"], "argument --hidden: '1.5' is not an int"),
    (["train", "--threads", "5000"], "argument --threads: 5000 must be in (0, 4096]"),
    (["train", "--encoding", "klingon"], "argument --encoding: klingon is an unknown encoding"),
    (["train", "--hid", "12"], "unrecognized arguments: --hid"),  # no abbreviations
    (["sample", "x.npz", "--len", "5"], "unrecognized arguments: --len 5"),
    (["classic", "--hid", "12"], "unrecognized arguments: --hid"),
    (["eval"], "the following arguments are required: checkpoint, file"),
])
def test_argument_errors(capsys, argv, message):
    code, _, err = run(capsys, *argv)
    assert code == 2 and err == f"minrnn {argv[0]}: error: {message} (see minrnn {argv[0]} --help)\n"


def options(command):
    """{flag: its help, on one line} from `minrnn COMMAND --help`."""
    text = build_parser().commands[command].format_help().split("options:\n", 1)[1]
    blocks = re.split(r"\n(?=  -)", text.strip("\n"))
    return {b.split()[0].rstrip(","): " ".join(b.split()) for b in blocks}


@pytest.mark.parametrize("command", ["classic", "train", "sample", "eval", "viz", "plot"])
def test_every_flag_says_what_it_does_and_its_default(command):
    # on or off, or an action taken or not: no default to show
    switches = {"-h", "--quiet", "--greedy", "--skip-unknown", "--json"}
    for flag, help in options(command).items():
        assert len(help.split()) > 3, help  # more than the flag and its metavar
        assert (flag in switches) != ("(default: " in help), help


def test_train_help_shows_the_config_defaults():
    shown = options("train")
    for name, option in config.OPTIONS.items():
        if option.cli and option.kind is not bool:  # a switch is off unless given: no default to show
            assert shown[config.flag(name)].endswith(f"(default: {option.shown_default()})"), name
    assert "(default: 256)" in shown["--hidden"] and "(default: none)" in shown["--iterations"]
    assert "(default: cosine when a budget is given, else constant)" in shown["--lr-schedule"]


def test_readme_train_table_is_the_help():
    """README.md's table of train flags says what --help says (both from Config)."""
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    table = readme.split("### `minrnn train [FILE ...]`", 1)[1].split("| flag | default | meaning |", 1)[1]
    rows = [[cell.strip().strip("`") for cell in line.strip("|").split("|")]
            for line in table.split("\n\n", 1)[0].splitlines()[2:]]
    shown = options("train")
    assert {flag.split()[0] for flag, _, _ in rows} == set(shown) - {"-h"}
    for flag, default, meaning in rows:
        assert shown[flag.split()[0]] == " ".join([flag, meaning] + ([f"(default: {default})"] if default else []))


def test_sample_help_says_what_length_is():
    assert options("sample")["--length"] == "--length N characters to generate (default: 500)"


@pytest.mark.parametrize("flags, message", [
    (["--lr-schedule", "step"], "--lr-schedule step needs --lr-decay-every N, the iterations between decays"),
    (["--lr-decay-every", "10"], "--lr-decay-every applies only to --lr-schedule step: add it, or leave it out"),
    (["--lr-decay", "0.3"], "--lr-decay applies only to --lr-schedule step: add it, or leave it out"),
    (["--momentum", "0.9"], "--momentum applies only to --optimizer sgd (the others keep running averages of "
                            "their own): add it, or leave it out"),
    (["--optimizer", "adagrad", "--momentum", "0.5"], "--momentum applies only to --optimizer sgd (the others "
                                                      "keep running averages of their own): add it, or leave it out"),
    (["--lr-schedule", "cosine"], "--lr-schedule cosine lays the rate out over the budget: give --iterations, "
                                  "--epochs or --minutes, or use --lr-schedule constant"),
    (["--warmup", "0.1"], "--warmup applies only as a share of a budget: give --iterations, --epochs or "
                          "--minutes, or leave it out"),
    (["--sample-every", "0", "--sample-length", "50"],
     "--sample-length applies only when samples are printed: give --sample-every N, or leave it out"),
    (["--sample-every", "5", "--quiet"], "--quiet prints no samples; leave out --sample-every or --quiet"),
])
def test_meaningless_settings_are_refused(capsys, tmp_path, text, flags, message):
    code, out, err = run(capsys, "train", text, "--out", tmp_path / "o", *TINY, *flags)
    assert (code, out, err) == (2, "", f"minrnn: error: {message}\n")
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("flags", [
    ["--optimizer", "sgd", "--momentum", "0.9"],
    ["--lr-schedule", "step", "--lr-decay-every", "2", "--lr-decay", "0.3"],
    ["--lr-schedule", "cosine", "--warmup", "0.25"],
    ["--lr-decay", "0.5", "--sample-length", "200", "--momentum", "0"],  # the defaults, given: harmless
])
def test_the_same_settings_where_they_mean_something(capsys, tmp_path, text, flags):
    code, _, err = run(capsys, "train", text, "--out", tmp_path / "o", *TINY, "--iterations", "4", "--quiet", *flags)
    assert (code, err) == (0, "")


def test_encoding_without_a_file(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no input.txt: the built-in corpus, which has no encoding to choose
    code, _, err = run(capsys, "train", "--encoding", "latin-1", "--out", "o")
    assert_one_line_error(code, err, "--encoding applies to a text file, and none is given")


def test_one_check_for_the_command_line_and_for_a_checkpoint(capsys, tmp_path, text):
    with pytest.raises(FieldError, match=r"^config: hidden = 0 must be > 0$"):
        config.check(config.Config(hidden=0))
    with pytest.raises(MinrnnError, match=r"^momentum applies only to optimizer='sgd'"):  # Python's words
        config.check(config.Config(momentum=0.9))
    assert config.problem("layers", 0) == "must be > 0" and config.problem("cell", "lstm") is None
    code, _, err = run(capsys, "train", text, "--out", tmp_path / "r", *TINY, "--iterations", "2", "--quiet")
    assert code == 0, err
    latest = tmp_path / "r" / "latest.npz"
    for key, value, words in (("momentum", 0.9, ["its config: --momentum applies only to --optimizer sgd"]),
                              ("dropout", 1.0, ["its config: dropout = 1.0 must be in [0, 1)"]),
                              ("warp", 1, ["its config has settings this minrnn does not know: warp"])):
        arrays, meta = checkpoint.load(latest)
        good = dict(meta["config"])
        meta["config"][key] = value
        checkpoint.save(latest, arrays, meta)
        code, _, err = run(capsys, "train", "--resume", tmp_path / "r", "--iterations", "4")
        assert_one_line_error(code, err, str(latest), *words)
        meta["config"] = good
        checkpoint.save(latest, arrays, meta)


def test_resume_refuses_other_settings_and_takes_a_new_budget(capsys, tmp_path, text):
    out = tmp_path / "r"
    code, _, err = run(capsys, "train", text, "--out", out, *TINY, "--iterations", "2", "--quiet")
    assert code == 0, err
    code, _, err = run(capsys, "train", "--resume", out, "--hidden", "9", "--lr", "0.1")
    assert_one_line_error(code, err, "these settings differ from it: --hidden (8 in the run), --lr (0.004 in the run)")
    code, _, err = run(capsys, "train", "--resume", out)
    assert_one_line_error(code, err, "the run has used its budget: --iterations 2 (at iteration 2) ran out; resume "
                          "with a larger --iterations (a total for the run)")
    code, _, err = run(capsys, "train", "--resume", out, "--iterations", "3", "--eval-every", "1", "--quiet")
    assert code == 0, err
    assert checkpoint.load(out / "latest.npz", names=())[1]["config"]["iterations"] == 3


@pytest.fixture
def small_run(capsys, tmp_path, text):
    """A run of an 8-unit vanilla RNN in float32."""
    code, _, err = run(capsys, "train", text, "--out", tmp_path / "small", *TINY, "--iterations", "2", "--quiet")
    assert code == 0, err
    return tmp_path / "small" / "latest.npz"


@pytest.mark.parametrize("flag, value, saved", [("--cell", "lstm", "rnn"), ("--hidden", "12", "8"),
                                                ("--layers", "2", "1"), ("--embedding", "4", "0")])
def test_init_from_another_model_is_refused(capsys, tmp_path, text, small_run, flag, value, saved):
    code, _, err = run(capsys, "train", text, "--init-from", small_run, flag, value, "--out", tmp_path / "o")
    assert (code, err) == (2, f"minrnn: error: {flag} {value} differs from {saved} in {small_run}: --init-from "
                              f"keeps the checkpoint's model; leave out {flag}, or train a new model without "
                              "--init-from\n")
    code, _, err = run(capsys, "train", text, "--init-from", small_run, "--init-scale", "0.1", "--out", tmp_path / "o")
    assert (code, err) == (2, "minrnn: error: --init-scale has no effect with --init-from (the weights come "
                              "from the checkpoint); leave it out\n")


def test_init_from_keeps_the_model_and_converts_its_dtype(capsys, tmp_path, text, small_run):
    base, _ = checkpoint.read_model(small_run)
    code, _, err = run(capsys, "train", text, "--init-from", small_run, "--batch-size", "2", "--seq-length", "8",
                       "--iterations", "1", "--lr", "1e-12", "--out", tmp_path / "ft", "--dtype", "float64",
                       "--hidden", "8", "--quiet")  # --hidden as the checkpoint has it: fine
    assert code == 0, err
    tuned, _ = checkpoint.read_model(tmp_path / "ft" / "latest.npz")
    assert tuned.config == base.config.__class__(**{**vars(base.config), "dtype": "float64"})
    np.testing.assert_allclose(tuned.theta, base.theta, atol=1e-6)  # one step at lr 1e-12 from its weights
