"""The neuron page assembled: the text it shows (a file's, text=, or a sample), the n-gram
baseline's text, the page's data (analysis.py) filled into the template (page.html, page.css,
page.js, model.js) as one self-contained HTML file: no network, no server."""
import html
import json
import re
from importlib import resources
from pathlib import Path

from .. import data, options, outfile
from ..errors import MinrnnError, said
from ..options import PATH, Option
from .. import sample
from . import analysis

SAMPLED = 2000  # characters viz samples when given no text
MAX_CHARS = 100_000  # one span each: past this the page grows slow to draw
MAX_BYTES = 100_000_000  # the browser parses the page's data in one piece

OPTIONS = options.group(
    file=Option(PATH, None, "show this text", flag="--text", metavar="FILE", unset="a sample from the model"),
    text=Option(str, None, "the text itself to show", cli=False, unset="none"),
    length=Option(int, None, "characters: of the sample, or the first of FILE", above=0,
                  unset=f"{SAMPLED}, or all of FILE"),
    prime=Option(str, "", "sample the text from the model, starting with this", shown="one random character"),
    seed=Option(int, 0, "the sample's random seed", low=0),
    train_text=Option(PATH, None, "count the n-gram baseline from FILE", metavar="FILE",
                      unset="the run's training text, named in the checkpoint"),
    signals=Option(str, None, "the signals the page offers and ranks, comma-separated (the page computes them: "
                   "they cost it no size)", many=True, metavar="A,B",
                   unset="all: h; an LSTM's h,tanh_c,i,f,o,g; a GRU's h,r,z,n"),
    skip_unknown=Option(bool, False, "drop characters outside the vocabulary"),
    encoding=Option(str, "utf-8", "the text files' encoding", metavar="NAME", also=data.encoding_problem),
    out=Option(PATH, "viz.html", "the page", metavar="FILE", api=False),
)


def render(page_data, title):
    """The page as one string: the template with its style, script and data inline."""
    folder = resources.files(__package__)
    read = lambda name: (folder / name).read_text("utf-8")  # noqa: E731
    # JSON inside <script> must not hold "</script>" or "<!--": escaping every "<" (only strings
    # can contain one) rules both out and leaves valid JSON
    blob = json.dumps(page_data, ensure_ascii=True, allow_nan=False, separators=(",", ":")).replace("<", "\\u003c")
    parts = {"title": html.escape(title), "css": read("page.css"), "js": read("page.js"),
             "model_js": read("model.js"), "data": blob}
    # one pass, so that nothing substituted is itself searched for placeholders
    return re.sub(r"\{\{(\w+)\}\}", lambda m: parts[m.group(1)], read("page.html"))


class Page:
    """The neuron page: one self-contained HTML document. Jupyter shows it in an iframe (its
    script and styles stay its own); save(path) writes the file `minrnn viz` writes."""

    HEIGHT = 760  # pixels of the notebook's frame; the page scrolls inside it

    def __init__(self, html_text, characters, model, lines):
        self.html, self.characters, self.model = html_text, characters, model
        self.lines = lines  # what `minrnn viz` says about it: warnings, the best unit per feature

    def __repr__(self):
        return (f"Page({self.characters:,} characters, {self.model}, {len(self.html.encode()) / 1e6:.1f} MB; "
                ".save(path) writes it)")

    def _repr_html_(self):
        return (f'<iframe srcdoc="{html.escape(self.html, quote=True)}" style="width: 100%; '
                f'height: {self.HEIGHT}px; border: 1px solid #ccc"></iframe>')

    @options.takes(options.group(path=Option(PATH, None, "the file to write")), "Page.save", positional=("path",))
    def save(self, a):
        """Write the page to a.path."""
        outfile.check(a.path)
        outfile.write(a.path, self.html.encode("utf-8"))
        return Path(a.path)


