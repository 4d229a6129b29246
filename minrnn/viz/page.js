"use strict";
// The neuron page: reads the data minrnn viz put in #minrnn-data and draws everything from it.
// No library and no request: the page must open from disk, offline.
(function () {
  const D = JSON.parse(document.getElementById("minrnn-data").textContent);
  const $ = (id) => document.getElementById(id);
  const chars = Array.from(D.text);  // code points, as Python counts characters
  const T = chars.length, H = D.model.hidden;

  function bytes(b64) {
    const s = atob(b64), out = new Uint8Array(s.length);
    for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
    return out;
  }
  const topIx = new Uint16Array(bytes(D.top_ix).buffer);
  const topP = new Float32Array(bytes(D.top_p).buffer);
  const pSelf = new Float32Array(bytes(D.p_self).buffer);
  const pNgram = new Float32Array(bytes(D.p_ngram).buffer);
  const K = topIx.length / T;
  const decoded = {};  // a layer's signal is decoded when first shown: most are never looked at
  function unitRow(layer, signal, unit) {
    const key = layer + "/" + signal;
    if (!decoded[key]) decoded[key] = new Int8Array(bytes(D.acts[key]).buffer);
    return decoded[key].subarray(unit * T, (unit + 1) * T);  // unit-major: one unit is contiguous
  }
  const isGate = (signal) => D.gates.includes(signal);
  // a stored int8 q back to the signal's value (gates were stretched from [0, 1] to [-1, 1])
  const value = (signal, q) => isGate(signal) ? (q / 127 + 1) / 2 : q / 127;

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
  const m = D.model;
  $("about-model").textContent = `${m.cell.toUpperCase()}, ${m.layers} layer${m.layers > 1 ? "s" : ""} \u00d7 ` +
    `${m.hidden} units, ${m.vocab_size} characters \u00b7 ${D.info.checkpoint}`;
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

  // --- the text, one span per character
  const box = $("text"), spans = new Array(T), frag = document.createDocumentFragment();
  chars.forEach((ch, t) => {
    const span = document.createElement("span");
    span.dataset.t = t;
    if (ch === "\n") {  // a visible mark, so that a unit's value at a newline can be seen too
      span.className = "nl";
      span.textContent = "\u21b5\n";
    } else {
      span.textContent = ch;
    }
    spans[t] = span;
    frag.appendChild(span);
  });
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
    // the unit number and the menus keep their own arrows; the view's radio buttons do not
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
    if (state.view === "unit") {
      const row = unitRow(state.layer, state.signal, state.unit);
      for (let t = 0; t < T; t++) spans[t].style.backgroundColor = palette[row[t] + 127];
    } else if (state.view === "surprise") {  // the probability the model gave each character
      for (let t = 0; t < T; t++) spans[t].style.backgroundColor = colour(1 - 2 * pSelf[t]);
    } else {  // log p(RNN) - log p(n-gram) of each character
      for (let t = 0; t < T; t++) {
        spans[t].style.backgroundColor = colour(Math.log(pSelf[t] / pNgram[t]) / NGRAM_NATS);
      }
    }
    markSelection();
  }

  // --- the hover card: the model's view of the next character
  const card = $("card");
  let hovered = null;
  box.addEventListener("mouseover", (e) => {
    const span = e.target.closest("span[data-t]");
    if (!span) return;
    if (hovered) hovered.classList.remove("hover");
    hovered = span;
    span.classList.add("hover");
    fillCard(+span.dataset.t);
    const r = span.getBoundingClientRect();
    card.hidden = false;
    const w = card.offsetWidth, h = card.offsetHeight;
    card.style.left = Math.min(r.left, innerWidth - w - 4) + "px";
    card.style.top = (r.bottom + 4 + h < innerHeight ? r.bottom + 4 : r.top - h - 4) + "px";
  });
  box.addEventListener("mouseleave", () => {
    card.hidden = true;
    if (hovered) hovered.classList.remove("hover");
    hovered = null;
  });
  function line(parent, cls, text) {
    const el = document.createElement("div");
    if (cls) el.className = cls;
    if (text !== undefined) el.textContent = text;
    parent.appendChild(el);
    return el;
  }
  function fillCard(t) {
    card.innerHTML = "";
    const q = unitRow(state.layer, state.signal, state.unit)[t];
    line(card, "", `'${show(chars[t])}' at ${t} \u00b7 unit value ${value(state.signal, q).toFixed(3)}`);
    if (t > 0) {
      line(card, "", `p(this character): RNN ${fmt(pSelf[t], 4)} \u00b7 n-gram ${fmt(pNgram[t], 4)}`);
    }
    card.appendChild(document.createElement("hr"));
    line(card, "", "next, as the RNN sees it:");
    const actual = t + 1 < T ? chars[t + 1] : null;
    for (let k = 0; k < K; k++) {
      const ch = D.vocab[topIx[t * K + k]], p = topP[t * K + k];
      const row = line(card, "pred" + (ch === actual ? " actual" : ""));
      line(row, "ch", show(ch));
      line(row, "p", p.toFixed(4));
      line(row, "bar").style.width = Math.round(90 * p) + "px";
    }
    if (actual !== null) {
      line(card, "actual-next", `came: '${show(actual)}', p = ${fmt(pSelf[t + 1], 4)}`);
    }
  }

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
  document.body.dataset.ready = "1";  // for the browser test: everything is drawn
})();
