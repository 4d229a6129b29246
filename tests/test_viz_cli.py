"""`minrnn viz` and `minrnn plot` as a user meets them: what they write, and one-line errors."""
import math
import re
import sys

import numpy as np
import pytest

from minrnn import checkpoint, data, runfolder
from minrnn.api import load
from minrnn.evaluate import loss_per_char
from minrnn.viz import analysis
from support import assert_one_line_error, run
from viz_support import decode_page_arrays, page_of, quoted_text, train_run

@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """(run folder, its training text's path): a text with quotes, brackets, indentation and a
    character outside the Basic Multilingual Plane (two UTF-16 units in the browser)."""
    root = tmp_path_factory.mktemp("viz")
    text = (quoted_text(3000) + "\n    (a [b] c) # note\n\u00e9\U0001d11e\n") * 2
    path = root / "train.txt"
    path.write_text(text, encoding="utf-8")
    return train_run(root / "run", path), path


@pytest.fixture(scope="module")
def trained_lstm(trained, tmp_path_factory):
    """(run folder, text) of a 2-layer LSTM trained on the same text."""
    folder = tmp_path_factory.mktemp("lstm") / "run"
    return train_run(folder, trained[1], 40, "--cell", "lstm", "--layers", "2"), trained[1]


def test_viz_writes_a_self_contained_page(capsys, trained, tmp_path):
    run_dir, text_path = trained
    out = tmp_path / "page.html"
    code, _, err = run(capsys, "viz", run_dir, "--text", text_path, "--length", 1500, "--out", out)
    assert code == 0, err
    html = out.read_text("utf-8")
    assert re.search(r"<(script|link|img)[^>]+(src|href)=", html) is None  # nothing loaded from elsewhere
    assert "http://" not in html.replace("http://www.w3.org/2000/svg", "") and "https://" not in html
    page = page_of(html)
    text = text_path.read_text("utf-8")[:1500]
    assert page["text"] == text and page["model"] == {"cell": "rnn", "layers": 1, "hidden": 16,
                                                      "vocab_size": len(set(text_path.read_text("utf-8"))),
                                                      "embedding": 0}
    assert f"wrote {out}: {len(html.encode()) / 1e6:.1f} MB, 1,500 characters, rnn 1 x 16" in err
    assert "inside quotes: layer 1 h unit" in err
    full, chars = data.read_corpus(text_path)
    trained_on = data.split(full, 0.1)[0]
    assert f"the {len(trained_on):,} characters the RNN trained on (its last 10% held out)" in page["info"]["ngram"]
    arrays = decode_page_arrays(page)
    ngram = analysis.ngram_probs(trained_on, full[:1500], len(chars))  # counted from what the RNN trained on
    np.testing.assert_allclose(arrays["p_ngram"], ngram.astype(np.float32))
    model = load(run_dir).net  # the page runs the checkpoint's own weights, bit for bit
    assert arrays["weights"].keys() == model.params.keys()
    for name, a in model.params.items():
        assert arrays["weights"][name].dtype == a.dtype and np.array_equal(arrays["weights"][name], a), name


@pytest.mark.parametrize("run_fixture", ["trained", "trained_lstm"])
def test_page_summary_is_what_eval_reports(capsys, request, tmp_path, run_fixture):
    """The page's nats/char on its text is the loss `minrnn eval` prints for the same text (the
    page's own forward pass is checked against it in the browser tests)."""
    run_dir, _ = request.getfixturevalue(run_fixture)
    text = quoted_text(800, seed=5)  # a text the training text did not hold
    path = tmp_path / "eval.txt"
    path.write_text(text, encoding="utf-8")
    code, _, err = run(capsys, "viz", run_dir, "--text", path, "--out", tmp_path / "p.html")
    assert code == 0, err
    page_nats = page_of((tmp_path / "p.html").read_text("utf-8"))["summary"]["rnn_nats"]
    loaded = load(run_dir)
    model, meta = loaded.net, loaded.meta
    ix, _ = data.read_corpus(path, chars=meta["vocab"])
    assert page_nats == pytest.approx(loss_per_char(model, ix), abs=1e-4)
    code, out, _ = run(capsys, "eval", run_dir, path)
    assert code == 0 and f"loss {page_nats:.4f} nats/char" in out


