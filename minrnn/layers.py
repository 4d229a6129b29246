"""Layer functions, cs231n style: each `*_forward` returns (out, cache), each `*_backward`
takes (dout, cache) and returns the gradients of its inputs and parameters.

Everything is batched and time-major: a sequence of characters is an index array of shape
(T, B), hidden states are (T, B, H). Parameters keep min-char-rnn's shapes (Wxh is H x V,
Whh H x H, Why V x H), so a row-major `h @ W.T` here is min-char-rnn's column `W @ h`.

A backward function's optional `dW`/`db` arguments are arrays to write the parameter
gradients into (CharRNN passes the views of its flat gradient, which saves a copy); they are
returned either way.

Speed notes, measured on a 2-core AMD EPYC with OpenBLAS (benchmarks/train_speed.py):
a product by a transposed matrix (`h @ W.T`) runs up to 2x slower than by a contiguous one
at these small sizes, so the hot products use a contiguous copy of W.T made once per call.
At batch 1 a step's product takes ~1 us, so call overhead counts: the loops call the array
method a.dot (no __array_function__ dispatch, 0.25 us less than np.dot, 0.7 us less than @).
"""
import numpy as np


def lookup_table(W, b):
    """The (V, H) table whose row v is W @ onehot(v) + b = W[:, v] + b, contiguous, since
    gathering contiguous rows is ~10x faster than gathering columns of W."""
    return np.add(W.T, b, order="C")


def _onehot(ix, V, dtype):
    onehot = np.zeros((ix.size, V), dtype)
    onehot[np.arange(ix.size), ix.ravel()] = 1
    return onehot


def lookup_forward(ix, W, b):
    """x[t, b] = W @ onehot(ix[t, b]) + b. A product with a one-hot vector picks a column of W,
    so look it up instead of multiplying."""
    return np.take(lookup_table(W, b), ix, axis=0), (ix, W.shape[1])


def lookup_backward(dx, cache, dW=None, db=None):
    """dW[:, v] sums dx over every position whose input was v; db sums dx over all positions.

    The sum is the product of dx with the inputs' one-hot matrix (N x V): a single BLAS call,
    4-10x faster than a scatter-add with np.add.at."""
    ix, V = cache
    dx = dx.reshape(-1, dx.shape[-1])
    return np.dot(dx.T, _onehot(ix, V, dx.dtype), out=dW), dx.sum(axis=0, out=db)


def embedding_forward(ix, E):
    """x[t, b] = E[ix[t, b]]: a learned vector per character (E is V x D)."""
    return np.take(E, ix, axis=0), (ix, E.shape[0])


def embedding_backward(dx, cache, dE=None):
    """dE[v] sums dx over every position whose input was v (the one-hot product, as above)."""
    ix, V = cache
    dx = dx.reshape(-1, dx.shape[-1])
    return np.dot(_onehot(ix, V, dx.dtype).T, dx, out=dE)


def dropout_mask(shape, p, rng, dtype):
    """Inverted dropout's mask: each entry kept with probability 1 - p and scaled by 1 / (1 - p),
    so nothing changes at evaluation time."""
    mask = rng.random(shape, dtype=np.float64 if dtype == np.float64 else np.float32) >= p
    mask = mask.astype(dtype)
    mask *= 1.0 / (1.0 - p)
    return mask


def dropout_forward(x, mask):
    """x times a mask of dropout_mask's; the mask is the cache."""
    return x * mask, mask


def dropout_backward(dout, mask):
    return dout * mask


def affine_forward(h, W, b):
    """y = W @ h + b for every row of h (N, H) at once."""
    y = np.dot(h, np.ascontiguousarray(W.T))
    y += b
    return y, (h, W)


def affine_backward(dy, cache, dW=None, db=None):
    h, W = cache
    return np.dot(dy, W), np.dot(dy.T, h, out=dW), dy.sum(axis=0, out=db)


def softmax(y):
    """Probabilities along the last axis; subtracting the max keeps exp from overflowing."""
    e = np.exp(y - y.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def softmax_loss(y, targets, scale=1.0):
    """Cross-entropy of softmax(y) (N, V) against target indices (N,), times `scale`.

    scale=1 is min-char-rnn's loss summed over the chunk; 1/N makes it the mean per character.
    Returns the loss and dy = scale * (p - onehot(target)), softmax and cross-entropy's joint
    gradient. The loss is taken as log-softmax, so a probability that underflows to 0 still
    gives a finite loss."""
    y = np.ascontiguousarray(y)  # so that p, made like y, has the flat view used below
    N, V = y.shape
    at_target = np.arange(0, N * V, V) + targets  # where each row's target sits in p.ravel()
    top = y.max()
    if top - y.min() < 80:  # exp(-80) is still a normal float32: one shift serves every row
        p = y - top
    else:  # shift each row by its own max (a row-wise max over V columns costs more than the exp)
        p = y - y.max(axis=1, keepdims=True)
    flat = p.reshape(-1)
    z_target = flat.take(at_target)  # the targets' shifted logits, taken before exp overwrites p
    np.exp(p, out=p)
    total = p.dot(np.ones(V, p.dtype))  # row sums; as a product, 5x faster than p.sum(axis=1)
    loss = (np.log(total) - z_target).sum() * scale
    p /= total[:, None]
    flat[at_target] -= 1.0
    if scale != 1.0:
        p *= scale
    return float(loss), p
