"""The neuron page's template (page.html, page.css, page.js, and model.js, the model's forward
pass in JavaScript; shipped as package data), filled with a page's data into one
self-contained HTML file: no network, no server."""
import html
import json
import re
from importlib import resources


def render(data, title):
    """The page as one string: the template with its style, script and data inline."""
    folder = resources.files(__name__)
    read = lambda name: (folder / name).read_text("utf-8")
    # JSON inside <script> must not hold "</script>" or "<!--": escaping every "<" (only strings
    # can contain one) rules both out and leaves valid JSON
    blob = json.dumps(data, ensure_ascii=True, allow_nan=False, separators=(",", ":")).replace("<", "\\u003c")
    parts = {"title": html.escape(title), "css": read("page.css"), "js": read("page.js"),
             "model_js": read("model.js"), "data": blob}
    # one pass, so that nothing substituted is itself searched for placeholders
    return re.sub(r"\{\{(\w+)\}\}", lambda m: parts[m.group(1)], read("page.html"))
