"""The recurrent cells: vanilla tanh RNN, LSTM and GRU, each in one class.

A cell sees its input already projected: xw[t] = Wxh @ x[t] + bh for every time step, made
by one product before the time loop (model.py), so the loop holds only the recurrence. The
cell's own parameter is Whh (gates x H, the gates fused: one product per step for all of
them); the GRU adds bhn. Weight gradients are one product over all T*B positions after the
backward loop.

Each cell keeps its time series in arrays of T + 1 slots: slot 0 holds the state entering the
chunk and slot t + 1 what step t made (for non-state arrays slot 0 is unused), so

    step(xw_t, WhhT, extra, prev, cur)

reads the views of slot t (`prev`) and writes those of slot t + 1 (`cur`). CharRNN.forward runs
it over a chunk; generation (model.Stepper) runs the same function on two slots it swaps.
WhhT is Whh.T made contiguous once per chunk: row-vector-times-contiguous-matrix is the fastest
product at these sizes (layers.py).

Gate order in the fused weights: LSTM i, f, o, g (torch-rnn's; the three sigmoids side by
side); GRU r, z, n (PyTorch's). PyTorch's nn.LSTM orders i, f, g, o.
"""
import numpy as np


def sigmoid_(a):
    """In place: sigmoid(a) = 1 / (1 + exp(-a)), no temporaries. One exp and cheap passes cost
    about 60% of a tanh (NumPy's float32 exp and tanh are both scalar code on many builds). The
    clip keeps exp finite (float32 overflows above 88); sigmoid(-80) is 2e-35 anyway."""
    np.negative(a, out=a)
    np.minimum(a, 80.0, out=a)
    np.exp(a, out=a)
    a += 1.0
    np.reciprocal(a, out=a)
    return a


class RNN:
    """hs[t] = tanh(xw[t] + Whh @ hs[t-1])"""
    name, gates, state = "rnn", 1, ("h",)
    signals, sigmoid_gates = ("h",), ()  # what the neuron page shows; which of it saturates

    @staticmethod
    def extra_shapes(H):
        return {}

    @staticmethod
    def alloc(T, B, H, dtype):
        return (np.empty((T + 1, B, H), dtype),)  # hs

    @staticmethod
    def step(xw_t, WhhT, extra, prev, cur):
        h = cur[0]
        prev[0].dot(WhhT, out=h)
        h += xw_t
        np.tanh(h, out=h)

    @staticmethod
    def series(bufs, H):
        return {"h": bufs[0][1:]}

    @staticmethod
    def backward(dhs, bufs, Whh, dextra):
        """Backpropagation through time. dhs[t] is the loss's gradient reaching hs[t] from above;
        dhnext carries the gradient from step t + 1 back into step t. Every cell's backward
        returns (dxw, the entering state's gradients, dhw): dhw is the gradient of Whh @ h[t-1]
        at every step, so that dWhh is one product after the loop (model.py)."""
        hs, = bufs
        T, B, H = dhs.shape
        # dhraw, the gradient at the tanh's input (it is also dxw), starts out holding
        # tanh' = 1 - hs^2 for every step at once; the loop multiplies each step's gradient in
        dhraw = np.multiply(hs[1:], hs[1:])
        np.subtract(1.0, dhraw, out=dhraw)
        dhnext = np.zeros_like(hs[0])
        for dh_t, dhraw_t in zip(dhs[::-1], dhraw[::-1]):  # t = T-1 down to 0
            dhnext += dh_t
            dhraw_t *= dhnext
            dhraw_t.dot(Whh, out=dhnext)
        return dhraw, (dhnext,), dhraw


class LSTM:
    """a = xw[t] + Whh @ h[t-1];  i, f, o = sigmoid(a_i, a_f, a_o);  g = tanh(a_g)
    c[t] = f * c[t-1] + i * g;   h[t] = o * tanh(c[t])"""
    name, gates, state = "lstm", 4, ("h", "c")
    signals, sigmoid_gates = ("h", "tanh_c", "i", "f", "o", "g"), ("i", "f", "o")

    @staticmethod
    def extra_shapes(H):
        return {}

    @staticmethod
    def alloc(T, B, H, dtype):
        # hs, cs, the four gates, tanh(c)
        return tuple(np.empty((T + 1, B, n), dtype) for n in (H, H, 4 * H, H))

    @staticmethod
    def step(xw_t, WhhT, extra, prev, cur):
        h, c, a, tc = cur
        H = h.shape[-1]
        prev[0].dot(WhhT, out=a)
        a += xw_t
        sigmoid_(a[..., :3 * H])
        np.tanh(a[..., 3 * H:], out=a[..., 3 * H:])
        i, f, o, g = a[..., :H], a[..., H:2 * H], a[..., 2 * H:3 * H], a[..., 3 * H:]
        np.multiply(f, prev[1], out=c)
        np.multiply(i, g, out=tc)  # tc as scratch before it holds tanh(c)
        c += tc
        np.tanh(c, out=tc)
        np.multiply(o, tc, out=h)

    @staticmethod
    def series(bufs, H):
        hs, cs, a, tc = (b[1:] for b in bufs)
        return {"h": hs, "tanh_c": tc, "i": a[..., :H], "f": a[..., H:2 * H], "o": a[..., 2 * H:3 * H],
                "g": a[..., 3 * H:]}

    @staticmethod
    def backward(dhs, bufs, Whh, dextra):
        hs, cs, a, tc = bufs
        T, B, H = dhs.shape
        a, tc, c_prev = a[1:], tc[1:], cs[:-1]
        i, f, o, g = a[..., :H], a[..., H:2 * H], a[..., 2 * H:3 * H], a[..., 3 * H:]
        # Everything that does not depend on the sequential gradient, for all steps at once:
        # da_i = dc * g i(1-i), da_f = dc * c[t-1] f(1-f), da_o = dh * tanh(c) o(1-o),
        # da_g = dc * i (1-g^2), and dc gets dh * o (1 - tanh(c)^2).
        K = tc * tc
        np.subtract(1.0, K, out=K)
        K *= o
        M = np.empty_like(a)
        for k, (gate, times) in enumerate(((i, g), (f, c_prev), (o, tc))):
            block = M[..., k * H:(k + 1) * H]
            np.subtract(1.0, gate, out=block)
            block *= gate
            block *= times
        Mg = M[..., 3 * H:]
        np.multiply(g, g, out=Mg)
        np.subtract(1.0, Mg, out=Mg)
        Mg *= i
        da = M  # each step's factors are multiplied by that step's gradient in place
        dh, dc, tmp = np.zeros((B, H), a.dtype), np.zeros((B, H), a.dtype), np.empty((B, H), a.dtype)
        for t in range(T - 1, -1, -1):
            dh += dhs[t]
            np.multiply(dh, K[t], out=tmp)
            dc += tmp
            da_t = da[t]
            if_t = da_t[:, :2 * H].reshape(B, 2, H)
            np.multiply(if_t, dc[:, None, :], out=if_t)
            da_t[:, 2 * H:3 * H] *= dh
            da_t[:, 3 * H:] *= dc
            dc *= f[t]
            da_t.dot(Whh, out=dh)
        return da, (dh, dc), da


