"""VanillaRNN: the notebook seed's class API, as a thin face over CharRNN and the optimizers.

The notebook's methods take and return min-char-rnn's column vectors in dicts indexed by time
step (hs[-1] is the given hprev); CharRNN works on (T, B) index arrays and (B, H) rows. This
module only converts between the two; the maths is CharRNN's.

Why the notebook's demo diverged: it updated with plain SGD at lr 0.1 on a loss *summed* over
25 characters, with each gradient entry clipped to 5, so one step could move a weight by 0.5
when the weights start at 0.01. That step is on the edge of stability: on every machine the
loss of a chunk jumps from 55 to over 300 within 20 iterations, and after that the run is chaotic, so the
rounding of the machine's sums (CPU, BLAS kernel) decides whether it stays up (the notebook's
331) or comes back down. optimizer="sgd" computes what the notebook's class computes; which way
the chaos falls cannot be promised. Adagrad (min-char-rnn's choice, and the default here)
divides each step by the root of that parameter's squared-gradient history, so no step moves a
weight by more than lr. SGD stays available; a run whose loss climbs far above where it began
gets a warning that names the cause.
"""
import warnings

import numpy as np

from .classic import model_config
from .layers import softmax
from .model import CharRNN
from .optim import SGD, Adagrad, clip_elementwise
from .sample import generate


class DivergenceWarning(RuntimeWarning):
    """Training is making the loss worse, not better."""


class VanillaRNN:
    def __init__(self, input_size, hidden_size, output_size, seq_len=25, learning_rate=1e-1,
                 clip=5.0, seed=42, optimizer="adagrad"):
        """input_size and output_size are the vocabulary size (one-hot in, softmax out);
        optimizer is "adagrad" (default, as min-char-rnn) or "sgd" (the notebook's)."""
        if input_size != output_size:
            raise ValueError("a character-level RNN reads and predicts the same vocabulary: "
                             "input_size must equal output_size")
        if optimizer not in ("adagrad", "sgd"):
            raise ValueError(f"optimizer must be 'adagrad' or 'sgd', not {optimizer!r}")
        self.input_size, self.hidden_size, self.output_size = input_size, hidden_size, output_size
        self.seq_len, self.lr, self.clip = seq_len, learning_rate, clip
        self.rng = np.random.RandomState(seed)  # the class's own generator, not numpy's global one
        self.model = CharRNN(model_config(input_size, hidden_size), rng=self.rng, init_scale=0.01)
        opt = Adagrad if optimizer == "adagrad" else SGD
        self.optimizer = opt(self.model.theta.size, learning_rate)
        self._first_loss_per_char = None
        self._recent_loss_per_char = None
        self._warned = False
        for name, array in self.model.params.items():  # rnn.Wxh etc. are the model's own arrays
            setattr(self, name, array)

    def forward(self, inputs, hprev):
        """inputs: list of T character indices; hprev: (H, 1). Returns dicts xs (one-hot
        columns), hs (hidden columns, hs[-1] = hprev), ys (logits) and ps (probabilities)."""
        ix = np.asarray(inputs).reshape(-1, 1)
        ys_all, series = self.model.trace(ix, self._state(hprev))
        hs_all = series[0]["h"]  # the layer's hidden states
        ps_all = softmax(ys_all)
        xs, hs, ys, ps = {}, {-1: np.copy(hprev)}, {}, {}
        for t, i in enumerate(ix[:, 0]):
            xs[t] = np.zeros((self.input_size, 1))
            xs[t][i] = 1
            hs[t] = hs_all[t].reshape(-1, 1)
            ys[t] = ys_all[t].reshape(-1, 1)
            ps[t] = ps_all[t].reshape(-1, 1)
        return xs, hs, ys, ps

    def compute_loss(self, ps, targets):
        """Cross-entropy summed over the sequence; also watches for a diverging run."""
        loss = float(sum(-np.log(ps[t][targets[t], 0] + 1e-12) for t in range(len(targets))))
        self._watch(loss / len(targets))
        return loss

    def backward(self, xs, hs, ps, targets):
        """Gradients of the summed loss (CharRNN's BPTT), clipped to [-clip, clip], and the
        last hidden state as a column. The gradients are computed from the inputs and hprev
        that xs and hs hold."""
        inputs = np.array([int(np.argmax(xs[t])) for t in range(len(xs))]).reshape(-1, 1)
        targets = np.asarray(targets).reshape(-1, 1)
        _, grad, state = self.model.loss_and_grads(inputs, targets, self._state(hs[-1]))
        clip_elementwise(grad, self.clip)
        grads = {name: g.copy() for name, g in self.model.grads.items()}
        return grads, state.reshape(-1, 1)

    def update_params(self, grads):
        flat = np.concatenate([np.asarray(grads[name], np.float64).ravel() for name in self.model.params])
        self.optimizer.step(self.model.theta, flat)

    def sample(self, seed_ix, n, h=None):
        """n character indices sampled from the model, starting after seed_ix."""
        state = self.model.zero_state() if h is None else self._state(h)
        ixes, _ = generate(self.model, self.rng, state, seed_ix, n)
        return [int(i) for i in ixes]

    def _state(self, h):
        """A column (H, 1), the notebook's hidden state, as the model's state array."""
        return np.asarray(h, np.float64).reshape(self.model.zero_state().shape)

    def _watch(self, loss_per_char):
        """Warn once when the recent loss per character is non-finite or has climbed to more
        than twice where training started: steps that large make the model worse."""
        if self._first_loss_per_char is None:
            self._first_loss_per_char = self._recent_loss_per_char = loss_per_char
        self._recent_loss_per_char = 0.9 * self._recent_loss_per_char + 0.1 * loss_per_char
        climbed = self._recent_loss_per_char > 2 * self._first_loss_per_char
        if self._warned or not (climbed or not np.isfinite(loss_per_char)):
            return
        self._warned = True
        kind = type(self.optimizer).__name__
        warnings.warn(
            f"VanillaRNN: training is diverging: the loss per character rose from "
            f"{self._first_loss_per_char:.3f} to {self._recent_loss_per_char:.3f}. "
            f"With optimizer={kind.lower()!r} the learning rate {self.lr} is too large for a loss "
            f"summed over {self.seq_len} characters; use a smaller learning_rate"
            + (" or optimizer='adagrad' (the default)" if kind == "SGD" else "") + ".",
            DivergenceWarning, stacklevel=3)
