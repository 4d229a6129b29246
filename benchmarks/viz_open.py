"""How fast a neuron page opens: its size, and the time from loading it in headless Chromium to
an interactive page (the controls and the box answer: body[data-interactive]) and to the model
having read and coloured the whole text (body[data-ready]). Each repeat is a fresh page in one
browser; the README's table came from

    minrnn viz RUN --text shake10k.txt --out page.html     # tinyshakespeare's last 10,000 characters
    python benchmarks/viz_open.py page.html --repeats 3
"""
import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from test_viz_browser import ARGS, VIEWPORT, chromium_path  # noqa: E402


def main(argv=None, browser=None):
    """browser: a Playwright Chromium to open the pages in (one of its own if None)."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("page")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    if browser is None:
        from playwright.sync_api import sync_playwright
        with sync_playwright() as pw:
            own = pw.chromium.launch(executable_path=chromium_path(), args=ARGS)
            times = open_times(own, args.page, args.repeats)
            own.close()
    else:
        times = open_times(browser, args.page, args.repeats)
    print(f"{args.page}: {Path(args.page).stat().st_size / 1e6:.1f} MB")
    for name, ts in times.items():
        print(f"{name:12s} median {statistics.median(ts):.2f} s, {min(ts):.2f} to {max(ts):.2f} s over {len(ts)}")


def open_times(browser, path, repeats):
    uri = Path(path).resolve().as_uri()
    times = {"interactive": [], "read": []}
    for _ in range(repeats):
        page = browser.new_page(viewport=VIEWPORT)
        start = time.perf_counter()
        page.goto(uri, wait_until="commit")
        for mark, name in (("interactive", "interactive"), ("ready", "read")):
            page.wait_for_selector(f"body[data-{mark}]", state="attached", timeout=300_000)
            times[name].append(time.perf_counter() - start)
        page.close()
    return times


if __name__ == "__main__":
    main()
