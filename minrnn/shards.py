"""The training step's gradient and the evaluation's loss over S shards of the B streams, run
on a pool of threads so that every core works in every step.

The B streams of a chunk are independent of one another until their gradients are added up.
So the streams are split into S shards of contiguous streams; each shard's forward and
backward runs on its own, into a gradient buffer of its own, and the buffers are summed in
shard order. NumPy releases the GIL inside its ufuncs and BLAS calls, so shards on two threads
run on two cores, element-wise work included (which NumPy otherwise runs on one core while
BLAS alone uses the rest).

S is a setting of the run (config.py: `shards`), never of the machine: each shard computes
the same thing whichever thread runs it, and the sum is taken in the same order, so the number
of threads decides only how many shards run at once, never what is computed. A run with
--threads 1 and one with --threads 8 are bit-identical. That is why each shard's products run on
one BLAS thread: a product shared between BLAS threads is summed in an order that depends on how
many there are on some of OpenBLAS's kernels (its Haswell kernels, which every AVX2-only CPU
runs, among them), so BLAS's own threads would make the result depend on --threads.
"""
import ctypes
import functools
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from threadpoolctl import threadpool_limits

# glibc's mallopt settings (malloc.h): keep up to 1 GiB of freed memory at the top of the heap,
# and take blocks of up to 32 MiB (its largest) from the heap rather than from fresh mappings
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3


@functools.cache
def keep_freed_memory():
    """A step allocates its activations afresh (tens of MB), and glibc by default hands large
    freed blocks back to the kernel, so every step page-faults them in again: 10-20% of a
    step's time at 2x256 (measured: 5-14k page faults an iteration, 12-36 ms of system time at
    gru-256x2-32x64 on two shards). Asking glibc to keep them removes that. Elsewhere (another
    C library) this does nothing."""
    try:
        libc = ctypes.CDLL(None)  # the process's own symbols, the C library's among them
        libc.mallopt(M_TRIM_THRESHOLD, 1 << 30)
        libc.mallopt(M_MMAP_THRESHOLD, 32 << 20)
    except (OSError, AttributeError, TypeError):
        pass


def bounds(B, S):
    """S contiguous slices of B streams, as equal as can be (the first B % S one longer)."""
    size, extra = divmod(B, S)
    starts = [k * size + min(k, extra) for k in range(S + 1)]
    return [slice(a, b) for a, b in zip(starts, starts[1:])]


class Shards:
    """S shards of a model's batch on min(S, threads) worker threads (threads None: every core),
    each running its products on one BLAS thread. Used as a context manager: inside it the
    process's BLAS runs on one thread (threadpoolctl's limit is the process's, not a thread's),
    and on leaving it the workers end."""

    def __init__(self, model, n_shards, threads=None):
        keep_freed_memory()
        self.model, self.n_shards = model, n_shards
        self.workers = max(1, min(n_shards, threads or os.cpu_count() or 1))
        self._pool = ThreadPoolExecutor(self.workers, "minrnn-shard") if self.workers > 1 else None
        # shard 0 writes into the model's own gradient, the others each into a buffer of its own
        self._grads = [model.grad] + [np.zeros_like(model.grad) for _ in range(n_shards - 1)]

    def _map(self, work, B):
        """work(k, streams) for each shard k of a batch of B streams (fewer shards when B < S),
        results in shard order."""
        parts = bounds(B, min(self.n_shards, B))
        if self._pool is None:
            return [work(k, s) for k, s in enumerate(parts)]
        return list(self._pool.map(work, range(len(parts)), parts))

    def loss_and_grads(self, inputs, targets, state, scale=1.0, masks=None):
        """CharRNN.loss_and_grads over the shards: the same (loss, flat gradient, state after
        the chunk), the gradient the sum of the shards' in shard order. masks: the whole
        batch's (model.dropout_masks), each shard taking its streams' part."""
        def shard(k, s):
            return self.model.loss_and_grads(inputs[:, s], targets[:, s], state[:, :, s], scale,
                                             None if masks is None else [m[:, s] for m in masks], self._grads[k])
        done = self._map(shard, inputs.shape[1])
        grad = self._grads[0]
        for other in self._grads[1:len(done)]:
            grad += other
        return sum(loss for loss, _, _ in done), grad, _joined([s for _, _, s in done])

    def loss(self, inputs, targets, state, scored=None):
        """CharRNN.loss over the shards: the summed loss (of the positions `scored` marks, a (T, B)
        boolean array; None: all) and the state after the chunk."""
        def shard(k, s):
            return self.model.loss(inputs[:, s], targets[:, s], state[:, :, s], None if scored is None else scored[:, s])
        done = self._map(shard, inputs.shape[1])
        return sum(loss for loss, _ in done), _joined([s for _, s in done])

    def __enter__(self):
        self._limits = threadpool_limits(1)
        return self

    def __exit__(self, *exc):
        if self._pool is not None:
            self._pool.shutdown()
        self._limits.restore_original_limits()


def _joined(states):
    """The shards' states (layers, S, b, H) side by side again, along the streams."""
    return states[0] if len(states) == 1 else np.concatenate(states, axis=2)
