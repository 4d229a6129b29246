"""What `POST /v1/completions` takes and answers, in the shapes of OpenAI's API: the request's
fields (each an Option, judged as every option of minrnn is), a request judged into a
Completion, each choice's text as the model thread makes it (worker.py), and the JSON of an
answer, of a streamed chunk and of an error. Nothing here knows of HTTP or of threads.

Tokens are characters: max_tokens counts characters, logprobs gives each character's
log-probability, and usage counts characters."""
import json
import secrets
import time

import numpy as np

from . import data, options
from .errors import FieldError, MinrnnError
from .options import Option

# every stop string is looked for at every character of every choice that has it: a few short ones
MOST_STOPS, LONGEST_STOP = 4, 100

FIELDS = options.group(
    model=Option(str, None, "the model's name, as GET /v1/models lists it", unset="the only model served"),
    prompt=Option(str, None, "the text to continue; a list of texts: each continued, answered in order", many=True,
                  hint="give text: minrnn's tokens are characters"),
    max_tokens=Option(int, 16, "characters to generate for each choice (at most the server's --max-length)", above=0),
    temperature=Option(float, 1.0, "0: always the likeliest character; below 1 more conservative, above 1 more "
                       "varied", low=0),
    top_p=Option(float, 1.0, "sample among the likeliest characters whose probabilities add up to top_p",
                 above=0, high=1),
    top_k=Option(int, None, "sample among the k likeliest characters", above=0, unset="all"),
    n=Option(int, 1, "choices for each prompt, each drawn from a random stream of its own", above=0),
    stop=Option(str, None, f"text that ends a choice where it first appears (it is not shown); at most {MOST_STOPS}, "
                f"each at most {LONGEST_STOP} characters", many=True, unset="none",
                also=lambda s: f"is longer than {LONGEST_STOP} characters" if len(s) > LONGEST_STOP else None),
    seed=Option(int, None, "random seed: choice i of a prompt draws from the stream [seed, i], as `minrnn "
                "sample --seed seed` draws its sample i", low=0, high=2**64 - 1, unset="a fresh stream"),
    stream=Option(bool, False, "send the text as it is made, as server-sent events, then data: [DONE]"),
    logprobs=Option(int, None, "with each character its log-probability and the N likeliest characters' "
                    "(top_logprobs, which also holds the character chosen)", low=0, high=5, unset="none"),
    echo=Option(bool, False, "the prompt before each choice's text (with logprobs, its characters' too)"),
    user=Option(str, None, "the caller's name for its own records; not used", unset="none"),
)
# Fields of OpenAI's API that minrnn does not implement, each with the value that changes nothing
# (which is accepted, as null is: some tools send them all)
UNSUPPORTED = {"best_of": 1, "suffix": "", "frequency_penalty": 0, "presence_penalty": 0, "logit_bias": {}}
SHOWN_VALUE = 60  # characters of a bad value quoted in an error


class ApiError(Exception):
    """An answer that is an error: its HTTP status and OpenAI's
    {"error": {"message", "type", "param", "code"}}."""

    def __init__(self, status, message, type="invalid_request_error", param=None, code=None):
        super().__init__(message)
        self.status, self.message, self.type, self.param, self.code = status, message, type, param, code

    def json(self):
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


