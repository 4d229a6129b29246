"""The Python API (minrnn.train, minrnn.load and what they return) against the command line it
carries: the same results for the same settings, the same refusals with the same messages (as
MinrnnError), a KeyboardInterrupt that saves a run which resumes bit-identically, and the
pictures a notebook shows inline."""
import html
import os
import re
import signal

import numpy as np
import pytest

import minrnn
from minrnn import api, checkpoint, config, runfolder, sample
from minrnn.errors import MinrnnError
from support import NUMERIC, make_text, run

TINY = {"cell": "rnn", "layers": 1, "hidden": 8, "batch_size": 2, "seq_length": 8}
TINY_FLAGS = [x for k, v in TINY.items() for x in (config.flag(k), str(v))]


@pytest.fixture(scope="module")
def text(tmp_path_factory):
    path = tmp_path_factory.mktemp("api") / "t.txt"
    path.write_text(make_text(3000))
    return path


@pytest.fixture(scope="module")
def trained(text):
    """A run made through the API: (the Run, its text's path)."""
    done = minrnn.train(text, out=text.parent / "run", iterations=30, eval_every=10, quiet=True, **TINY)
    return done, text


def settings(flags):
    """train's keywords for command-line flags, each value as its setting's kind."""
    kwargs, flags = {}, list(flags)
    while flags:
        name = flags.pop(0)[2:].replace("-", "_")
        kwargs[name] = config.OPTIONS[name].kind(flags.pop(0))
    return kwargs


def arrays(path):
    return checkpoint.load(path)[0]


# --- the same results -------------------------------------------------------------------------

def test_train_sample_eval_match_the_command_line(capsys, tmp_path, text):
    flags = [*TINY_FLAGS, "--iterations", "24", "--eval-every", "8", "--dropout", "0.1", "--lr-schedule", "cosine"]
    code, _, err = run(capsys, "train", text, "--out", tmp_path / "cli", "--quiet", *flags)
    assert code == 0, err
    done = minrnn.train(text, out=tmp_path / "api", quiet=True, **settings(flags))
    assert (done.iterations, done.stopped_by) == (24, "done")
    assert done.path == tmp_path / "api" and os.fspath(done) == str(tmp_path / "api")
    for name in ("latest.npz", "best.npz"):
        a, b = arrays(tmp_path / "cli" / name), arrays(tmp_path / "api" / name)
        assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    cli_log, api_log = runfolder.read_log(tmp_path / "cli"), done.log
    for column in ("iteration", "train_loss", "val_loss"):
        np.testing.assert_array_equal(cli_log[column], api_log[column])

    model = minrnn.load(done)  # a Run is its folder: best.npz
    assert model.path == tmp_path / "api" / "best.npz"
    for flags, kwargs in ((["--seed", "3", "--length", "80"], dict(length=80, seed=3)),
                          (["--prime", "the ", "--temperature", "0.5", "--top-k", "3"],
                           dict(prime="the ", temperature=0.5, top_k=3)),
                          (["--greedy", "--length", "20"], dict(length=20, greedy=True))):
        code, out, _ = run(capsys, "sample", tmp_path / "cli", *flags)
        assert code == 0 and out == model.sample(**kwargs) + "\n"
    assert len(model.sample(80, seed=3)) == 80 and model.sample(10, prime="the ").startswith("the ")

    code, out, _ = run(capsys, "eval", tmp_path / "cli", text)
    result = model.evaluate(text)
    assert code == 0 and out == f"{result}\n"
    assert result.characters == 3000 and result.unknown == 0
    assert result.bits_per_char == pytest.approx(result.nats_per_char / np.log(2))
    assert result.perplexity == pytest.approx(np.exp(result.nats_per_char))
    assert model.evaluate(text=text.read_text()).nats_per_char == result.nats_per_char  # the text itself


