"""Batched generation (sample.Batch over model.Stepper): its next-character probabilities are the
model's, row by row, whatever the batch; each row's text depends on its own seed alone; stop
strings end a row where they first occur and never show. Beam search (beam.py): one beam is
greedy, a beam as wide as every text is exhaustive; every log-probability reported is the
model's probability of the text, computed another way."""
import itertools

import numpy as np
import pytest

from minrnn import beam, options, sample
from minrnn.layers import softmax
from minrnn.model import CharRNN, ModelConfig, Stepper
from minrnn.sample import Batch, StopScan, pick

MODELS = {"rnn": dict(cell="rnn"), "lstm": dict(cell="lstm"), "gru": dict(cell="gru"),
          "rnn-3-layers": dict(cell="rnn", layers=3), "lstm-2-layers-embedding": dict(cell="lstm", layers=2, embedding=5),
          "gru-2-layers-embedding": dict(cell="gru", layers=2, embedding=4)}
CHARS = list("abcdefghij")


def model_of(kind, dtype="float64", seed=0):
    config = ModelConfig(len(CHARS), hidden=12, dtype=dtype, **{"layers": 1, "dropout": 0.0, **MODELS[kind]})
    return CharRNN(config, rng=np.random.default_rng(seed), init_scale=0.5)


@pytest.mark.parametrize("dtype, tolerance", [("float64", 1e-10), ("float32", 1e-5)])
@pytest.mark.parametrize("kind", MODELS)
def test_batched_step_is_the_model_at_every_position(kind, dtype, tolerance):
    """Three texts teacher-forced through one Stepper of three rows: at every position each
    row's next-character distribution is the one the chunked forward gives that text alone."""
    model = model_of(kind, dtype)
    texts = np.random.default_rng(1).integers(len(CHARS), size=(3, 20))
    stepper = Stepper(model, model.zero_state(3))
    for t in range(texts.shape[1]):
        got = softmax(stepper.step(texts[:, t]).astype(np.float64))
        for row in range(3):
            logits, _, _ = model.forward(texts[row, :t + 1].reshape(-1, 1), model.zero_state(1))
            np.testing.assert_allclose(got[row], softmax(logits[-1].astype(np.float64)), rtol=0, atol=tolerance)
    one = Stepper(model, model.zero_state(1))  # one row (vectors inside): the same
    for t in range(texts.shape[1]):
        got = one.step(texts[:1, t])
    np.testing.assert_allclose(got[0], stepper.logits[0], rtol=0, atol=tolerance)


def test_rows_can_leave_repeat_and_join():
    model = model_of("lstm-2-layers-embedding")
    stepper = Stepper(model, model.zero_state(3))
    stepper.step(np.array([1, 2, 3]))
    state = stepper.state()
    stepper.take([1, 2, 1])  # as many rows as before (a beam search's step): reordered in place
    np.testing.assert_array_equal(stepper.state(), state[:, :, [1, 2, 1]])
    fresh = Stepper(model, state[:, :, [1, 2, 1]])
    np.testing.assert_array_equal(stepper.step(np.array([4, 5, 6])), fresh.step(np.array([4, 5, 6])))
    state = stepper.state()
    stepper.take([2, 0, 0])
    np.testing.assert_array_equal(stepper.state(), state[:, :, [2, 0, 0]])
    stepper.append(model.zero_state(2))
    assert stepper.state().shape[2] == 5 and stepper.step(np.arange(5)).shape == (5, len(CHARS))


def rows_of(batch_size, seed=7, **settings):
    """The texts of batch_size rows of one prime, row i seeded by (seed, i)."""
    model = model_of("gru-2-layers-embedding")
    batch = Batch(model, CHARS)
    ids = [batch.add([1, 2], np.random.default_rng([seed, i]), 30, **settings) for i in range(batch_size)]
    while len(batch):
        batch.step()
    return [batch.rows[i].result() for i in ids]