def judge(body, models, limits):
    """A request's body (bytes) as a Completion, or ApiError saying, in one sentence, what is
    wrong. models: name -> api.Model; limits: the server's max_length, max_batch, max_queue."""
    try:
        fields = json.loads(body)
    except ValueError as e:  # JSONDecodeError, or bytes that are not UTF-8
        raise ApiError(400, f"the body is not valid JSON ({e})") from None
    if not isinstance(fields, dict):
        raise ApiError(400, "the body is not a JSON object")
    unsupported = [name for name, neutral in UNSUPPORTED.items() if fields.get(name) not in (None, neutral)]
    if unsupported:
        raise ApiError(400, f"minrnn does not support {' or '.join(unsupported)}; leave "
                       f"{'it' if len(unsupported) == 1 else 'them'} out", param=unsupported[0])
    try:  # null is the default, as in OpenAI's API
        a = options.namespace(FIELDS, "/v1/completions", {name: value for name, value in fields.items()
                                                           if value is not None and name not in UNSUPPORTED})
    except FieldError as e:
        shown = json.dumps(e.value, ensure_ascii=False)
        shown = shown if len(shown) <= SHOWN_VALUE else shown[:SHOWN_VALUE - 3] + "..."
        raise ApiError(400, f"{e.field}: {shown} {e.why}", param=e.field) from None
    except MinrnnError as e:
        raise ApiError(400, str(e)) from None
    name = _model_name(a.model, models)
    for field, value, limit, flag in (("max_tokens", a.max_tokens, limits.max_length, "--max-length"),
                                      ("n", a.n, limits.max_batch, "--max-batch")):
        if value > limit:
            raise ApiError(400, f"{field}: {value} is more than this server's {flag}, {limit}", param=field)
    if not a.prompt:
        raise ApiError(400, "prompt: [] holds no text", param="prompt")
    if a.stop and len(a.stop) > MOST_STOPS:
        raise ApiError(400, f"stop: {len(a.stop)} strings are more than {MOST_STOPS}", param="stop")
    if len(a.prompt) * a.n > limits.max_batch + limits.max_queue:
        raise ApiError(400, f"prompt and n: {len(a.prompt)} x {a.n} choices are more than this server takes at "
                       f"once (--max-batch + --max-queue, {limits.max_batch + limits.max_queue})", param="n")
    if a.echo and a.logprobs is not None and max(map(len, a.prompt)) > limits.max_length:
        raise ApiError(400, f"prompt: with echo and logprobs, at most this server's --max-length, "
                       f"{limits.max_length} characters", param="prompt")
    return Completion(a, name, models[name], [_encoded(text, models[name].chars, f"prompt[{i}]"
                                                       if len(a.prompt) > 1 else "prompt")
                                              for i, text in enumerate(a.prompt)])


def _model_name(asked, models):
    if asked is None:
        if len(models) > 1:
            raise ApiError(400, f"model: this server serves {len(models)} models ({', '.join(models)}); name one",
                           param="model")
        return next(iter(models))
    if asked not in models:
        raise ApiError(404, f"model: {asked!r} is not served here; this server serves {', '.join(models)}",
                       param="model", code="model_not_found")
    return asked


def _encoded(text, chars, name):
    if not text:
        return np.zeros(0, np.int64)
    try:
        prompt = data.open_text(text=text, name=name)
    except MinrnnError as e:
        raise ApiError(400, str(e), param="prompt") from None
    unknown = prompt.unknown(chars)
    if unknown:
        raise ApiError(400, f"{name}: {data.counted(unknown)} outside the model's vocabulary", param="prompt")
    return prompt.encode(chars)[0]


class Choice:
    """One choice's text as the model thread hands it over, and how much of it has been sent."""

    def __init__(self):
        self.indices, self.logps, self.tops = [], [], []
        self.finish = None
        self.sent = 0  # characters streamed so far
        self.reported = False  # its finish_reason streamed


