"""Layer functions, cs231n style: each `*_forward` returns (out, cache), each `*_backward`
takes (dout, cache) and returns the gradients of its inputs and parameters.

Everything is batched and time-major: a sequence of characters is an index array of shape
(T, B), hidden states are (T, B, H). Parameters keep min-char-rnn's shapes (Wxh is H x V,
Whh H x H, Why V x H), so a row-major `h @ W.T` here is min-char-rnn's column `W @ h`.
"""
import numpy as np


def lookup_forward(ix, W, b):
    """x[t, b] = W @ onehot(ix[t, b]) + b. A product with a one-hot vector picks a column of W,
    so look it up instead of multiplying."""
    return W.T[ix] + b, (ix, W.shape[1])


def lookup_backward(dx, cache):
    """dW[:, v] sums dx over every position whose input was v; db sums dx over all positions."""
    ix, V = cache
    H = dx.shape[-1]
    dW = np.zeros((H, V), dx.dtype)
    np.add.at(dW.T, ix.ravel(), dx.reshape(-1, H))
    return dW, dx.reshape(-1, H).sum(axis=0)


def rnn_forward(x, h0, Whh):
    """The tanh recurrence hs[t] = tanh(x[t] + Whh @ hs[t-1]) over x of shape (T, B, H).

    x already holds Wxh @ x + bh (see lookup_forward), so the loop holds only what is truly
    sequential: one product, one add, one tanh per time step, written in place."""
    T = x.shape[0]
    hs = np.empty((T + 1,) + h0.shape, x.dtype)  # hs[0] is h0, hs[t + 1] is the state after step t
    hs[0] = h0
    WhhT = Whh.T
    for t in range(T):
        np.matmul(hs[t], WhhT, out=hs[t + 1])
        hs[t + 1] += x[t]
        np.tanh(hs[t + 1], out=hs[t + 1])
    return hs[1:], (hs, Whh)


def rnn_backward(dhs, cache):
    """Backpropagation through time. dhs[t] is the loss's gradient reaching hs[t] from above;
    dhnext carries the gradient from step t + 1 back into step t. Returns dx, dh0, dWhh."""
    hs, Whh = cache
    T, B, H = dhs.shape
    dtanh = 1.0 - hs[1:] * hs[1:]  # tanh' for every step at once, outside the loop
    dhraw = np.empty_like(dhs)  # gradient at the tanh's input; it is also dx
    dhnext = np.zeros_like(hs[0])
    for t in range(T - 1, -1, -1):
        np.multiply(dhs[t] + dhnext, dtanh[t], out=dhraw[t])
        dhnext = dhraw[t] @ Whh
    # dWhh = sum_t dhraw[t]^T hs[t-1]: one product over all T*B positions instead of T small ones
    dWhh = dhraw.reshape(-1, H).T @ hs[:-1].reshape(-1, H)
    return dhraw, dhnext, dWhh


def affine_forward(h, W, b):
    """y = W @ h + b for every row of h (N, H) at once."""
    return h @ W.T + b, (h, W)


def affine_backward(dy, cache):
    h, W = cache
    return dy @ W, dy.T @ h, dy.sum(axis=0)


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
    rows = np.arange(len(targets))
    z = y - y.max(axis=1, keepdims=True)
    p = np.exp(z)
    total = p.sum(axis=1, keepdims=True)
    loss = (np.log(total[:, 0]) - z[rows, targets]).sum() * scale
    p /= total
    p[rows, targets] -= 1.0
    p *= scale
    return float(loss), p
