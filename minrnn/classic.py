"""min-char-rnn's loop and printout, on CharRNN: batch 1, float64, element-wise clip, Adagrad.

Numbers match min-char-rnn's when it sorts its vocabulary and seeds np.random.seed(seed):
the weights are drawn from RandomState(seed) in the same order, and each sampled character
takes one uniform draw as RandomState.choice does.
"""
import sys

import numpy as np
from threadpoolctl import threadpool_limits

from .data import decode
from .errors import MinrnnError
from .model import CharRNN, ModelConfig
from .optim import Adagrad, clip_elementwise
from .sample import generate


def run_classic(ix, chars, hidden_size=100, seq_length=25, lr=0.1, seed=0, iterations=None,
                sample_every=100, sample_length=200, print_every=100, out=None):
    """Train until `iterations` (None: until Ctrl-C), printing as min-char-rnn prints.
    Returns the model and the smoothed loss."""
    out = out or sys.stdout
    if len(ix) < seq_length + 1:
        raise MinrnnError(
            f"the text has {len(ix)} characters, fewer than seq_length + 1 = {seq_length + 1}: "
            "use a longer text or a smaller --seq-length")
    V = len(chars)
    rng = np.random.RandomState(seed)
    model = CharRNN(ModelConfig(V, "rnn", hidden_size, dtype="float64"), rng=rng, init_scale=0.01)
    adagrad = Adagrad(model.theta.size, lr)
    smooth_loss = -np.log(1.0 / V) * seq_length
    n, p = 0, 0
    hprev = model.zero_state()

    def print_sample(h, seed_ix):
        sample_ix, _ = generate(model, rng, h, seed_ix, sample_length)
        print("----\n %s \n----" % decode(sample_ix, chars), file=out, flush=True)

    # batch-1 products are too small to share between BLAS threads (train.blas_threads)
    with threadpool_limits(1):
        try:
            while iterations is None or n < iterations:
                if p + seq_length + 1 >= len(ix) or n == 0:
                    hprev = model.zero_state()  # reset RNN memory
                    p = 0  # go from start of data
                inputs = ix[p:p + seq_length, None]
                targets = ix[p + 1:p + seq_length + 1, None]
                if n % sample_every == 0:
                    print_sample(hprev, inputs[0, 0])
                loss, grad, hprev = model.loss_and_grads(inputs, targets, hprev)
                smooth_loss = smooth_loss * 0.999 + loss * 0.001
                if n % print_every == 0:
                    print("iter %d, loss: %f" % (n, smooth_loss), file=out, flush=True)
                clip_elementwise(grad, 5.0)  # mitigate exploding gradients
                adagrad.step(model.theta, grad)
                p += seq_length
                n += 1
        except KeyboardInterrupt:
            print(f"\ninterrupted at iter {n}; a last sample:", file=out)
            print_sample(hprev, ix[p])
    return model, smooth_loss