def test_a_row_depends_on_its_own_seed_alone():
    four, eight = rows_of(4), rows_of(8)
    assert four == eight[:4] and four == rows_of(4)
    assert len({tuple(text) for text, _, _ in eight}) > 1
    assert all(finish == "length" and len(text) == 30 for text, _, finish in eight)


def test_top_p_small_is_greedy_and_one_is_plain_sampling():
    logits = np.random.default_rng(3).standard_normal((50, len(CHARS)))
    u = np.random.default_rng(4).random(50)
    np.testing.assert_array_equal(pick(logits, u, top_p=1e-9), logits.argmax(axis=1))
    np.testing.assert_array_equal(pick(logits, u, top_p=1.0), pick(logits, u))
    assert rows_of(3, top_p=1.0) == rows_of(3)


def test_stop_strings_end_rows_and_never_show():
    scan = StopScan(["cd", "x"])
    shown = "".join(scan.feed(c)[0] for c in "abc") + scan.feed("d")[0]
    assert scan.stopped and scan.kept == 2 and shown == "ab"
    scan = StopScan(["cd"])
    assert "".join(scan.feed(c)[0] for c in "abcab") + scan.flush() == "abcab" and not scan.stopped
    free = rows_of(4)
    for (text, _, _), (full, _, _) in zip(rows_of(4, stop=["e"]), free):
        shown = "".join(CHARS[i] for i in full)
        assert "".join(CHARS[i] for i in text) == shown.split("e")[0]


# --- the jobs on top: N samples, beam search, their log-probabilities ---------------------------

def request(**settings):
    """sample.OPTIONS' values as Model.sample would judge them."""
    return options.namespace(sample.OPTIONS, "test", settings)


def made(model, chars=CHARS, **settings):
    """What Model.sample(details=True) makes: a list of Sample, by sampling or beam search."""
    a = request(**settings)
    primed = sample.settle(model, chars, a)
    return (beam.search if a.beam else sample.sampled)(model, chars, primed, a)


def teacher_forced(model, prime, text, chars=CHARS):
    """The model's log-probability of `text` after `prime`, by the chunked forward over the whole
    text from a zero state, in float64: another way to the figure than generation's."""
    lookup = {c: i for i, c in enumerate(chars)}
    seq = [lookup[c] for c in prime + text]
    logits, _, _ = model.forward(np.array(seq[:-1]).reshape(-1, 1), model.zero_state(1))
    p = softmax(logits.astype(np.float64))
    return float(sum(np.log(p[t, seq[t + 1]]) for t in range(len(prime) - 1, len(seq) - 1)))


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("kind", MODELS)
def test_beam_of_one_is_greedy(kind, dtype):
    model = model_of(kind, dtype)
    for stop in ([], ["fg", "b"]):
        beams, = made(model, length=40, prime="abc", beam=1, stop=stop)
        greedy, = made(model, length=40, prime="abc", greedy=True, stop=stop)
        assert beams == greedy


def test_beam_as_wide_as_every_text_finds_the_most_likely():
    """Vocabulary 3, 5 characters: a beam of 3^5 keeps every continuation, so its best five are
    the five likeliest of all 243, with their log-probabilities."""
    chars = list("abc")
    model = CharRNN(ModelConfig(3, "gru", hidden=6, layers=2, dropout=0.0, dtype="float64"),
                    rng=np.random.default_rng(5), init_scale=1.0)
    every = sorted(("".join(t) for t in itertools.product(chars, repeat=5)),
                   key=lambda text: -teacher_forced(model, "ab", text, chars))
    best = made(model, chars, length=5, prime="ab", beam=3 ** 5, n=5)
    assert [s.text for s in best] == every[:5]
    for s in best:
        assert s.logprob == pytest.approx(teacher_forced(model, "ab", s.text, chars), abs=1e-10)
        assert s.finish == "length" and s.characters == 5
    narrow, = made(model, chars, length=5, prime="ab", beam=2)
    assert teacher_forced(model, "ab", narrow.text, chars) <= best[0].logprob + 1e-12


