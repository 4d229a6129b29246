"""min-char-rnn's loop and printout, on CharRNN: batch 1, float64, element-wise clip, Adagrad.

Numbers match min-char-rnn's when it sorts its vocabulary and seeds np.random.seed(seed):
the weights are drawn from RandomState(seed) in the same order, and each sampled character
takes one uniform draw as RandomState.choice does.
"""
import sys

import numpy as np
from threadpoolctl import threadpool_limits

from . import data, options
from .errors import MinrnnError, said
from .memory import check_fits
from .model import CharRNN, ModelConfig
from .optim import Adagrad, clip_elementwise
from .options import PATH, Option
from .sample import check_length, generate

OPTIONS = options.group(
    file=Option(PATH, "input.txt", "text file", positional="?", api=False),
    encoding=Option(str, "utf-8", "the file's text encoding", metavar="NAME", also=data.encoding_problem, api=False),
    hidden=Option(int, 100, "hidden units", above=0),
    seq_length=Option(int, 25, "BPTT chunk length", above=0),
    lr=Option(float, 0.1, "Adagrad learning rate", above=0),
    seed=Option(int, 0, "RandomState seed", low=0, high=2**32 - 1),
    iterations=Option(int, None, "stop after this many", above=0, unset="until Ctrl-C"),
    sample_every=Option(int, 100, "iterations between samples", above=0),
    sample_length=Option(int, 200, "characters per sample", above=0),
    print_every=Option(int, 100, "iterations between loss lines", above=0),
)


def model_config(vocab_size, hidden):
    """min-char-rnn's model: one vanilla layer, float64, no dropout."""
    return ModelConfig(vocab_size, cell="rnn", hidden=hidden, layers=1, embedding=0, dropout=0.0, dtype="float64")


def command(a):
    """`minrnn classic FILE`, its options `a` parsed: the text read, sizes checked, then run_classic."""
    check_length(a.sample_length, "sample_length")
    ix, chars = data.read_corpus(a.file, a.encoding)
    check_fits(model_config(len(chars), a.hidden).train_bytes(1, 1, a.seq_length),
               f"a model with {said('hidden', a.hidden)}")
    run_classic(ix, chars, **a.said({name for name, option in OPTIONS.items() if option.api}))


def run_classic(ix, chars, out=None, **settings):
    """Train until `iterations` (None: until Ctrl-C), printing as min-char-rnn prints; settings
    are OPTIONS' (hidden, seq_length, lr, seed, ...). Returns the model and the smoothed loss."""
    a = options.namespace(OPTIONS, "run_classic", settings)
    hidden_size, seq_length, lr, seed = a.hidden, a.seq_length, a.lr, a.seed
    iterations, sample_every, sample_length, print_every = a.iterations, a.sample_every, a.sample_length, a.print_every
    out = out or sys.stdout
    if len(ix) < seq_length + 1:
        raise MinrnnError(
            f"the text has {len(ix)} characters, fewer than seq_length + 1 = {seq_length + 1}: "
            f"use a longer text or a smaller {said('seq_length')}")
    V = len(chars)
    rng = np.random.RandomState(seed)
    model = CharRNN(model_config(V, hidden_size), rng=rng, init_scale=0.01)
    adagrad = Adagrad(model.theta.size, lr)
    smooth_loss = -np.log(1.0 / V) * seq_length
    n, p = 0, 0
    hprev = model.zero_state()

    def print_sample(h, seed_ix):
        sample_ix, _ = generate(model, rng, h, seed_ix, sample_length)
        print("----\n %s \n----" % data.decode(sample_ix, chars), file=out, flush=True)

    # batch-1 products are too small to share between BLAS threads
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
