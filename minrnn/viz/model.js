"use strict";
// minrnn's model in the page: the forward pass of minrnn/model.py and cells.py, one character
// at a time, on the checkpoint's own weights (float32 or float64, exactly as saved). Same names,
// same gate order, same equations as cells.py: read the two side by side. The products run in
// float32 (as a float32 checkpoint's NumPy model runs them), the rest in JavaScript's float64;
// the probabilities agree with NumPy's to about 1e-6.
// No DOM here: the page (page.js) and a test can both run it.
const MinrnnModel = (function () {
  // Every product is a matrix times a vector: out = W @ x (+ out, if add), W row-major (rows,
  // cols) as NumPy stores it. They run in WebAssembly's 128-bit SIMD, float32 in four lanes as
  // NumPy's float32 BLAS runs them, about ten times faster than JavaScript; where a browser lacks
  // SIMD, in JavaScript (jsMatvec). The module is one function, assembled by
  // minrnn/viz/matvec_wasm.py (its instructions are listed there):
  //   matvec(W, rows, cols, x, out): for each row r, two four-lane sums over W[r, j] x[j], eight
  //   columns a step (W's rows zero-padded to a multiple of 8), added up into out[r]
  // and exports its memory, which holds the matrices and two scratch vectors.
  const WASM = "AGFzbQEAAAABCQFgBX9/f39/AAMCAQAFAwEAAQcTAgZtYXR2ZWMAAAZtZW1vcnkCAArTAQHQAQIDfwJ7QQAhBSAAIQcCQANAIAUgAU8NAf0MAAAAAAAAAAAAAAAAAAAAACEI/QwAAAAAAAAAAAAAAAAAAAAAIQlBACEGAkADQCAGIAJPDQEgCCAH/QACACADIAZBBGxq/QACAP3mAf3kASEIIAkgB/0AAhAgAyAGQQRsav0AAhD95gH95AEhCSAHQSBqIQcgBkEIaiEGDAALCyAIIAn95AEhCCAEIAVBBGxqIAj9HwAgCP0fAZIgCP0fAiAI/R8DkpI4AgAgBUEBaiEFDAALCws=";
  const wasmBytes = Uint8Array.from(atob(WASM), (c) => c.charCodeAt(0));
  const hasSimd = typeof WebAssembly === "object" && WebAssembly.validate(wasmBytes);

  function jsMatvec(W, rows, cols, x, out, add) {
    for (let r = 0, k = 0; r < rows; r++) {
      let s0 = 0, s1 = 0, s2 = 0, s3 = 0, j = 0;
      for (; j + 3 < cols; j += 4, k += 4) {  // four sums: independent additions pipeline
        s0 += W[k] * x[j];
        s1 += W[k + 1] * x[j + 1];
        s2 += W[k + 2] * x[j + 2];
        s3 += W[k + 3] * x[j + 3];
      }
      for (; j < cols; j++, k++) s0 += W[k] * x[j];
      out[r] = (add ? out[r] : 0) + (s0 + s1) + (s2 + s3);
    }
  }

  // The model's matrices placed for matvec: in the module's memory (wasm) or as they are.
  class Products {
    constructor(matrices, wasm) {  // matrices: {name: {data, rows, cols}}
      this.m = matrices;
      this.wasm = wasm && hasSimd;
      if (!this.wasm) return;
      const pad = (n) => Math.ceil(n / 8) * 8;
      let at = 0, maxRows = 0, maxCols = 0;
      for (const w of Object.values(matrices)) {  // float offsets; each matrix padded to 8 columns
        w.at = at;
        at += w.rows * pad(w.cols);
        maxRows = Math.max(maxRows, w.rows);
        maxCols = Math.max(maxCols, pad(w.cols));
      }
      this.xAt = at;
      this.outAt = at + maxCols;
      const inst = new WebAssembly.Instance(new WebAssembly.Module(wasmBytes));
      this.run = inst.exports.matvec;
      inst.exports.memory.grow(Math.ceil(4 * (this.outAt + maxRows) / 65536));
      this.f = new Float32Array(inst.exports.memory.buffer);  // after growing: growth detaches old views
      for (const w of Object.values(matrices)) {
        for (let r = 0; r < w.rows; r++) this.f.set(w.data.subarray(r * w.cols, (r + 1) * w.cols), w.at + r * pad(w.cols));
      }
    }
    matvec(name, x, out, add) {
      const w = this.m[name];
      if (!this.wasm) return jsMatvec(w.data, w.rows, w.cols, x, out, add);
      const f = this.f, cols = Math.ceil(w.cols / 8) * 8;
      for (let j = 0; j < w.cols; j++) f[this.xAt + j] = x[j];  // past w.cols: W's padding, zeros
      this.run(4 * w.at, w.rows, cols, 4 * this.xAt, 4 * this.outAt);
      for (let r = 0; r < w.rows; r++) out[r] = (add ? out[r] : 0) + f[this.outAt + r];
    }
  }

  const sigmoid = (a) => 1 / (1 + Math.exp(-a));  // float64: exp(-a) overflows to Infinity, giving 0

  // Each cell: how many gate blocks Whh has, its state, the arrays one step writes (alloc),
  // the step itself, and the signals the page shows (cells.py's `signals`, same order).
  // step(xw, Whh, extra, prev, cur, H) reads the state `prev` and writes `cur`, as cells.py's;
  // here Whh is the product: Whh(h, out) makes out = Whh @ h.
  const CELLS = {
    rnn: {
      // hs[t] = tanh(xw[t] + Whh @ hs[t-1])
      gates: 1, state: ["h"], signals: ["h"], sigmoidGates: [],
      alloc: (H) => ({h: new Float64Array(H)}),
      step(xw, Whh, extra, prev, cur, H) {
        const h = cur.h;
        Whh(prev.h, h);
        for (let j = 0; j < H; j++) h[j] = Math.tanh(h[j] + xw[j]);
      },
      series: (cur) => [cur.h],
    },
    lstm: {
      // a = xw[t] + Whh @ h[t-1];  i, f, o = sigmoid(a_i, a_f, a_o);  g = tanh(a_g)
      // c[t] = f * c[t-1] + i * g;   h[t] = o * tanh(c[t])
      gates: 4, state: ["h", "c"], signals: ["h", "tanh_c", "i", "f", "o", "g"], sigmoidGates: ["i", "f", "o"],
      alloc: (H) => ({h: new Float64Array(H), c: new Float64Array(H), a: new Float64Array(4 * H), tc: new Float64Array(H)}),
      step(xw, Whh, extra, prev, cur, H) {
        const {h, c, a, tc} = cur;
        Whh(prev.h, a);
        for (let k = 0; k < 3 * H; k++) a[k] = sigmoid(a[k] + xw[k]);
        for (let k = 3 * H; k < 4 * H; k++) a[k] = Math.tanh(a[k] + xw[k]);
        for (let j = 0; j < H; j++) {
          const i = a[j], f = a[H + j], o = a[2 * H + j], g = a[3 * H + j];
          c[j] = f * prev.c[j] + i * g;
          tc[j] = Math.tanh(c[j]);
          h[j] = o * tc[j];
        }
      },
      series: (cur, H) => [cur.h, cur.tc, ...[0, 1, 2, 3].map((k) => cur.a.subarray(k * H, (k + 1) * H))],
    },
    gru: {
      // As PyTorch defines it, the reset gate applied to (Whh_n @ h + bhn):
      // r, z = sigmoid(xw_rz + Whh_rz @ h[t-1]);  n = tanh(xw_n + r * (Whh_n @ h[t-1] + bhn))
      // h[t] = (1 - z) * n + z * h[t-1]
      gates: 3, state: ["h"], signals: ["h", "r", "z", "n"], sigmoidGates: ["r", "z"],
      alloc: (H) => ({h: new Float64Array(H), a: new Float64Array(3 * H), hn: new Float64Array(H)}),
      step(xw, Whh, extra, prev, cur, H) {
        const {h, a, hn} = cur;
        Whh(prev.h, a);
        for (let j = 0; j < H; j++) hn[j] = a[2 * H + j] + extra.bhn[j];
        for (let k = 0; k < 2 * H; k++) a[k] = sigmoid(a[k] + xw[k]);
        for (let j = 0; j < H; j++) {
          const r = a[j], z = a[H + j];
          const n = a[2 * H + j] = Math.tanh(xw[2 * H + j] + r * hn[j]);
          h[j] = n + z * (prev.h[j] - n);
        }
      },
      series: (cur, H) => [cur.h, ...[0, 1, 2].map((k) => cur.a.subarray(k * H, (k + 1) * H))],
    },
  };

  // The stack, as model.py's CharRNN.forward and Generator.step:
  //   x[t] = onehot(ix[t]) or embed[ix[t]];  xw_l[t] = Wxh_l @ x_l[t] + bh_l
  //   h_l[t] = cell(xw_l[t], state_l[t-1]);  x_{l+1}[t] = h_l[t];  ys[t] = Why @ h_L[t] + by
  // With no embedding the first layer's product with a one-hot vector is a column of Wxh.
  // `params`: {name: {shape, data}}, model.py's names (Wxh, Whh, bh, bhn; .2, .3 above layer 1).
  // wasm: false runs every product in JavaScript (as in a browser without WebAssembly SIMD).
  class CharRNN {
    constructor(config, params, {wasm = true} = {}) {
      this.config = config;
      this.cell = CELLS[config.cell];
      this.p = params;
      const H = config.hidden;
      this.names = [];
      for (let l = 0; l < config.layers; l++) {  // model.py's layer_names
        const suffix = l ? `.${l + 1}` : "";
        this.names.push({Wxh: "Wxh" + suffix, Whh: "Whh" + suffix, bh: "bh" + suffix, bhn: "bhn" + suffix});
      }
      const matrices = {};  // every weight that multiplies a vector: all but the one-hot lookup's Wxh
      for (const [name, w] of Object.entries(params)) {
        if (w.shape.length === 2 && name !== "embed" && !(name === "Wxh" && !config.embedding)) {
          matrices[name] = {data: w.data, rows: w.shape[0], cols: w.shape[1]};
        }
      }
      this.products = new Products(matrices, wasm);
      this.Whh = this.names.map((n) => (h, out) => this.products.matvec(n.Whh, h, out, false));
      this.xw = new Float64Array(this.cell.gates * H);
      this.x = new Float64Array(config.embedding);
    }

    zeroState() {  // per layer, the arrays one step writes; a state is their `state` ones
      return this.names.map(() => this.cell.alloc(this.config.hidden));
    }

    // Feed character ix into the state `prev`; writes the new state and the step's signals into
    // `cur` and the next character's logits into `logits` (V,).
    step(ix, prev, cur, logits) {
      const {hidden: H, embedding: E, vocab_size: V} = this.config, p = this.p, xw = this.xw, GH = this.cell.gates * H;
      let x = null;
      if (E) {
        x = this.x;
        const embed = p.embed.data;
        for (let e = 0; e < E; e++) x[e] = embed[ix * E + e];
      }
      this.names.forEach((n, l) => {
        const Wxh = p[n.Wxh].data, bh = p[n.bh].data;
        if (l === 0 && !E) {
          for (let r = 0; r < GH; r++) xw[r] = Wxh[r * V + ix] + bh[r];  // a column of Wxh: the one-hot lookup
        } else {
          for (let r = 0; r < GH; r++) xw[r] = bh[r];
          this.products.matvec(n.Wxh, x, xw, true);
        }
        const extra = p[n.bhn] ? {bhn: p[n.bhn].data} : {};
        this.cell.step(xw, this.Whh[l], extra, prev[l], cur[l], H);
        x = cur[l].h;
      });
      for (let v = 0; v < V; v++) logits[v] = p.by.data[v];
      this.products.matvec("Why", x, logits, true);
    }

    copyState(from, to) {
      from.forEach((layer, l) => { for (const name of this.cell.state) to[l][name].set(layer[name]); });
    }
  }

  // p = softmax(logits), as layers.softmax: shifted by the max so that exp cannot overflow
  function softmax(logits) {
    let max = -Infinity, sum = 0;
    for (const y of logits) max = Math.max(max, y);
    const p = new Float64Array(logits.length);
    for (let v = 0; v < p.length; v++) sum += (p[v] = Math.exp(logits[v] - max));
    for (let v = 0; v < p.length; v++) p[v] /= sum;
    return p;
  }

  // -log softmax(logits)[ix]
  function nats(logits, ix) {
    let max = -Infinity, sum = 0;
    for (const y of logits) max = Math.max(max, y);
    for (const y of logits) sum += Math.exp(y - max);
    return Math.log(sum) + max - logits[ix];
  }

  // sample.py's pick: below GREEDY_BELOW the argmax; else one uniform number u inverts the
  // cumulative distribution of softmax(logits / temperature)
  const GREEDY_BELOW = 1e-6;
  function pick(logits, u, temperature) {
    let best = 0;
    for (let v = 1; v < logits.length; v++) if (logits[v] > logits[best]) best = v;
    if (temperature < GREEDY_BELOW) return best;
    const cdf = new Float64Array(logits.length);
    let sum = 0;
    for (let v = 0; v < logits.length; v++) cdf[v] = sum += Math.exp((logits[v] - logits[best]) / temperature);
    const target = u * sum;
    let v = 0;
    while (v < cdf.length - 1 && cdf[v] <= target) v++;  // searchsorted(side="right")
    return v;
  }

  // A seeded uniform generator in [0, 1) (mulberry32): the same seed, the same numbers, in any browser
  function random(seed) {
    let a = seed >>> 0;
    return () => {
      a = (a + 0x6d2b79f5) >>> 0;
      let t = a;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
  }

  // A checkpoint's arrays from the page's data: {name: {shape, dtype ("<f4" | "<f8"), data (base64)}}
  function decodeParams(weights, bytes) {
    const out = {};
    for (const [name, w] of Object.entries(weights)) {
      const buf = bytes(w.data).buffer;
      out[name] = {shape: w.shape, data: w.dtype === "<f8" ? new Float64Array(buf) : new Float32Array(buf)};
    }
    return out;
  }

  return {CELLS, CharRNN, softmax, nats, pick, random, decodeParams, GREEDY_BELOW};
})();
if (typeof module !== "undefined") module.exports = MinrnnModel;
