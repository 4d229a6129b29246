"""Numerical gradient checks in float64: every layer's backward and the whole loss.

The relative error of each gradient, ||analytic - numerical|| / (||analytic|| + ||numerical||),
must stay below 1e-6; central differences with step 1e-5 give about 1e-9 here.
"""
import numpy as np
import pytest

from minrnn import layers
from minrnn.model import CharRNN

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


def test_rnn(rng):
    x, h0 = rng.standard_normal((T, B, H)), rng.standard_normal((B, H))
    Whh = rng.standard_normal((H, H)) * 0.5
    R = rng.standard_normal((T, B, H))
    hs, cache = layers.rnn_forward(x, h0, Whh)
    dx, dh0, dWhh = layers.rnn_backward(R, cache)
    loss = lambda: np.sum(layers.rnn_forward(x, h0, Whh)[0] * R)
    check(dx, loss, x)
    check(dh0, loss, h0)
    check(dWhh, loss, Whh)


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


@pytest.mark.parametrize("batch", [1, 3])
def test_whole_loss(rng, batch):
    """CharRNN.loss_and_grads against numerical derivatives of its own loss, every parameter."""
    model = CharRNN(V, H, np.float64, rng=rng, init_scale=0.5)
    inputs, targets = rng.integers(V, size=(T, batch)), rng.integers(V, size=(T, batch))
    h0 = rng.standard_normal((batch, H)) * 0.5
    _, grad, _ = model.loss_and_grads(inputs, targets, h0, scale=0.5)
    grad = grad.copy()
    numerical = numerical_grad(lambda: model.loss_and_grads(inputs, targets, h0, scale=0.5)[0], model.theta)
    start = 0
    for name, param in model.params.items():  # per parameter, so a failure names the culprit
        part = slice(start, start + param.size)
        assert rel_error(grad[part], numerical[part]) < TOLERANCE, name
        start += param.size
