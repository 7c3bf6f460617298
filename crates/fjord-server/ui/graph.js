// The resource tree as an SVG graph: the Application at the left, managed resources in the
// next column, owned objects further right (one column per ownership level). Node fill
// follows health, the border sync status. No library: columns by depth, rows in order.
"use strict";

const FjordGraph = (() => {
  const NS = "http://www.w3.org/2000/svg";
  const W = 230, H = 46, GAPX = 70, GAPY = 14, PAD = 16;
  const HEALTH = {
    Healthy: "#e3f7e9", Progressing: "#e4eefc", Degraded: "#fde8e8", Missing: "#fff4d6",
    Suspended: "#efe8fb", Unknown: "#eef0f3",
  };
  const SYNC = { Synced: "#18a058", OutOfSync: "#f2a900", Unknown: "#9aa3af" };

  function svg(tag, attrs, text) {
    const e = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function clip(s, n) { return s.length > n ? s.slice(0, n - 1) + "…" : s; }

  // nodes: [{id, kind, name, parents, health, sync, managed}]; root: {name, health, sync}.
  function render(container, root, nodes, onSelect) {
    const depth = new Map();
    const byId = new Map(nodes.map(n => [n.id, n]));
    const depthOf = (n, seen = new Set()) => {
      if (depth.has(n.id)) return depth.get(n.id);
      if (seen.has(n.id)) return 1;
      seen.add(n.id);
      const parents = (n.parents || []).map(p => byId.get(p)).filter(Boolean);
      const d = parents.length ? 1 + Math.max(...parents.map(p => depthOf(p, seen))) : 1;
      depth.set(n.id, d);
      return d;
    };
    nodes.forEach(n => depthOf(n));
    const columns = [[{ id: "__app", kind: "Application", name: root.name, health: root.health, sync: root.sync, parents: [] }]];
    for (const n of nodes) {
      const d = depth.get(n.id);
      (columns[d] = columns[d] || []).push(n);
    }
    // Rows: the managed resources in order; each owned object beside its (first) owner,
    // pushed down only as far as the column's earlier nodes need.
    const row = new Map();
    let rows = 1;
    columns.forEach((col, c) => {
      if (!col) return;
      if (c >= 2) col.sort((a, b) => (row.get(a.parents[0]) || 0) - (row.get(b.parents[0]) || 0));
      let next = 0;
      for (const n of col) {
        const want = c >= 2 ? Math.min(...(n.parents || []).map(p => row.has(p) ? row.get(p) : Infinity)) : next;
        const r = Math.max(next, Number.isFinite(want) ? want : next);
        row.set(n.id, r);
        next = r + 1;
      }
      rows = Math.max(rows, next);
    });
    const pos = new Map();
    columns.forEach((col, c) => (col || []).forEach(n => pos.set(n.id, { x: PAD + c * (W + GAPX), y: PAD + row.get(n.id) * (H + GAPY) })));
    const width = PAD * 2 + columns.length * (W + GAPX) - GAPX;
    const height = PAD * 2 + rows * (H + GAPY) - GAPY;
    const s = svg("svg", { width, height, viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": "resource tree" });
    for (const n of nodes) {
      const to = pos.get(n.id);
      const parents = (n.parents && n.parents.length) ? n.parents : ["__app"];
      for (const p of parents) {
        const from = pos.get(p);
        if (!from || !to) continue;
        const x1 = from.x + W, y1 = from.y + H / 2, x2 = to.x, y2 = to.y + H / 2, mx = (x1 + x2) / 2;
        s.appendChild(svg("path", { class: "edge", d: `M${x1},${y1} C${mx},${y1} ${mx},${y2} ${x2},${y2}` }));
      }
    }
    columns.forEach(col => (col || []).forEach(n => {
      const p = pos.get(n.id);
      const g = svg("g", {
        class: "node", transform: `translate(${p.x},${p.y})`, "data-id": n.id, "data-kind": n.kind,
        "data-name": n.name, "data-health": n.health || "", "data-sync": n.sync || "",
      });
      g.appendChild(svg("rect", {
        width: W, height: H, rx: 7, fill: HEALTH[n.health] || HEALTH.Unknown,
        stroke: n.sync ? (SYNC[n.sync] || SYNC.Unknown) : "#c5ccd6",
        "stroke-dasharray": n.live === false ? "5,3" : "",
      }));
      g.appendChild(svg("text", { x: 10, y: 18, "font-weight": 600 }, clip(n.kind, 30)));
      g.appendChild(svg("text", { x: 10, y: 35 }, clip(n.name, 32)));
      const status = [n.health, n.sync].filter(Boolean).join(" · ");
      g.appendChild(svg("title", {}, `${n.kind} ${n.namespace ? n.namespace + "/" : ""}${n.name}\n${status}${n.healthMessage ? "\n" + n.healthMessage : ""}`));
      if (onSelect) g.addEventListener("click", () => onSelect(n));
      s.appendChild(g);
    }));
    container.replaceChildren(s);
  }

  return { render };
})();
