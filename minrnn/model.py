"""CharRNN: characters in, a stack of recurrent cells, a softmax over the next character out.

    x[t]        = onehot(ix[t])  or  embed[ix[t]]                 input (--embedding E)
    xw_l[t]     = Wxh_l @ x_l[t] + bh_l                           one product for all t
    h_l[t]      = cell(xw_l[t], state_l[t-1])                     rnn | lstm | gru (cells.py)
    x_{l+1}[t]  = dropout(h_l[t])                                 between layers, and before
    ys[t]       = Why @ dropout(h_L[t]) + by                      the output layer
    loss        = -sum_t log softmax(ys[t])[target[t]]

With no embedding the first layer's product with a one-hot vector is a lookup of a column of
Wxh (layers.lookup_forward). A one-layer vanilla model without embedding is min-char-rnn's:
its parameters are Wxh, Whh, Why, bh, by, drawn in that order.

ModelConfig is the one source of a model's parameters: their names, shapes and order. The
parameters are views into one flat vector `theta` and their gradients views into `grad`, so an
optimizer or a clip touches every parameter in one array operation. The state carried between
chunks is one array (layers, state arrays per cell: 1, or 2 for the LSTM's h and c, B, H).
"""
import dataclasses
import math

import numpy as np

from . import layers, options
from .cells import CELLS
from .errors import FieldError
from .options import Option

DTYPES = ("float32", "float64")


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """A model's shape: the vocabulary's size and the settings below, each an option of `minrnn
    train` (config.py takes them from here, with their defaults: the default model)."""
    vocab_size: int
    cell: str = options.field(Option(str, "gru", "recurrent cell: rnn (tanh), lstm or gru", choices=tuple(CELLS)))
    hidden: int = options.field(Option(int, 256, "hidden units per layer", above=0))
    layers: int = options.field(Option(int, 2, "stacked recurrent layers", above=0))
    embedding: int = options.field(Option(int, 0, "size of a learned input embedding; 0: one-hot input", low=0))
    dropout: float = options.field(Option(float, 0.1, "dropout on each layer's output, the last one's included",
                                          low=0, below=1))
    dtype: str = options.field(Option(str, "float32", "floating-point type of the parameters", choices=DTYPES))

    def check(self, source="model"):
        """Every field of its type and in range; a MinrnnError naming the first that is not."""
        if isinstance(self.vocab_size, bool) or not isinstance(self.vocab_size, int) or self.vocab_size < 1:
            raise FieldError(source, "vocab_size", self.vocab_size, "must be an int > 0")
        for name, option in OPTIONS.items():
            why = option.problem(getattr(self, name))
            if why:
                raise FieldError(source, name, getattr(self, name), why)
        return self

    def layer_names(self, l):
        """The names of layer l's parameters: Wxh, Whh, bh (and the GRU's bhn) for the first
        layer, Wxh.2, Whh.2, ... for the second."""
        suffix = f".{l + 1}" if l else ""
        extra = CELLS[self.cell].extra_shapes(1)
        return {base: base + suffix for base in ("Wxh", "Whh", "bh", *extra)}

    def param_shapes(self):
        """Every parameter's name and shape, in the order of the flat vector; weights first, in
        the order they are drawn, then biases."""
        V, H, E = self.vocab_size, self.hidden, self.embedding
        cell = CELLS[self.cell]
        GH = cell.gates * H
        weights, biases = {}, {}
        if E:
            weights["embed"] = (V, E)
        for l in range(self.layers):
            n = self.layer_names(l)
            weights[n["Wxh"]] = (GH, (E or V) if l == 0 else H)
            weights[n["Whh"]] = (GH, H)
            biases[n["bh"]] = (GH,)
            for base, shape in cell.extra_shapes(H).items():
                biases[n[base]] = shape
        weights["Why"] = (V, H)
        biases["by"] = (V,)
        return {**weights, **biases}

    def n_params(self):
        return sum(math.prod(s) for s in self.param_shapes().values())

    def train_bytes(self, optimizer_slots, batch_size=1, seq_length=1, shards=1):
        """Parameters, a gradient per shard (shards.py) and optimizer state, plus a chunk's
        activations (each layer's cell arrays, twice over for the backward pass, and the logits
        with their gradient: the shards share the batch out, so its size is what counts)."""
        widths = sum(b.shape[-1] for b in CELLS[self.cell].alloc(0, 1, self.hidden, np.float32))
        N = batch_size * (seq_length + 1)
        activations = N * (2 * self.layers * widths + max(self.embedding, 1) + 3 * self.vocab_size)
        return np.dtype(self.dtype).itemsize * ((1 + shards + optimizer_slots) * self.n_params() + activations)

    def to_meta(self):
        """What a checkpoint saves (the vocabulary is saved beside it)."""
        return {k: v for k, v in dataclasses.asdict(self).items() if k != "vocab_size"}

    def state_shape(self, batch_size):
        return (self.layers, len(CELLS[self.cell].state), batch_size, self.hidden)


