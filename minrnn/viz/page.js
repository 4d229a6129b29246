"use strict";
// The neuron page: reads the data minrnn viz put in #minrnn-data, runs the model (model.js) over
// the page's text and over whatever the reader types, and draws everything from it.
// No library and no request: the page must open from disk, offline.
(function () {
  const D = JSON.parse(document.getElementById("minrnn-data").textContent);
  const $ = (id) => document.getElementById(id);
  const {CELLS, CharRNN, softmax, nats, pick, random, decodeParams} = MinrnnModel;
  const m = D.model, H = m.hidden, V = m.vocab_size, K = Math.min(D.top_k, V);
  const cell = CELLS[m.cell];

  function bytes(b64) {
    const s = atob(b64), out = new Uint8Array(s.length);
    for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
    return out;
  }
  const model = new CharRNN(m, decodeParams(D.weights, bytes));
  const pNgram = new Float32Array(bytes(D.p_ngram).buffer);
  const lookup = new Map(D.vocab.map((ch, i) => [ch, i]));
  const isGate = (signal) => D.gates.includes(signal);
  // a stored int8 q back to the signal's value (gates were stretched from [0, 1] to [-1, 1])
  const value = (signal, q) => isGate(signal) ? (q / 127 + 1) / 2 : q / 127;

  // --- a text run through the model: what CharRNN.trace returns, kept one position at a time
  // so that it can grow as the reader types and be cut back to where they edit. Signals are
  // kept as int8 at 1/127 (a gate's [0, 1] stretched to [-1, 1] first), logits as float64.
  const SNAP = 64;  // the state entering every 64th position is kept: an edit restarts from the last before it
  const S = cell.signals.length, GATE = cell.signals.map(isGate);
  class Trace {
    constructor() {
      this.ixs = [];  // what the model is to read
      this.done = 0;  // how many of them it has read
      this.sig = [];  // per position: Int8Array (layer, signal, unit)
      this.logits = [];  // per position: Float64Array (V,), the next character's
      this.state = model.zeroState();
      this.next = model.zeroState();
      this.snaps = [model.zeroState()];  // snaps[k]: the state entering position k * SNAP
    }
    push(ix) { this.ixs.push(ix); }
    keep(n) {  // forget positions n onwards
      this.ixs.length = Math.min(this.ixs.length, n);
      if (this.done <= n) return;
      const k = Math.floor(n / SNAP);
      this.snaps.length = k + 1;
      model.copyState(this.snaps[k], this.state);
      this.done = k * SNAP;
      this.sig.length = this.logits.length = this.done;
    }
    get ready() { return this.done === this.ixs.length; }
    work() {  // read one more character
      const t = this.done, logits = new Float64Array(V), q = new Int8Array(m.layers * S * H);
      model.step(this.ixs[t], this.state, this.next, logits);
      for (let l = 0; l < m.layers; l++) {
        const series = cell.series(this.next[l], H);
        for (let s = 0; s < S; s++) {
          const x = series[s], gate = GATE[s], base = (l * S + s) * H;
          for (let u = 0; u < H; u++) {
            const v = gate ? 2 * x[u] - 1 : x[u];
            q[base + u] = Math.round((v > 1 ? 1 : v < -1 ? -1 : v) * 127);
          }
        }
      }
      [this.state, this.next] = [this.next, this.state];
      this.sig.push(q);
      this.logits.push(logits);
      this.done++;
      if (this.done % SNAP === 0) {
        const snap = model.zeroState();
        model.copyState(this.state, snap);
        this.snaps[this.done / SNAP] = snap;
      }
    }
    q(t, layer, signal, unit) { return this.sig[t][(layer * S + cell.signals.indexOf(signal)) * H + unit]; }
    pSelf(t) { return t > 0 && t <= this.done ? softmax(this.logits[t - 1])[this.ixs[t]] : NaN; }
  }

  // --- work in slices, so that the page answers while the model reads: the box's work first
  const queues = {box: [], main: []};  // functions doing one piece of work; true when finished
  const channel = new MessageChannel(), waiting = [];  // waiting: settled()'s promises
  let pumping = false;
  function pump() {
    const until = performance.now() + 30;
    for (const name of ["box", "main"]) {
      const q = queues[name];
      while (q.length && performance.now() < until) if (q[0]()) q.shift();
      if (q.length) break;
    }
    if (queues.box.length || queues.main.length) channel.port2.postMessage(0);
    else { pumping = false; for (const f of waiting.splice(0)) f(); }
  }
  channel.port1.onmessage = pump;
  function schedule(name, job) {
    queues[name].push(job);
    if (!pumping) { pumping = true; channel.port2.postMessage(0); }
  }

  const chars = Array.from(D.text);  // code points, as Python counts characters
  const T = chars.length;
  const main = new Trace();
  for (const ch of chars) main.push(lookup.get(ch));

  // diverging scale, -1 blue .. 0 white .. +1 red, one colour per int8 level
  const LOW = [60, 130, 200], HIGH = [230, 85, 70];
  const palette = [];
  for (let q = -127; q <= 127; q++) {
    const a = Math.abs(q) / 127, c = q < 0 ? LOW : HIGH;
    palette.push(`rgb(${c.map((x) => Math.round(255 + (x - 255) * a)).join(",")})`);
  }
  const colour = (v) => Number.isFinite(v) ? palette[Math.round(Math.max(-1, Math.min(1, v)) * 127) + 127] : "";
  const show = (ch) => ch === " " ? "\u2423" : ch === "\n" ? "\u21b5" : ch === "\t" ? "\u21e5" : ch;
  const fmt = (x, digits) => x === null || !Number.isFinite(x) ? "\u2014" : x.toFixed(digits);
  const signed = (x) => x === null ? "\u2014" : (x >= 0 ? "+" : "\u2212") + Math.abs(x).toFixed(2);
  const NGRAM_NATS = 2;  // the RNN vs n-gram view saturates at this log-probability difference

  const state = {view: "unit", layer: D.start.layer, signal: D.start.signal, unit: D.start.unit};
  // a link may name the unit to open on: page.html#layer/signal/unit (layer from 0, as data-unit)
  const asked = decodeURIComponent(location.hash.slice(1)).split("/");
  if (asked.length === 3 && D.signals[+asked[0]] && D.signals[+asked[0]].includes(asked[1]) &&
      +asked[2] >= 0 && +asked[2] < H) {
    [state.layer, state.signal, state.unit] = [+asked[0], asked[1], +asked[2]];
  }

  // --- header and notes
  $("about-model").textContent = `${m.cell.toUpperCase()}, ${m.layers} layer${m.layers > 1 ? "s" : ""} \u00d7 ` +
    `${m.hidden} units, ${m.vocab_size} characters${m.embedding ? `, embedding ${m.embedding}` : ""} \u00b7 ${D.info.checkpoint}`;
  $("about-text").textContent = D.info.text;
  const s = D.summary;
  const summary = $("summary");
  summary.innerHTML = "<h2>RNN against counting</h2>";
  const para = (text, cls) => {
    const p = document.createElement("p");
    p.textContent = text;
    if (cls) p.className = cls;
    summary.appendChild(p);
    return p;
  };
  para(`RNN ${fmt(s.rnn_nats, 3)} nats/char on this text; ${s.ngram_order}-character-context n-gram ` +
       `(add-${s.ngram_k}) ${fmt(s.ngram_nats, 3)}.`);
  para(`The RNN gave the character that came more probability than the n-gram did at ` +
       `${fmt(100 * s.rnn_wins, 1)}% of characters.`);
  para(D.info.ngram, "note" + (D.info.ngram_warning ? " warn" : ""));

  // one span per character; `t` is its position in the trace (-1: outside the vocabulary, not read)
  function charSpan(ch, i, t, cls) {
    const span = document.createElement("span");
    span.dataset.i = i;
    if (t < 0) span.className = "oov";
    if (cls) span.classList.add(cls);
    if (ch === "\n") {  // a visible mark, so that a unit's value at a newline can be seen too
      span.classList.add("nl");
      span.textContent = "\u21b5\n";
    } else {
      span.textContent = ch;  // text, never markup: whatever was typed stays text
    }
    return span;
  }

  // --- the two texts the page shows: the page's own (the main view) and the box's
  // Each: its characters, their spans, the trace position of each, and the trace.
  const mainView = {chars, spans: [], pos: chars.map((_, i) => i), trace: main, ngram: true};
  const box = $("text"), frag = document.createDocumentFragment();
  chars.forEach((ch, i) => frag.appendChild(mainView.spans[i] = charSpan(ch, i, i)));
  box.appendChild(frag);

  // --- controls
  const layerSel = $("layer"), signalSel = $("signal"), unitIn = $("unit");
  unitIn.max = H - 1;
  for (let l = 0; l < m.layers; l++) layerSel.add(new Option(`${l + 1}`, l));
  function fillSignals() {
    signalSel.innerHTML = "";
    for (const name of D.signals[state.layer]) signalSel.add(new Option(name, name));
    signalSel.value = state.signal;
  }
  layerSel.onchange = () => select(+layerSel.value, state.signal, state.unit);
  signalSel.onchange = () => select(state.layer, signalSel.value, state.unit);
  unitIn.oninput = () => {
    const u = parseInt(unitIn.value, 10);
    if (u >= 0 && u < H) select(state.layer, state.signal, u);
  };
  const step = (by) => select(state.layer, state.signal, (state.unit + by + H) % H);
  $("prev").onclick = () => step(-1);
  $("next").onclick = () => step(1);
  document.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && e.ctrlKey) { writeOn(); e.preventDefault(); return; }
    // the unit number, the menus and the box keep their own arrows; the view's radio buttons do not
    if (e.target.closest && e.target.closest("input[type=number], select, textarea")) return;
    if (e.key === "ArrowRight" || e.key === "ArrowDown") step(1);
    else if (e.key === "ArrowLeft" || e.key === "ArrowUp") step(-1);
    else return;
    e.preventDefault();
  });
  for (const radio of document.querySelectorAll("input[name=view]")) {
    radio.onchange = () => { state.view = radio.value; paint(); };
  }

  function select(layer, signal, unit) {
    state.layer = layer;
    state.signal = D.signals[layer].includes(signal) ? signal : D.signals[layer][0];  // a signal the page lacks: the first
    state.unit = unit;
    state.view = "unit";
    paint();
  }

  // --- colouring
  const LEGENDS = {
    unit: () => isGate(state.signal) ? ["0 (shut)", "1 (open)"] : ["\u22121", "+1"],
    surprise: () => ["expected (p = 1)", "surprising (p = 0)"],
    ngram: () => [`n-gram better (${NGRAM_NATS}+ nats)`, "RNN better"],
  };
  // colour a view's spans from..to; what the model has not read yet stays white
  function paintSpans(view, from, to) {
    const tr = view.trace;
    for (let i = from; i < to; i++) {
      const t = view.pos[i];
      let c = "";
      if (t >= 0 && t < tr.done) {
        if (state.view === "unit") c = palette[tr.q(t, state.layer, state.signal, state.unit) + 127];
        else if (state.view === "surprise") c = colour(1 - 2 * tr.pSelf(t));  // the probability the model gave it
        else if (view.ngram) c = colour(Math.log(tr.pSelf(t) / pNgram[t]) / NGRAM_NATS);  // log p(RNN) - log p(n-gram)
      }
      view.spans[i].style.backgroundColor = c;
    }
  }
  function paint() {
    document.querySelector(`input[name=view][value=${state.view}]`).checked = true;
    layerSel.value = state.layer;
    fillSignals();
    unitIn.value = state.unit;
    $("unit-label").textContent = `layer ${state.layer + 1} \u00b7 ${state.signal} \u00b7 unit ${state.unit}`;
    try {  // the address names the unit shown, so that a link or a reload comes back to it
      history.replaceState(null, "", `#${state.layer}/${state.signal}/${state.unit}`);
    } catch (e) { /* some browsers refuse it for file: pages; the page works without */ }
    const [low, high] = LEGENDS[state.view]();
    $("legend-low").textContent = low;
    $("legend-high").textContent = high;
    paintSpans(mainView, 0, mainView.spans.length);
    paintSpans(boxView, 0, boxView.spans.length);
    markSelection();
  }

  // --- the hover card: the model's view of the next character
  const card = $("card");
  let hovered = null;
  function hoverable(el, view) {
    el.addEventListener("mouseover", (e) => {
      const span = e.target.closest("span[data-i]");
      if (!span) return;
      if (hovered) hovered.classList.remove("hover");
      hovered = span;
      span.classList.add("hover");
      fillCard(view, +span.dataset.i);
      const r = span.getBoundingClientRect();
      card.hidden = false;
      const w = card.offsetWidth, h = card.offsetHeight;
      card.style.left = Math.min(r.left, innerWidth - w - 4) + "px";
      card.style.top = (r.bottom + 4 + h < innerHeight ? r.bottom + 4 : r.top - h - 4) + "px";
    });
    el.addEventListener("mouseleave", () => {
      card.hidden = true;
      if (hovered) hovered.classList.remove("hover");
      hovered = null;
    });
  }
  function line(parent, cls, text) {
    const el = document.createElement("div");
    if (cls) el.className = cls;
    if (text !== undefined) el.textContent = text;
    parent.appendChild(el);
    return el;
  }
  function fillCard(view, i) {
    card.innerHTML = "";
    const t = view.pos[i], tr = view.trace, ch = view.chars[i];
    if (t < 0) {
      line(card, "", `'${show(ch)}' at ${i} is outside the model's vocabulary: shown, not read, ` +
                     "left out of nats/char (as minrnn eval --skip-unknown does)");
      return;
    }
    if (t >= tr.done) {
      line(card, "", `'${show(ch)}' at ${i} \u00b7 the model has not read it yet`);
      return;
    }
    line(card, "", `'${show(ch)}' at ${i} \u00b7 unit value ` +
                   `${value(state.signal, tr.q(t, state.layer, state.signal, state.unit)).toFixed(3)}`);
    if (t > 0) {
      line(card, "", `p(this character): RNN ${fmt(tr.pSelf(t), 4)}` + (view.ngram ? ` \u00b7 n-gram ${fmt(pNgram[t], 4)}` : ""));
    }
    card.appendChild(document.createElement("hr"));
    line(card, "", "next, as the RNN sees it:");
    const p = softmax(tr.logits[t]);
    const top = Array.from(p.keys()).sort((a, b) => p[b] - p[a] || a - b).slice(0, K);  // likeliest first, ties by index
    const came = tr.ixs[t + 1];  // the next character the model read (an unknown one between is not)
    for (const v of top) {
      const row = line(card, "pred" + (v === came ? " actual" : ""));
      line(row, "ch", show(D.vocab[v]));
      line(row, "p", p[v].toFixed(4));
      line(row, "bar").style.width = Math.round(90 * p[v]) + "px";
    }
    if (came !== undefined) line(card, "actual-next", `came: '${show(D.vocab[came])}', p = ${fmt(p[came], 4)}`);
  }
  hoverable(box, mainView);

  // --- the box: what the reader types, read as they type it
  const input = $("box-input"), boxText = $("box-text");
  // typed: how many of its characters were typed; own: how many the model wrote on after them
  const boxView = {chars: [], spans: [], pos: [], trace: new Trace(), ngram: false, typed: 0, own: 0};
  hoverable(boxText, boxView);
  // the trace's positions [0, typedKnown) are the typed text's known characters; after them
  // come what the model wrote on, if anything
  const typedKnown = () => boxView.pos.slice(0, boxView.typed).filter((t) => t >= 0).length;
  function boxStats() {
    const tr = boxView.trace, n = typedKnown(), unknown = boxView.typed - n;
    const about = $("box-about");
    if (tr.done < tr.ixs.length) {
      $("box-nats").textContent = "\u2026";
      about.textContent = `reading: ${tr.done} of ${tr.ixs.length} characters`;
      return;
    }
    let total = 0;  // -log p of every known character after the first, as eval sums it
    for (let t = 1; t < n; t++) total += nats(tr.logits[t - 1], tr.ixs[t]);
    const mean = n > 1 ? total / (n - 1) : NaN;
    $("box-nats").textContent = fmt(mean, 4);
    $("box-nats").dataset.value = Number.isFinite(mean) ? mean : "";
    about.textContent = `over ${boxView.typed} character${boxView.typed === 1 ? "" : "s"}` +
      (unknown ? `; ${unknown} outside the model's vocabulary, shown struck through and skipped ` +
                 "(as minrnn eval --skip-unknown does)" : "") +
      (boxView.own ? `; then ${boxView.own} written by the model (in italics)` : "");
  }
  // the job that reads the box's text: one character a call, colouring each as it is read
  let boxJob = null;
  function readBox() {
    if (boxJob) return;
    boxJob = () => {
      const tr = boxView.trace;
      if (!tr.ready) {
        const t = tr.done;
        tr.work();
        const i = boxView.pos.indexOf(t, t);  // a span's index is at least its trace position
        if (i >= 0) paintSpans(boxView, i, i + 1);
      }
      if (!tr.ready) return false;
      boxJob = null;
      boxStats();
      return true;
    };
    schedule("box", boxJob);
  }
  function cutBox(n) {  // keep the box's first n characters
    const tr = boxView.trace;
    for (const span of boxView.spans.splice(n)) span.remove();
    boxView.chars.length = boxView.pos.length = n;
    tr.keep(boxView.pos.reduce((k, t) => (t >= 0 ? t + 1 : k), 0));
  }
  function addToBox(list, cls) {
    const tr = boxView.trace, frag = document.createDocumentFragment();
    for (const ch of list) {
      const ix = lookup.get(ch), i = boxView.chars.length, t = ix === undefined ? -1 : tr.ixs.length;
      if (t >= 0) tr.push(ix);
      boxView.chars.push(ch);
      boxView.pos.push(t);
      frag.appendChild(boxView.spans[i] = charSpan(ch, i, t, cls));
    }
    boxText.appendChild(frag);
  }
  let writing = null;  // the write-on job running, if any
  input.addEventListener("input", () => {
    writing = null;  // an edit ends what the model was writing
    const typed = Array.from(input.value);
    let p = 0;  // the edit's start: what is unchanged before it is kept, with its state
    while (p < boxView.typed && p < typed.length && typed[p] === boxView.chars[p]) p++;
    cutBox(p);
    boxView.typed = typed.length;
    boxView.own = 0;
    addToBox(typed.slice(p));
    boxStats();
    readBox();
  });

  // --- write on: the model samples after the box's text, seeded
  function writeOn() {
    cutBox(boxView.typed);  // a new continuation replaces the last
    boxView.own = 0;
    const n = Math.max(1, Math.min(5000, parseInt($("write-n").value, 10) || 200));
    const temperature = Math.max(0, parseFloat($("write-temperature").value) || 0);
    const rng = random(parseInt($("write-seed").value, 10) || 0);
    const job = () => {
      if (writing !== job) return true;  // cancelled by an edit or another write-on
      const tr = boxView.trace;
      if (!tr.ready) { tr.work(); paintSpans(boxView, boxView.spans.length - 1, boxView.spans.length); return false; }
      if (boxView.own >= n) { writing = null; boxStats(); return true; }
      // with nothing typed, the first character is drawn at random (as minrnn sample with no --prime)
      const ix = tr.done ? pick(tr.logits[tr.done - 1], rng(), temperature) : Math.floor(rng() * V);
      addToBox([D.vocab[ix]], "own");
      boxView.own++;
      return false;
    };
    writing = job;
    schedule("box", job);
  }
  $("write-on").onclick = writeOn;

  // --- the leaderboard
  const featSel = $("board-feature"), bySel = $("board-by"), tbody = document.querySelector("#board-table tbody");
  featSel.add(new Option("all (best 3 each)", "all"));
  D.features.forEach((f, i) => featSel.add(new Option(f.label + (f.constant ? " (constant here)" : ""), i)));
  const dl = $("feature-list");
  for (const f of D.features) {
    const dt = document.createElement("dt"), dd = document.createElement("dd");
    dt.textContent = f.label;
    dd.textContent = f.about + (f.constant ? " (constant in this text: nothing to score)" : "");
    dl.append(dt, dd);
  }
  featSel.onchange = bySel.onchange = renderBoard;
  function renderBoard() {
    const by = bySel.value, feat = featSel.value;
    const key = (r) => by === "corr" ? (r[4] === null ? -1 : Math.abs(r[4])) : (r[5] === null ? -1 : Math.abs(r[5] - 0.5));
    let rows = D.leaderboard.filter((r) => feat === "all" || r[0] === +feat).filter((r) => key(r) >= 0);
    rows.sort((a, b) => key(b) - key(a));
    const per = {};
    rows = feat === "all" ? rows.filter((r) => (per[r[0]] = (per[r[0]] || 0) + 1) <= 3) : rows.slice(0, 30);
    tbody.innerHTML = "";
    for (const r of rows) {
      const tr = document.createElement("tr");
      tr.dataset.unit = `${r[1]}/${r[2]}/${r[3]}`;
      for (const text of [D.features[r[0]].label, `L${r[1] + 1} ${r[2]} ${r[3]}`, signed(r[4]), fmt(r[5], 3)]) {
        tr.insertCell().textContent = text;
      }
      tr.onclick = () => select(r[1], r[2], r[3]);
      tbody.appendChild(tr);
    }
    if (!rows.length) {
      const tr = document.createElement("tr");
      tr.className = "muted";
      tr.insertCell().textContent = "no unit to score: the feature is constant in this text, or has no AUC";
      tr.cells[0].colSpan = 4;
      tbody.appendChild(tr);
    }
    markSelection();
  }

  // --- gate saturation (LSTM and GRU)
  const NS = "http://www.w3.org/2000/svg", circles = [];
  function svg(tag, attrs, parent) {
    const el = document.createElementNS(NS, tag);
    for (const k in attrs) el.setAttribute(k, attrs[k]);
    if (parent) parent.appendChild(el);
    return el;
  }
  if (D.gates.length) {
    $("saturation").hidden = false;
    const SIZE = 104, PAD = 18, plots = $("saturation-plots");  // an LSTM layer's three gates fit one row
    D.saturation.forEach((gates, layer) => {
      for (const g of D.gates) {
        const [lo, hi] = gates[g];
        const fig = document.createElement("figure");
        const root = svg("svg", {width: SIZE + PAD, height: SIZE + PAD, role: "img"}, fig);
        svg("rect", {x: PAD, y: 0, width: SIZE, height: SIZE, class: "axis"}, root);
        // both axes are shares of the text, 0 to 1: x shut (< 0.1), y open (> 0.9)
        svg("text", {x: PAD - 8, y: SIZE + 12}, root).textContent = "0";
        svg("text", {x: PAD + SIZE - 6, y: SIZE + 12}, root).textContent = "1";
        svg("text", {x: PAD + SIZE / 2 - 14, y: SIZE + 12}, root).textContent = "shut \u2192";
        svg("text", {x: 2, y: 10}, root).textContent = "1";
        svg("text", {x: 11, y: SIZE / 2 + 14, transform: `rotate(-90 11 ${SIZE / 2 + 14})`}, root).textContent = "open \u2192";
        const xy = [];
        for (let u = 0; u < lo.length; u++) {
          xy.push([PAD + lo[u] * SIZE, (1 - hi[u]) * SIZE]);
          const c = svg("circle", {cx: xy[u][0], cy: xy[u][1], r: 2.5}, root);
          svg("title", {}, c).textContent = `layer ${layer + 1} ${g} unit ${u}: shut ${lo[u]}, open ${hi[u]}`;
          circles.push({layer, g, u, c});
        }
        // points pile up (many units never saturate): a click takes the nearest, not the topmost
        root.addEventListener("click", (e) => {
          const box = root.getBoundingClientRect(), x = e.clientX - box.left, y = e.clientY - box.top;
          let best = -1, bestD = 64;  // within 8 px
          xy.forEach(([px, py], u) => {
            const d = (px - x) ** 2 + (py - y) ** 2;
            if (d < bestD) { best = u; bestD = d; }
          });
          if (best >= 0) select(layer, g, best);
        });
        const cap = document.createElement("figcaption");
        cap.textContent = `layer ${layer + 1}, gate ${g}`;
        fig.appendChild(cap);
        plots.appendChild(fig);
      }
    });
  }

  function markSelection() {
    const key = `${state.layer}/${state.signal}/${state.unit}`;
    for (const tr of tbody.rows) tr.classList.toggle("selected", tr.dataset.unit === key);
    for (const {layer, g, u, c} of circles) {
      c.classList.toggle("selected", layer === state.layer && u === state.unit && g === state.signal);
    }
  }

  renderBoard();
  paint();
  document.body.dataset.interactive = "1";  // the controls and the box answer from here on
  // the page's own text, read in slices between which the page answers; coloured every 2048
  // characters (each repaint of a long text costs as much as reading a few hundred more)
  const progress = $("progress");
  let painted = 0;
  schedule("main", () => {
    main.work();
    if (!main.ready && main.done % 2048) return false;
    paintSpans(mainView, painted, main.done);
    painted = main.done;
    progress.textContent = main.ready ? "" : `the model is reading the text: ${main.done.toLocaleString()} of ${T.toLocaleString()} characters`;
    if (!main.ready) return false;
    document.body.dataset.ready = "1";  // for the browser test: everything is drawn
    return true;
  });

  // for tests and the console: the traces, and a promise kept when the model has read everything
  window.minrnnPage = {
    main, box: boxView.trace, simd: model.products.wasm,
    probs: (trace) => trace.logits.map((y) => Array.from(softmax(y))),
    settled: () => new Promise((resolve) => (pumping ? waiting.push(resolve) : resolve())),
  };
})();
