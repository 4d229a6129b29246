"""Numerical gradient checks in float64: every layer's backward and the whole loss.

The relative error of each gradient, ||analytic - numerical|| / (||analytic|| + ||numerical||),
must stay below 1e-6; central differences with step 1e-5 give about 1e-9 here.
"""
import numpy as np
import pytest

from minrnn import layers
from minrnn.cells import CELLS
from minrnn.model import CharRNN, ModelConfig

STEP, TOLERANCE = 1e-5, 1e-6


def numerical_grad(f, x):
    """d f() / d x by central differences, perturbing x in place."""
    grad = np.zeros_like(x)
    flat, g = x.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + STEP
        plus = f()
        flat[i] = old - STEP
        minus = f()
        flat[i] = old
        g[i] = (plus - minus) / (2 * STEP)
    return grad


def rel_error(a, b):
    return np.linalg.norm(a - b) / max(np.linalg.norm(a) + np.linalg.norm(b), 1e-12)


def check(analytic, f, x):
    err = rel_error(analytic, numerical_grad(f, x))
    assert err < TOLERANCE, err


@pytest.fixture
def rng():
    return np.random.default_rng(0)


T, B, H, V = 4, 3, 5, 6


def test_lookup(rng):
    ix = rng.integers(V, size=(T, B))
    W, b = rng.standard_normal((H, V)), rng.standard_normal(H)
    R = rng.standard_normal((T, B, H))  # loss = sum(out * R), so dout = R
    out, cache = layers.lookup_forward(ix, W, b)
    assert np.allclose(out[1, 2], W @ np.eye(V)[ix[1, 2]] + b)  # the lookup is the one-hot product
    dW, db = layers.lookup_backward(R, cache)
    loss = lambda: np.sum(layers.lookup_forward(ix, W, b)[0] * R)
    check(dW, loss, W)
    check(db, loss, b)


def run_cell(cell, xw, state0, Whh, extra):
    """A cell over a chunk, as model.CharRNN.forward runs it: its hidden states (T, B, H)."""
    bufs = cell.alloc(len(xw), xw.shape[1], state0.shape[-1], xw.dtype)
    for buf, s in zip(bufs, state0):
        buf[0] = s
    WhhT = np.ascontiguousarray(Whh.T)
    for xw_t, prev, cur in zip(xw, zip(*bufs), zip(*(b[1:] for b in bufs))):
        cell.step(xw_t, WhhT, extra, prev, cur)
    return bufs


@pytest.mark.parametrize("name", sorted(CELLS))
def test_cell(rng, name):
    """Each cell alone: the gradients of its input projection xw, its entering state (h, and
    an LSTM's c), Whh and the GRU's bhn."""
    cell = CELLS[name]
    G = cell.gates
    xw = rng.standard_normal((T, B, G * H))
    state0 = rng.standard_normal((len(cell.state), B, H)) * 0.5
    Whh = rng.standard_normal((G * H, H)) * 0.5
    extra = {k: rng.standard_normal(shape) for k, shape in cell.extra_shapes(H).items()}
    R = rng.standard_normal((T, B, H))
    bufs = run_cell(cell, xw, state0, Whh, extra)
    dextra = {k: np.zeros_like(v) for k, v in extra.items()}
    dxw, dstate0, dhw = cell.backward(R, bufs, Whh, dextra)
    dWhh = dhw.reshape(T * B, -1).T @ bufs[0][:-1].reshape(T * B, H)
    loss = lambda: np.sum(run_cell(cell, xw, state0, Whh, extra)[0][1:] * R)
    check(dxw, loss, xw)
    check(np.array(dstate0), loss, state0)
    check(dWhh, loss, Whh)
    for k in extra:
        check(dextra[k], loss, extra[k])