class GRU:
    """As PyTorch and cuDNN define it, the reset gate applied to (Whh_n @ h + bhn):
    r, z = sigmoid(xw_rz + Whh_rz @ h[t-1]);  n = tanh(xw_n + r * (Whh_n @ h[t-1] + bhn))
    h[t] = (1 - z) * n + z * h[t-1]
    (PyTorch's b_hr and b_hz add to b_ir and b_iz, so bh holds their sums; bhn is b_hn.)"""
    name, gates, state = "gru", 3, ("h",)
    signals, sigmoid_gates = ("h", "r", "z", "n"), ("r", "z")

    @staticmethod
    def extra_shapes(H):
        return {"bhn": (H,)}

    @staticmethod
    def alloc(T, B, H, dtype):
        # hs, the gates r, z, n, and hn = Whh_n @ h[t-1] + bhn
        return tuple(np.empty((T + 1, B, n), dtype) for n in (H, 3 * H, H))

    @staticmethod
    def step(xw_t, WhhT, extra, prev, cur):
        h, a, hn = cur
        H = h.shape[-1]
        prev[0].dot(WhhT, out=a)
        np.add(a[..., 2 * H:], extra["bhn"], out=hn)
        rz = a[..., :2 * H]
        rz += xw_t[..., :2 * H]
        sigmoid_(rz)
        n = a[..., 2 * H:]
        np.multiply(a[..., :H], hn, out=n)
        n += xw_t[..., 2 * H:]
        np.tanh(n, out=n)
        np.subtract(prev[0], n, out=h)  # h = n + z * (h[t-1] - n)
        h *= a[..., H:2 * H]
        h += n

    @staticmethod
    def series(bufs, H):
        hs, a, _ = (b[1:] for b in bufs)
        return {"h": hs, "r": a[..., :H], "z": a[..., H:2 * H], "n": a[..., 2 * H:]}

    @staticmethod
    def backward(dhs, bufs, Whh, dextra):
        hs, a, hn = bufs
        T, B, H = dhs.shape
        a, hn, h_prev = a[1:], hn[1:], hs[:-1]
        r, z, n = a[..., :H], a[..., H:2 * H], a[..., 2 * H:]
        # For all steps at once: da_n = dh (1-z)(1-n^2); da_z = dh (h[t-1]-n) z(1-z);
        # da_r = da_n hn r(1-r); the product's gradient for n is dhn = da_n * r
        An = np.multiply(n, n)
        np.subtract(1.0, An, out=An)
        An *= 1.0 - z
        Az = np.subtract(h_prev, n)
        Az *= z
        Az *= 1.0 - z
        Ar = np.subtract(1.0, r)
        Ar *= r
        Ar *= hn
        dxw = np.empty_like(a)  # (da_r, da_z, da_n): the gradient of xw
        dhw = np.empty_like(a)  # (da_r, da_z, dhn): the gradient of Whh @ h[t-1] (+ bhn)
        dh, tmp = np.zeros((B, H), a.dtype), np.empty((B, H), a.dtype)
        for t in range(T - 1, -1, -1):
            dh += dhs[t]
            dxw_t, dhw_t = dxw[t], dhw[t]
            dan = dxw_t[:, 2 * H:]
            np.multiply(dh, An[t], out=dan)
            np.multiply(dan, Ar[t], out=dhw_t[:, :H])
            np.multiply(dh, Az[t], out=dhw_t[:, H:2 * H])
            np.multiply(dan, r[t], out=dhw_t[:, 2 * H:])
            dh *= z[t]
            dhw_t.dot(Whh, out=tmp)
            dh += tmp
        dxw[..., :2 * H] = dhw[..., :2 * H]
        dhw[..., 2 * H:].reshape(-1, H).sum(axis=0, out=dextra["bhn"])
        return dxw, (dh,), dhw


CELLS = {cell.name: cell for cell in (RNN, LSTM, GRU)}