OPTIONS = options.of_dataclass(ModelConfig)


class CharRNN:
    def __init__(self, config, rng=None, init_scale=None):
        """Weights are drawn from rng (a RandomState or Generator) in param_shapes' order.
        init_scale=None: each weight uniform in +-1/sqrt(k) for k inputs per unit (1 for the
        one-hot lookup, so its rows have PyTorch's embedding-times-linear spread), the
        embedding standard normal; a number: every weight normal times it (min-char-rnn's
        recipe, with 0.01). Biases start at zero, an LSTM's forget gate at 1 (char-rnn's
        practice). Without rng every parameter starts at zero (to be filled from a checkpoint)."""
        self.config = config
        self.cell = CELLS[config.cell]
        self.dtype = np.dtype(config.dtype)
        shapes = config.param_shapes()
        size = sum(math.prod(s) for s in shapes.values())
        self.theta = np.zeros(size, self.dtype)
        self.grad = np.zeros(size, self.dtype)
        self.params = _views(self.theta, shapes)
        self.grads = _views(self.grad, shapes)
        self.names = [config.layer_names(l) for l in range(config.layers)]
        if rng is not None:
            self._init(rng, init_scale)

    def _init(self, rng, init_scale):
        H = self.config.hidden
        for name, shape in self.config.param_shapes().items():
            if name.startswith("b"):
                continue
            if init_scale is not None:
                self.params[name][...] = rng.standard_normal(shape) * init_scale
            elif name == "embed":
                self.params[name][...] = rng.standard_normal(shape)
            else:
                fan_in = 1 if name == "Wxh" and not self.config.embedding else shape[1]
                bound = 1 / math.sqrt(fan_in)
                self.params[name][...] = rng.uniform(-bound, bound, shape)
        if self.cell.name == "lstm":
            for n in self.names:
                self.params[n["bh"]][H:2 * H] = 1.0

    def zero_state(self, batch_size=1):
        return np.zeros(self.config.state_shape(batch_size), self.dtype)

    def dropout_masks(self, rng, T, B):
        """Every layer's dropout mask for a (T, B) chunk, drawn from rng in layer order; None
        without dropout. Drawn for the whole batch before it is shared out into shards, so that
        no mask depends on the shards or on which thread runs them."""
        cfg = self.config
        if not cfg.dropout:
            return None
        return [layers.dropout_mask((T, B, cfg.hidden), cfg.dropout, rng, self.dtype) for _ in range(cfg.layers)]

    def forward(self, inputs, state, masks=None):
        """Logits (T*B, V), the state after the chunk and the caches, for a (T, B) chunk of
        indices entering in `state`. Dropout is applied only when masks (dropout_masks') are
        given."""
        cfg, p, cell = self.config, self.params, self.cell
        T, B = inputs.shape
        S = len(cell.state)
        new_state = np.empty_like(state)
        embed_cache = None
        if cfg.embedding:
            x, embed_cache = layers.embedding_forward(inputs, p["embed"])
        caches = []
        for l, n in enumerate(self.names):
            if l == 0 and not cfg.embedding:
                xw, in_cache = layers.lookup_forward(inputs, p[n["Wxh"]], p[n["bh"]])
            else:
                xw, in_cache = layers.affine_forward(x.reshape(T * B, -1), p[n["Wxh"]], p[n["bh"]])
                xw = xw.reshape(T, B, -1)
            bufs = cell.alloc(T, B, cfg.hidden, self.dtype)
            for buf, s in zip(bufs, state[l]):  # the first S arrays are the state's
                buf[0] = s
            WhhT = np.ascontiguousarray(p[n["Whh"]].T)
            extra = {base: p[n[base]] for base in cell.extra_shapes(1)}
            # zip of views is cheaper than indexing every array at t and t + 1
            for xw_t, prev, cur in zip(xw, zip(*bufs), zip(*(b[1:] for b in bufs))):
                cell.step(xw_t, WhhT, extra, prev, cur)
            new_state[l] = [b[-1] for b in bufs[:S]]
            x, mask = bufs[0][1:], None
            if masks is not None:
                x, mask = layers.dropout_forward(x, masks[l])
            caches.append((in_cache, bufs, mask))
        logits, out_cache = layers.affine_forward(x.reshape(T * B, -1), p["Why"], p["by"])
        return logits, new_state, (embed_cache, caches, out_cache)

    def loss(self, inputs, targets, state, scored=None):
        """Forward only: summed cross-entropy of a (T, B) chunk (of the positions `scored` marks, a
        (T, B) boolean array; None: all) and the state after it."""
        logits, state, _ = self.forward(inputs, state)
        targets = targets.ravel()
        if scored is not None:
            if not scored.any():
                return 0.0, state
            logits, targets = logits[scored.ravel()], targets[scored.ravel()]
        loss, _ = layers.softmax_loss(logits, targets)
        return loss, state

    def loss_and_grads(self, inputs, targets, state, scale=1.0, masks=None, grad=None):
        """min-char-rnn's lossFun, batched and stacked: inputs and targets are (T, B) index
        arrays. Returns scale * (summed cross-entropy), the flat gradient and the state after
        the chunk, to carry into the next one. The gradient is written into `grad`, a flat
        array like self.grad (a shard's own buffer), or by default into self.grad (whose named
        views are self.grads)."""
        cfg, p = self.config, self.params
        grad = self.grad if grad is None else grad
        g = self.grads if grad is self.grad else _views(grad, cfg.param_shapes())
        T, B = inputs.shape
        logits, new_state, (embed_cache, caches, out_cache) = self.forward(inputs, state, masks)
        loss, dlogits = layers.softmax_loss(logits, targets.ravel(), scale)
        # each backward writes its parameter gradients straight into the views in self.grads
        dx, _, _ = layers.affine_backward(dlogits, out_cache, dW=g["Why"], db=g["by"])
        dx = dx.reshape(T, B, -1)
        for l in reversed(range(cfg.layers)):
            n = self.names[l]
            in_cache, bufs, mask = caches[l]
            if mask is not None:
                dx = layers.dropout_backward(dx, mask)
            dextra = {base: g[n[base]] for base in self.cell.extra_shapes(1)}
            dxw, _, dhw = self.cell.backward(dx, bufs, p[n["Whh"]], dextra)
            # dWhh = sum_t dhw[t]^T h[t-1]: one product over all T*B positions
            hs = bufs[0]
            np.dot(dhw.reshape(T * B, -1).T, hs[:-1].reshape(T * B, -1), out=g[n["Whh"]])
            if l == 0 and not cfg.embedding:
                layers.lookup_backward(dxw, in_cache, dW=g[n["Wxh"]], db=g[n["bh"]])
            else:
                dx, _, _ = layers.affine_backward(dxw.reshape(T * B, -1), in_cache, dW=g[n["Wxh"]], db=g[n["bh"]])
                dx = dx.reshape(T, B, -1)
        if cfg.embedding:
            layers.embedding_backward(dx, embed_cache, dE=g["embed"])
        return loss, grad, new_state

    def trace(self, ix, state=None):
        """One text's indices ix (T,) read at batch 1 from `state` (zero by default): the logits
        (T, V), logits[t] those of the character after ix[t], and per layer a dict of its cell's
        signals, each (T, H) (cells.py: `series`): what the neuron page and the notebook's
        VanillaRNN show."""
        ix = np.asarray(ix).reshape(-1, 1)
        state = self.zero_state(1) if state is None else state
        logits, _, (_, caches, _) = self.forward(ix, state)
        series = [{k: v[:, 0] for k, v in self.cell.series(bufs, self.config.hidden).items()}
                  for _, bufs, _ in caches]
        return logits, series