def test_lstm_page_carries_every_signal(capsys, trained_lstm, tmp_path):
    run_dir, text_path = trained_lstm
    out = tmp_path / "lstm.html"
    code, _, err = run(capsys, "viz", run_dir, "--text", text_path, "--length", 1000, "--out", out)
    assert code == 0 and "lstm 2 x 16" in err
    page = page_of(out.read_text("utf-8"))
    assert page["model"]["cell"] == "lstm" and page["signals"] == [["h", "tanh_c", "i", "f", "o", "g"]] * 2
    assert set(decode_page_arrays(page)["weights"]) == {"Wxh", "Whh", "bh", "Wxh.2", "Whh.2", "bh.2", "Why", "by"}
    assert [sorted(s) for s in page["saturation"]] == [["f", "i", "o"]] * 2
    code, _, err = run(capsys, "viz", run_dir, "--text", text_path, "--length", 1000, "--signals", "h,tanh_c",
                       "--out", tmp_path / "small.html")
    small = page_of((tmp_path / "small.html").read_text("utf-8"))
    assert code == 0 and small["signals"] == [["h", "tanh_c"]] * 2
    assert {r[2] for r in small["leaderboard"]} <= {"h", "tanh_c"}  # the page offers and ranks those alone


def test_page_size_per_value(capsys, trained_lstm, tmp_path):
    """The page carries the weights (4 bytes each as base64: 16/3) and a few bytes a character,
    nothing per unit and character: so the 2 x 256 LSTM's page of 10,000 characters with every
    signal stays under 10 MB (the README measures a real one)."""
    run_dir, text_path = trained_lstm
    sizes = {}
    for n in (500, 1500):
        out = tmp_path / f"{n}.html"
        code, _, err = run(capsys, "viz", run_dir, "--text", text_path, "--length", n, "--out", out)
        assert code == 0, err
        sizes[n] = out.stat().st_size
        page = page_of(out.read_text("utf-8"))
        for name, w in page["weights"].items():
            assert w["dtype"] == "<f8" and len(w["data"]) == 4 * math.ceil(8 * math.prod(w["shape"]) / 3), name  # float64 run
    per_char = (sizes[1500] - sizes[500]) / 1000
    assert per_char < 16, per_char  # the text, its n-gram probability (float32, base64), some escaping
    fixed = sizes[500] - 500 * per_char - sum(len(w["data"]) for w in page["weights"].values())
    assert fixed < 200_000  # the template and what does not grow with the text
    # the README's page: a 2 x 256 LSTM over tinyshakespeare's 65 characters, float32
    from minrnn.model import ModelConfig
    n_params = ModelConfig(vocab_size=65, cell="lstm", hidden=256, layers=2).n_params()
    assert fixed + 10_000 * per_char + 16 / 3 * n_params < 10e6
    assert analysis.page_bytes(10_000, 2, 256) > 16 / 3 * n_params  # the estimate the CLI checks is an upper bound


def test_the_pages_webassembly_is_what_its_assembler_makes():
    """model.js holds the bytes minrnn/viz/matvec_wasm.py assembles from its instructions."""
    import base64
    from importlib import resources

    from minrnn.viz import matvec_wasm
    js = (resources.files("minrnn.viz") / "model.js").read_text("utf-8")
    held = re.search(r'const WASM = "([A-Za-z0-9+/=]+)";', js).group(1)
    assert base64.b64decode(held) == matvec_wasm.module()


def test_viz_samples_a_text_when_given_none(capsys, trained, tmp_path):
    run_dir, _ = trained
    code, _, err = run(capsys, "viz", run_dir, "--prime", "the ", "--length", 300, "--seed", 3,
                       "--out", tmp_path / "s.html")
    assert code == 0, err
    page = page_of((tmp_path / "s.html").read_text("utf-8"))
    assert len(page["text"]) == 304 and page["text"].startswith("the ")
    code, out, _ = run(capsys, "sample", run_dir, "--prime", "the ", "--length", 300, "--seed", 3)
    assert out == page["text"] + "\n"  # the same sample `minrnn sample` prints


def test_ngram_falls_back_to_the_page_text_with_a_note(capsys, trained, tmp_path):
    run_dir, text_path = trained
    moved = tmp_path / "run"
    moved.mkdir()
    arrays, meta = checkpoint.load(run_dir / "latest.npz")
    meta["config"]["corpus"] = str(tmp_path / "gone.txt")  # the training text moved away
    checkpoint.save(moved / "latest.npz", arrays, meta)
    code, _, err = run(capsys, "viz", moved, "--text", text_path, "--length", 500, "--out", tmp_path / "f.html")
    assert code == 0
    page = page_of((tmp_path / "f.html").read_text("utf-8"))
    assert page["info"]["ngram_warning"] and "this page's own text" in page["info"]["ngram"]
    assert "gone.txt: no such file" in page["info"]["ngram"] and "--train-text" in err
    code, _, err = run(capsys, "viz", moved, "--text", text_path, "--length", 500, "--train-text", text_path,
                       "--out", tmp_path / "g.html")
    page = page_of((tmp_path / "g.html").read_text("utf-8"))
    assert code == 0 and not page["info"]["ngram_warning"] and str(text_path) in page["info"]["ngram"]


