"""The second run, the one made after liking the first (issue 24): fine-tuning on the parent's
vocabulary and resuming it, a resume on another text refused, a resume judged on what was given,
one evaluation whatever the batch, a progress bar with a total and an ETA for every budget,
several texts, byte-order marks, and messages that name the real cause in the caller's words."""
import codecs
import io
import json
import math
import re
import sys

import numpy as np
import pytest

import minrnn
from minrnn import checkpoint, data, loop, progress
from minrnn.cli import main
from minrnn.config import Config
from minrnn.errors import MinrnnError
from minrnn.layers import softmax
from support import assert_one_line_error, make_text, run
from viz_support import page_of

MODEL = ["--cell", "rnn", "--layers", "1", "--hidden", "8"]
STREAMS = ["--batch-size", "2", "--seq-length", "8", "--sample-every", "0"]
KEYWORDS = dict(cell="rnn", layers=1, hidden=8, batch_size=2, seq_length=8, sample_every=0)


@pytest.fixture(scope="module")
def parent(tmp_path_factory):
    """A run on a text with capitals and '!' (the parent), and a text of its lower-case words only
    (the fine-tuning text, whose vocabulary is smaller): (run folder, parent text, child text)."""
    root = tmp_path_factory.mktemp("second")
    text, child = root / "parent.txt", root / "child.txt"
    text.write_text(make_text(4000) + "THE QUICK BROWN FOX JUMPS!\n" * 20)
    child.write_text(make_text(3000, seed=4))
    assert main(["train", str(text), "--out", str(root / "a"), *MODEL, *STREAMS, "--iterations", "20",
                 "--eval-every", "10", "--quiet"]) == 0
    return root / "a", text, child


def meta_of(folder):
    return checkpoint.read_meta(folder / "latest.npz")


# --- 1. a fine-tuned run keeps its parent's vocabulary, and resumes -----------------------------

def test_fine_tune_resume_sample_eval_with_a_smaller_vocabulary(capsys, tmp_path, parent):
    run_a, _, child = parent
    ft = tmp_path / "ft"
    code, _, err = run(capsys, "train", child, "--init-from", run_a, *STREAMS, "--iterations", 6, "--eval-every", 3,
                       "--out", ft, "--quiet")
    assert code == 0, err
    vocabulary = meta_of(run_a)["vocab"]
    assert meta_of(ft)["vocab"] == vocabulary and len(set(child.read_text())) < len(vocabulary)
    code, _, err = run(capsys, "train", "--resume", ft, "--iterations", 10, "--quiet")
    assert code == 0, err
    assert meta_of(ft)["iteration"] == 10
    code, out, err = run(capsys, "sample", ft, "--length", 20, "--prime", "FOX")  # capitals: the parent's
    assert code == 0 and out.startswith("FOX") and len(out) == 3 + 20 + 1, err
    code, out, err = run(capsys, "eval", ft, child)
    assert code == 0 and re.search(r"loss \d\.\d{4} nats/char", out), err


def test_fine_tune_and_resume_through_the_api(tmp_path, parent):
    run_a, _, child = parent
    tuned = minrnn.train(child, init_from=run_a, out=tmp_path / "ft", iterations=4, eval_every=2, quiet=True,
                         batch_size=2, seq_length=8)
    resumed = minrnn.train(resume=tuned, iterations=8, quiet=True)
    assert resumed.iterations == 8 and resumed.stopped_by == "done"
    assert len(resumed.best.chars) == len(meta_of(run_a)["vocab"])


def test_skip_unknown_counts_names_and_is_kept_for_the_resume(capsys, tmp_path, parent):
    run_a, _, child = parent
    alien = tmp_path / "alien.txt"
    alien.write_bytes((child.read_text() + "caf\u00e9 \u00e9t\u00e9\r\n").encode())
    code, _, err = run(capsys, "train", alien, "--init-from", run_a, *STREAMS, "--iterations", 4, "--out",
                       tmp_path / "no")
    assert_one_line_error(code, err, "4 characters ('\u00e9' 3, '\\r' 1) outside the model's vocabulary",
                          "pass --skip-unknown", "Windows line endings")
    with pytest.raises(MinrnnError, match=r"pass skip_unknown=True to leave them out"):  # Python's words
        minrnn.train(alien, init_from=run_a, out=tmp_path / "no", iterations=4, quiet=True)
    code, _, err = run(capsys, "train", alien, "--init-from", run_a, *STREAMS, "--iterations", 4, "--out",
                       tmp_path / "ft", "--skip-unknown", "--quiet")
    assert code == 0 and err == "", err
    code, _, err = run(capsys, "train", "--resume", tmp_path / "ft", "--iterations", 6)
    assert code == 0 and "left out" not in err and "training on" in err, err
    assert meta_of(tmp_path / "ft")["text"]["characters"] == len(alien.read_bytes().decode()) - 4
    code, _, err = run(capsys, "train", alien, "--skip-unknown", "--out", tmp_path / "new")
    assert_one_line_error(code, err, "--skip-unknown applies only with --init-from")