@pytest.mark.parametrize("settings", [dict(n=4), dict(n=3, temperature=0.7, top_k=4), dict(n=3, top_p=0.8),
                                      dict(n=4, stop=["e", "ab"]), dict(beam=4, n=3), dict(beam=3, n=2, stop=["d"]),
                                      dict(greedy=True)])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_every_logprob_is_the_model_s_probability_of_the_text(settings, dtype):
    model = model_of("lstm-2-layers-embedding", dtype)
    for s in made(model, length=30, prime="dcba", seed=3, **settings):
        assert s.prime == "dcba" and s.characters == len(s.text)
        assert s.logprob == pytest.approx(teacher_forced(model, "dcba", s.text), abs=1e-4)


def test_top_p_small_is_greedy_and_one_is_plain_sampling_in_a_batch():
    model = model_of("gru", "float64")
    assert made(model, length=30, prime="ab", n=3, top_p=1e-9) == made(model, length=30, prime="ab", n=3, greedy=True)
    assert made(model, length=30, prime="ab", n=3, top_p=1.0) == made(model, length=30, prime="ab", n=3)


def test_stop_strings_end_beams_and_never_show():
    model = model_of("rnn", "float64")
    free = made(model, length=40, prime="ab", beam=4, n=4)
    stopped = made(model, length=40, prime="ab", beam=4, n=4, stop=["d"])
    assert all("d" not in s.text and s.finish in ("stop", "length") for s in stopped)
    assert any(s.finish == "stop" for s in stopped) and any("d" in s.text for s in free)
    never, = made(model, length=40, prime="ab", stop=["jjjjjjjj"])  # runs to its length
    assert never.finish == "length" and never.characters == 40


def test_same_seed_same_samples_and_sample_i_whatever_n():
    model = model_of("gru-2-layers-embedding", "float32")
    four, eight = made(model, length=40, seed=9, n=4), made(model, length=40, seed=9, n=8)
    assert four == eight[:4] and four == made(model, length=40, seed=9, n=4)
    assert len({s.text for s in eight}) == 8 and made(model, length=40, seed=10, n=4) != four


def test_a_prime_goes_through_in_chunks_with_the_logits_of_one_forward():
    """priming's chunks carry the state from one to the next: their logits and final state are
    the chunked forward's over the whole prime (prime's result for any length)."""
    model = model_of("gru-2-layers-embedding")
    ixs = np.random.default_rng(2).integers(len(CHARS), size=50)
    logits, state, _ = model.forward(ixs[:-1].reshape(-1, 1), model.zero_state(1))
    stepper = Stepper(model, model.zero_state(3))
    stepper.restart(model.zero_state(1))
    chunks = list(sample.priming(stepper, ixs, 7))
    assert len(chunks) == 7  # 49 characters, 7 at a time
    np.testing.assert_allclose(np.concatenate([c[0] for c in chunks]), logits, rtol=0, atol=1e-12)
    np.testing.assert_allclose(chunks[-1][1], state, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(sample.prime(model, ixs, model.zero_state(1)), chunks[-1][1])
    assert list(sample.priming(stepper, ixs[:1], 7)) == []


def test_rows_keep_the_likeliest_characters_when_asked():
    """Row.tops: at each step the `top` likeliest characters, likeliest first, with their
    log-probabilities, which hold the chosen one's when it is among them."""
    model = model_of("gru")
    batch = Batch(model, CHARS)
    ids = [batch.add([1], np.random.default_rng([3, i]), 20, top=top, greedy=i == 2) for i, top in enumerate((3, 0, 1))]
    while len(batch):
        batch.step()
    three, none, one = (batch.rows[i] for i in ids)
    assert none.tops == [] and len(three.tops) == len(one.tops) == 20
    for ix, logp, (order, logps) in zip(three.made, three.logps, three.tops):
        assert len(order) == 3 and np.all(np.diff(logps) <= 0) and np.exp(logps).sum() < 1
        assert ix not in order or logps[list(order).index(ix)] == logp
    assert all(order[0] == ix and logps[0] == logp for ix, logp, (order, logps) in zip(one.made, one.logps, one.tops))
