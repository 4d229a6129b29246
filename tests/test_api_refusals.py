"""Every public function of the Python API refuses a bad call before any work: a MinrnnError of
one line that names the argument and what to give instead, and nothing written. The table below
is to the API what test_hostile_args.py is to the command line."""
import pytest

import minrnn
from minrnn.errors import MinrnnError
from support import make_text

TINY = {"cell": "rnn", "layers": 1, "hidden": 8, "batch_size": 2, "seq_length": 8}


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """(a trained Run, its model, its text's path, the page, a scratch folder)."""
    root = tmp_path_factory.mktemp("refusals")
    text = root / "t.txt"
    text.write_text(make_text(3000))
    run = minrnn.train(text, out=root / "run", iterations=10, eval_every=5, quiet=True, **TINY)
    model = run.best
    return run, model, text, model.viz(text, length=50), root


def open_file(path):
    return open(path)  # closed by the test that uses it


# (what is called, the call, words the one line holds); `m` is the fixture's tuple
CASES = [
    # minrnn.train: the text, the folders, the callback, the settings
    ("train file None-like", lambda m: minrnn.train(123, out=m[4] / "o"), ["file = 123", "not a path"]),
    ("train file list", lambda m: minrnn.train([m[2], 5], out=m[4] / "o"), ["file = [", "not a path"]),
    ("train file missing", lambda m: minrnn.train([m[2], m[4] / "gone.txt"], out=m[4] / "o"), ["gone.txt: no such file"]),
    ("train skip_unknown alone", lambda m: minrnn.train(m[2], out=m[4] / "o", skip_unknown=True),
     ["skip_unknown applies only with init_from"]),
    ("train val_chars", lambda m: minrnn.train(m[2], out=m[4] / "o", val_chars=-1), ["val_chars = -1", ">= 0"]),
    ("train file open", lambda m: minrnn.train(open_file(m[2]), out=m[4] / "o"), ["file", "open file", "t.txt"]),
    ("train file empty", lambda m: minrnn.train("", out=m[4] / "o"), ["file", "empty path"]),
    ("train text number", lambda m: minrnn.train(text=5, out=m[4] / "o"), ["text = 5", "not a string", "text="]),
    ("train out number", lambda m: minrnn.train(m[2], out=3.5), ["out = 3.5", "not a path"]),
    ("train resume list", lambda m: minrnn.train(resume=[m[0]]), ["resume", "is a list"]),
    ("train init_from open", lambda m: minrnn.train(m[2], init_from=open_file(m[2]), out=m[4] / "o"),
     ["init_from", "open file"]),
    ("train on_eval", lambda m: minrnn.train(m[2], out=m[4] / "o", on_eval="print", iterations=2, **TINY),
     ["on_eval", "cannot be called"]),
    ("train quiet", lambda m: minrnn.train(m[2], out=m[4] / "o", quiet="yes"), ["quiet", "True or False"]),
    ("train setting None", lambda m: minrnn.train(m[2], out=m[4] / "o", hidden=None), ["hidden = None"]),
    ("train setting list", lambda m: minrnn.train(m[2], out=m[4] / "o", lr=[0.1]), ["lr", "not a number"]),
    ("train positional", lambda m: minrnn.train(m[2], m[2]), ["takes 1 argument", "file"]),
    ("train twice", lambda m: minrnn.train(m[2], file=m[2]), ["file is given twice"]),
    # minrnn.load
    ("load None", lambda m: minrnn.load(None), ["minrnn.load: path = None"]),
    ("load number", lambda m: minrnn.load(7), ["path = 7", "not a path"]),
    ("load list", lambda m: minrnn.load([m[0].path]), ["path", "is a list"]),
    ("load open", lambda m: minrnn.load(open_file(m[0].path / "best.npz")), ["path", "open file", "best.npz"]),
    ("load missing", lambda m: minrnn.load(m[4] / "nothing"), ["nothing", "no such"]),
    ("load unknown keyword", lambda m: minrnn.load(m[0], best=True), ["no setting 'best'"]),
    # minrnn.Run
    ("Run nothing", lambda m: minrnn.Run(), ["minrnn.Run: path is missing"]),
    ("Run number", lambda m: minrnn.Run(5), ["minrnn.Run: path = 5", "not a path"]),
    ("Run missing", lambda m: minrnn.Run(m[4] / "nowhere"), ["nowhere: no such run folder"]),
    ("Run file", lambda m: minrnn.Run(m[2]), ["t.txt: not a run folder"]),
    ("Run folder of runs", lambda m: minrnn.Run(m[4]), ["a folder of runs, not a run", "run"]),
    # minrnn.plot and Run.plot
    ("plot nothing", lambda m: minrnn.plot(), ["give one or more runs"]),
    ("plot number", lambda m: minrnn.plot(5), ["runs", "not a path"]),
    ("plot labels", lambda m: minrnn.plot(m[0], labels=[1]), ["labels", "not a string"]),
    ("plot too many labels", lambda m: minrnn.plot(m[0], labels=["a", "b"]), ["labels gives 2 label(s) for 1 run"]),
    ("Run.plot label", lambda m: m[0].plot(label=3), ["Run.plot: label = 3", "not a string"]),
    # Model.sample
    ("sample length", lambda m: m[1].sample(0), ["Model.sample: length = 0", "must be > 0"]),
    ("sample length float", lambda m: m[1].sample(2.5), ["length = 2.5", "not an int"]),
    ("sample length None", lambda m: m[1].sample(None), ["length = None"]),
    ("sample prime", lambda m: m[1].sample(10, prime=5), ["prime = 5", "not a string"]),
    ("sample temperature", lambda m: m[1].sample(10, temperature="hot"), ["temperature", "not a number"]),
    ("sample top_k", lambda m: m[1].sample(10, top_k=0), ["top_k = 0", "must be > 0"]),
    ("sample greedy", lambda m: m[1].sample(10, greedy=1), ["greedy = 1", "True or False"]),
    ("sample seed", lambda m: m[1].sample(10, seed=-1), ["seed = -1", "must be >= 0"]),
    ("sample unknown", lambda m: m[1].sample(10, temprature=0.5), ["no setting 'temprature'", "temperature"]),
    ("sample memory", lambda m: m[1].sample(10**15), ["length=1000000000000000", "memory"]),
    ("sample rows memory", lambda m: m[1].sample(10**6, n=10**7), ["n=10000000 x length=1000000", "memory"]),
    ("sample beam memory", lambda m: m[1].sample(10**6, beam=10**7), ["beam=10000000 x length=1000000", "memory"]),
    ("sample temperature negative", lambda m: m[1].sample(10, temperature=-1), ["temperature = -1", "must be >= 0"]),
    ("sample top_p 0", lambda m: m[1].sample(10, top_p=0), ["top_p = 0", "must be in (0, 1]"]),
    ("sample top_p high", lambda m: m[1].sample(10, top_p=1.5), ["top_p = 1.5", "must be in (0, 1]"]),
    ("sample n", lambda m: m[1].sample(10, n=0), ["Model.sample: n = 0", "must be > 0"]),
    ("sample beam", lambda m: m[1].sample(10, beam=0), ["Model.sample: beam = 0", "must be > 0"]),
    ("sample beam temperature", lambda m: m[1].sample(10, beam=2, temperature=0.5),
     ["beam=2 searches by the model's own probabilities", "temperature=0.5 would be ignored", "without beam"]),
    ("sample beam top_k", lambda m: m[1].sample(10, beam=2, top_k=3), ["beam=2", "top_k=3 would be ignored"]),
    ("sample beam top_p", lambda m: m[1].sample(10, beam=2, top_p=0.9), ["beam=2", "top_p=0.9 would be ignored"]),
    ("sample beam greedy", lambda m: m[1].sample(10, beam=2, greedy=True), ["beam=2", "greedy=True would be ignored"]),
    ("sample beam n", lambda m: m[1].sample(10, beam=2, n=3), ["n=3 asks for more texts than beam=2 keeps"]),
    ("sample greedy temperature", lambda m: m[1].sample(10, greedy=True, temperature=0.5),
     ["greedy=True always takes the likeliest", "temperature=0.5 would be ignored", "temperature=0 is greedy"]),
    ("sample greedy top_p", lambda m: m[1].sample(10, greedy=True, top_p=0.5), ["greedy=True", "top_p=0.5"]),
    ("sample stop empty", lambda m: m[1].sample(10, stop=""), ["stop = ''", "is empty"]),
    ("sample stop number", lambda m: m[1].sample(10, stop=[3]), ["stop = [3]", "not a string"]),
    ("sample stop outside", lambda m: m[1].sample(10, stop=["\n", "Ωx"]),
     ["stop 'Ωx' can never match", "'Ω' is outside the model's vocabulary"]),
    ("sample details", lambda m: m[1].sample(10, details="yes"), ["details", "True or False"]),
    ("sample until", lambda m: m[1].sample(10, until=5), ["until = 5", "cannot be called"]),
    ("sample json", lambda m: m[1].sample(10, json=True), ["no setting 'json'"]),
    # Model.stream: Model.sample's settings for one sample
    ("stream length", lambda m: m[1].stream(0), ["Model.stream: length = 0", "must be > 0"]),
    ("stream n", lambda m: m[1].stream(10, n=2), ["Model.stream: no setting 'n'"]),
    ("stream beam", lambda m: m[1].stream(10, beam=2), ["Model.stream: no setting 'beam'"]),
    ("stream prime", lambda m: m[1].stream(10, prime="Ω"), ["prime has characters outside", "'Ω'"]),
    ("stream stop outside", lambda m: m[1].stream(10, stop="Ω"), ["stop 'Ω' can never match"]),
    ("stream greedy top_k", lambda m: m[1].stream(10, greedy=True, top_k=2), ["greedy=True", "top_k=2"]),
    # Model.evaluate
    ("evaluate nothing", lambda m: m[1].evaluate(), ["give a text file's path, or the text itself as text="]),
    ("evaluate number", lambda m: m[1].evaluate(5), ["file = 5", "not a path"]),
    ("evaluate open", lambda m: m[1].evaluate(open_file(m[2])), ["file", "open file", "t.txt"]),
    ("evaluate both", lambda m: m[1].evaluate(m[2], text="abc"), ["give a text file's path, or the text itself"]),
    ("evaluate text bytes", lambda m: m[1].evaluate(text=b"the"), ["text = b'the'", "not a string"]),
    ("evaluate threads", lambda m: m[1].evaluate(m[2], threads=0), ["threads = 0", "must be in (0, 4096]"]),
    ("evaluate encoding", lambda m: m[1].evaluate(m[2], encoding="klingon"), ["encoding", "unknown encoding"]),
    ("evaluate skip_unknown", lambda m: m[1].evaluate(m[2], skip_unknown="no"), ["skip_unknown", "True or False"]),
    # Model.viz and Page.save
    ("viz length", lambda m: m[1].viz(m[2], length=-3), ["Model.viz: length = -3", "must be > 0"]),
    ("viz prime and text", lambda m: m[1].viz(m[2], prime="the"), ["prime starts a sampled text"]),
    ("viz signals", lambda m: m[1].viz(m[2], signals=["q"]), ["'q'", "signals are h"]),
    ("viz signals number", lambda m: m[1].viz(m[2], signals=5), ["signals", "not a string"]),
    ("viz train_text", lambda m: m[1].viz(m[2], train_text=[m[2]]), ["train_text", "is a list"]),
    ("Page.save nothing", lambda m: m[3].save(), ["Page.save: path is missing (the file to write)"]),
    ("Page.save open", lambda m: m[3].save(open_file(m[2])), ["path", "open file"]),
    ("Page.save folder", lambda m: m[3].save(m[4]), ["is a folder"]),
    ("Page.save nowhere", lambda m: m[3].save(m[4] / "no" / "p.html"), ["cannot write there (no folder"]),
    ("Plot.save number", lambda m: m[0].plot().save(5), ["Plot.save: path = 5", "not a path"]),
    ("Plot.save nowhere", lambda m: m[0].plot().save(m[4] / "no" / "l.png"), ["cannot write there (no folder"]),
]


