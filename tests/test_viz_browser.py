"""The neuron page in a real browser: headless Chromium opens it from file:// with every other
request failing the test, and a user's clicks, keys and hovers do what they should.

Skipped, saying why, where Playwright or Chromium is missing (.ci/run installs both on CI).

Also a script: `python tests/test_viz_browser.py PAGE.html[#layer/signal/unit] OUT.png [CHAR [TEXT [N]]]`
screenshots a page the way the test does, hovering character CHAR; with TEXT (\\n for a newline),
typed into the box, the model writing N characters (200) on after it, and CHAR counted in the box
(the README's pictures were made so)."""
import shutil
import sys
from pathlib import Path

import pytest

ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
VIEWPORT = {"width": 1400, "height": 900}


def chromium_path():
    return shutil.which("chromium") or shutil.which("chromium-browser")


class OpenPage:
    """A page opened from disk in headless Chromium (in `browser`, or one of its own); any
    request other than file: or data: is recorded in .blocked and aborted, and script errors
    and dialogs (an alert() would be one) land in .errors."""

    def __init__(self, path, fragment="", browser=None):
        self._pw = None
        self.own = browser is None
        try:
            if self.own:
                from playwright.sync_api import sync_playwright
                self._pw = sync_playwright().start()
                browser = self._pw.chromium.launch(executable_path=chromium_path(), args=ARGS)
            self.browser = browser
            self.blocked, self.errors = [], []
            self.context = browser.new_context(viewport=VIEWPORT)
            self.context.route("**/*", self._route)
            self.page = self.context.new_page()
            self.page.on("pageerror", lambda e: self.errors.append(str(e)))
            self.page.on("dialog", lambda d: (self.errors.append(f"dialog: {d.message}"), d.dismiss()))
            self.page.goto(Path(path).resolve().as_uri() + (f"#{fragment}" if fragment else ""))
            self.page.wait_for_selector("body[data-ready]", timeout=30_000)
        except BaseException:
            self.close()
            raise

    def _route(self, route):
        url = route.request.url
        if url.startswith(("file:", "data:")):
            route.continue_()
        else:
            self.blocked.append(url)
            route.abort()

    def close(self):
        if getattr(self, "context", None):
            self.context.close()
        if self.own and getattr(self, "browser", None):
            self.browser.close()
        if self._pw:
            self._pw.stop()