class Completion:
    """One request as it is answered: its settings (what the model thread needs: model, prompts,
    n, settings, rng, top, prompt_logprobs), then its choices as they are made, and the answer's
    JSON, whole or in streamed chunks. The server gives it two events (asyncio's): `changed`,
    set when a streamed choice has grown or the request has ended, and `ended`."""

    def __init__(self, a, name, model, prompts):
        self.id, self.created = f"cmpl-{secrets.token_hex(12)}", int(time.time())
        self.model, self.chars, self.texts, self.prompts = name, model.chars, a.prompt, prompts
        self.n, self.echo, self.stream, self.seed = a.n, a.echo, a.stream, a.seed
        self.top = a.logprobs  # None: no log-probabilities asked for
        self.prompt_logprobs = a.echo and a.logprobs is not None
        # sample.Batch's row settings (a temperature of 0 is greedy there)
        self.settings = dict(length=a.max_tokens, temperature=a.temperature, top_k=a.top_k or 0, top_p=a.top_p,
                             stop=tuple(a.stop or ()), top=a.logprobs or 0)
        self.rows = len(prompts) * a.n
        self.choices = [Choice() for _ in range(self.rows)]
        self.prompt_parts = [None] * len(prompts)  # echo with logprobs: each prompt's (logps, tops)
        self.error = None
        self.over = False  # nothing more comes: answered, failed or abandoned
        self.changed = self.ended = None

    def rng(self, j):
        """Choice j of a prompt's random stream: `minrnn sample --seed S`'s sample j."""
        return np.random.default_rng(None if self.seed is None else [self.seed, j])

    # --- what the model thread hands over (worker.Worker._deliver) --------------------------

    def take(self, i, indices, logps, tops, finish):
        """Choice i's next characters; 1 when it has now ended, else 0."""
        choice = self.choices[i]
        choice.indices += indices
        if self.top is not None:
            choice.logps += logps
            choice.tops += tops if tops is not None else [None] * len(indices)
        choice.finish = finish
        self.over = all(c.finish for c in self.choices)
        if self.stream:
            self.changed.set()
        if self.over:
            self.ended.set()
        return 1 if finish else 0

    def take_prompt(self, p, logps, tops):
        self.prompt_parts[p] = ([None, *logps], [None, *tops])  # the first character has no prediction

    def fail(self, error):
        self.error, self.over = error, True
        self.changed.set()
        self.ended.set()

    def open_rows(self):
        return sum(c.finish is None for c in self.choices)

    # --- the answer ------------------------------------------------------------------------

    @property
    def done(self):
        return self.error is not None or all(c.finish for c in self.choices)

    def generated(self):
        """The characters made, all choices together (usage's completion_tokens)."""
        return sum(len(c.indices) for c in self.choices)

    def answer(self):
        """The whole answer's JSON."""
        prompt = sum(map(len, self.texts))
        return {**self._head(), "choices": [self._part(i, 0) for i in range(len(self.choices))],
                "usage": {"prompt_tokens": prompt, "completion_tokens": self.generated(),
                          "total_tokens": prompt + self.generated()}}

    def chunks(self):
        """The streamed chunks of what is new since the last call: one per choice that has new
        text or has ended."""
        out = []
        for i, choice in enumerate(self.choices):
            if len(choice.indices) > choice.sent or (choice.finish and not choice.reported):
                out.append({**self._head(), "choices": [self._part(i, choice.sent)]})
                choice.sent, choice.reported = len(choice.indices), choice.finish is not None
        return out

    def _head(self):
        return {"id": self.id, "object": "text_completion", "created": self.created, "model": self.model}

    def _part(self, i, start):
        """Choice i's JSON from its character `start` on (with the prompt first when echoed)."""
        choice, p = self.choices[i], i // self.n
        ixs, logps, tops = choice.indices[start:], choice.logps[start:], choice.tops[start:]
        offset = start + (len(self.texts[p]) if self.echo else 0)
        if self.echo and start == 0:
            ixs, offset = [*self.prompts[p].tolist(), *ixs], 0
            if self.top is not None:
                prompt_logps, prompt_tops = self.prompt_parts[p] or ([None] * len(self.prompts[p]),) * 2
                logps, tops = [*prompt_logps, *logps], [*prompt_tops, *tops]
        return {"text": data.decode(ixs, self.chars), "index": i, "finish_reason": choice.finish,
                "logprobs": None if self.top is None else logprobs_json(self.chars, ixs, logps, tops, offset)}


def logprobs_json(chars, ixs, logps, tops, offset):
    """OpenAI's logprobs of characters `ixs`, the first at `offset` in the choice's text: each
    one's log-probability (logps; None for a prompt's first character) and a dict of the
    likeliest (tops: (indices, log-probabilities) or None) and the character itself."""
    top_logprobs = []
    for ix, logp, top in zip(ixs, logps, tops):
        likeliest = None
        if logp is not None:
            likeliest = {} if top is None else {chars[j]: lp for j, lp in zip(top[0].tolist(), top[1].tolist())}
            likeliest.setdefault(chars[ix], logp)
        top_logprobs.append(likeliest)
    return {"tokens": [chars[ix] for ix in ixs], "token_logprobs": list(logps), "top_logprobs": top_logprobs,
            "text_offset": list(range(offset, offset + len(ixs)))}