# --- 2. a resume on another text is refused, saying how to go on anyway -------------------------

def test_resume_on_another_text_is_refused(capsys, tmp_path, parent):
    run_a, text, child = parent
    code, _, err = run(capsys, "train", "--resume", run_a, child, "--iterations", 30)
    assert_one_line_error(code, err, "the run trained on another text than", "child.txt",
                          f"--init-from {run_a}")
    same_size = tmp_path / "same-size.txt"  # as long as the run's text, and within its vocabulary
    same_size.write_text(text.read_text()[::-1])
    code, _, err = run(capsys, "train", "--resume", run_a, same_size, "--iterations", 30)
    assert_one_line_error(code, err, "another text", "as long as the run's")
    with pytest.raises(MinrnnError, match=rf"init_from='{run_a}'"):
        minrnn.train(child, resume=run_a, iterations=30, quiet=True)
    moved = tmp_path / "moved.txt"  # the same text elsewhere: its new place is the run's from now on
    moved.write_text(text.read_text())
    code, _, err = run(capsys, "train", "--resume", run_a, moved, "--iterations", 22, "--quiet")
    assert code == 0, err
    assert meta_of(run_a)["config"]["corpus"] == [str(moved.resolve())]


# --- 3. resume judges only what was given -----------------------------------------------------

def test_a_saved_setting_never_blocks_a_change_the_readme_allows(capsys, tmp_path, parent):
    _, text, _ = parent
    out = tmp_path / "r"
    code, _, err = run(capsys, "train", text, "--out", out, *MODEL, "--batch-size", 2, "--seq-length", 8,
                       "--sample-every", 5, "--sample-length", 80, "--iterations", 5)
    assert code == 0, err
    code, _, err = run(capsys, "train", "--resume", out, "--sample-every", 0, "--iterations", 8)
    assert code == 0, err
    assert "the run's --sample-length 80 no longer applies and is left out" in err
    assert meta_of(out)["config"]["sample_every"] == 0


# --- 4. the loss of a text, whatever batch the run trained with ---------------------------------

def one_stream(model, ix):
    """The loss of ix read as one stream at batch 1 (the page's reading), in float64."""
    probs = softmax(model.trace(ix)[0].astype(np.float64))
    return float(-np.log(probs[np.arange(len(ix) - 1), ix[1:]]).mean())


def test_eval_the_page_the_api_and_validation_agree_whatever_the_batch(capsys, tmp_path):
    text = tmp_path / "t.txt"
    text.write_text(make_text(30_000, seed=7))
    out = tmp_path / "b32"
    code, _, err = run(capsys, "train", text, "--out", out, *MODEL, "--batch-size", 32, "--seq-length", 8,
                       "--sample-every", 0, "--iterations", 40, "--eval-every", 20, "--quiet")
    assert code == 0, err
    model = minrnn.load(out / "latest.npz")
    short = tmp_path / "short.txt"  # 1,000 characters: one stream for all
    short.write_text(make_text(1000, seed=8))
    ix = data.read_corpus(short, chars=model.chars)[0]
    code, out_text, err = run(capsys, "eval", out / "latest.npz", short, "--json")
    figure = json.loads(out_text)["nats_per_char"]
    assert code == 0 and figure == pytest.approx(one_stream(model.net, ix), abs=1e-4), err
    assert model.evaluate(short).nats_per_char == pytest.approx(figure, abs=1e-6)
    page = model.viz(short)
    summary = page_of(page.html)["summary"]
    assert summary["rnn_nats"] == pytest.approx(figure, abs=1e-4)
    # the held-out text (3,000 characters: three windows) scores what the run logged for it
    all_ix, chars = data.read_corpus(text)
    held_out = tmp_path / "held-out.txt"
    held_out.write_text(data.decode(data.split(all_ix, 0.1)[1], chars))
    logged = float(minrnn.Run(out).log["val_loss"][-1])
    code, out_text, err = run(capsys, "eval", out / "latest.npz", held_out, "--json", "--threads", 1)
    assert code == 0 and json.loads(out_text)["nats_per_char"] == pytest.approx(logged, abs=1e-4), err
    assert json.loads(out_text)["characters"] == 3000


# --- 5. the bar: a total and an ETA for every budget, no nan ------------------------------------

