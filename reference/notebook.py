"""The notebook seed's VanillaRNN (../shared/seeds/notebook-vanilla-rnn.txt, its first cell),
verbatim: plain SGD, global np.random, per-step column vectors.

Used by tests/test_notebook.py to check that minrnn.VanillaRNN(optimizer="sgd") computes what
the notebook computes.
"""
import numpy as np

class VanillaRNN:
    def __init__(self, input_size, hidden_size, output_size, seq_len=25, learning_rate=1e-1, clip=5.0, seed=42):
        """
        input_size : size of one-hot input (vocab size for char-RNN)
        hidden_size: number of hidden units
        output_size: size of output (same as input_size for next-char prediction)
        seq_len    : truncated BPTT length
        learning_rate: SGD step size
        clip       : gradient clipping threshold (L2)
        """
        np.random.seed(seed)
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.output_size = output_size
        self.seq_len = seq_len
        self.lr = learning_rate
        self.clip = clip

        # Initialize weights (small random numbers)
        self.Wxh = np.random.randn(hidden_size, input_size) * 0.01   # input -> hidden
        self.Whh = np.random.randn(hidden_size, hidden_size) * 0.01  # hidden -> hidden
        self.Why = np.random.randn(output_size, hidden_size) * 0.01  # hidden -> output
        self.bh = np.zeros((hidden_size, 1))
        self.by = np.zeros((output_size, 1))

        # For simple SGD we don't need momentum or RMSProp here; you can add later.

    @staticmethod
    def softmax(x):
        e = np.exp(x - np.max(x, axis=0, keepdims=True))
        return e / np.sum(e, axis=0, keepdims=True)

    def forward(self, inputs, hprev):
        """
        inputs: list of integers (one-hot indices) length T
        hprev: initial hidden column vector shape (hidden_size, 1)
        Returns: loss, activations, last hidden
        """
        xs, hs, ys, ps = {}, {}, {}, {}
        hs[-1] = np.copy(hprev)
        loss = 0
        # forward pass
        for t, ix in enumerate(inputs):
            x = np.zeros((self.input_size, 1))
            x[ix] = 1
            xs[t] = x
            hs[t] = np.tanh(self.Wxh.dot(x) + self.Whh.dot(hs[t-1]) + self.bh)
            ys[t] = self.Why.dot(hs[t]) + self.by
            ps[t] = self.softmax(ys[t])
        return xs, hs, ys, ps

    def compute_loss(self, ps, targets):
        """
        ps: predicted probs dict t->(vocab,1)
        targets: list of integer targets, same length as ps
        returns: scalar cross-entropy loss
        """
        loss = 0
        for t in range(len(targets)):
            loss += -np.log(ps[t][targets[t], 0] + 1e-12)
        return loss

    def backward(self, xs, hs, ps, targets):
        """
        Backprop through time (truncated to len(targets))
        Returns gradients for all parameters and last hidden state gradient
        """
        # initialize gradients
        dWxh = np.zeros_like(self.Wxh)
        dWhh = np.zeros_like(self.Whh)
        dWhy = np.zeros_like(self.Why)
        dbh = np.zeros_like(self.bh)
        dby = np.zeros_like(self.by)
        dhnext = np.zeros((self.hidden_size, 1))

        T = len(targets)
        for t in reversed(range(T)):
            dy = np.copy(ps[t])
            dy[targets[t]] -= 1  # softmax derivative (cross-entropy)
            dWhy += dy.dot(hs[t].T)
            dby += dy

            dh = self.Why.T.dot(dy) + dhnext  # backprop into h
            # backprop through tanh nonlinearity
            dhraw = (1 - hs[t] * hs[t]) * dh
            dbh += dhraw
            dWxh += dhraw.dot(xs[t].T)
            dWhh += dhraw.dot(hs[t-1].T)
            dhnext = self.Whh.T.dot(dhraw)

        # clip gradients to avoid exploding gradients
        for grad in (dWxh, dWhh, dWhy, dbh, dby):
            np.clip(grad, -self.clip, self.clip, out=grad)

        return {'Wxh': dWxh, 'Whh': dWhh, 'Why': dWhy, 'bh': dbh, 'by': dby}, hs[T-1]

    def update_params(self, grads):
        # Simple SGD update
        self.Wxh -= self.lr * grads['Wxh']
        self.Whh -= self.lr * grads['Whh']
        self.Why -= self.lr * grads['Why']
        self.bh  -= self.lr * grads['bh']
        self.by  -= self.lr * grads['by']

    def sample(self, seed_ix, n, h=None):
        """
        Sample a sequence of length n, given a seed index seed_ix and start hidden state h.
        Returns list of sampled indices.
        """
        if h is None:
            h = np.zeros((self.hidden_size, 1))
        x = np.zeros((self.input_size, 1))
        x[seed_ix] = 1
        ixes = []
        for t in range(n):
            h = np.tanh(self.Wxh.dot(x) + self.Whh.dot(h) + self.bh)
            y = self.Why.dot(h) + self.by
            p = self.softmax(y)
            # sample from p
            ix = np.random.choice(range(self.input_size), p=p.ravel())
            x = np.zeros((self.input_size, 1))
            x[ix] = 1
            ixes.append(ix)
        return ixes
