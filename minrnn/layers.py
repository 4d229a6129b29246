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
    onehot = np.zeros((len(dx), V), dx.dtype)
    onehot[np.arange(len(dx)), ix.ravel()] = 1
    return np.dot(dx.T, onehot, out=dW), dx.sum(axis=0, out=db)


def rnn_forward(x, h0, Whh):
    """The tanh recurrence hs[t] = tanh(x[t] + Whh @ hs[t-1]) over x of shape (T, B, H).

    x already holds Wxh @ x + bh (see lookup_forward), so the loop holds only what is truly
    sequential: one product, one add, one tanh per time step, written in place."""
    T = x.shape[0]
    hs = np.empty((T + 1,) + h0.shape, x.dtype)  # hs[0] is h0, hs[t + 1] is the state after step t
    hs[0] = h0
    WhhT = np.ascontiguousarray(Whh.T)
    for h, h_next, x_t in zip(hs[:-1], hs[1:], x):  # zip of views: cheaper than indexing hs[t]
        h.dot(WhhT, out=h_next)
        h_next += x_t
        np.tanh(h_next, out=h_next)
    return hs[1:], (hs, Whh)


def rnn_backward(dhs, cache, dWhh=None):
    """Backpropagation through time. dhs[t] is the loss's gradient reaching hs[t] from above;
    dhnext carries the gradient from step t + 1 back into step t. Returns dx, dh0, dWhh."""
    hs, Whh = cache
    T, B, H = dhs.shape
    # dhraw, the gradient at the tanh's input (it is also dx), starts out holding tanh'(.) =
    # 1 - hs^2 for every step at once; the loop multiplies each step's gradient into it in
    # place (one array fewer the size of hs, which counts at large B*H)
    dhraw = np.multiply(hs[1:], hs[1:])
    np.subtract(1.0, dhraw, out=dhraw)
    dhnext = np.zeros_like(hs[0])
    for dh_t, dhraw_t in zip(dhs[::-1], dhraw[::-1]):  # t = T-1 down to 0
        dhnext += dh_t
        dhraw_t *= dhnext
        dhraw_t.dot(Whh, out=dhnext)
    # dWhh = sum_t dhraw[t]^T hs[t-1]: one product over all T*B positions instead of T small ones
    dWhh = np.dot(dhraw.reshape(-1, H).T, hs[:-1].reshape(-1, H), out=dWhh)
    return dhraw, dhnext, dWhh


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
