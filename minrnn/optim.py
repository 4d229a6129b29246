"""Optimizers and gradient clipping.

Each optimizer updates one flat parameter vector from one flat gradient vector (CharRNN keeps
its named parameters as views into a single array), so an update is a handful of array
operations whatever the number of parameters. State is plain arrays and numbers, so that it
goes into a checkpoint as it is.
"""
import numpy as np


def clip_elementwise(grad, limit):
    """min-char-rnn's clip: every gradient entry into [-limit, limit], in place."""
    grad.clip(-limit, limit, out=grad)  # the method skips np.clip's dispatch: 1 us of 7 at H=100


def clip_global_norm(grad, max_norm):
    """Scale the whole gradient down, in place, when its L2 norm exceeds max_norm.
    Returns the norm before clipping."""
    norm = float(np.sqrt(grad @ grad))
    if norm > max_norm:
        grad *= max_norm / norm
    return norm


class SGD:
    """theta -= lr * g, or with momentum: v = momentum * v - lr * g; theta += v."""

    slots = 1  # state arrays the size of theta, for the memory estimate

    def __init__(self, size, lr, momentum=0.0, dtype=np.float64):
        self.lr, self.momentum = lr, momentum
        self.v = np.zeros(size, dtype)

    def step(self, theta, g):
        if self.momentum:
            self.v *= self.momentum
            self.v -= self.lr * g
            theta += self.v
        else:
            theta -= self.lr * g

    def state(self):
        return {"v": self.v}


class Adagrad:
    """min-char-rnn's update, exactly: mem += g*g; theta -= lr * g / sqrt(mem + 1e-8)."""

    slots = 1

    def __init__(self, size, lr, dtype=np.float64):
        self.lr = lr
        self.mem = np.zeros(size, dtype)
        self._a, self._b = np.empty(size, dtype), np.empty(size, dtype)  # scratch, not state

    def step(self, theta, g):
        # the same arithmetic, written into scratch buffers instead of four fresh temporaries
        a, b = self._a, self._b
        np.multiply(g, g, out=a)
        self.mem += a
        np.add(self.mem, 1e-8, out=a)
        np.sqrt(a, out=a)
        np.multiply(g, self.lr, out=b)
        b /= a
        theta -= b

    def state(self):
        return {"mem": self.mem}


class RMSProp:
    """cache = decay * cache + (1 - decay) * g*g; theta -= lr * g / (sqrt(cache) + eps)."""

    slots = 1

    def __init__(self, size, lr, decay=0.95, eps=1e-8, dtype=np.float64):
        self.lr, self.decay, self.eps = lr, decay, eps
        self.cache = np.zeros(size, dtype)

    def step(self, theta, g):
        self.cache *= self.decay
        self.cache += (1 - self.decay) * g * g
        theta -= self.lr * g / (np.sqrt(self.cache) + self.eps)

    def state(self):
        return {"cache": self.cache}


class Adam:
    """Adam with bias correction (Kingma & Ba, 2015)."""

    slots = 2

    def __init__(self, size, lr, beta1=0.9, beta2=0.999, eps=1e-8, dtype=np.float64):
        self.lr, self.beta1, self.beta2, self.eps = lr, beta1, beta2, eps
        self.m = np.zeros(size, dtype)
        self.v = np.zeros(size, dtype)
        self.t = np.zeros((), np.int64)  # an array, so that it is saved with the rest of the state
        self._a, self._b = np.empty(size, dtype), np.empty(size, dtype)  # scratch, not state

    def step(self, theta, g):
        # m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;  theta -= lr_t m / (sqrt(v) + eps),
        # in place through two scratch buffers: no temporaries the size of theta
        a, b = self._a, self._b
        self.t += 1
        self.m *= self.beta1
        np.multiply(g, 1 - self.beta1, out=a)
        self.m += a
        self.v *= self.beta2
        np.multiply(g, 1 - self.beta2, out=a)
        a *= g
        self.v += a
        # bias correction folded into the step size
        t = int(self.t)
        lr_t = float(self.lr * np.sqrt(1 - self.beta2**t) / (1 - self.beta1**t))
        np.sqrt(self.v, out=a)
        a += self.eps
        np.multiply(self.m, lr_t, out=b)
        b /= a
        theta -= b

    def state(self):
        return {"m": self.m, "v": self.v, "t": self.t}


class Averaged:
    """An optimizer that also keeps a moving average of the weights it updates (Polyak averaging):
    after each step, average = decay * average + (1 - decay) * theta, with the decay the loop sets
    (like lr). In float64: in float32 a late step's increment, a few parts in 10^4 of a weight's
    change, would fall below the average's rounding and be lost. Its state is the optimizer's and
    the average, so that a resumed run averages on exactly."""

    def __init__(self, optimizer, theta):
        self.optimizer = optimizer
        self.average = theta.astype(np.float64)
        self.decay = 0.0

    @property
    def lr(self):
        return self.optimizer.lr

    @lr.setter
    def lr(self, value):
        self.optimizer.lr = value

    def step(self, theta, g):
        self.optimizer.step(theta, g)
        self.average *= self.decay
        self.average += (1 - self.decay) * theta

    def state(self):
        return {**self.optimizer.state(), "average": self.average}


def average_slots(dtype):
    """Arrays the size of theta, in `dtype`, that Averaged's float64 average takes."""
    return np.dtype(np.float64).itemsize // np.dtype(dtype).itemsize


OPTIMIZERS = {"adam": Adam, "rmsprop": RMSProp, "adagrad": Adagrad, "sgd": SGD}
CLIPS = {"norm": clip_global_norm, "value": clip_elementwise}  # --clip-mode


def make_optimizer(name, size, lr, dtype=np.float64, momentum=0.0):
    if name == "sgd":
        return SGD(size, lr, momentum=momentum, dtype=dtype)
    return OPTIMIZERS[name](size, lr, dtype=dtype)


def load_state(optimizer, arrays):
    """Copy saved state arrays into a freshly made optimizer of the same kind and size."""
    for name, current in optimizer.state().items():
        current[...] = arrays[name]