@pytest.fixture
def foreign_text(tmp_path):
    path = tmp_path / "foreign.txt"
    path.write_text("the cat \u03a9\u03a9 and @ the \u03a9 dog " * 3, encoding="utf-8")  # 9 x Omega, 3 x @
    return path


@pytest.mark.parametrize("args, words", [
    (["--text", "{foreign}"], ["12 characters ('Ω' 9, '@' 3) outside the model's vocabulary", "--skip-unknown"]),
    (["--train-text", "{foreign}"], ["foreign.txt: 12 characters"]),
    (["--signals", "h,c"], ["--signals: 'c'", "h"]),
    (["--text", "{tiny}"], ["needs at least 2 characters"]),
    (["--out", "{tmp}/no/such/folder/p.html"], ["cannot write there", "no folder"]),
    (["--out", "{tmp}"], ["is a folder"]),
])
def test_viz_bad_input(capsys, trained, tmp_path, foreign_text, args, words):
    (tmp_path / "tiny.txt").write_text("t", encoding="utf-8")
    fill = {"foreign": foreign_text, "tiny": tmp_path / "tiny.txt", "tmp": tmp_path}
    code, _, err = run(capsys, "viz", trained[0], *[a.format(**fill) for a in args])
    assert_one_line_error(code, err, *words)


def test_viz_missing_checkpoint_and_skip_unknown(capsys, trained, tmp_path, foreign_text):
    code, _, err = run(capsys, "viz", tmp_path / "nope.npz", "--out", tmp_path / "p.html")
    assert_one_line_error(code, err, "nope.npz: no such checkpoint")
    code, _, err = run(capsys, "viz", tmp_path, "--out", tmp_path / "p.html")
    assert_one_line_error(code, err, "no checkpoint in this folder")
    code, _, err = run(capsys, "viz", trained[0], "--text", foreign_text, "--skip-unknown", "--out", tmp_path / "p.html")
    assert code == 0 and "\u03a9" not in page_of((tmp_path / "p.html").read_text("utf-8"))["text"]


@pytest.mark.parametrize("args, flag", [
    (["--length", "0"], "--length"), (["--length", "-5"], "--length"), (["--text", "a", "--prime", "b"], "--prime"),
])
def test_viz_rejects_bad_arguments(capsys, trained, args, flag):
    code, _, err = run(capsys, "viz", trained[0], *args)
    assert code == 2 and "Traceback" not in err and flag in err.splitlines()[-1]


def test_viz_refuses_a_page_too_large_to_draw(capsys, trained, monkeypatch, tmp_path):
    from minrnn.viz import page
    monkeypatch.setattr(page, "MAX_BYTES", 20_000)
    code, _, err = run(capsys, "viz", trained[0], "--length", 2000, "--out", tmp_path / "p.html")
    assert_one_line_error(code, err, "too large", "--length")
    assert not (tmp_path / "p.html").exists()


def test_viz_write_failure_is_one_line(capsys, trained, monkeypatch, tmp_path):
    from minrnn import outfile

    def refuse(*a, **k):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(outfile, "open", refuse, raising=False)  # tests may run as root, whom chmod does not stop
    code, _, err = run(capsys, "viz", trained[0], "--length", 50, "--out", tmp_path / "p.html")
    assert_one_line_error(code, err, "cannot write", "Permission denied", exit_code=1)


# --- plot ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def two_runs(trained, tmp_path_factory):
    """Two run folders; the second trains without validation (val_loss is nan)."""
    root = tmp_path_factory.mktemp("runs")
    return trained[0], train_run(root / "noval", trained[1], 30, "--val-frac", "0")


def test_plot_two_runs(capsys, two_runs, tmp_path):
    pytest.importorskip("matplotlib", reason="matplotlib is not installed: pip install 'minrnn[plot]'")
    from minrnn import curves as plot
    out = tmp_path / "loss.png"
    code, _, err = run(capsys, "plot", *two_runs, "--label", "with val", "--label", "without", "--out", out)
    assert code == 0 and f"wrote {out}: 2 run(s), 7 logged points" in err
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    fig, _ = plot.figure(two_runs)
    plot.save(fig, tmp_path / "again.svg")
    by_iter, by_minute = fig.axes
    log = runfolder.read_log(two_runs[0])
    lines = {line.get_label(): line for line in by_minute.get_lines()}
    assert set(lines) == {"run train", "run validation", "noval train"}  # no nan-only validation line
    np.testing.assert_allclose(lines["run validation"].get_xdata(), log["elapsed_s"] / 60)
    np.testing.assert_allclose(lines["run validation"].get_ydata(), log["val_loss"])
    assert [line.get_label() for line in by_iter.get_lines()] == list(lines)
    assert by_iter.get_xlabel() == "iteration" and by_minute.get_xlabel() == "minutes"
    assert (tmp_path / "again.svg").read_text().lstrip().startswith("<?xml")


