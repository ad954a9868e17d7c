/* automuse serve: the page. Every view is fetched from /api as known at the slider's
 * chunk ("read up to chunk i") and redrawn when it moves. Part of automuse-rag (MIT). */
(function () {
  "use strict";
  const $ = (sel, root) => (root || document).querySelector(sel);
  const $$ = (sel, root) => [...(root || document).querySelectorAll(sel)];
  const state = { at: 0, chunks: 0, view: "characters", kind: "", q: "", fate: "", budget: null, info: null, timeline: null, lastAsk: "" };
  const SECTION_COLOURS = { outline: "var(--sec-outline)", lore: "var(--sec-lore)", memories: "var(--sec-memories)", last_chunk: "var(--sec-last_chunk)" };
  const graphPositions = {};
  let loadToken = 0;

  function esc(text) {
    return String(text == null ? "" : text).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
  }
  async function api(path, params) {
    const url = new URL(path, location.origin);
    for (const [k, v] of Object.entries(params || {})) if (v !== null && v !== undefined && v !== "") url.searchParams.set(k, v);
    const res = await fetch(url);
    const body = await res.json();
    if (!res.ok) throw new Error(body.detail || res.statusText);
    return body;
  }
  function ref(chunk, chapter, label, highlight) {
    const hl = highlight ? ` data-highlight="${esc(highlight)}"` : "";
    return `<button class="ref" data-chunk="${chunk}"${hl} type="button">${esc(label || `chunk ${chunk}, ch. ${chapter}`)}</button>`;
  }
  function tooltip(ev, text) {
    const tip = $("#tooltip");
    if (!ev) { tip.hidden = true; return; }
    tip.textContent = text; tip.hidden = false;
    tip.style.left = Math.min(ev.clientX + 12, window.innerWidth - 370) + "px";
    tip.style.top = ev.clientY + 14 + "px";
  }

  /* ---------------------------------------------------------------- position */
  function setAt(at, push) {
    state.at = Math.max(-1, Math.min(state.chunks - 1, at));
    $("#at-slider").value = state.at;
    $("#at-value").textContent = state.at;
    if (push !== false) writeHash();
    refresh();
  }
  function writeHash() { history.replaceState(null, "", `#${state.view}@${state.at}`); }
  function readHash() {
    const m = /^#(\w+)@(-?\d+)$/.exec(location.hash);
    if (m) { state.view = m[1]; state.at = parseInt(m[2], 10); }
  }
  async function updateLabel() {
    if (state.at < 0) { $("#at-label").textContent = "nothing read yet"; return; }
    const tl = state.timeline;
    const ch = tl && tl.chapters.find((c) => c.first_chunk <= state.at && state.at <= c.last_chunk);
    $("#at-label").textContent = ch ? `of ${state.chunks} · chapter ${ch.chapter}: ${ch.title}` : `of ${state.chunks}`;
  }

  /* ---------------------------------------------------------------- characters */
  function card(c) {
    const aliases = c.aliases.map((a) => `<span class="chip" title="first called so in chunk ${a.chunk}">${esc(a.name)} ${ref(a.chunk, a.chapter, "ch " + a.chunk)}</span>`).join("");
    const items = c.descriptions.slice().reverse().map((d) => `<li>${esc(d.text)} ${ref(d.chunk, d.chapter)}</li>`);
    const descs = items.slice(0, 3).join("") + (items.length > 3
      ? `<li class="more"><details><summary>${items.length - 3} earlier description${items.length > 4 ? "s" : ""}</summary><ul>${items.slice(3).join("")}</ul></details></li>` : "");
    const facts = (c.facts || []).map((f) => `<li>${esc(f.text)} ${ref(f.chunk, f.chapter, "since chunk " + f.chunk, f.sentence)}</li>`).join("");
    return `<article class="card ${esc(c.kind)}" data-id="${esc(c.id)}">
      <h4>${esc(c.name)}<span class="kind">${esc(c.kind)}</span></h4>
      <div class="meta">in ${c.mentions} chunk${c.mentions === 1 ? "" : "s"} · first ${ref(c.first_chunk, "", "chunk " + c.first_chunk)} · latest ${ref(c.last_chunk, "", "chunk " + c.last_chunk)}</div>
      ${aliases ? `<div class="aliases">also: ${aliases}</div>` : ""}
      ${facts ? `<ul class="facts">${facts}</ul>` : ""}
      ${descs ? `<ul class="descriptions">${descs}</ul>` : ""}
    </article>`;
  }
  async function loadCharacters(token) {
    const list = await api("/api/characters", { at: state.at, q: state.q, kind: state.kind });
    if (token !== loadToken) return;
    $("#characters-list").innerHTML = list.length ? list.map(card).join("") : `<div class="empty">${state.at < 0 ? "Nothing read yet: move the slider." : "No one matches (as of chunk " + state.at + ")."}</div>`;
    $("#char-count").textContent = `${list.length} known at chunk ${state.at}`;
  }

  /* ---------------------------------------------------------------- continuity */
  async function loadContinuity(token) {
    const rows = await api("/api/continuity", { at: state.at });
    if (token !== loadToken) return;
    $("#continuity-table tbody").innerHTML = rows.map((r) => `<tr class="contradiction">
      <td>${ref(r.chunk, r.chapter, `chunk ${r.chunk}, ch. ${r.chapter}`, r.text)}</td><td>${esc(r.kind)}</td><td>${esc(r.entity)}</td>
      <td>${esc(r.text)}${r.again.length ? ` <small class="again">(again in chunk${r.again.length === 1 ? "" : "s"} ${r.again.join(", ")})</small>` : ""}</td><td>${r.fact.chunk < 0 ? "the plan" : ref(r.fact.chunk, r.fact.chapter, `chunk ${r.fact.chunk}, ch. ${r.fact.chapter}`, r.fact.text)}</td>
      <td>${esc(r.fact.kind)}: ${esc(r.fact.text)}</td></tr>`).join("");
    $("#continuity-count").textContent = `${rows.length} contradiction${rows.length === 1 ? "" : "s"} in chunks 0..${state.at}`;
  }

  /* ---------------------------------------------------------------- graph */
  async function loadGraph(token) {
    const data = await api("/api/graph", { at: state.at });
    if (token !== loadToken) return;
    const info = $("#graph-info");
    info.classList.remove("open");
    const drawn = window.drawGraph($("#graph-svg"), data, {
      labels: $("#graph-labels").checked, minWeight: parseInt($("#graph-min").value || "1", 10),
      positions: graphPositions, tooltip,
      onSelect: async (node) => {
        const cards = await api("/api/characters", { at: state.at });
        const c = cards.find((x) => x.id === node.id);
        const links = data.edges.filter((e) => e.source === node.id || e.target === node.id).slice(0, 12).map((e) => {
          const other = data.nodes.find((n) => n.id === (e.source === node.id ? e.target : e.source));
          const rel = [...new Set(e.relations.map((r) => r.label))].join(", ");
          return `<li>${esc(other ? other.name : "?")}${rel ? ` <i>(${esc(rel)})</i>` : ""}: ${e.weight} chunk${e.weight > 1 ? "s" : ""}</li>`;
        }).join("");
        info.innerHTML = (c ? card(c) : "") + (links ? `<h4>links</h4><ul>${links}</ul>` : "");
        info.classList.add("open");
      },
    });
    $("#graph-count").textContent = `${drawn.nodeCount} entities, ${drawn.edgeCount} links at chunk ${state.at}`;
  }

  /* ---------------------------------------------------------------- timeline */
  function drawTimeline(tl) {
    const svg = $("#timeline-svg");
    const NS = "http://www.w3.org/2000/svg";
    const cols = tl.chunks.length, rows = tl.entities.length;
    const room = ($("#timeline-wrap").clientWidth || 1200) - 200;
    const left = 170, top = 46, cw = Math.max(8, Math.min(44, Math.floor(room / Math.max(cols, 1)))), rh = 20;
    const width = left + cols * cw + 20, height = top + rows * rh + 20;
    svg.setAttribute("width", width); svg.setAttribute("height", height); svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
    const parts = [];
    tl.chapters.forEach((c, i) => {
      const x = left + (c.first_chunk) * cw, w = (c.last_chunk - c.first_chunk + 1) * cw;
      parts.push(`<rect class="chapter-band${i % 2 ? " odd" : ""}" x="${x}" y="0" width="${w}" height="${height}"><title>chapter ${c.chapter}: ${esc(c.title)}</title></rect>`);
      const label = c.title || `Chapter ${c.chapter}`, fits = Math.max(2, Math.floor((w - 6) / 6.5));
      parts.push(`<text x="${x + 3}" y="14">${esc(label.length > fits ? label.slice(0, fits - 1) + "…" : label)}</text>`);
    });
    for (let k = 0; k < cols; k += Math.max(1, Math.ceil(30 / cw))) parts.push(`<text x="${left + k * cw + cw / 2}" y="36" font-size="9" text-anchor="middle">${tl.chunks[k].index}</text>`);
    tl.entities.forEach((e, r) => {
      const y = top + r * rh;
      parts.push(`<line class="row-line" x1="${left}" x2="${width - 20}" y1="${y + rh / 2}" y2="${y + rh / 2}"/>`);
      parts.push(`<text x="6" y="${y + rh / 2 + 4}">${esc(e.name.slice(0, 24))}</text>`);
      for (const c of e.chunks) parts.push(`<circle class="${esc(e.kind)}-fill" cx="${left + c * cw + cw / 2}" cy="${y + rh / 2}" r="${Math.min(6, cw / 2 - 1)}"><title>${esc(e.name)} in chunk ${c}</title></circle>`);
    });
    for (const c of tl.chunks) parts.push(`<rect class="col" data-chunk="${c.index}" x="${left + c.index * cw}" y="24" width="${cw}" height="${height - 24}" fill="transparent"><title>chunk ${c.index} (chapter ${c.chapter}): ${c.entities.length} named</title></rect>`);
    svg.innerHTML = parts.join("");
    svg.dataset.chunks = cols; svg.dataset.entities = rows;
    svg.onclick = (ev) => { const t = ev.target.closest(".col"); if (t) openChunk(parseInt(t.dataset.chunk, 10)); };
  }
  async function loadTimeline(token) {
    const tl = await api("/api/timeline", { at: state.at });
    if (token !== loadToken) return;
    state.timeline = tl; updateLabel();
    if (state.view === "timeline") drawTimeline(tl);
  }

  /* ---------------------------------------------------------------- context */
  async function loadContext(token) {
    $("#prompt-total").textContent = "…";
    const p = await api("/api/prompt", { at: state.at, budget: state.budget });
    if (token !== loadToken) return;
    $("#prompt-next").textContent = state.at + 1;
    $("#prompt-total").textContent = p.tokens;
    $("#prompt-budget").textContent = p.budget;
    $("#prompt-budget-input").value = p.budget;
    $("#prompt-counts").textContent = `${p.counts.included} included · ${p.counts.shortened} shortened · ${p.counts.dropped} dropped`;
    const pct = (t) => Math.min(100, 100 * t / p.budget).toFixed(2);
    $("#prompt-bar").innerHTML = Object.entries(p.section_tokens).map(([name, t]) =>
      `<span style="width:${pct(t)}%;background:${SECTION_COLOURS[name] || "var(--sec-other)"}" title="${esc(name)}: ${t} tokens"></span>`).join("");
    $("#prompt-sections").innerHTML = Object.entries(p.sections).map(([name, text]) => {
      const t = p.section_tokens[name] || 0;
      return `<details class="section" data-section="${esc(name)}"><summary><span class="name">${esc(name)}</span>
        <span class="bar"><span style="width:${pct(t)}%;background:${SECTION_COLOURS[name] || "var(--sec-other)"}"></span></span>
        <span class="tok">${t} tokens (${pct(t)}%)</span></summary><pre>${esc(text)}</pre></details>`;
    }).join("");
    const rows = p.decisions.filter((d) => !state.fate || d.fate === state.fate).map((d) => `<tr class="${d.fate}">
      <td>${esc(d.candidate_id)}</td><td>${esc(d.section)}</td>
      <td class="num">${d.chunk >= 0 ? ref(d.chunk, "", String(d.chunk)) : ""}</td><td class="num">${d.score.toFixed(2)}</td>
      <td class="num tokens">${d.tokens}<span class="bar"><span style="width:${pct(d.tokens)}%;background:var(--${d.fate})"></span></span></td>
      <td><span class="fate ${d.fate}">${d.fate}</span></td><td>${esc(d.reason)}</td></tr>`).join("");
    $("#prompt-decisions tbody").innerHTML = rows;
  }

  /* ---------------------------------------------------------------- ask */
  async function ask(question) {
    state.lastAsk = question;
    const out = $("#ask-result");
    out.innerHTML = `<div class="muted">asking, as of chunk ${state.at}…</div>`;
    try {
      const a = await api("/api/ask", { q: question, at: state.at });
      const answer = esc(a.answer).replace(/\[chunk (\d+), chapter (\d+)\]/g, (m, c) => `<button class="citation" data-chunk="${c}" type="button">${m}</button>`);
      const cites = a.citations.map((c) => `<li><button class="citation" data-chunk="${c.chunk}" type="button">[chunk ${c.chunk}, chapter ${c.chapter}]</button> <span class="muted">${c.kind === "entity" ? "lore card" : "memory"}:</span> ${esc(c.text)}</li>`).join("");
      out.innerHTML = `<div class="answer" id="ask-answer">${answer}<div class="method">as of chunk ${a.at} · ${esc(a.method)}${a.note ? " · " + esc(a.note) : ""}</div></div>
        ${cites ? `<ul class="citations">${cites}</ul>` : ""}`;
    } catch (err) {
      out.innerHTML = `<div class="answer error">${esc(err.message)}</div>`;
    }
  }

  /* ---------------------------------------------------------------- compare */
  function fmt(v) {
    if (v === null || v === undefined) return "–";
    if (typeof v !== "number") return esc(v);
    return Number.isInteger(v) ? String(v) : v.toFixed(Math.abs(v) >= 10 ? 1 : 3);
  }
  async function loadCompare(token) {
    const reports = await api("/api/compare", { at: state.at });
    if (token !== loadToken) return;
    const name = state.info ? state.info.name : "NAME";
    if (!reports.length) {
      $("#compare-body").innerHTML = `<div class="empty">No compare report for this story yet. Make one with<br><code>automuse compare --story ${esc(name)} --out stores/${esc(name)}/compare</code></div>`;
      return;
    }
    $("#compare-body").innerHTML = reports.map((r) => {
      const cols = ["mean_prompt_tokens", "max_prompt_tokens", "over_budget_count", "mean_entity_recall", "mean_nll", "final_memory_calls"];
      const head = `<tr><th>strategy</th>${cols.map((c) => `<th>${c.replace(/_/g, " ")}</th>`).join("")}</tr>`;
      const body = r.summary.map((row) => `<tr><td>${esc(row.strategy)}</td>${cols.map((c) => `<td>${fmt(row[c])}</td>`).join("")}</tr>`).join("");
      const atTable = r.at_rows.length ? `<h4>at position ${r.at_position} (the latest evaluated ≤ chunk ${state.at})</h4><table><tr><th>strategy</th><th>prompt tokens</th><th>over budget</th><th>entity recall</th><th>NLL</th></tr>${r.at_rows.map((x) => `<tr><td>${esc(x.strategy)}</td><td>${fmt(x.prompt_tokens)}</td><td>${x.over_budget ? "yes" : "no"}</td><td>${fmt(x.entity_recall)}</td><td>${fmt(x.nll)}</td></tr>`).join("")}</table>` : "";
      return `<div class="report"><h3>budget ${r.budget} · ${esc(r.llm)} · ${r.positions} positions of ${r.n_chunks} chunks</h3>
        <div class="muted">${esc(r.directory)}</div><table class="summary">${head}${body}</table>${atTable}
        <div class="plots">${r.plots.map((p) => `<img src="${p.url}" alt="${esc(p.name)}" loading="lazy">`).join("")}</div></div>`;
    }).join("");
  }

  /* ---------------------------------------------------------------- chunk panel */
  async function openChunk(index, highlight) {
    const panel = $("#chunk-panel"), body = $("#chunk-body");
    panel.hidden = false;
    state.panel = { index, highlight };
    try {
      const c = await api(`/api/chunk/${index}`, { at: state.at });
      const names = c.names.map((n) => esc(n).replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
      let text = esc(c.text);
      if (names.length) text = text.replace(new RegExp(`(^|[^\\p{L}])(${names.join("|")})(?![\\p{L}])`, "gu"), "$1<mark>$2</mark>");
      body.innerHTML = `<h3>chunk ${c.index} · chapter ${c.chapter}: ${esc(c.chapter_title)}</h3>
        ${highlight ? `<p><b>cited:</b> ${esc(highlight)}</p>` : ""}
        <p><b>memory:</b> ${esc(c.summary)}</p><p class="muted">named: ${esc(c.entities.join(", ") || "nobody")}</p><div class="text">${text}</div>`;
    } catch (err) {
      body.innerHTML = `<p>${esc(err.message)}</p>`;
    }
  }

  /* ---------------------------------------------------------------- wiring */
  async function refresh() {
    const token = ++loadToken;
    const loaders = { characters: loadCharacters, graph: loadGraph, timeline: async () => {}, context: loadContext, continuity: loadContinuity, ask: async () => {}, compare: loadCompare };
    document.body.dataset.loading = "1";
    try {
      const panelOpen = !$("#chunk-panel").hidden && state.panel;
      await Promise.all([loadTimeline(token), loaders[state.view](token),
        panelOpen ? openChunk(state.panel.index, state.panel.highlight) : null]);  // never keep showing a chunk past the slider
      if (state.view === "ask") $("#ask-where").textContent = `answers use chunks 0..${state.at} only`;
      if (state.view === "ask" && state.lastAsk) await ask(state.lastAsk);
      $("#error").hidden = true;
    } catch (err) {
      if (token === loadToken) { $("#error").textContent = `could not load this view: ${err.message}`; $("#error").hidden = false; }
    } finally {
      if (token === loadToken) { document.body.dataset.loading = ""; document.body.dataset.at = state.at; }
    }
  }
  function show(view) {
    state.view = view;
    $$("#tabs button").forEach((b) => b.classList.toggle("active", b.dataset.view === view));
    $$(".view").forEach((v) => v.classList.toggle("active", v.id === "view-" + view));
    writeHash();
    refresh();
  }
  let slideTimer = null;
  function wire() {
    $("#at-slider").addEventListener("input", (ev) => {
      $("#at-value").textContent = ev.target.value;
      clearTimeout(slideTimer);
      slideTimer = setTimeout(() => setAt(parseInt(ev.target.value, 10)), 120);
    });
    $("#at-slider").addEventListener("change", (ev) => { clearTimeout(slideTimer); setAt(parseInt(ev.target.value, 10)); });
    $("#at-prev").onclick = () => setAt(state.at - 1);
    $("#at-next").onclick = () => setAt(state.at + 1);
    $$("#tabs button").forEach((b) => (b.onclick = () => show(b.dataset.view)));
    let searchTimer = null;
    $("#char-search").addEventListener("input", (ev) => { clearTimeout(searchTimer); searchTimer = setTimeout(() => { state.q = ev.target.value; refresh(); }, 150); });
    $$(".kinds button").forEach((b) => (b.onclick = () => { state.kind = b.dataset.kind; $$(".kinds button").forEach((x) => x.classList.toggle("active", x === b)); refresh(); }));
    $$(".fates button").forEach((b) => (b.onclick = () => { state.fate = b.dataset.fate; $$(".fates button").forEach((x) => x.classList.toggle("active", x === b)); refresh(); }));
    $("#graph-labels").onchange = () => refresh();
    $("#graph-min").onchange = () => refresh();
    $("#prompt-budget-input").onchange = (ev) => { state.budget = parseInt(ev.target.value, 10) || null; refresh(); };
    $("#ask-form").onsubmit = (ev) => { ev.preventDefault(); const q = $("#ask-input").value.trim(); if (q) ask(q); };
    $("#chunk-close").onclick = () => { $("#chunk-panel").hidden = true; };
    document.addEventListener("click", (ev) => {
      const t = ev.target.closest("button.ref, button.citation");
      if (!t) return;
      const li = t.closest("li");
      openChunk(parseInt(t.dataset.chunk, 10), t.dataset.highlight || (t.classList.contains("citation") && li ? li.textContent.replace(/^\s*\[[^\]]*\]\s*/, "") : ""));
    });
    document.addEventListener("keydown", (ev) => {
      if (ev.target.tagName === "INPUT") return; // the slider moves itself; text boxes keep their arrows
      if (ev.key === "ArrowLeft") setAt(state.at - 1);
      if (ev.key === "ArrowRight") setAt(state.at + 1);
      if (ev.key === "Escape") $("#chunk-panel").hidden = true;
    });
  }
  async function start() {
    wire();
    state.info = await api("/api/story");
    state.chunks = state.info.chunks;
    document.title = `automuse · ${state.info.name}`;
    $("#story-name").textContent = state.info.name;
    $("#at-slider").max = state.chunks - 1;
    state.at = state.chunks - 1;
    readHash();
    $$("#tabs button").forEach((b) => b.classList.toggle("active", b.dataset.view === state.view));
    $$(".view").forEach((v) => v.classList.toggle("active", v.id === "view-" + state.view));
    setAt(state.at);
  }
  window.addEventListener("DOMContentLoaded", start);
  window.addEventListener("hashchange", () => {  // a typed or linked #view@chunk
    if (!state.info) return;
    readHash();
    $$("#tabs button").forEach((b) => b.classList.toggle("active", b.dataset.view === state.view));
    $$(".view").forEach((v) => v.classList.toggle("active", v.id === "view-" + state.view));
    setAt(state.at);
  });
})();