def test_viz_page_is_the_command_lines(capsys, tmp_path, trained):
    done, text = trained
    out = tmp_path / "p.html"
    code, _, err = run(capsys, "viz", done.path, "--text", text, "--length", 300, "--signals", "h", "--out", out)
    assert code == 0, err
    page = done.best.viz(text, length=300, signals=["h"])
    assert page.html == out.read_text("utf-8") and page.characters == 300
    assert all(f"minrnn: {line}" in err for line in page.lines)
    shown = page._repr_html_()
    assert shown.startswith('<iframe srcdoc="') and "<script" not in shown  # escaped: the page stays its own
    assert html.unescape(re.search(r'srcdoc="([^"]*)"', shown).group(1)) == page.html
    assert page.save(tmp_path / "again.html").read_text("utf-8") == page.html
    sampled = done.best.viz(length=100, seed=2)  # no text: a sample
    assert sampled.characters == 100 and "sampled from the model (seed 2" in sampled.html


def test_plot_shows_a_png_and_saves(tmp_path, trained):
    pytest.importorskip("matplotlib", reason="matplotlib is not installed: pip install 'minrnn[plot]'")
    done, _ = trained
    picture = done.plot()
    assert picture._repr_png_()[:8] == b"\x89PNG\r\n\x1a\n" and (picture.runs, picture.points) == (1, 3)
    assert picture.save(tmp_path / "l.svg").read_text().lstrip().startswith("<?xml")
    with pytest.raises(MinrnnError, match=r"labels gives 1 label\(s\) for 2 run"):
        api.plot(done, done, labels=["one"])


def test_reprs_say_what_they_are(trained):
    done, _ = trained
    assert re.fullmatch(r"Run\('.*run', iterations=30, best val \d\.\d{4} nats/char, done\)", repr(done))
    model = done.best
    assert repr(model) == (f"Model(rnn, 1 x 8, vocabulary {len(model.chars)}, {model.net.theta.size:,} parameters, "
                           f"float32, from '{done.path / 'best.npz'}')")
    assert done.latest.path.name == "latest.npz"
    unvalidated = minrnn.train(done.path.parent / "t.txt", out=done.path.parent / "noval", iterations=2,
                               val_frac=0, quiet=True, **TINY)
    with pytest.raises(MinrnnError, match="best.npz: no such checkpoint .*run.latest is its last checkpoint"):
        unvalidated.best
    assert "nats/char" in repr(model.evaluate(text="the dog"))


