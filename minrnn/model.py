"""CharRNN: min-char-rnn's vanilla RNN, composed from the layer functions.

    x[t]  = Wxh @ onehot(ix[t]) + bh        lookup
    hs[t] = tanh(x[t] + Whh @ hs[t-1])      rnn
    ys[t] = Why @ hs[t] + by                affine
    loss  = -sum_t log softmax(ys[t])[target[t]]

The parameters are views into one flat vector `theta` and their gradients views into `grad`,
so an optimizer or a clip touches every parameter in one array operation.
"""
import numpy as np

from . import layers

PARAM_NAMES = ("Wxh", "Whh", "Why", "bh", "by")


def param_shapes(vocab_size, hidden_size):
    V, H = vocab_size, hidden_size
    return {"Wxh": (H, V), "Whh": (H, H), "Why": (V, H), "bh": (H,), "by": (V,)}


def _views(flat, shapes):
    views, start = {}, 0
    for name, shape in shapes.items():
        size = int(np.prod(shape))
        views[name] = flat[start:start + size].reshape(shape)
        start += size
    return views


class CharRNN:
    def __init__(self, vocab_size, hidden_size, dtype=np.float64, rng=None, init_scale=0.01):
        """Weights are drawn from rng (a RandomState or Generator) as min-char-rnn draws them:
        Wxh, Whh, Why in that order, standard normal times init_scale; biases start at zero.
        Without rng every parameter starts at zero (to be filled from a checkpoint)."""
        self.vocab_size, self.hidden_size = vocab_size, hidden_size
        self.dtype = np.dtype(dtype)
        shapes = param_shapes(vocab_size, hidden_size)
        size = sum(int(np.prod(s)) for s in shapes.values())
        self.theta = np.zeros(size, self.dtype)
        self.grad = np.zeros(size, self.dtype)
        self.params = _views(self.theta, shapes)
        self.grads = _views(self.grad, shapes)
        if rng is not None:
            for name in ("Wxh", "Whh", "Why"):
                self.params[name][...] = rng.standard_normal(shapes[name]) * init_scale

    def zero_state(self, batch_size=1):
        return np.zeros((batch_size, self.hidden_size), self.dtype)

    def forward(self, inputs, h0):
        """Hidden states (T, B, H), logits (T*B, V) and the layers' caches for a (T, B) chunk."""
        p = self.params
        x, lookup_cache = layers.lookup_forward(inputs, p["Wxh"], p["bh"])
        hs, rnn_cache = layers.rnn_forward(x, h0, p["Whh"])
        ys, affine_cache = layers.affine_forward(hs.reshape(-1, self.hidden_size), p["Why"], p["by"])
        return hs, ys, (lookup_cache, rnn_cache, affine_cache)

    def loss(self, inputs, targets, h0):
        """Forward only: summed cross-entropy of a (T, B) chunk and the last hidden state."""
        hs, ys, _ = self.forward(inputs, h0)
        loss, _ = layers.softmax_loss(ys, targets.ravel())
        return loss, hs[-1]

    def loss_and_grads(self, inputs, targets, h0, scale=1.0):
        """min-char-rnn's lossFun, batched: inputs and targets are (T, B) index arrays, h0 is
        (B, H). Returns scale * (summed cross-entropy), the flat gradient (its named views are
        in self.grads) and the last hidden state, to carry into the next chunk."""
        hs, ys, (lookup_cache, rnn_cache, affine_cache) = self.forward(inputs, h0)
        loss, dys = layers.softmax_loss(ys, targets.ravel(), scale)
        g = self.grads  # each backward writes its parameter gradients straight into these views
        dhs, _, _ = layers.affine_backward(dys, affine_cache, dW=g["Why"], db=g["by"])
        dx, _, _ = layers.rnn_backward(dhs.reshape(hs.shape), rnn_cache, dWhh=g["Whh"])
        layers.lookup_backward(dx, lookup_cache, dW=g["Wxh"], db=g["bh"])
        return loss, self.grad, hs[-1]