@pytest.fixture(scope="module")
def browser():
    """One Chromium for the module's pages (each page gets a context of its own)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright is not installed (pip install '.[test]'): the page was not tried in a browser")
    if not chromium_path():
        pytest.skip("no chromium on PATH (apt-get install chromium): the page was not tried in a browser")
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=chromium_path(), args=ARGS)
        yield b
        b.close()


@pytest.fixture
def open_page(browser):
    pages = []

    def opener(path):
        pages.append(OpenPage(path, browser=browser))
        return pages[-1]

    yield opener
    for p in pages:
        assert not p.blocked, f"the page asked the network for {p.blocked}"
        assert not p.errors, f"the page's script failed: {p.errors}"
        p.close()


def colours(page):
    return page.eval_on_selector_all("#text span", "spans => spans.map(s => s.style.backgroundColor)")


def unit_label(page):
    return page.inner_text("#unit-label")


def test_page_in_a_browser(open_page, capsys, tmp_path):
    from support import run
    from viz_support import quoted_text, train_run
    text = (quoted_text(1500, seed=7) + "\n    (x [y]) # z\n\u00e9\U0001d11e\n") * 2
    (tmp_path / "t.txt").write_text(text, encoding="utf-8")
    run_dir = train_run(tmp_path / "run", tmp_path / "t.txt")
    code, _, err = run(capsys, "viz", run_dir, "--text", tmp_path / "t.txt", "--out", tmp_path / "page.html")
    assert code == 0, err
    p = open_page(tmp_path / "page.html").page

    assert p.locator("#text span").count() == len(text)  # one per character, the astral one included
    assert p.is_hidden("#saturation")  # a vanilla RNN has no gates

    before, label = colours(p), unit_label(p)
    row = p.locator("#board-table tbody tr:not(.selected)").first
    row_unit = row.get_attribute("data-unit")  # layer/signal/unit
    row.click()
    layer, signal, unit = row_unit.split("/")
    assert unit_label(p) == f"layer {int(layer) + 1} \u00b7 {signal} \u00b7 unit {unit}" != label
    assert colours(p) != before
    selected = p.locator("#board-table tbody tr.selected")  # the unit's row under every feature it tracks
    assert selected.count() >= 1 and {selected.nth(i).get_attribute("data-unit") for i in range(selected.count())} == {row_unit}

    after_click = colours(p)
    p.keyboard.press("ArrowRight")
    assert unit_label(p).endswith(f"unit {(int(unit) + 1) % 16}") and colours(p) != after_click
    p.keyboard.press("ArrowLeft")
    assert unit_label(p).endswith(f"unit {unit}") and colours(p) == after_click

    p.locator("#text span").nth(20).hover()
    assert p.is_visible("#card")
    assert p.locator("#card .pred").count() == 5
    probs = [float(x) for x in p.locator("#card .pred .p").all_inner_texts()]
    assert probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1.0001
    assert f"came: '{text[21].replace(' ', chr(0x2423))}'" in p.inner_text("#card")

    assert p.evaluate("location.hash") == f"#{layer}/{signal}/{unit}"  # a reload comes back to the unit
    p.goto(p.url.split("#")[0] + f"#0/h/{(int(unit) + 5) % 16}")
    p.reload()
    p.wait_for_selector("body[data-ready]")
    assert unit_label(p).endswith(f"unit {(int(unit) + 5) % 16}")

    p.check("input[value=surprise]")
    surprise = colours(p)
    p.keyboard.press("ArrowRight")  # focus on a view's radio button: the arrow still flips the unit
    assert p.is_checked("input[value=unit]") and unit_label(p).endswith(f"unit {(int(unit) + 6) % 16}")
    p.check("input[value=surprise]")
    assert surprise != after_click and surprise[0] == ""  # nothing predicted the first character
    p.check("input[value=ngram]")
    assert colours(p) != surprise
    p.check("input[value=unit]")
    p.locator("#text span").nth(20).hover()
    shot = tmp_path / "viz.png"
    p.screenshot(path=shot)
    assert shot.read_bytes()[:4] == b"\x89PNG"
    print(f"screenshot: {shot}")


def test_lstm_page_gate_saturation(open_page, tmp_path):
    """A 2-layer LSTM's page (an untrained one: its gates are what they are): every signal can
    be chosen, and clicking a unit in a saturation plot shows that gate of that unit."""
    import numpy as np

    from minrnn import data
    from minrnn.viz import analysis, page as viz
    from viz_support import make_model, quoted_text
    text = quoted_text(600)
    ix, chars = data.encode(text)
    page = analysis.page_data(make_model(len(chars), 6, "lstm", 2, seed=0), ix, chars,
                             analysis.ngram_probs(ix, ix, len(chars)), {"checkpoint": "c", "text": "t", "ngram": "n"})
    (tmp_path / "lstm.html").write_text(viz.render(page, "lstm"), encoding="utf-8")
    p = open_page(tmp_path / "lstm.html").page
    assert p.is_visible("#saturation")
    assert p.locator("#saturation-plots figure").count() == 6  # 2 layers x gates i, f, o
    assert p.locator("#saturation-plots circle").count() == 6 * 6
    p.select_option("#layer", "1")
    assert p.locator("#signal option").all_inner_texts() == ["h", "tanh_c", "i", "f", "o", "g"]
    # layer 2, gate f: the unit whose point lies farthest from the others (a click takes the
    # nearest point; force, since a point may lie under another)
    lo, hi = (np.array(v) for v in page["saturation"][1]["f"])
    apart = np.hypot(lo[:, None] - lo, hi[:, None] - hi) + np.eye(len(lo))
    unit = int(apart.min(axis=1).argmax())
    p.locator("#saturation-plots figure").nth(4).locator("circle").nth(unit).click(force=True)
    assert unit_label(p) == f"layer 2 \u00b7 f \u00b7 unit {unit}"
    assert p.locator("#saturation-plots circle.selected").count() == 1


# --- the model in the page: the box, write-on ---------------------------------------------------

BOX_TEXT = 'the cat said "hello" to the dog\nand the mat sat on a cat; then the dog said "hi"\n' * 2  # > 64: past a state snapshot


@pytest.fixture(scope="module")
def box_runs(tmp_path_factory):
    """For each cell, with and without an embedding: (run folder, the page of it). Two float32
    layers each (the checkpoint's usual dtype), a few iterations of training."""
    from minrnn.cli import main
    from viz_support import quoted_text, train_run
    root = tmp_path_factory.mktemp("box")
    (root / "t.txt").write_text(quoted_text(1200, seed=2) + "\n;", encoding="utf-8")
    (root / "page.txt").write_text(quoted_text(300, seed=9), encoding="utf-8")
    runs = {}
    for cell in ("rnn", "lstm", "gru"):
        for embedding in (0, 5):
            folder = train_run(root / f"{cell}{embedding}", root / "t.txt", 15, "--cell", cell, "--layers", "2",
                               "--hidden", "12", "--embedding", embedding, "--dtype", "float32")
            assert main(["viz", str(folder), "--text", str(root / "page.txt"), "--out", str(folder / "page.html")]) == 0
            runs[cell, embedding] = folder
    return runs


JS_PRODUCTS = """text => {
  const D = JSON.parse(document.getElementById("minrnn-data").textContent);
  const bytes = (b64) => Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  const model = new MinrnnModel.CharRNN(D.model, MinrnnModel.decodeParams(D.weights, bytes), {wasm: false});
  let prev = model.zeroState(), cur = model.zeroState();
  return Array.from(text).map((ch) => {
    const logits = new Float64Array(D.model.vocab_size);
    model.step(D.vocab.indexOf(ch), prev, cur, logits);
    [prev, cur] = [cur, prev];
    return Array.from(MinrnnModel.softmax(logits));
  });
}"""


def type_into_box(p, text):
    p.fill("#box-input", text)
    p.evaluate("minrnnPage.settled()")


def traced_probs(folder, text):
    from minrnn import data
    from minrnn.api import load
    from minrnn.layers import softmax
    import numpy as np
    loaded = load(folder)
    ix, _ = data.encode(text, loaded.chars)
    return softmax(loaded.net.trace(ix)[0].astype(np.float64))


def cli(capsys, *argv):
    from support import run
    code, out, err = run(capsys, *argv)
    assert code == 0, err
    return out


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("embedding", [0, 5])
def test_box_is_the_model(open_page, box_runs, capsys, tmp_path, cell, embedding):
    """The page's forward pass (model.js) is CharRNN's: on the page's own text and on text typed
    into the box, every next-character distribution is CharRNN.trace's to 1e-4, the box's
    nats/char is `minrnn eval`'s, and write-on at temperature 0 (greedy) is what `minrnn sample
    --temperature 0` prints after the same prime, up to the first place where the two likeliest
    characters tie within 1e-4 (there float32 rounding, which differs between NumPy's products and
    the page's, picks one)."""
    import numpy as np
    folder = box_runs[cell, embedding]
    p = open_page(folder / "page.html").page
    page_text = (folder.parent / "page.txt").read_text("utf-8")
    np.testing.assert_allclose(p.evaluate("minrnnPage.probs(minrnnPage.main)"), traced_probs(folder, page_text), atol=1e-4)

    type_into_box(p, BOX_TEXT)
    traced = traced_probs(folder, BOX_TEXT)
    np.testing.assert_allclose(p.evaluate("minrnnPage.probs(minrnnPage.box)"), traced, atol=1e-4)
    assert p.evaluate("minrnnPage.simd")  # Chromium has WebAssembly SIMD: the products ran in it
    # the same model with every product in JavaScript, as in a browser without WebAssembly SIMD
    np.testing.assert_allclose(p.evaluate(JS_PRODUCTS, BOX_TEXT), traced, atol=1e-4)
    (tmp_path / "box.txt").write_text(BOX_TEXT, encoding="utf-8")
    out = cli(capsys, "eval", folder, tmp_path / "box.txt")
    evaluated = float(out.split("loss ")[1].split(" nats")[0])
    shown = float(p.inner_text("#box-nats"))
    assert abs(shown - evaluated) <= 1e-4 + 1e-9 and abs(float(p.get_attribute("#box-nats", "data-value")) - evaluated) < 1e-4

    p.fill("#write-temperature", "0")
    p.fill("#write-n", "60")
    p.click("#write-on")
    p.evaluate("minrnnPage.settled()")
    written = "".join(p.locator("#box-text span.own").all_text_contents()).replace("\u21b5\n", "\n")
    greedy = cli(capsys, "sample", folder, "--temperature", 0, "--prime", BOX_TEXT, "--length", 60)
    expected = greedy[len(BOX_TEXT):-1]
    assert greedy.startswith(BOX_TEXT) and len(written) == len(expected) == 60
    if written != expected:  # only where the two likeliest characters tie to float32 rounding
        k = next(i for i, (a, b) in enumerate(zip(written, expected)) if a != b)
        second, first = np.sort(traced_probs(folder, BOX_TEXT + expected[:k])[-1])[-2:]
        assert first - second < 1e-4, (k, written, expected)


def test_box_edits_unknown_characters_and_markup(open_page, box_runs, capsys, tmp_path):
    """An edit in the middle gives what typing the edited text afresh gives; characters outside
    the vocabulary are shown, counted and skipped as `minrnn eval --skip-unknown` skips them;
    markup typed stays text and runs nothing; write-on is seeded and stays in the vocabulary."""
    from minrnn.api import load
    folder = box_runs["lstm", 5]
    vocab = load(folder).chars
    p = open_page(folder / "page.html").page
    probs = lambda: p.evaluate("minrnnPage.probs(minrnnPage.box)")

    type_into_box(p, BOX_TEXT)
    p.focus("#box-input")
    p.evaluate("document.getElementById('box-input').setSelectionRange(100, 100)")
    p.keyboard.type("ab")  # one input event a key, in the middle: the page reads on from the edit
    p.evaluate("minrnnPage.settled()")
    edited = BOX_TEXT[:100] + "ab" + BOX_TEXT[100:]
    assert p.input_value("#box-input") == edited
    after_edit, nats_after_edit = probs(), p.inner_text("#box-nats")
    type_into_box(p, "")
    type_into_box(p, edited)
    assert probs() == after_edit and p.inner_text("#box-nats") == nats_after_edit  # bit for bit

    foreign = "the \u03a9 cat\u00bf said \U0001d11e hi"  # none of the three in the vocabulary
    assert not {"\u03a9", "\u00bf", "\U0001d11e"} & set(vocab)
    type_into_box(p, foreign)
    assert p.locator("#box-text span").count() == len(foreign)
    assert p.locator("#box-text span.oov").all_text_contents() == ["\u03a9", "\u00bf", "\U0001d11e"]
    assert "3 outside the model's vocabulary" in p.inner_text("#box-stats")
    (tmp_path / "foreign.txt").write_text(foreign, encoding="utf-8")
    out = cli(capsys, "eval", folder, tmp_path / "foreign.txt", "--skip-unknown")
    assert abs(float(p.inner_text("#box-nats")) - float(out.split("loss ")[1].split(" nats")[0])) <= 1e-4 + 1e-9
    p.locator("#box-text span.oov").first.hover()
    assert "outside the model's vocabulary" in p.inner_text("#card")

    markup = '<img src=x onerror=alert(1)></script><script>alert(2)</script>&amp;'
    type_into_box(p, markup)
    assert p.inner_text("#box-text") == markup and p.locator("img").count() == 0
    assert p.locator("#box-text script").count() == 0

    type_into_box(p, "the dog ")
    p.fill("#write-seed", "7")
    p.fill("#write-n", "80")
    written = []
    for _ in range(2):
        p.keyboard.press("Control+Enter")  # the key does what the button does
        p.evaluate("minrnnPage.settled()")
        written.append("".join(p.locator("#box-text span.own").all_text_contents()))
    assert written[0] == written[1] and len(p.locator("#box-text span.own").all_text_contents()) == 80
    assert set(written[0].replace("\u21b5\n", "\n")) <= set(vocab)
    p.fill("#write-seed", "8")
    p.click("#write-on")
    p.evaluate("minrnnPage.settled()")
    assert "".join(p.locator("#box-text span.own").all_text_contents()) != written[0]
    type_into_box(p, "the dog!")  # an edit ends the model's text
    assert p.locator("#box-text span.own").count() == 0


def test_open_benchmark_runs(browser, box_runs, capsys):
    """benchmarks/viz_open.py end to end on a small page (a smoke test: its times are never asserted)."""
    import re

    from support import load_benchmark
    load_benchmark("viz_open").main([str(box_runs["gru", 0] / "page.html"), "--repeats", "1"], browser)
    out = capsys.readouterr().out
    assert re.search(r"^interactive +median [\d.]+ s", out, re.M) and re.search(r"^read +median [\d.]+ s", out, re.M), out


if __name__ == "__main__":
    page_path, png = sys.argv[1:3]  # PAGE may end in #layer/signal/unit, the unit to show
    char = int(sys.argv[3]) if len(sys.argv) > 3 else 40
    typed = sys.argv[4].replace("\\n", "\n") if len(sys.argv) > 4 else None  # \n: a newline
    opened = OpenPage(*page_path.split("#", 1))
    try:
        p, where = opened.page, "#text span"
        if typed is not None:  # into the box, and the model writes on after it
            type_into_box(p, typed)
            p.fill("#write-n", sys.argv[5] if len(sys.argv) > 5 else "200")
            p.click("#write-on")
            p.evaluate("minrnnPage.settled()")
            where = "#box-text span"
        p.locator(where).nth(char).hover()
        p.screenshot(path=png)
        print(f"{png}; requests blocked: {opened.blocked or 'none'}; script errors: {opened.errors or 'none'}")
    finally:
        opened.close()