def _views(flat, shapes):
    views, start = {}, 0
    for name, shape in shapes.items():
        size = math.prod(shape)
        views[name] = flat[start:start + size].reshape(shape)
        start += size
    return views


class Stepper:
    """The model one character at a time for a batch of rows, for generation: each layer's
    cell.step (the function the chunked forward runs) on two slots that swap, with every
    product's weight transposed and made contiguous once, and the first layer's input projection
    folded into a table with a row per character. The rows are independent samples: between
    steps they can be reordered, dropped or repeated (`take`) and new ones added (`append`)."""

    def __init__(self, model, state):
        """state: the rows' entering state, as model.zero_state(N) shapes it."""
        cfg, p, cell = model.config, model.params, model.cell
        n0 = model.names[0]
        if cfg.embedding:
            table = p["embed"] @ p[n0["Wxh"]].T + p[n0["bh"]]
        else:
            table = layers.lookup_table(p[n0["Wxh"]], p[n0["bh"]])
        self.table = np.ascontiguousarray(table)
        self.cell, self.S, self.H, self.dtype = cell, len(cell.state), cfg.hidden, model.dtype
        self.weights = [(None if l == 0 else (np.ascontiguousarray(p[n["Wxh"]].T), p[n["bh"]]),
                         np.ascontiguousarray(p[n["Whh"]].T), {base: p[n[base]] for base in cell.extra_shapes(1)})
                        for l, n in enumerate(model.names)]
        self.WhyT, self.by = np.ascontiguousarray(p["Why"].T), p["by"]
        self._set(np.asarray(state, self.dtype))

    def _set(self, state):
        """Buffers for the rows of `state` (layers, S, N, H), holding it in slot 0."""
        N = self.n = state.shape[2]
        self.slot, self.layers = 0, []
        for l, (in_proj, WhhT, extra) in enumerate(self.weights):
            bufs = self.cell.alloc(1, N, self.H, self.dtype)
            for buf, s in zip(bufs, state[l]):
                buf[0] = s
            # one row: vectors, not (1, n) rows, since a vector-matrix product is BLAS's gemv,
            # faster than gemm at these sizes
            slots = [tuple(b[k, 0] if N == 1 else b[k] for b in bufs) for k in (0, 1)]
            xw = None if in_proj is None else np.empty((N, WhhT.shape[1]) if N != 1 else WhhT.shape[1], self.dtype)
            self.layers.append((in_proj, WhhT, extra, slots, xw))
        self.logits = np.empty((N, len(self.by)), self.dtype)

    def step(self, ix):
        """Feed each row its character ix[i] ((N,) indices); the logits (N, V) of the next ones
        (overwritten by the next step)."""
        prev_slot, cur_slot = self.slot, 1 - self.slot
        one = self.n == 1
        xw, h = (self.table[ix[0]] if one else self.table[ix]), None
        for in_proj, WhhT, extra, slots, buf in self.layers:
            if in_proj is not None:  # a layer above the first: its input is the new h below
                WxhT, bh = in_proj
                h.dot(WxhT, out=buf)
                buf += bh
                xw = buf
            self.cell.step(xw, WhhT, extra, slots[prev_slot], slots[cur_slot])
            h = slots[cur_slot][0]
        self.slot = cur_slot
        logits = self.logits[0] if one else self.logits
        h.dot(self.WhyT, out=logits)
        logits += self.by
        return self.logits

    def state(self):
        """The rows' state after the characters fed so far, as model.zero_state(N) shapes it."""
        return np.stack([np.stack([np.reshape(a, (self.n, self.H)) for a in slots[self.slot][:self.S]])
                         for _, _, _, slots, _ in self.layers])

    def restart(self, state):
        """Start again with other rows, entering with `state` (as model.zero_state(N) shapes it):
        the weights prepared once serve them too."""
        self._set(np.asarray(state, self.dtype))

    def take(self, rows):
        """Keep these rows (indices into the current ones), in this order; a row may repeat."""
        rows = np.asarray(rows, np.intp)
        if len(rows) == self.n:  # as many rows (a beam search's step): the state reordered in place
            if self.n > 1:
                for _, _, _, slots, _ in self.layers:
                    for a in slots[self.slot][:self.S]:
                        a[...] = a[rows]
            return
        self._set(self.state()[:, :, rows])

    def append(self, state):
        """Add rows entering with `state` (layers, S, n, H) after the current ones."""
        self._set(np.concatenate([self.state(), np.asarray(state, self.dtype)], axis=2))
