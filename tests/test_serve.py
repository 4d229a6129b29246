"""`minrnn serve` as its callers meet it: a real server (`python -m minrnn serve`, on a free port
of 127.0.0.1) answering OpenAI's own client, seeded completions that are `minrnn sample`'s text,
many requests at once, clients that go, bad requests refused with the right status and one
sentence, and SIGTERM or Ctrl-C ending it cleanly."""
import asyncio
import http.client
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import types
from concurrent.futures import ThreadPoolExecutor

import pytest

import minrnn
from support import ROOT, assert_one_line_error, make_text, run

openai = pytest.importorskip("openai")

KEY = "test-key"
PROMPT = "the "
LONG = 100_000  # a choice's length that takes the tiny model seconds: the tests end it sooner


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """A tiny run folder, trained in a second."""
    root = tmp_path_factory.mktemp("serve")
    run_ = minrnn.train(text=make_text(20_000), out=root / "tiny", cell="gru", layers=1, hidden=32, batch_size=8,
                        seq_length=32, iterations=150, eval_every=75, quiet=True)
    return run_.path


class Server:
    """`python -m minrnn serve` in a subprocess; its stderr read as it comes (the log lines)."""

    def __init__(self, *args, env=None):
        self.proc = subprocess.Popen([sys.executable, "-m", "minrnn", "serve", *map(str, args), "--port", "0"],
                                     env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines = []
        threading.Thread(target=self._read, daemon=True).start()
        deadline = time.monotonic() + 60
        while not any("serving" in line for line in self.lines):
            assert self.proc.poll() is None and time.monotonic() < deadline, self.lines
            time.sleep(0.05)
        self.port = int(re.search(r"127\.0\.0\.1:(\d+)/v1", "".join(self.lines)).group(1))
        self.base = f"http://127.0.0.1:{self.port}/v1"

    def _read(self):
        for line in self.proc.stderr:
            self.lines.append(line)

    def client(self, key=KEY):
        return openai.OpenAI(base_url=self.base, api_key=key, max_retries=0, timeout=60)

    def request(self, method, path, body=None, key=KEY):
        """(status, parsed JSON) of one plain HTTP request; key None: no Authorization header."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
        conn.request(method, path, data, {} if key is None else {"Authorization": f"Bearer {key}"})
        response = conn.getresponse()
        status, payload = response.status, response.read()
        conn.close()
        return status, json.loads(payload)

    def health(self):
        return self.request("GET", "/health", key=None)[1]

    def stop(self, sig=signal.SIGTERM, within=10):
        """Send the signal; the exit code, the process having ended within `within` seconds."""
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(within)
        finally:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture(scope="module")
def server(model):
    """Two models: the run folder, named `tiny`, and a copy of its checkpoint, `other`."""
    (model.parent / "other.npz").write_bytes((model / "best.npz").read_bytes())
    server = Server(model, model.parent / "other.npz", "--api-key", KEY, "--max-length", LONG, "--max-body", 10_000)
    yield server
    assert server.stop() == 0


def stream_open(server, body):
    """A streamed completion read by hand: (connection, response) once its headers have come."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    conn.request("POST", "/v1/completions", json.dumps({"model": "tiny", **body, "stream": True}),
                 {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"})
    response = conn.getresponse()
    assert response.status == 200
    return conn, response


def next_event(response):
    """The next server-sent event's data."""
    while True:
        line = response.readline().decode()
        assert line, "the stream ended"
        if line.startswith("data: "):
            return line[6:].strip()


def wait_for(condition, seconds, what):
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


# --- OpenAI's client ------------------------------------------------------------------------

def test_openai_client_completes_streams_and_lists(server, model):
    client = server.client()
    one = client.completions.create(model=model.name, prompt=PROMPT, max_tokens=40, seed=3)
    choice = one.choices[0]
    assert len(choice.text) == 40 and choice.finish_reason == "length" and choice.index == 0
    assert one.object == "text_completion" and one.model == model.name and one.id.startswith("cmpl-")
    assert (one.usage.prompt_tokens, one.usage.completion_tokens, one.usage.total_tokens) == (4, 40, 44)

    chunks = list(client.completions.create(model=model.name, prompt=PROMPT, max_tokens=40, seed=3, stream=True))
    assert "".join(c.choices[0].text for c in chunks) == choice.text
    assert chunks[-1].choices[0].finish_reason == "length"

    three = client.completions.create(model=model.name, prompt=PROMPT, max_tokens=40, seed=3, n=3)
    assert [c.index for c in three.choices] == [0, 1, 2] and three.choices[0].text == choice.text
    assert len({c.text for c in three.choices}) == 3 and three.usage.completion_tokens == 120

    # a list of prompts: answered in order, each prompt's choices seeded alike
    two = client.completions.create(model=model.name, prompt=[PROMPT, "a "], max_tokens=40, seed=3, n=2)
    assert [c.index for c in two.choices] == [0, 1, 2, 3] and two.choices[0].text == choice.text
    assert two.usage.prompt_tokens == 6

    other = client.completions.create(model="other", prompt=PROMPT, max_tokens=40, seed=3, n=3)
    assert [c.text for c in other.choices] == [c.text for c in three.choices]  # the same weights

    listed = client.models.list().data
    assert [m.id for m in listed] == [model.name, "other"] and listed[0].cell == "gru" and listed[0].hidden == 32
    assert set(listed[0].vocabulary) == set(make_text(20_000))
    assert client.models.retrieve(model.name).id == model.name


def test_stop_strings_end_a_choice_before_them(server):
    client = server.client()
    whole = client.completions.create(model="tiny", prompt=PROMPT, max_tokens=200, seed=4).choices[0].text
    stop = next(w for w in ("e ", " t", "a", "e") if w in whole)
    cut = client.completions.create(model="tiny", prompt=PROMPT, max_tokens=200, seed=4, stop=[stop, "zzz"])
    assert cut.choices[0].text == whole[:whole.index(stop)] and cut.choices[0].finish_reason == "stop"
    streamed = client.completions.create(model="tiny", prompt=PROMPT, max_tokens=200, seed=4, stop=stop, stream=True)
    assert "".join(c.choices[0].text for c in streamed) == cut.choices[0].text


def test_logprobs_and_echo(server):
    client = server.client()
    greedy = client.completions.create(model="tiny", prompt=PROMPT, max_tokens=30, temperature=0, logprobs=5)
    text, lp = greedy.choices[0].text, greedy.choices[0].logprobs
    assert lp.tokens == list(text) and lp.text_offset == list(range(30))
    for token, logp, top in zip(lp.tokens, lp.token_logprobs, lp.top_logprobs):
        assert len(top) == 5 and top[token] == logp == max(top.values())  # greedy: the likeliest
        assert sum(2.718281828 ** v for v in top.values()) <= 1 + 1e-9
    sampled = client.completions.create(model="tiny", prompt=PROMPT, max_tokens=30, seed=1, logprobs=2).choices[0]
    assert all(top[token] == logp and len(top) in (2, 3) for token, logp, top in
               zip(sampled.logprobs.tokens, sampled.logprobs.token_logprobs, sampled.logprobs.top_logprobs))

    echoed = client.completions.create(model="tiny", prompt=PROMPT, max_tokens=30, temperature=0, logprobs=5,
                                       echo=True).choices[0]
    assert echoed.text == PROMPT + text
    assert echoed.logprobs.tokens == list(PROMPT + text) and echoed.logprobs.text_offset == list(range(34))
    assert echoed.logprobs.token_logprobs[0] is None and echoed.logprobs.top_logprobs[0] is None
    assert all(v <= 0 for v in echoed.logprobs.token_logprobs[1:])
    assert echoed.logprobs.token_logprobs[4:] == lp.token_logprobs
    streamed = client.completions.create(model="tiny", prompt=PROMPT, max_tokens=30, temperature=0, logprobs=5,
                                         echo=True, stream=True)
    parts = [c.choices[0] for c in streamed]
    assert "".join(p.text for p in parts) == echoed.text
    assert sum((p.logprobs.token_logprobs for p in parts), []) == echoed.logprobs.token_logprobs
    assert sum((p.logprobs.text_offset for p in parts), []) == list(range(34))


# --- seeds -------------------------------------------------------------------------------------

@pytest.mark.parametrize("prompt, settings, flags", [
    (PROMPT, {"temperature": 0.8, "seed": 5}, ["--temperature", "0.8", "--seed", "5"]),
    (PROMPT, {"temperature": 0}, ["--greedy"]),
    (PROMPT, {"seed": 0, "extra_body": {"top_k": 3}}, ["--top-k", "3"]),
    ("", {"seed": 2}, ["--seed", "2"]),  # no prompt: the first character drawn from the same stream
])
def test_a_seeded_completion_is_minrnn_samples_text(server, model, capsys, prompt, settings, flags):
    code, out, _ = run(capsys, "sample", model, "--prime", prompt, "--length", 300, *flags)
    served = server.client().completions.create(model="tiny", prompt=prompt, max_tokens=300, **settings)
    assert code == 0 and out == prompt + served.choices[0].text + "\n"


def test_a_seeded_request_alone_and_among_31_others_gives_the_same_text(server):
    client = server.client()
    alone = client.completions.create(model="tiny", prompt=PROMPT, max_tokens=300, seed=11).choices[0].text
    others = [stream_open(server, {"prompt": "a ", "max_tokens": LONG, "seed": i}) for i in range(31)]
    try:
        for _, response in others:
            next_event(response)
        assert server.health()["running"] == 31
        among = client.completions.create(model="tiny", prompt=PROMPT, max_tokens=300, seed=11).choices[0].text
        assert server.health()["running"] == 31
    finally:
        for conn, _ in others:
            conn.close()
    assert among == alone
    wait_for(lambda: server.health()["running"] == 0, 10, "the 31 rows to leave")


def test_200_requests_32_at_a_time(server):
    client = server.client()

    def ask(i):
        if i % 2:
            return "".join(c.choices[0].text for c in client.completions.create(
                model="tiny", prompt=PROMPT, max_tokens=50 + i % 7, stream=True))
        return client.completions.create(model="tiny", prompt=PROMPT, max_tokens=50 + i % 7).choices[0].text

    with ThreadPoolExecutor(32) as pool:
        texts = list(pool.map(ask, range(200)))
    assert [len(t) for t in texts] == [50 + i % 7 for i in range(200)]
    assert server.health()["rows"] == 0


def test_a_client_that_goes_frees_its_row(server):
    conn, response = stream_open(server, {"prompt": PROMPT, "max_tokens": LONG})
    next_event(response), next_event(response)
    assert server.health()["running"] == 1
    conn.close()
    wait_for(lambda: server.health() == {**server.health(), "running": 0, "rows": 0}, 5, "the row to leave")
    assert len(server.client().completions.create(model="tiny", prompt=PROMPT, max_tokens=20).choices[0].text) == 20
    wait_for(lambda: any(re.search(r"POST /v1/completions 200 \d+ chars", line) and f" {LONG} chars" not in line
                         for line in server.lines), 5, "the log line of the request cut short")


def test_a_client_that_goes_before_a_whole_answer_frees_its_row(server):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    conn.request("POST", "/v1/completions", json.dumps({**GOOD, "max_tokens": LONG}), {"Authorization": f"Bearer {KEY}"})
    wait_for(lambda: server.health()["running"] == 1, 5, "the request to start")
    conn.close()
    wait_for(lambda: server.health()["rows"] == 0, 5, "the row to leave")


def test_a_failing_step_fails_the_requests_in_hand_and_the_next_is_answered(model, monkeypatch):
    """The model thread in-process, without HTTP: a step that raises (a bug, no memory) answers
    the requests it holds with a 500, and the thread goes on with new batches."""
    from minrnn import completions, sample, serve
    from minrnn.worker import Worker
    models = serve.load_models([model])
    limits = types.SimpleNamespace(max_length=100, max_batch=4, max_queue=4)
    steps, step = [0], sample.Batch.step

    def third_fails(self):
        steps[0] += 1
        if steps[0] == 3:
            raise MemoryError("no memory left")
        return step(self)
    monkeypatch.setattr(sample.Batch, "step", third_fails)

    async def ask_twice():
        worker = Worker(models, limits.max_batch, limits.max_queue)
        worker.start(asyncio.get_running_loop())
        answered = []
        for _ in range(2):
            completion = completions.judge(json.dumps({"prompt": PROMPT, "max_tokens": 20}).encode(), models, limits)
            completion.changed, completion.ended = asyncio.Event(), asyncio.Event()
            worker.submit(completion)
            await asyncio.wait_for(completion.ended.wait(), 10)
            answered.append(completion)
        worker.end()
        worker.join(10)
        return answered, worker.rows

    (first, second), rows = asyncio.run(ask_twice())
    assert first.error.status == 500 and first.error.message == "the model failed: MemoryError: no memory left"
    assert second.error is None and len(second.answer()["choices"][0]["text"]) == 20 and rows == 0


# --- bad requests ------------------------------------------------------------------------------

GOOD = {"model": "tiny", "prompt": PROMPT}
BAD = [  # (body, status, words its message holds, param)
    (b"{not json", 400, ["not valid JSON"], None),
    (b"[1, 2]", 400, ["not a JSON object"], None),
    ({**GOOD, "max_tokens": "ten"}, 400, ["max_tokens", "not an int"], "max_tokens"),
    ({**GOOD, "temperature": "hot"}, 400, ["temperature", "not a number"], "temperature"),
    ({**GOOD, "prompt": 5}, 400, ["prompt", "not a string"], "prompt"),
    ({**GOOD, "prompt": [1, 2, 3]}, 400, ["prompt", "tokens are characters"], "prompt"),
    ({**GOOD, "stream": "yes"}, 400, ["stream", "True or False"], "stream"),
    ({**GOOD, "max_tokens": 0}, 400, ["max_tokens: 0 must be > 0"], "max_tokens"),
    ({**GOOD, "max_tokens": -5}, 400, ["max_tokens: -5 must be > 0"], "max_tokens"),
    ({**GOOD, "max_tokens": LONG + 1}, 400, ["max_tokens", "--max-length"], "max_tokens"),
    ({**GOOD, "n": 0}, 400, ["n: 0 must be > 0"], "n"),
    ({**GOOD, "top_p": 1.5}, 400, ["top_p: 1.5 must be in (0, 1]"], "top_p"),
    ({**GOOD, "temperature": -1}, 400, ["temperature: -1 must be >= 0"], "temperature"),
    ({**GOOD, "logprobs": 6}, 400, ["logprobs: 6 must be in [0, 5]"], "logprobs"),
    ({**GOOD, "prompt": "THE quick"}, 400, ["prompt", "outside the model's vocabulary", "'E' 1", "'H' 1", "'T' 1"], "prompt"),
    ({**GOOD, "prompt": []}, 400, ["prompt", "no text"], "prompt"),
    ({**GOOD, "stop": ["a", "b", "c", "d", "e"]}, 400, ["stop: 5 strings are more than 4"], "stop"),
    ({**GOOD, "stop": "x" * 101}, 400, ["stop", "longer than 100 characters"], "stop"),
    ({"prompt": PROMPT}, 400, ["model: this server serves 2 models (tiny, other); name one"], "model"),
    ({"model": "tiny"}, 400, ["prompt is missing"], None),
    ({**GOOD, "temprature": 0.5}, 400, ["'temprature'", "did you mean temperature"], None),
    ({**GOOD, "best_of": 3, "suffix": "x"}, 400, ["does not support best_of or suffix"], "best_of"),
    ({**GOOD, "model": "gpt-4"}, 404, ["'gpt-4' is not served here", "tiny"], "model"),
    ({**GOOD, "prompt": "a " * 6000}, 413, ["--max-body, 10000 bytes"], None),
]


@pytest.mark.parametrize("body, status, words, param", BAD, ids=lambda v: str(v)[:40] if isinstance(v, bytes) else None)
def test_a_bad_request_is_refused_with_one_sentence(server, body, status, words, param):
    got, answer = server.request("POST", "/v1/completions", body)
    error = answer["error"]
    assert got == status and all(w in error["message"] for w in words), error
    assert "\n" not in error["message"] and error["param"] == param and error["type"] == "invalid_request_error"
    assert server.request("POST", "/v1/completions", {**GOOD, "max_tokens": 5})[0] == 200  # and it goes on


def test_a_body_over_the_limit_is_413_without_a_declared_length(server):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    conn.request("POST", "/v1/completions", (b"x" * 1000 for _ in range(11)),
                 {"Authorization": f"Bearer {KEY}"}, encode_chunked=True)
    response = conn.getresponse()
    assert response.status == 413 and "--max-body" in json.loads(response.read())["error"]["message"]
    conn.close()


def test_neutral_values_of_unsupported_fields_and_nulls_are_accepted(server):
    body = {**GOOD, "best_of": 1, "suffix": None, "presence_penalty": 0, "frequency_penalty": 0.0, "logit_bias": {},
            "max_tokens": None, "user": "me"}
    status, answer = server.request("POST", "/v1/completions", body)
    assert status == 200 and len(answer["choices"][0]["text"]) == 16  # OpenAI's default max_tokens


@pytest.mark.parametrize("key, words", [(None, "no API key"), ("wrong", "a wrong API key"), ("", "a wrong API key")])
def test_a_missing_or_wrong_key_is_401_but_health_is_open(server, key, words):
    for method, path, body in (("POST", "/v1/completions", GOOD), ("GET", "/v1/models", None)):
        status, answer = server.request(method, path, body, key=key)
        assert status == 401 and words in answer["error"]["message"] and answer["error"]["code"] == "invalid_api_key"
    with pytest.raises(openai.AuthenticationError):
        server.client(key="wrong").models.list()
    assert server.request("GET", "/health", key=None)[1]["status"] == "ok"
    assert server.request("GET", "/v1/models")[0] == 200


def test_unknown_paths_and_methods_are_answered_in_openais_shape(server):
    assert server.request("GET", "/v1/nothing")[1]["error"]["message"] == "GET /v1/nothing: Not Found"
    assert server.request("GET", "/v1/completions")[0] == 405
    status, answer = server.request("GET", "/v1/models/gpt-4")
    assert status == 404 and answer["error"]["code"] == "model_not_found"


def test_each_request_is_logged_in_one_line(server):
    server.request("POST", "/v1/completions", {**GOOD, "max_tokens": 7})
    wait_for(lambda: any(re.fullmatch(r"minrnn: POST /v1/completions 200 7 chars \d+ ms\n", line)
                         for line in server.lines), 5, "the log line")


# --- a full queue, SIGTERM and Ctrl-C ----------------------------------------------------------

@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_ends_the_requests_in_flight_and_exits_0(model, sig):
    server = Server(model, "--max-batch", 1, "--max-queue", 0, "--max-length", LONG)
    try:
        conn, response = stream_open(server, {"prompt": PROMPT, "max_tokens": LONG})
        next_event(response)
        status, answer = server.request("POST", "/v1/completions", GOOD)  # no room: the batch is full
        assert status == 503 and answer["error"]["code"] == "queue_full"
        started = time.monotonic()
        assert server.stop(sig, within=10) == 0 and time.monotonic() - started < 10
        rest = response.read().decode()
        assert rest.rstrip().endswith("data: [DONE]") and '"finish_reason":"length"' in rest
        assert "Traceback" not in "".join(server.lines) and server.lines[-1] == "minrnn: stopped\n"
    finally:
        server.proc.kill()


# --- the command line --------------------------------------------------------------------------

def test_two_models_of_one_name_are_refused(capsys, model, tmp_path):
    (tmp_path / "tiny").mkdir()
    (tmp_path / "tiny" / "best.npz").write_bytes((model / "best.npz").read_bytes())
    code, _, err = run(capsys, "serve", model, tmp_path / "tiny")
    assert_one_line_error(code, err, "two models are named 'tiny'")


def test_a_missing_model_a_taken_port_and_a_missing_extra_are_one_line(capsys, model, tmp_path, monkeypatch):
    assert_one_line_error(*run(capsys, "serve", tmp_path / "nothing")[::2], "nothing")
    import socket
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        code, _, err = run(capsys, "serve", model, "--port", taken.getsockname()[1])
    assert_one_line_error(code, err, "cannot listen on 127.0.0.1:", "in use")
    monkeypatch.setitem(sys.modules, "uvicorn", None)  # `import uvicorn` raises ImportError
    assert_one_line_error(*run(capsys, "serve", model)[::2], "pip install 'minrnn[serve]'")


def test_listening_beyond_this_machine_without_a_key_warns(capsys, model, monkeypatch):
    """The socket is bound but never listens (listen and uvicorn's run are stubbed), so nothing
    can reach it."""
    import socket

    import uvicorn
    monkeypatch.setattr(socket.socket, "listen", lambda self, *backlog: None)
    monkeypatch.setattr(uvicorn.Server, "run", lambda self, sockets: sockets[0].close())
    monkeypatch.delenv("MINRNN_API_KEY", raising=False)
    code, _, err = run(capsys, "serve", model, "--host", "0.0.0.0", "--port", 0)
    assert code == 0 and "warning: listening on http://0.0.0.0:" in err and "without a key" in err
    monkeypatch.setenv("MINRNN_API_KEY", "k")
    code, _, err = run(capsys, "serve", model, "--host", "0.0.0.0", "--port", 0)
    assert code == 0 and "warning" not in err
    code, _, err = run(capsys, "serve", model, "--port", 0)
    assert code == 0 and "warning" not in err