def _shown_text(model, chars, a):
    """(indices, a line saying what they are) of the text the page shows: a file's or text='s
    first a.length characters, else a sample of a.length characters after a.prime."""
    if a.file is not None or a.text is not None:
        if a.prime:
            raise MinrnnError(f"{said('prime')} starts a sampled text, and a text is given: give one of them")
        ix, _, name = data.read_against(chars, a.file, a.text, a.encoding, a.skip_unknown)
        whole, ix = len(ix), ix[:a.length]
        if len(ix) < 2:
            raise MinrnnError(f"{name}: needs at least 2 characters to show")
        return ix, (f"Text: {name}" + (f", its first {len(ix):,} of {whole:,} characters." if len(ix) < whole
                                       else "."))
    length = a.length or SAMPLED
    drawn = options.namespace(sample.OPTIONS, "Model.viz", {"length": length, "prime": a.prime, "seed": a.seed})
    made, = sample.sampled(model, chars, sample.settle(model, chars, drawn), drawn)
    return data.encode(made.prime + made.text, chars)[0], (
        f"Text: {length:,} characters sampled from the model (seed {a.seed}, temperature 1)"
        + (f" after the prime {a.prime!r}." if a.prime else "."))


def _ngram_text(chars, meta, a, page_ix):
    """(indices, note, warning) of the text the n-gram baseline is counted from: a.train_text,
    else the run's training text as the run split it (the part it trained on), else the page's
    own text, with a note saying what that means."""
    if a.train_text is not None:
        ix = data.read_against(chars, a.train_text, None, a.encoding, a.skip_unknown)[0]
        return ix, f"n-gram counted from {a.train_text} ({len(ix):,} characters).", False
    saved = meta.get("config") or {}
    corpus, val = saved.get("corpus"), saved.get("val_frac", 0)
    if not isinstance(corpus, list) or not all(isinstance(f, str) for f in corpus):
        why = "the checkpoint names no training text"
    else:
        try:
            source = data.corpus_text(corpus, saved.get("encoding", "utf-8"))
            ix, name = source.encode(chars, saved.get("skip_unknown") is True)[0], source.name
        except (MinrnnError, LookupError, TypeError) as e:
            why = f"the run's training text could not be used ({e})"
        else:
            val = val if isinstance(val, float) and 0 <= val < 1 else 0
            ix = data.split(ix, val)[0]
            return ix, (f"n-gram counted from the run's training text, {name}: the {len(ix):,} characters "
                        "the RNN trained on" + (f" (its last {val:.0%} held out)." if val else ".")), False
    return page_ix, (f"n-gram counted from this page's own text, since {why}: it has seen every character "
                     "it predicts, so it looks better than it is. Give the training text with "
                     f"{said('train_text', 'FILE')}."), True


def make_page(model, chars, path, meta, a):
    """Model.viz's work, its arguments `a` judged (OPTIONS): the page of the model read from
    `path` (meta: its metadata) over the text a describes."""
    cell, n_layers, hidden = model.config.cell, model.config.layers, model.config.hidden
    signals = list(analysis.SIGNALS[cell]) if a.signals is None else [
        name for item in a.signals for name in item.split(",")]
    wrong = [name for name in signals if name not in analysis.SIGNALS[cell]]
    if wrong or not signals:
        raise MinrnnError(f"{said('signals')}: {', '.join(map(repr, wrong)) or 'none given'}; the {cell.upper()}'s "
                          f"signals are {','.join(analysis.SIGNALS[cell])}")
    ix, about = _shown_text(model, chars, a)
    size = analysis.page_bytes(len(ix), n_layers, hidden)
    if len(ix) > MAX_CHARS or size > MAX_BYTES:
        fit = min(MAX_CHARS, int(len(ix) * MAX_BYTES / size))
        raise MinrnnError(f"a page of {len(ix):,} characters is too large to draw (about {size / 1e6:,.0f} MB); "
                          f"pass {said('length', fit)} or less")
    train_ix, note, warning = _ngram_text(chars, meta, a, ix)
    page_data = analysis.page_data(model, ix, chars, analysis.ngram_probs(train_ix, ix, len(chars)),
                                   {"checkpoint": str(path), "text": about, "ngram": note, "ngram_warning": warning},
                                   signals)
    page = render(page_data, f"minrnn viz: {path.parent.name}/{path.name}")
    lines = [note] if warning else []
    for fi, f in enumerate(page_data["features"]):
        best = next((r for r in page_data["leaderboard"] if r[0] == fi), None)  # best first per feature
        lines.append(f"  {f['label']}: layer {best[1] + 1} {best[2]} unit {best[3]}, r {best[4]:+.2f}"
                     + (f", AUC {best[5]:.2f}" if best[5] is not None else "") if best else
                     f"  {f['label']}: constant in this text")
    return Page(page, len(ix), f"{cell} {n_layers} x {hidden}", lines)