@pytest.mark.parametrize("call, words", [(c, w) for _, c, w in CASES], ids=[name for name, _, _ in CASES])
def test_bad_call_is_refused_up_front(made, call, words):
    root = made[4]
    before = sorted(p for p in root.rglob("*"))
    with pytest.raises(MinrnnError) as e:
        call(made)
    line = str(e.value)
    assert "\n" not in line and all(w in line for w in words), line
    assert sorted(p for p in root.rglob("*")) == before  # nothing written, not even a folder


def test_a_text_run_into_a_folder_it_cannot_write_is_one_line(tmp_path, monkeypatch):
    """text= is kept in the run folder before training; a folder that cannot be made (here: its
    parent is a file, which refuses root as well) is one line, and nothing is made."""
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(MinrnnError) as e:
        minrnn.train(text=make_text(2000), out=blocker / "run", iterations=2, quiet=True, **TINY)
    assert "exists and is not a folder" in str(e.value) and "\n" not in str(e.value)

    def refuse(self, *a, **k):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(type(tmp_path), "mkdir", refuse)  # chmod does not stop root
    with pytest.raises(MinrnnError) as e:
        minrnn.train(text=make_text(2000), out=tmp_path / "ro" / "run", iterations=2, quiet=True, **TINY)
    assert "cannot write" in str(e.value) and "Permission denied" in str(e.value)
    assert not (tmp_path / "ro").exists()


def test_every_public_function_is_in_the_table():
    """Each public function and method taking arguments has cases above."""
    called = " ".join(name for name, _, _ in CASES)
    for name in ("train", "load", "Run ", "plot", "Run.plot", "sample", "stream", "evaluate", "viz", "Page.save",
                 "Plot.save"):
        assert name in called, name
