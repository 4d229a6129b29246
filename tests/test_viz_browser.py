"""The neuron page in a real browser: headless Chromium opens it from file:// with every other
request failing the test, and a user's clicks, keys and hovers do what they should.

Skipped, saying why, where Playwright or Chromium is missing (.ci/run installs both on CI).

Also a script: `python tests/test_viz_browser.py PAGE.html[#layer/signal/unit] OUT.png [CHAR]`
screenshots a page the way the test does, hovering character CHAR (the README's picture was made so)."""
import shutil
import sys
from pathlib import Path

import pytest

ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
VIEWPORT = {"width": 1400, "height": 900}


def chromium_path():
    return shutil.which("chromium") or shutil.which("chromium-browser")


class OpenPage:
    """A page opened from disk in headless Chromium; any request other than file: or data: is
    recorded in .blocked and aborted, and script errors land in .errors."""

    def __init__(self, path, fragment=""):
        from playwright.sync_api import sync_playwright
        self._pw = sync_playwright().start()
        try:
            self.browser = self._pw.chromium.launch(executable_path=chromium_path(), args=ARGS)
            self.blocked, self.errors = [], []
            context = self.browser.new_context(viewport=VIEWPORT)
            context.route("**/*", self._route)
            self.page = context.new_page()
            self.page.on("pageerror", lambda e: self.errors.append(str(e)))
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
        if getattr(self, "browser", None):
            self.browser.close()
        self._pw.stop()


@pytest.fixture
def open_page():
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.skip("playwright is not installed (pip install '.[test]'): the page was not tried in a browser")
    if not chromium_path():
        pytest.skip("no chromium on PATH (apt-get install chromium): the page was not tried in a browser")
    pages = []

    def opener(path):
        pages.append(OpenPage(path))
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

    from minrnn import data, inspect, viz
    from viz_support import make_model, quoted_text
    text = quoted_text(600)
    ix, chars = data.encode(text)
    page = inspect.page_data(make_model(len(chars), 6, "lstm", 2, seed=0), ix, chars,
                             inspect.ngram_probs(ix, ix, len(chars)), {"checkpoint": "c", "text": "t", "ngram": "n"})
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


if __name__ == "__main__":
    page_path, png = sys.argv[1:3]  # PAGE may end in #layer/signal/unit, the unit to show
    opened = OpenPage(*page_path.split("#", 1))
    try:
        opened.page.locator("#text span").nth(int(sys.argv[3]) if len(sys.argv) > 3 else 40).hover()
        opened.page.screenshot(path=png)
        print(f"{png}; requests blocked: {opened.blocked or 'none'}; script errors: {opened.errors or 'none'}")
    finally:
        opened.close()
