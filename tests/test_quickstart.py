"""docs/quickstart.ipynb executed headless in a real Jupyter kernel (nbclient + ipykernel), in a
scratch folder: every cell runs, and the cells show what they promise (a sample of the asked
length, the neuron page's HTML, the loss plot as a PNG); the seed notebook's two cells run in the
same kernel; and Ctrl-C as Jupyter sends it (SIGINT to the kernel) saves a run that the next cell
resumes.

The file in docs/ is saved with its outputs, so that it reads as a tutorial on a code host. To
refresh them after changing a cell, execute it in a scratch folder and copy it back:
    cp docs/quickstart.ipynb /tmp && (cd /tmp && jupyter execute --inplace quickstart.ipynb) && cp /tmp/quickstart.ipynb docs/
"""
import base64
import contextlib
import html
import io
import re

import nbformat
import pytest
from jupyter_client import KernelManager
from nbclient import NotebookClient

from support import NOTEBOOK_CELL_2, ROOT


@pytest.fixture
def kernel_env(monkeypatch):
    # the kernel is a new process: it imports minrnn (and reference/) from this checkout too
    monkeypatch.setenv("PYTHONPATH", str(ROOT))


def execute(nb, folder):
    # the kernel talks over Unix sockets in the scratch folder: no TCP port, even on 127.0.0.1
    km = KernelManager(kernel_name="python3", transport="ipc", ip=str(folder / "kernel"))
    NotebookClient(nb, km=km, timeout=300, resources={"metadata": {"path": str(folder)}}).execute()
    return nb


def tagged(nb, tag):
    return next(c for c in nb.cells if tag in c.metadata.get("tags", []))


def text_of(cell, name="stdout"):
    return "".join(o.text for o in cell.outputs if o.output_type == "stream" and o.name == name)


def shown(cell, mime):
    return next(o.data[mime] for o in cell.outputs if o.output_type == "execute_result" and mime in o.data)


def test_quickstart_runs_and_shows_its_pictures(tmp_path, kernel_env):
    pytest.importorskip("matplotlib", reason="the plot cell needs matplotlib: pip install 'minrnn[plot]'")
    nb = nbformat.read(ROOT / "docs" / "quickstart.ipynb", as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []  # the saved outputs: what this run must make again
    # Ctrl-C, appended: Jupyter's interrupt is SIGINT to the kernel, here sent 0.5 s into a long run
    nb.cells += [nbformat.v4.new_code_cell(
        "import os, signal, threading\n"
        "threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT)).start()\n"
        "cut = minrnn.train('tiny.txt', out='cut', cell='rnn', hidden=16, iterations=10**7, eval_every=50, quiet=True)\n"
        "print(cut.stopped_by, cut.iterations)", metadata={"tags": ["interrupt"]}),
        nbformat.v4.new_code_cell("print(minrnn.train(resume=cut, iterations=cut.iterations + 7, quiet=True).iterations)",
                                  metadata={"tags": ["after"]})]
    execute(nb, tmp_path)  # raises CellExecutionError at a cell that fails

    sample = text_of(tagged(nb, "sample"))
    assert sample.endswith("\n") and len(sample) - 1 == len("the ") + 200 and sample.startswith("the ")
    page = shown(tagged(nb, "page"), "text/html")
    framed = re.fullmatch(r'<iframe srcdoc="([^"]*)"[^>]*></iframe>', page)
    assert framed and html.unescape(framed.group(1)) == (tmp_path / "viz.html").read_text("utf-8")
    assert "<title>minrnn viz: " in html.unescape(framed.group(1))
    assert base64.b64decode(shown(tagged(nb, "plot"), "image/png"))[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert re.fullmatch(r"Run\('runs/tiny-[\d-]+', iterations=200, best val \d\.\d{4} nats/char, done\)",
                        shown(tagged(nb, "train"), "text/plain"))
    assert "iterations=300" in shown(tagged(nb, "resume"), "text/plain")
    assert shown(tagged(nb, "model"), "text/plain").startswith("Model(gru, 1 x 32, vocabulary 28")
    assert "nats/char" in shown(tagged(nb, "evaluate"), "text/plain")
    stopped, at = text_of(tagged(nb, "interrupt")).split()
    assert stopped == "interrupted" and 0 < int(at) < 10**7
    assert int(text_of(tagged(nb, "after"))) == int(at) + 7


def test_the_seed_notebook_runs_in_the_kernel(tmp_path, kernel_env):
    """The seed's first cell (its VanillaRNN, reference/notebook.py) and its second (the training
    example), as cells; then the second again on minrnn's VanillaRNN."""
    seed = (ROOT / "reference" / "notebook.py").read_text()
    cells = [seed, NOTEBOOK_CELL_2, "from minrnn import VanillaRNN", NOTEBOOK_CELL_2]
    nb = execute(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells]), tmp_path)
    here = io.StringIO()
    with contextlib.redirect_stdout(here):  # the seed's two cells, run in this process
        namespace = {}
        exec(seed, namespace)
        exec(NOTEBOOK_CELL_2, namespace)
    assert text_of(nb.cells[1]) == here.getvalue()  # the kernel prints what Python prints, draw for draw
    printed = text_of(nb.cells[3])
    losses = [float(x) for x in re.findall(r"^Iter \d+, loss: ([\d.]+)$", printed, re.M)]
    assert printed.startswith("Vocab size: 9\n") and len(losses) == 11 and "Final sample:" in printed
    assert losses[-1] < losses[0] / 10  # minrnn's VanillaRNN learns hello world in the kernel


def test_the_saved_notebook_reads_as_a_tutorial():
    """docs/quickstart.ipynb is kept with its outputs (a code host shows them), and small."""
    path = ROOT / "docs" / "quickstart.ipynb"
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert all(cell.outputs for cell in nb.cells if cell.cell_type == "code")
    assert base64.b64decode(shown(tagged(nb, "plot"), "image/png"))[:8] == b"\x89PNG\r\n\x1a\n"
    assert path.stat().st_size < 2_000_000