class Terminal(io.StringIO):
    def isatty(self):
        return True


def terminal(monkeypatch):
    """stderr as a terminal that keeps what is written to it (set in the test itself: pytest's
    capture sets sys.stderr again as the test starts)."""
    shown = Terminal()
    monkeypatch.setattr(sys, "stderr", shown)
    return shown


@pytest.fixture(scope="module")
def corpus():
    return data.encode(make_text(3000))


TINY = dict(cell="rnn", layers=1, hidden=8, batch_size=2, seq_length=8, sample_every=0)


@pytest.mark.parametrize("budget, total", [(dict(iterations=20), "iteration 20/20"),
                                           (dict(epochs=1), "iteration 168/168")])
def test_the_bar_shows_the_share_of_the_budget_and_the_time_left(tmp_path, corpus, monkeypatch, budget, total):
    screen = terminal(monkeypatch)
    loop.train(Config(**TINY, **budget, eval_every=10), *corpus, tmp_path / "r")
    shown = screen.getvalue()
    assert re.search(r"100%\|.*\| \d\d:\d\d<\d\d:\d\d, " + total, shown), shown
    assert "nan" not in shown
    first = shown.split("\r")[1]  # before the first evaluation: no validation loss yet, and no nan
    assert "%|" in first and "val" not in first, first


def test_the_bar_of_a_time_budget(tmp_path, corpus, monkeypatch):
    screen = terminal(monkeypatch)
    clock = iter(np.arange(0, 1000, 0.5))  # half a second a look: 0.1 minutes are 12 looks
    loop.train(Config(**TINY, minutes=0.1, eval_every=0, val_frac=0.0), *corpus, tmp_path / "r",
               clock=lambda: float(next(clock)))
    shown = screen.getvalue()
    assert re.search(r"100%\|.*\| \d\d:\d\d<\d\d:\d\d, iteration \d+, 0\.10/0\.1 min, loss", shown), shown
    assert "\r  0%|" in shown and "nan" not in shown and "val" not in shown


def test_plain_lines_say_the_share_and_the_time_left_and_no_nan(tmp_path, corpus, capsys, monkeypatch):
    monkeypatch.setattr(progress.Progress, "PLAIN_EVERY", 0.0)
    loop.train(Config(**TINY, iterations=6, eval_every=3, val_frac=0.0), *corpus, tmp_path / "r")
    err = capsys.readouterr().err
    assert re.search(r"^iteration 2/6 \(33%, [\d:?]+ left\): loss \d", err, re.M), err
    assert re.search(r"^iter 3: loss \d\.\d{4}, \d+ chars/s$", err, re.M), err
    assert "nan" not in err


# --- 6. messages that name the real cause, in the caller's words --------------------------------

def test_a_spent_time_budget_is_named(capsys, tmp_path, parent):
    _, text, _ = parent
    out = tmp_path / "r"
    code, _, err = run(capsys, "train", text, "--out", out, *MODEL, *STREAMS, "--minutes", 0.002, "--quiet")
    assert code == 0, err
    code, _, err = run(capsys, "train", "--resume", out, "--iterations", 10**6)
    assert_one_line_error(code, err, "the run has used its budget: --minutes 0.002 (", "minutes trained) ran out",
                          "resume with a larger --minutes (a total for the run)")
    assert "--iterations" not in err.splitlines()[-1]


def test_eval_of_windows_line_endings_names_them(capsys, tmp_path, parent):
    run_a, text, _ = parent
    crlf = tmp_path / "crlf.txt"
    crlf.write_bytes(text.read_text().replace("\n", "\r\n").encode())
    lines = text.read_text().count("\n")
    code, _, err = run(capsys, "eval", run_a, crlf)
    assert_one_line_error(code, err, f"{lines:,} characters ('\\r' {lines:,}) outside the model's vocabulary",
                          "--skip-unknown", "Windows line endings")
    with pytest.raises(MinrnnError) as e:
        minrnn.load(run_a).evaluate(crlf)
    assert "skip_unknown=True" in str(e.value) and "--" not in str(e.value)
    code, out, err = run(capsys, "eval", run_a, crlf, "--skip-unknown")
    assert code == 0 and f"({lines:,} outside the vocabulary left out)" in out, err


def test_api_messages_say_keywords(parent, tmp_path):
    run_a, text, _ = parent
    model = minrnn.load(run_a)
    for call, words in ((lambda: model.sample(5, prime="\u00e9"), "prime has characters outside"),
                        (lambda: minrnn.train(text, init_from=run_a, hidden=9, out=tmp_path / "o"),
                         "leave out hidden, or train a new model without init_from")):
        with pytest.raises(MinrnnError) as e:
            call()
        assert words in str(e.value) and "--" not in str(e.value), str(e.value)