def test_embedding(rng):
    ix = rng.integers(V, size=(T, B))
    E = rng.standard_normal((V, H))
    R = rng.standard_normal((T, B, H))
    out, cache = layers.embedding_forward(ix, E)
    assert np.array_equal(out[2, 1], E[ix[2, 1]])
    dE = layers.embedding_backward(R, cache)
    check(dE, lambda: np.sum(layers.embedding_forward(ix, E)[0] * R), E)


def test_dropout(rng):
    x, R = rng.standard_normal((T, B, H)), rng.standard_normal((T, B, H))
    mask = layers.dropout_mask(x.shape, 0.4, np.random.default_rng(1), x.dtype)
    assert set(np.unique(mask)) <= {0.0, 1 / 0.6} and (mask == 0).any()
    loss = lambda: np.sum(layers.dropout_forward(x, mask)[0] * R)
    check(layers.dropout_backward(R, mask), loss, x)


def test_affine(rng):
    h, W, b = rng.standard_normal((T * B, H)), rng.standard_normal((V, H)), rng.standard_normal(V)
    R = rng.standard_normal((T * B, V))
    _, cache = layers.affine_forward(h, W, b)
    dh, dW, db = layers.affine_backward(R, cache)
    loss = lambda: np.sum(layers.affine_forward(h, W, b)[0] * R)
    check(dh, loss, h)
    check(dW, loss, W)
    check(db, loss, b)


@pytest.mark.parametrize("scale", [1.0, 1 / 12])
def test_softmax_loss(rng, scale):
    y, targets = rng.standard_normal((T * B, V)) * 3, rng.integers(V, size=T * B)
    _, dy = layers.softmax_loss(y, targets, scale)
    check(dy, lambda: layers.softmax_loss(y, targets, scale)[0], y)


def test_softmax_loss_survives_extreme_logits():
    y = np.array([[1000.0, -1000.0, 0.0]])
    loss, dy = layers.softmax_loss(y, np.array([1]))
    assert np.isfinite(loss) and loss == pytest.approx(2000.0)
    assert np.isfinite(dy).all()


ONE_PLAIN_LAYER = dict(layers=1, embedding=0, dropout=0.0)  # what MODELS change
MODELS = {  # every cell; stacked; with an embedding; with dropout under a fixed mask
    "rnn": dict(cell="rnn"),
    "lstm": dict(cell="lstm"),
    "gru": dict(cell="gru"),
    "rnn-3-layers": dict(cell="rnn", layers=3),
    "lstm-2-layers-embedding": dict(cell="lstm", layers=2, embedding=4),
    "gru-2-layers-embedding": dict(cell="gru", layers=2, embedding=3),
    "lstm-3-layers-dropout": dict(cell="lstm", layers=3, dropout=0.3),
    "gru-2-layers-dropout-embedding": dict(cell="gru", layers=2, dropout=0.5, embedding=4),
}


@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("kind", sorted(MODELS))
def test_whole_loss(rng, batch, kind):
    """CharRNN.loss_and_grads against numerical derivatives of its own loss, every parameter,
    with a random state (h, and an LSTM's c) entering the chunk, and dropout's masks fixed."""
    config = ModelConfig(V, hidden=H, dtype="float64", **{**ONE_PLAIN_LAYER, **MODELS[kind]})
    model = CharRNN(config, rng=rng, init_scale=0.5)
    inputs, targets = rng.integers(V, size=(T, batch)), rng.integers(V, size=(T, batch))
    state0 = rng.standard_normal(config.state_shape(batch)) * 0.5
    masks = model.dropout_masks(np.random.default_rng(7), T, batch)
    run = lambda: model.loss_and_grads(inputs, targets, state0, 0.5, masks)
    _, grad, _ = run()
    grad = grad.copy()
    numerical = numerical_grad(lambda: run()[0], model.theta)
    start = 0
    for name, param in model.params.items():  # per parameter, so a failure names the culprit
        part = slice(start, start + param.size)
        assert rel_error(grad[part], numerical[part]) < TOLERANCE, name
        start += param.size
