"""`minrnn sample` and Model.sample / Model.stream as a user meets them: many samples, beam search,
top-p, stop strings, JSON Lines, a sample streamed through a pipe and ended by Ctrl-C, and bad
requests refused with one line before any output. The engine's own checks (probabilities,
exhaustive beams, log-probabilities) are test_generation.py's."""
import json
import os
import select
import signal
import subprocess
import sys

import pytest

import minrnn
from support import ROOT, assert_one_line_error, make_text, run

TINY = {"cell": "gru", "layers": 1, "hidden": 16, "batch_size": 4, "seq_length": 16}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """(a run folder, its model)."""
    root = tmp_path_factory.mktemp("sampling")
    done = minrnn.train(text=make_text(5000), out=root / "run", iterations=40, eval_every=20, quiet=True, **TINY)
    return done.path, done.best


# the command line's flags and the same request as Model.sample's keywords
REQUESTS = [
    (["--num-samples", "3", "--seed", "2", "--length", "60"], dict(n=3, seed=2, length=60)),
    (["--prime", "the ", "--top-p", "0.6", "--temperature", "0.8"], dict(prime="the ", top_p=0.6, temperature=0.8)),
    (["--prime", "the ", "--stop", "e", "--stop", "ov", "--num-samples", "4"],
     dict(prime="the ", stop=["e", "ov"], n=4)),
    (["--prime", "the ", "--beam", "5", "--num-samples", "2", "--length", "40"],
     dict(prime="the ", beam=5, n=2, length=40)),
    (["--prime", "a", "--beam", "3", "--stop", " ", "--length", "30"], dict(prime="a", beam=3, stop=" ", length=30)),
    (["--temperature", "0", "--length", "50"], dict(greedy=True, length=50)),
]


@pytest.mark.parametrize("argv, kwargs", REQUESTS)
def test_the_command_prints_what_the_api_returns(capsys, trained, argv, kwargs):
    folder, model = trained
    code, out, err = run(capsys, "sample", folder, *argv)
    assert code == 0, err
    made = model.sample(**kwargs)
    assert out == ("----\n".join(text + "\n" for text in made) if "n" in kwargs else made + "\n")
    code, lines, err = run(capsys, "sample", folder, *argv, "--json")
    assert code == 0, err
    details = model.sample(**kwargs, details=True)
    details = details if "n" in kwargs else [details]
    assert [json.loads(line) for line in lines.splitlines()] == [
        dict(text=s.text, prime=s.prime, logprob=s.logprob, characters=s.characters, finish=s.finish) for s in details]
    for s in details:
        assert s.characters == len(s.text) and s.logprob <= 0 and s.prime == kwargs.get("prime", "")
        assert s.finish in ("length", "stop") and not any(stop in s.text for stop in kwargs.get("stop", []))


def test_samples_are_the_seed_s_and_their_own(trained):
    _, model = trained
    four = model.sample(40, n=4, seed=5)
    assert four == model.sample(40, n=8, seed=5)[:4] == model.sample(40, n=4, seed=5)
    assert isinstance(four, list) and len(set(four)) == 4 and model.sample(40, seed=5) == four[0]
    assert model.sample(30, temperature=0) == model.sample(30, greedy=True)
    assert model.sample(30, prime="the ", n=1, beam=1) == [model.sample(30, prime="the ", greedy=True)]


def test_stream_yields_the_sample_piece_by_piece(trained):
    _, model = trained
    for settings in (dict(seed=3), dict(prime="the ", stop=["dog", "o"], seed=1), dict(prime="a", top_k=3)):
        pieces = list(model.stream(300, **settings))
        assert "".join(pieces) == model.sample(300, **settings) and len(pieces) > 2
        assert pieces[0] == settings.get("prime", pieces[0])
    ended = model.stream(1000, until=iter([False] * 10 + [True]).__next__)  # `until` ends it after 10
    assert len("".join(ended)) == 10
    cut = model.sample(1000, n=2, until=iter([False] * 7 + [True]).__next__, details=True)
    assert [(s.characters, s.finish) for s in cut] == [(7, "interrupted")] * 2


def test_a_streamed_sample_arrives_as_it_is_made_and_ctrl_c_ends_it(trained):
    """Through a pipe: the first characters come while the process is still making a sample far
    too long to finish; SIGINT then ends it with what was made printed, a line ending, and exit 0
    (as Ctrl-C ends train)."""
    folder, _ = trained
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-m", "minrnn", "sample", folder, "--length", str(10**8), "--prime", "the "],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        first = b""
        while len(first) < 100:  # the prime, then generated text, well before the process could end
            assert select.select([proc.stdout], [], [], 60)[0], "nothing came for a minute"
            first += os.read(proc.stdout.fileno(), 100)
            assert proc.poll() is None, proc.stderr.read()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    text = (first + out).decode()
    assert text.startswith("the ") and text.endswith("\n") and len(text) > 100
    assert "interrupted" in err.decode() and "Traceback" not in err.decode()


@pytest.mark.parametrize("argv, words", [
    (["--beam", "0"], ["--beam: 0 must be > 0"]),
    (["--num-samples", "0"], ["--num-samples: 0 must be > 0"]),
    (["--top-p", "0"], ["--top-p: 0 must be in (0, 1]"]),
    (["--top-p", "1.5"], ["--top-p: 1.5 must be in (0, 1]"]),
    (["--beam", "4", "--temperature", "0.5"], ["--beam 4 searches", "--temperature 0.5 would be ignored",
                                                "sample without --beam"]),
    (["--beam", "4", "--top-k", "3"], ["--beam 4", "--top-k 3 would be ignored"]),
    (["--beam", "4", "--top-p", "0.9"], ["--beam 4", "--top-p 0.9 would be ignored"]),
    (["--beam", "2", "--num-samples", "3"], ["--num-samples 3 asks for more texts than --beam 2 keeps"]),
    (["--greedy", "--temperature", "0.5"], ["--greedy always takes", "--temperature 0.5 would be ignored"]),
    (["--greedy", "--top-k", "2"], ["--greedy", "--top-k 2 would be ignored", "--temperature 0 is greedy"]),
    (["--stop", ""], ["--stop", "is empty"]),
    (["--stop", "\n", "--stop", "Ωμ"], ["--stop 'Ωμ' can never match", "'Ω' 'μ' are outside the model's vocabulary"]),
    (["--num-samples", "10000000", "--length", "1000000"], ["--num-samples 10000000 x --length 1000000", "memory"]),
    (["--beam", str(10**7), "--length", "1000000"], ["--beam 10000000 x --length 1000000", "memory"]),
])
def test_bad_requests_are_one_line_and_print_nothing(capsys, trained, argv, words):
    folder, _ = trained
    for json_flag in ([], ["--json"]):
        code, out, err = run(capsys, "sample", folder, *argv, *json_flag)
        assert out == "" and len(err.strip().splitlines()) == 1 and "Traceback" not in err
        assert code == 2 and all(w in err for w in words), err
        if "argument" not in err:
            assert_one_line_error(code, err, *words)


def test_a_reader_that_stops_reading_ends_the_command_quietly(trained):
    """`minrnn sample ... | head -c 100`: once the pipe's reader has gone, the command stops,
    with no error and no traceback."""
    folder, _ = trained
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-m", "minrnn", "sample", folder, "--length", str(10**8)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        assert select.select([proc.stdout], [], [], 60)[0], "nothing came for a minute"
        assert os.read(proc.stdout.fileno(), 100)
        proc.stdout.close()
        err = proc.stderr.read().decode()
        proc.wait(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0 and "error" not in err and "Traceback" not in err, err