def test_text_given_as_a_string_is_kept_and_resumes(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    words = make_text(2000, seed=4)
    first = minrnn.train(text=words, iterations=10, quiet=True, **TINY)
    assert first.path.parent.name == "runs" and first.path.name.startswith("text-")
    assert (first.path / "text.txt").read_text() == words
    second = minrnn.train(text=words, iterations=10, quiet=True, **TINY)  # the same second: another folder
    assert second.path != first.path
    again = minrnn.train(resume=first, iterations=20, quiet=True)
    assert again.iterations == 20 and again.path == first.path


@pytest.mark.parametrize("call, message", [
    (dict(file="t.txt", text="abc"), "give the text as a file or as text=, not both"),
    (dict(text=b"abc"), "minrnn.train: text = b'abc' is not a string; text= takes the text itself; a file's path goes first"),
    (dict(text=""), "text=: is empty"),
    (dict(text="ab", encoding="latin-1"), "encoding applies to a text file; text= is the text itself"),
    (dict(hiden=3), "minrnn.train: no setting 'hiden'; did you mean hidden?"),
    (dict(batch=3), "minrnn.train: no setting 'batch'; did you mean batch_size?"),
    (dict(learning_rate=0.1), "minrnn.train: no setting 'learning_rate'; the settings are cell, hidden, layers,"),
    (dict(corpus="x.txt"), "minrnn.train: no setting 'corpus'"),  # not a flag: the text is an argument
    (dict(hidden=True), "minrnn.train: hidden = True is not an int"),
])
def test_api_only_refusals(tmp_path, call, message):
    with pytest.raises(MinrnnError) as e:
        minrnn.train(out=tmp_path / "o", **call)
    assert str(e.value).startswith(message)
    assert not (tmp_path / "o").exists()


def test_numbers_of_numpy_and_ints_for_floats_are_the_command_lines(tmp_path, text):
    done = minrnn.train(text, out=tmp_path / "o", iterations=np.int64(2), lr=1, optimizer="sgd", quiet=True,
                        **TINY)
    saved = checkpoint.load(done.path / "latest.npz", names=())[1]["config"]
    assert saved["lr"] == 1.0 and isinstance(saved["lr"], float) and saved["iterations"] == 2


# --- the same refusals ------------------------------------------------------------------------

def _value(text, kind):
    """A flag's text as a Python caller would pass it: a number where it reads as one."""
    for convert in (kind, float):
        try:
            return convert(text)
        except ValueError:
            pass
    return text


def _flag_cases():
    """(flag, value) pairs that the command line's train refuses while parsing (tests/test_config.py,
    tests/support.py's NUMERIC)."""
    yield from ((flag, value) for flag, values in NUMERIC["train"].items() for value in values)
    yield from (("--layers", "0"), ("--dropout", "1"), ("--cell", "lstn"), ("--lr", "nan"), ("--hidden", "1.5"),
                ("--threads", "5000"), ("--encoding", "klingon"))


@pytest.mark.parametrize("flag, value", list(_flag_cases()))
def test_a_bad_setting_is_refused_for_the_same_reason(capsys, tmp_path, text, flag, value):
    code, _, err = run(capsys, "train", text, "--out", tmp_path / "o", flag, value)
    why = re.fullmatch(rf"minrnn train: error: argument {flag}: (?:'{re.escape(value)}'|{re.escape(value)}) (.*) "
                       r"\(see minrnn train --help\)\n", err)
    assert code == 2 and why, err
    name = flag[2:].replace("-", "_")
    value = _value(value, config.OPTIONS[name].kind)
    with pytest.raises(MinrnnError) as e:
        minrnn.train(text, out=tmp_path / "o", **{name: value})
    assert str(e.value) == f"minrnn.train: {name} = {value!r} {why.group(1)}"


def _run_cases():
    """(flags, words) of train refusals past parsing, said by the same code either way."""
    return [
        (["--lr-schedule", "step"], "--lr-schedule step needs --lr-decay-every N"),
        (["--lr-decay-every", "10"], "--lr-decay-every applies only to --lr-schedule step"),
        (["--lr-decay", "0.3"], "--lr-decay applies only to --lr-schedule step"),
        (["--momentum", "0.9"], "--momentum applies only to --optimizer sgd"),
        (["--optimizer", "adagrad", "--momentum", "0.5"], "--momentum applies only to --optimizer sgd"),
        (["--lr-schedule", "cosine"], "--lr-schedule cosine lays the rate out over the budget"),
        (["--warmup", "0.1"], "--warmup applies only as a share of a budget"),
        (["--sample-every", "0", "--sample-length", "50"], "--sample-length applies only when samples are printed"),
        (["--sample-every", "5", "--quiet"], "--quiet prints no samples"),
        (["--batch-size", "400", "--seq-length", "64"], "too short for --batch-size 400"),
        (["--val-frac", "0.0001"], "the validation split (0 characters) is too small"),
        (["--hidden", str(10**9), "--batch-size", "1", "--seq-length", "4"], "memory"),
    ]


@pytest.mark.parametrize("flags, words", _run_cases())
def test_a_bad_run_is_refused_with_the_same_message(capsys, tmp_path, text, flags, words):
    code, _, err = run(capsys, "train", text, "--out", tmp_path / "c", *flags)
    assert code == 2 and err.splitlines()[-1].startswith("minrnn: error: ") and words in err, err
    quiet = "--quiet" in flags
    with pytest.raises(MinrnnError) as e:
        minrnn.train(text, out=tmp_path / "a", quiet=quiet, **settings(f for f in flags if f != "--quiet"))
    assert f"minrnn: error: {e.value.in_words('cli')}\n" == err.splitlines(keepends=True)[-1]


def test_resume_and_init_from_are_refused_alike(capsys, tmp_path, monkeypatch, trained):
    done, text = trained
    holds = done.path
    cases = [
        (["--resume", holds, "--hidden", "16"], dict(resume=holds, hidden=16)),
        (["--resume", holds, "--init-from", holds], dict(resume=holds, init_from=holds)),
        (["--resume", holds, "--out", tmp_path / "x"], dict(resume=holds, out=tmp_path / "x")),
        (["--resume", holds], dict(resume=holds)),  # its budget is used
        (["--resume", tmp_path / "none"], dict(resume=tmp_path / "none")),
        (["--resume", holds / "latest.npz"], dict(resume=holds / "latest.npz")),
        ([text, "--out", holds], dict(file=text, out=holds)),  # already holds a run
        ([text, "--init-from", holds, "--cell", "lstm", "--out", tmp_path / "f"],
         dict(file=text, init_from=holds, cell="lstm", out=tmp_path / "f")),
        ([text, "--init-from", holds, "--init-scale", "0.1", "--out", tmp_path / "f"],
         dict(file=text, init_from=holds, init_scale=0.1, out=tmp_path / "f")),
        ([tmp_path / "missing.txt", "--out", tmp_path / "m"], dict(file=tmp_path / "missing.txt", out=tmp_path / "m")),
    ]
    for argv, kwargs in cases:
        code, _, err = run(capsys, "train", *argv)
        assert code == 2, err
        with pytest.raises(MinrnnError) as e:
            minrnn.train(quiet=True, **kwargs)
        assert err.splitlines()[-1] == f"minrnn: error: {e.value.in_words('cli')}", argv
    monkeypatch.chdir(tmp_path)  # no input.txt: the built-in corpus, which has no encoding to choose
    code, _, err = run(capsys, "train", "--encoding", "latin-1", "--out", "o")
    with pytest.raises(MinrnnError) as e:
        minrnn.train(encoding="latin-1", out="o")
    assert err == f"minrnn: error: {e.value.in_words('cli')}\n"


def test_sample_and_viz_refuse_what_the_command_line_refuses(capsys, trained):
    done, _ = trained
    model = done.best
    for flag, values in NUMERIC["sample"].items():
        name, option = next((name, option) for name, option in sample.OPTIONS.items() if option.dest == flag)
        for value in values:
            code, _, err = run(capsys, "sample", done.path, flag, value)
            why = re.fullmatch(rf"minrnn sample: error: argument {flag}: (?:'{re.escape(value)}'|{re.escape(value)}) "
                               r"(.*) \(see minrnn sample --help\)\n", err)
            assert code == 2 and why, err
            value = _value(value, option.kind)
            with pytest.raises(MinrnnError) as e:
                model.sample(**{name: value})
            assert str(e.value) == f"Model.sample: {name} = {value!r} {why.group(1)}"
    for argv, call in ((["sample", done.path, "--prime", "Ωmega"], lambda: model.sample(prime="Ωmega")),
                       (["sample", done.path, "--length", str(10**30)], lambda: model.sample(10**30)),
                       (["viz", done.path, "--signals", "h,q"], lambda: model.viz(signals="h,q")),
                       (["eval", done.path, done.path / "log.csv"], lambda: model.evaluate(done.path / "log.csv"))):
        code, _, err = run(capsys, *argv)
        with pytest.raises(MinrnnError) as e:
            call()
        assert code == 2 and err.splitlines()[-1] == f"minrnn: error: {e.value.in_words('cli')}", argv
    with pytest.raises(MinrnnError, match="prime starts a sampled text, and a text is given"):
        model.viz(text="the dog", prime="a")


# --- Ctrl-C -----------------------------------------------------------------------------------

@pytest.mark.parametrize("how", ["KeyboardInterrupt", "SIGINT"])
def test_interrupt_saves_a_run_that_resumes_bit_identically(tmp_path, text, how):
    """Ctrl-C in a notebook: SIGINT while the loop runs, or a KeyboardInterrupt out of the
    caller's own code (here on_eval): the run stops after the step, saves, returns its Run, and
    resuming it ends where an uninterrupted run ends."""
    run_settings = dict(TINY, iterations=20, eval_every=5, dropout=0.2)
    whole = minrnn.train(text, out=tmp_path / "whole", quiet=True, **run_settings)

    def interrupt(row):
        if row["iteration"] == 10:
            if how == "SIGINT":
                os.kill(os.getpid(), signal.SIGINT)
            else:
                raise KeyboardInterrupt

    cut = minrnn.train(text, out=tmp_path / "cut", quiet=True, on_eval=interrupt, **run_settings)
    assert (cut.iterations, cut.stopped_by) == (10, "interrupted")
    assert checkpoint.load(cut.path / "latest.npz", names=())[1]["iteration"] == 10
    resumed = minrnn.train(resume=cut, quiet=True)
    assert (resumed.iterations, resumed.stopped_by) == (20, "done")
    a, b = arrays(whole.path / "latest.npz"), arrays(resumed.path / "latest.npz")
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
