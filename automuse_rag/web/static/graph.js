/* A small interactive SVG graph for automuse serve (no library, no network).
 *
 * drawGraph(svg, data, options) draws data.nodes (id, name, kind, mentions, x, y in
 * [-1, 1], laid out by networkx on the server) and data.edges (source, target,
 * weight, chunks, relations). Nodes can be dragged, the background panned, the
 * wheel zooms; hovering shows a tooltip, clicking a node calls options.onSelect.
 * Part of automuse-rag (MIT licence).
 */
(function () {
  "use strict";
  const NS = "http://www.w3.org/2000/svg";
  const M = 60;

  function el(name, attrs, parent) {
    const node = document.createElementNS(NS, name);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    if (parent) parent.appendChild(node);
    return node;
  }

  function relationText(edge) {
    const labels = [...new Set((edge.relations || []).map((r) => r.label))];
    return labels.slice(0, 2).join(", ") + (labels.length > 2 ? "…" : "");
  }

  function drawGraph(svg, data, options) {
    const opts = Object.assign({ labels: true, minWeight: 1, onSelect: null, tooltip: null, positions: {} }, options);
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    const box = svg.getBoundingClientRect();
    const W = Math.max(600, Math.round(box.width || 1000)), H = Math.max(400, Math.round(box.height || 680));
    svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
    let view = { x: 0, y: 0, w: W, h: H };
    const root = el("g", {}, svg);
    const edgeLayer = el("g", {}, root), labelLayer = el("g", {}, root), nodeLayer = el("g", {}, root);
    const pos = {};
    for (const n of data.nodes) {
      pos[n.id] = opts.positions[n.id] || { x: M + (n.x + 1) / 2 * (W - 2 * M), y: M + (n.y + 1) / 2 * (H - 2 * M) };
    }
    const edges = data.edges.filter((e) => e.weight >= opts.minWeight || (e.relations || []).length);
    const neighbours = {};
    const edgeEls = [];
    for (const e of edges) {
      (neighbours[e.source] = neighbours[e.source] || new Set()).add(e.target);
      (neighbours[e.target] = neighbours[e.target] || new Set()).add(e.source);
      const labelled = (e.relations || []).length > 0;
      const line = el("line", { class: "edge" + (labelled ? " labelled" : ""), "stroke-width": (1 + Math.log2(e.weight)).toFixed(2) }, edgeLayer);
      line.dataset.source = e.source; line.dataset.target = e.target;
      let label = null;
      if (labelled && opts.labels) {
        label = el("text", { class: "edge-label", "text-anchor": "middle" }, labelLayer);
        label.textContent = relationText(e);
      }
      const names = (id) => (data.nodes.find((n) => n.id === id) || { name: id }).name;
      const rel = (e.relations || []).map((r) => `${r.label} (chunk ${r.chunk})`).join("; ");
      line.addEventListener("mousemove", (ev) => opts.tooltip && opts.tooltip(ev,
        `${names(e.source)} — ${names(e.target)}: together in ${e.weight} chunk${e.weight > 1 ? "s" : ""} (${e.chunks.slice(0, 12).join(", ")}${e.chunks.length > 12 ? "…" : ""})` + (rel ? `; ${rel}` : "")));
      line.addEventListener("mouseleave", () => opts.tooltip && opts.tooltip(null));
      edgeEls.push({ e, line, label });
    }
    const nodeEls = {};
    for (const n of data.nodes) {
      const g = el("g", { class: "node " + n.kind }, nodeLayer);
      g.dataset.id = n.id;
      const r = 5 + 2.2 * Math.sqrt(n.mentions);
      el("circle", { r: r.toFixed(1), class: n.kind + "-fill" }, g);
      const t = el("text", { x: (r + 3).toFixed(1), y: "4" }, g);
      t.textContent = n.name;
      nodeEls[n.id] = g;
      g.addEventListener("mouseenter", (ev) => { highlight(n.id); opts.tooltip && opts.tooltip(ev, `${n.name} (${n.kind}) · ${n.mentions} chunks, first ${n.first_chunk}, last ${n.last_chunk}`); });
      g.addEventListener("mouseleave", () => { highlight(null); opts.tooltip && opts.tooltip(null); });
      g.addEventListener("pointerdown", (ev) => startDrag(ev, n));
    }

    function place() {
      for (const { e, line, label } of edgeEls) {
        const a = pos[e.source], b = pos[e.target];
        if (!a || !b) continue;
        line.setAttribute("x1", a.x); line.setAttribute("y1", a.y);
        line.setAttribute("x2", b.x); line.setAttribute("y2", b.y);
        if (label) { label.setAttribute("x", (a.x + b.x) / 2); label.setAttribute("y", (a.y + b.y) / 2 - 3); }
      }
      for (const [id, g] of Object.entries(nodeEls)) g.setAttribute("transform", `translate(${pos[id].x.toFixed(1)},${pos[id].y.toFixed(1)})`);
    }

    function highlight(id) {
      const near = id ? (neighbours[id] || new Set()) : null;
      for (const [nid, g] of Object.entries(nodeEls)) g.classList.toggle("dim", !!id && nid !== id && !near.has(nid));
      for (const { e, line, label } of edgeEls) {
        const on = !id || e.source === id || e.target === id;
        line.classList.toggle("dim", !on); line.classList.toggle("hl", !!id && on);
        if (label) label.classList.toggle("dim", !on);
      }
    }

    function toSvg(ev) {
      const rect = svg.getBoundingClientRect();
      const scale = Math.max(view.w / rect.width, view.h / rect.height);
      const ox = (rect.width * scale - view.w) / 2, oy = (rect.height * scale - view.h) / 2;
      return { x: view.x - ox + (ev.clientX - rect.left) * scale, y: view.y - oy + (ev.clientY - rect.top) * scale, scale };
    }

    function setView() { svg.setAttribute("viewBox", `${view.x} ${view.y} ${view.w} ${view.h}`); }

    function startDrag(ev, n) {
      ev.stopPropagation();
      const start = toSvg(ev), p0 = { ...pos[n.id] };
      let moved = false;
      const move = (e2) => {
        const p = toSvg(e2);
        if (Math.abs(p.x - start.x) + Math.abs(p.y - start.y) > 2) moved = true;
        pos[n.id] = { x: p0.x + p.x - start.x, y: p0.y + p.y - start.y };
        opts.positions[n.id] = pos[n.id];
        place();
      };
      const up = () => {
        window.removeEventListener("pointermove", move); window.removeEventListener("pointerup", up);
        if (!moved && opts.onSelect) opts.onSelect(n, [...(neighbours[n.id] || [])]);
      };
      window.addEventListener("pointermove", move); window.addEventListener("pointerup", up);
    }

    svg.onpointerdown = (ev) => {
      const start = { x: ev.clientX, y: ev.clientY, vx: view.x, vy: view.y };
      const scale = toSvg(ev).scale;
      const move = (e2) => { view.x = start.vx - (e2.clientX - start.x) * scale; view.y = start.vy - (e2.clientY - start.y) * scale; setView(); };
      const up = () => { window.removeEventListener("pointermove", move); window.removeEventListener("pointerup", up); };
      window.addEventListener("pointermove", move); window.addEventListener("pointerup", up);
    };
    svg.onwheel = (ev) => {
      ev.preventDefault();
      const p = toSvg(ev), f = ev.deltaY > 0 ? 1.15 : 1 / 1.15;
      view = { x: p.x - (p.x - view.x) * f, y: p.y - (p.y - view.y) * f, w: view.w * f, h: view.h * f };
      setView();
    };
    place();
    return { highlight, nodeCount: data.nodes.length, edgeCount: edges.length };
  }

  window.drawGraph = drawGraph;
})();