@pytest.mark.parametrize("encoding", ["utf-16", "utf-32", "utf-16-be", "utf-32-le"])
def test_utf16_and_utf32_files_with_a_byte_order_mark_are_read(capsys, tmp_path, parent, encoding):
    _, text, _ = parent
    body = text.read_text()
    path = tmp_path / "t.txt"
    bom = {"utf-16-be": codecs.BOM_UTF16_BE, "utf-32-le": codecs.BOM_UTF32_LE}.get(encoding, b"")
    path.write_bytes(bom + body.encode(encoding))
    ix, chars = data.read_corpus(path)
    assert data.decode(ix, chars) == body
    code, _, err = run(capsys, "train", path, "--out", tmp_path / "r", *MODEL, *STREAMS, "--iterations", 2, "--quiet")
    assert code == 0, err


def test_utf16_without_a_byte_order_mark_is_told_its_encoding(capsys, tmp_path, parent):
    _, text, _ = parent
    path = tmp_path / "t.txt"
    path.write_bytes(text.read_text().encode("utf-16-le"))
    code, _, err = run(capsys, "train", path, "--out", tmp_path / "r")
    assert_one_line_error(code, err, "contains NUL characters, as UTF-16 without a byte-order mark does",
                          "--encoding utf-16-le")


# --- several texts, and a run on disk -----------------------------------------------------------

def test_several_files_and_a_folder_are_one_text(capsys, tmp_path):
    folder = tmp_path / "texts"
    (folder / "sub").mkdir(parents=True)
    parts = {"c.txt": make_text(1500, seed=1), "a.txt": make_text(1500, seed=2), "sub/b.txt": make_text(1500, seed=3),
             ".hidden": "\x00 not text"}
    for name, body in parts.items():
        (folder / name).write_text(body)
    code, _, err = run(capsys, "train", folder, "--out", tmp_path / "f", *MODEL, *STREAMS, "--iterations", 3)
    assert code == 0, err
    order = [folder / "a.txt", folder / "c.txt", folder / "sub" / "b.txt"]
    assert f"reading 3 files, in this order: {', '.join(map(str, order))}" in err
    assert "training on " + f"{folder} (3 files): 4,500 characters" in err
    saved = meta_of(tmp_path / "f")
    assert saved["config"]["corpus"] == [str(f.resolve()) for f in order]
    assert saved["text"] == data.fingerprint(data.encode("".join(f.read_text() for f in order), saved["vocab"])[0])
    code, _, err = run(capsys, "train", "--resume", tmp_path / "f", "--iterations", 5, "--quiet")
    assert code == 0, err
    # files given one by one, in the order given; the API takes a list
    code, _, err = run(capsys, "train", order[2], order[0], "--out", tmp_path / "g", *MODEL, *STREAMS,
                       "--iterations", 2, "--quiet")
    assert code == 0, err
    assert meta_of(tmp_path / "g")["config"]["corpus"] == [str(order[2].resolve()), str(order[0].resolve())]
    done = minrnn.train([order[0], folder / "sub"], out=tmp_path / "h", iterations=2, quiet=True, **KEYWORDS)
    assert done.config.corpus == [str(order[0].resolve()), str(order[2].resolve())]


def test_a_bad_file_among_several_is_one_line(capsys, tmp_path):
    good, bad, empty = tmp_path / "good.txt", tmp_path / "bad.bin", tmp_path / "empty"
    good.write_text(make_text(2000))
    bad.write_bytes(bytes(range(256)) * 4)
    empty.mkdir()
    for paths, words in (([good, bad], [str(bad), "binary"]), ([good, tmp_path / "gone.txt"], ["gone.txt: no such file"]),
                         ([empty], [str(empty), "a folder with no files in it"])):
        code, _, err = run(capsys, "train", *paths, "--out", tmp_path / "o", *STREAMS, "--iterations", 2)
        assert_one_line_error(code, err, *words)
        assert not (tmp_path / "o").exists()


def test_a_run_on_disk(parent):
    run_a, _, _ = parent
    found = minrnn.Run(run_a)
    assert found.path == run_a and found.config.hidden == 8 and found.config.cell == "rnn"
    assert found.iterations == meta_of(run_a)["iteration"] and math.isfinite(found.best_val)
    assert minrnn.Run(run_a.parent / "latest").path.resolve() == run_a.resolve()
    assert re.fullmatch(r"Run\('.*a', iterations=\d+, best val \d\.\d{4} nats/char\)", repr(found))