def test_plot_uses_a_log_axis_where_values_span_decades(tmp_path):
    pytest.importorskip("matplotlib", reason="matplotlib is not installed: pip install 'minrnn[plot]'")
    from minrnn import curves as plot
    run_dir = tmp_path / "long"
    run_dir.mkdir()
    rows = [(it, it / 10, 4.0 / math.log(it + 1), 4.2 / math.log(it + 1)) for it in (1, 10, 100, 1000, 10000)]
    (run_dir / "log.csv").write_text("iteration,elapsed_s,train_loss,val_loss,lr,chars_per_s\n"
                                     + "".join(f"{a},{b},{c},{d},0.003,1000\n" for a, b, c, d in rows))
    by_iter, by_minute = plot.figure([run_dir])[0].axes
    assert by_iter.get_xscale() == "log" and by_minute.get_xscale() == "log" and by_iter.get_yscale() == "log"


@pytest.mark.parametrize("content, words", [
    (None, ["no log.csv in this folder"]),
    ("", ["not a minrnn log"]),
    ("iteration,elapsed_s,train_loss\n10,1.0,2.0\n", ["not a minrnn log", "val_loss"]),
    ("iteration,elapsed_s,train_loss,val_loss,lr,chars_per_s\n", ["no rows yet"]),
    ("iteration,elapsed_s,train_loss,val_loss,lr,chars_per_s\n10,1.0,2.0,nan,0.1,5\n20,2.0,zz,nan,0.1,5\n",
     ["damaged at line 3", "not a number"]),
    ("iteration,elapsed_s,train_loss,val_loss,lr,chars_per_s\n10,1.0,2.0\n", ["damaged at line 2"]),
    (b"iteration,elapsed_s,train_loss,val_loss\n\xff\xfe\n", ["damaged", "UnicodeDecodeError"]),
])
def test_plot_bad_logs(capsys, tmp_path, content, words):
    pytest.importorskip("matplotlib", reason="matplotlib is not installed: pip install 'minrnn[plot]'")
    folder = tmp_path / "run"
    folder.mkdir()
    if isinstance(content, bytes):
        (folder / "log.csv").write_bytes(content)
    elif content is not None:
        (folder / "log.csv").write_text(content)
    code, _, err = run(capsys, "plot", folder, "--out", tmp_path / "l.png")
    assert_one_line_error(code, err, *words)


def test_plot_other_errors(capsys, two_runs, tmp_path):
    pytest.importorskip("matplotlib", reason="matplotlib is not installed: pip install 'minrnn[plot]'")
    code, _, err = run(capsys, "plot", tmp_path / "missing", "--out", tmp_path / "l.png")
    assert_one_line_error(code, err, "missing: no such run folder")
    code, _, err = run(capsys, "plot", *two_runs, "--label", "one", "--out", tmp_path / "l.png")
    assert_one_line_error(code, err, "--label gives 1 label(s) for 2 run folder(s)")
    code, _, err = run(capsys, "plot", two_runs[0], "--out", tmp_path / "nowhere" / "l.png")
    assert_one_line_error(code, err, "cannot write there")
    code, _, err = run(capsys, "plot", two_runs[0], "--out", tmp_path / "l.xyz")
    assert_one_line_error(code, err, "l.xyz", "xyz")
    assert not (tmp_path / "l.png").exists()


def test_plot_without_matplotlib_names_the_extra(capsys, two_runs, monkeypatch, tmp_path):
    for name in ("matplotlib", "matplotlib.figure"):  # None in sys.modules makes an import fail
        monkeypatch.setitem(sys.modules, name, None)
    code, _, err = run(capsys, "plot", two_runs[0], "--out", tmp_path / "l.png")
    assert_one_line_error(code, err, "plotting needs matplotlib", "pip install 'minrnn[plot]'")


def test_viz_and_plot_in_help(capsys):
    code, out, _ = run(capsys, "--help")
    assert code == 0 and "viz" in out and "plot" in out
    for command in ("viz", "plot"):
        code, out, _ = run(capsys, command, "--help")
        assert code == 0 and out.startswith("usage: minrnn " + command)
