// Fjord's web UI: login, the application list (tiles or table, filters, counts, server-side
// pages) and the application page (tree, diff, manifests, history, events, actions), kept
// current by the server-sent event stream. Data is only ever inserted as text, never as HTML.
"use strict";

const S = { user: null, csrf: null, source: null, refreshList: null, refreshApp: null };
const view = () => document.getElementById("view");

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (k === "class") e.className = v;
    else e.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    e.appendChild(typeof c === "string" || typeof c === "number" ? document.createTextNode(String(c)) : c);
  }
  return e;
}

class HttpError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

async function api(method, path, body) {
  const headers = { "Accept": "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && S.csrf) headers["X-CSRF-Token"] = S.csrf;
  const r = await fetch(path, { method, headers, credentials: "same-origin", body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await r.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (_) { data = null; }
  if (r.status === 401) { showLogin(); throw new HttpError(401, "log in first"); }
  if (!r.ok) throw new HttpError(r.status, (data && data.message) || r.statusText);
  return data;
}

function badge(kind, value) { return el("span", { class: `badge ${kind}-${value || "Unknown"}`, "data-role": kind }, value || "Unknown"); }

function navigate(path) {
  history.pushState({}, "", path);
  route();
}

// ---- login ----------------------------------------------------------------------------

function showLogin(message) {
  stopStream();
  S.user = null; S.csrf = null;
  document.getElementById("user").textContent = "";
  document.getElementById("logout").hidden = true;
  const err = el("p", { class: "error", id: "login-error" }, message || "");
  const input = el("input", { id: "token", type: "password", name: "token", autocomplete: "current-password", required: true });
  const form = el("form", { class: "login", id: "login-form" },
    el("h2", {}, "Log in to Fjord"),
    el("label", { for: "token" }, "Token"),
    input,
    el("button", { class: "primary", id: "login-submit", type: "submit" }, "Log in"),
    err,
    el("p", { class: "muted" }, "The admin token is in Secret fjord-admin (key token) in the controller's namespace; `fjord up` prints it once."));
  form.addEventListener("submit", async ev => {
    ev.preventDefault();
    try {
      const r = await fetch("/api/v1/session", {
        method: "POST", credentials: "same-origin", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ token: input.value }),
      });
      if (!r.ok) { err.textContent = r.status === 401 ? "Unknown token." : `Login failed (${r.status}).`; return; }
      const data = await r.json();
      signedIn(data.user, data.csrfToken);
    } catch (e) { err.textContent = String(e); }
  });
  view().replaceChildren(form);
  input.focus();
}

function signedIn(user, csrf) {
  S.user = user; S.csrf = csrf;
  document.getElementById("user").textContent = user;
  document.getElementById("logout").hidden = false;
  startStream();
  route();
}

// ---- live updates ---------------------------------------------------------------------

function startStream() {
  stopStream();
  const src = new EventSource("/api/v1/stream/applications");
  const ind = document.getElementById("live-indicator");
  src.onopen = () => { ind.className = "live on"; };
  src.onerror = () => { ind.className = "live off"; };
  const poke = (ev) => {
    let data = null;
    try { data = JSON.parse(ev.data); } catch (_) { /* resync */ }
    if (S.refreshList) S.refreshList(data);
    if (S.refreshApp) S.refreshApp(data);
  };
  src.addEventListener("application", poke);
  src.addEventListener("resync", poke);
  S.source = src;
}

function stopStream() {
  if (S.source) S.source.close();
  S.source = null;
}

// Runs `fn` at most once per `ms`, trailing.
function throttle(fn, ms) {
  let timer = null, last = 0;
  return (...args) => {
    const wait = Math.max(0, last + ms - Date.now());
    if (timer) return;
    timer = setTimeout(() => { timer = null; last = Date.now(); fn(...args); }, wait);
  };
}

// ---- application list -----------------------------------------------------------------

const SYNCS = ["Synced", "OutOfSync", "Unknown"];
const HEALTHS = ["Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown"];

function listState() {
  const p = new URLSearchParams(location.search);
  return {
    search: p.get("search") || "", project: p.get("project") || "", sync: p.get("sync") || "",
    health: p.get("health") || "", sort: p.get("sort") || "name", mode: p.get("view") || "tiles",
    selector: p.get("selector") || "", cont: p.get("continue") || "",
  };
}

function setListState(st, keepPage) {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries({ search: st.search, project: st.project, sync: st.sync, health: st.health, sort: st.sort === "name" ? "" : st.sort, view: st.mode === "tiles" ? "" : st.mode, selector: st.selector, continue: keepPage ? st.cont : "" })) {
    if (v) p.set(k, v);
  }
  const q = p.toString();
  history.replaceState({}, "", "/applications" + (q ? "?" + q : ""));
}

async function showList() {
  S.refreshApp = null;
  const st = listState();
  const pages = [];  // continue tokens of earlier pages
  const search = el("input", { type: "search", id: "search", placeholder: "Search name, project, repo…", value: st.search });
  const projectSel = el("select", { id: "project-filter" }, el("option", { value: "" }, "All projects"));
  const sortSel = el("select", { id: "sort" }, ...[["name", "Name"], ["-name", "Name ↓"], ["health", "Health"], ["-health", "Health ↓"], ["sync", "Sync"], ["project", "Project"], ["-reconciledAt", "Recently reconciled"]].map(([v, t]) => el("option", { value: v, selected: v === st.sort }, t)));
  const modeBtn = el("button", { id: "toggle-view", type: "button" }, st.mode === "tiles" ? "Table view" : "Tile view");
  const summary = el("span", { id: "list-summary", class: "muted" });
  const syncBox = el("fieldset", {}, el("legend", {}, "Sync"));
  const healthBox = el("fieldset", {}, el("legend", {}, "Health"));
  const body = el("div", { id: "app-list" });
  const prev = el("button", { id: "prev-page", type: "button", disabled: true }, "‹ Previous");
  const next = el("button", { id: "next-page", type: "button", disabled: true }, "Next ›");
  const pageInfo = el("span", { class: "muted", id: "page-info" });
  const checks = new Map();
  const mkChecks = (box, names, key) => names.forEach(n => {
    const c = el("input", { type: "checkbox", value: n, "data-filter": key, checked: st[key].split(",").includes(n) });
    const count = el("span", { class: "count", "data-count": `${key}-${n}` }, "");
    checks.set(`${key}-${n}`, count);
    c.addEventListener("change", () => { st[key] = [...box.querySelectorAll("input:checked")].map(i => i.value).join(","); st.cont = ""; pages.length = 0; load(); });
    box.appendChild(el("label", {}, c, " ", n, " ", count));
  });
  mkChecks(syncBox, SYNCS, "sync");
  mkChecks(healthBox, HEALTHS, "health");
  view().replaceChildren(
    el("div", { class: "toolbar" }, search, projectSel, sortSel, modeBtn, summary),
    el("div", { class: "filters" }, syncBox, healthBox),
    body,
    el("div", { class: "pager" }, prev, pageInfo, next));

  api("GET", "/api/v1/projects").then(r => {
    for (const p of r.items) projectSel.appendChild(el("option", { value: p, selected: p === st.project }, p));
  }).catch(() => {});

  let typing = null;
  search.addEventListener("input", () => { clearTimeout(typing); typing = setTimeout(() => { st.search = search.value; st.cont = ""; pages.length = 0; load(); }, 200); });
  projectSel.addEventListener("change", () => { st.project = projectSel.value; st.cont = ""; pages.length = 0; load(); });
  sortSel.addEventListener("change", () => { st.sort = sortSel.value; st.cont = ""; pages.length = 0; load(); });
  modeBtn.addEventListener("click", () => { st.mode = st.mode === "tiles" ? "table" : "tiles"; modeBtn.textContent = st.mode === "tiles" ? "Table view" : "Tile view"; load(); });
  next.addEventListener("click", () => { pages.push(st.cont); st.cont = next.dataset.token; load(); });
  prev.addEventListener("click", () => { st.cont = pages.pop() || ""; load(); });

  let seq = 0;
  async function load() {
    const mine = ++seq;
    setListState(st, true);
    const q = new URLSearchParams({ limit: "100", sort: st.sort });
    for (const k of ["search", "project", "sync", "health", "selector"]) if (st[k]) q.set(k, st[k]);
    if (st.cont) q.set("continue", st.cont);
    let page;
    try { page = await api("GET", "/api/v1/applications?" + q); }
    catch (e) { if (e.status !== 401) body.replaceChildren(el("p", { class: "error" }, e.message)); return; }
    if (mine !== seq) return;
    for (const [k, span] of checks) {
      const [kind, name] = k.split("-");
      span.textContent = `(${(page.counts[kind] || {})[name] || 0})`;
    }
    summary.textContent = `${page.total} application${page.total === 1 ? "" : "s"}`;
    const start = pages.length * 100;
    pageInfo.textContent = page.total ? `${start + 1}–${start + page.items.length} of ${page.total}` : "";
    prev.disabled = pages.length === 0;
    next.disabled = !page.continue;
    next.dataset.token = page.continue || "";
    body.replaceChildren(st.mode === "tiles" ? tiles(page.items) : table(page.items));
    if (!page.items.length) body.appendChild(el("p", { class: "muted", id: "no-apps" }, "No applications match."));
  }
  S.refreshList = throttle(() => load(), 1000);
  await load();
}

function openApp(a) { navigate(`/applications/${encodeURIComponent(a.name)}${a.namespace ? "?appNamespace=" + encodeURIComponent(a.namespace) : ""}`); }

function tiles(items) {
  return el("div", { class: "tiles" }, items.map(a => el("div", {
    class: `tile health-${a.health}`, "data-app": a.name, tabindex: 0, onclick: () => openApp(a),
    onkeydown: (e) => { if (e.key === "Enter") openApp(a); },
  },
  el("h3", {}, a.name),
  el("div", {}, badge("sync", a.sync), " ", badge("health", a.health), a.operationPhase === "Running" ? el("span", { class: "badge op" }, "Syncing") : null),
  el("dl", {},
    el("dt", {}, "Project"), el("dd", {}, a.project),
    el("dt", {}, "Repo"), el("dd", { title: a.repoUrl }, a.repoUrl),
    el("dt", {}, "Path"), el("dd", {}, a.path || "—"),
    el("dt", {}, "Target"), el("dd", {}, a.targetRevision),
    el("dt", {}, "Dest."), el("dd", {}, a.destinationNamespace || "—")))));
}

function table(items) {
  return el("table", { class: "apps" },
    el("thead", {}, el("tr", {}, ["Name", "Project", "Sync", "Health", "Repository", "Path", "Destination", "Revision"].map(h => el("th", {}, h)))),
    el("tbody", {}, items.map(a => el("tr", { class: "app-row", "data-app": a.name, onclick: () => openApp(a) },
      el("td", {}, a.name), el("td", {}, a.project), el("td", {}, badge("sync", a.sync)), el("td", {}, badge("health", a.health)),
      el("td", {}, a.repoUrl), el("td", {}, a.path), el("td", {}, a.destinationNamespace), el("td", {}, (a.revision || "").slice(0, 8))))));
}

// ---- application page -----------------------------------------------------------------

async function showApp(name, ns) {
  S.refreshList = null;
  const q = ns ? `?appNamespace=${encodeURIComponent(ns)}` : "";
  const base = `/api/v1/applications/${encodeURIComponent(name)}`;
  const head = el("div", { class: "app-head" });
  const meta = el("div", { class: "app-meta", id: "app-meta" });
  const message = el("p", { id: "action-message", class: "muted" });
  const panel = el("div", { id: "tab-panel" });
  const syncPanel = el("div", { class: "sync-panel", id: "sync-panel", hidden: true });
  const tabs = el("div", { class: "tabs", role: "tablist" });
  const TABS = [["tree", "Tree"], ["diff", "Diff"], ["live", "Live manifests"], ["desired", "Desired manifests"], ["history", "History"], ["events", "Events"]];
  let current = "tree";
  let app = null;

  const act = async (label, method, path, body) => {
    message.className = "muted"; message.textContent = `${label}…`;
    try { await api(method, base + path + q, body); message.textContent = `${label}: requested.`; await refresh(); }
    catch (e) { message.className = "error"; message.textContent = `${label} failed: ${e.message}`; }
  };
  const prune = el("input", { type: "checkbox", id: "sync-prune" });
  const dry = el("input", { type: "checkbox", id: "sync-dry-run" });
  // Selective sync: tick resources to sync only those (none ticked: all).
  const picks = el("div", { id: "sync-resources", class: "muted" });
  const selected = () => [...picks.querySelectorAll("input:checked")].map(i => JSON.parse(i.value));
  syncPanel.append(el("label", {}, prune, " Prune"), el("label", {}, dry, " Dry run"), picks,
    el("button", { class: "primary", id: "sync-confirm", type: "button", onclick: () => { syncPanel.hidden = true; act("Sync", "POST", "/sync", { prune: prune.checked, dryRun: dry.checked, resources: selected() }); } }, "Synchronize"),
    el("button", { type: "button", onclick: () => { syncPanel.hidden = true; } }, "Cancel"));
  const fillPicks = () => {
    const resources = (app && app.status && app.status.resources) || [];
    picks.replaceChildren(el("div", {}, "Only these (none: all):"), ...resources.map(r => el("label", { class: "pick" },
      el("input", { type: "checkbox", value: JSON.stringify({ group: r.group || "", kind: r.kind, name: r.name, namespace: r.namespace || undefined }) }),
      ` ${r.kind}/${r.name} `)));
  };
  const actions = el("div", { class: "actions" },
    el("button", { class: "primary", id: "btn-sync", type: "button", onclick: () => { if (syncPanel.hidden) fillPicks(); syncPanel.hidden = !syncPanel.hidden; } }, "Sync"),
    el("button", { id: "btn-refresh", type: "button", onclick: () => act("Refresh", "POST", "/refresh", undefined) }, "Refresh"),
    el("button", { id: "btn-hard-refresh", type: "button", onclick: () => act("Hard refresh", "POST", "/refresh" + (q ? q + "&" : "?") + "refresh=hard", undefined) }, "Hard refresh"),
    el("button", { id: "btn-terminate", type: "button", class: "danger", onclick: () => act("Terminate", "DELETE", "/operation", undefined) }, "Terminate"));

  for (const [id, label] of TABS) {
    tabs.appendChild(el("button", { type: "button", id: `tab-${id}`, "data-tab": id, class: id === current ? "active" : "", onclick: () => { current = id; [...tabs.children].forEach(b => b.classList.toggle("active", b.dataset.tab === id)); showTab(); } }, label));
  }
  view().replaceChildren(el("p", {}, el("a", { href: "/applications", "data-nav": true }, "← Applications")), head, meta, actions, syncPanel, message, tabs, panel);

  async function refresh() {
    try { app = await api("GET", base + q); }
    catch (e) { if (e.status !== 401) head.replaceChildren(el("p", { class: "error" }, e.message)); return; }
    const s = app.summary;
    head.replaceChildren(el("h2", { id: "app-name" }, s.name),
      el("span", { id: "app-sync" }, badge("sync", s.sync)), el("span", { id: "app-health" }, badge("health", s.health)),
      s.operationPhase ? el("span", { class: "badge op", id: "app-operation" }, s.operationPhase) : null);
    meta.replaceChildren(`Project ${s.project} · ${s.repoUrl} ${s.path} @ ${s.targetRevision}` +
      (s.revision ? ` (${s.revision.slice(0, 8)})` : "") + ` → ${s.destinationNamespace || "—"} · auto-sync ${s.autoSync ? "on" : "off"}`,
      ...(s.conditions || []).map(c => el("div", { class: "error" }, c)));
    if (current === "tree" || current === "history") showTab();
  }

  async function showTab() {
    const mine = current;
    const fill = (...c) => { if (mine === current) panel.replaceChildren(...c); };
    try {
      if (mine === "tree") {
        const t = await api("GET", base + "/resource-tree" + q);
        const box = el("div", { class: "graph", id: "resource-tree" });
        const side = el("div", { class: "side", id: "node-detail" });
        fill(box, side);
        FjordGraph.render(box, t.application, t.nodes, n => {
          side.replaceChildren(el("h4", {}, `${n.kind} ${n.namespace ? n.namespace + "/" : ""}${n.name}`),
            el("div", {}, n.sync ? badge("sync", n.sync) : null, " ", n.health ? badge("health", n.health) : null, " ", n.healthMessage || ""),
            el("ul", {}, (n.info || []).map(i => el("li", {}, i))));
        });
      } else if (mine === "diff") {
        const d = await api("GET", base + "/managed-resources" + q);
        const showAll = el("input", { type: "checkbox", id: "diff-all" });
        const list = el("div", { id: "diff-list" });
        const draw = () => list.replaceChildren(...d.items.filter(i => showAll.checked || i.status !== "Unchanged").map(diffBlock));
        showAll.addEventListener("change", draw);
        draw();
        fill(el("p", { class: "muted" }, `Desired at ${d.revision.slice(0, 8)} against live. `, el("label", {}, showAll, " show unchanged")), list,
          d.items.every(i => i.status === "Unchanged") ? el("p", { id: "no-diff" }, "No differences.") : null);
      } else if (mine === "live" || mine === "desired") {
        const m = await api("GET", base + (mine === "live" ? "/live" : "/manifests") + q);
        fill(...m.items.map(i => el("div", { class: "diff-block" },
          el("h4", {}, `${i.kind} ${i.namespace ? i.namespace + "/" : ""}${i.name}`, i.exists ? "" : " (missing)"),
          el("pre", { class: "manifest" }, i.yaml))));
      } else if (mine === "history") {
        const h = await api("GET", base + "/history" + q);
        const auto = app && app.summary.autoSync;
        fill(el("table", { id: "history" },
          el("thead", {}, el("tr", {}, ["ID", "Revision", "Deployed", "By", ""].map(x => el("th", {}, x)))),
          el("tbody", {}, h.items.map(e => el("tr", {},
            el("td", {}, String(e.id)), el("td", {}, (e.revision || "").slice(0, 10)), el("td", {}, e.deployedAt || ""),
            el("td", {}, e.initiatedBy ? (e.initiatedBy.username || (e.initiatedBy.automated ? "automated" : "")) : ""),
            el("td", {}, el("button", { type: "button", "data-rollback": e.id, disabled: auto, title: auto ? "turn auto-sync off to roll back" : "",
              onclick: () => act(`Rollback to ${e.id}`, "POST", "/rollback", { id: e.id }) }, "Rollback")))))));
      } else if (mine === "events") {
        const ev = await api("GET", base + "/events" + q);
        fill(ev.items.length ? el("table", { id: "events" },
          el("thead", {}, el("tr", {}, ["Type", "Reason", "Object", "Message", "Last seen"].map(x => el("th", {}, x)))),
          el("tbody", {}, ev.items.map(e => el("tr", {},
            el("td", {}, e.type || ""), el("td", {}, e.reason || ""),
            el("td", {}, `${(e.involvedObject || {}).kind || ""} ${(e.involvedObject || {}).name || ""}`),
            el("td", {}, e.message || ""), el("td", {}, e.lastTimestamp || e.eventTime || ""))))) : el("p", { class: "muted" }, "No events."));
      }
    } catch (e) {
      if (e.status !== 401) fill(el("p", { class: "error" }, e.message));
    }
  }

  S.refreshApp = throttle((ev) => {
    if (!ev || !ev.application || ev.application.name === name) refresh();
  }, 700);
  await refresh();
  await showTab();
}

function diffBlock(i) {
  return el("div", { class: "diff-block", "data-resource": `${i.kind}/${i.name}` },
    el("h4", {}, `${i.kind} ${i.namespace ? i.namespace + "/" : ""}${i.name} `, el("span", { class: "muted" }, i.status)),
    el("table", { class: "diff" },
      el("thead", {}, el("tr", {}, el("th", {}, "Live"), el("th", {}, "Desired"))),
      el("tbody", {}, i.rows.map(r => el("tr", { class: r.op }, el("td", { class: "l" }, r.live ?? ""), el("td", { class: "r" }, r.desired ?? ""))))));
}

// ---- routing --------------------------------------------------------------------------

function route() {
  if (!S.user) return;
  const m = location.pathname.match(/^\/applications\/([^/]+)$/);
  if (m) {
    const ns = new URLSearchParams(location.search).get("appNamespace");
    showApp(decodeURIComponent(m[1]), ns);
  } else {
    showList();
  }
}

document.addEventListener("click", (e) => {
  const a = e.target.closest("a[data-nav]");
  if (a && !e.metaKey && !e.ctrlKey) { e.preventDefault(); navigate(a.getAttribute("href")); }
});
window.addEventListener("popstate", route);
document.getElementById("logout").addEventListener("click", async () => {
  try { await api("DELETE", "/api/v1/session"); } catch (_) { /* logged out anyway */ }
  showLogin("Logged out.");
});

(async () => {
  const r = await fetch("/api/v1/session", { credentials: "same-origin" });
  if (r.ok) {
    const d = await r.json();
    signedIn(d.user, d.csrfToken);
  } else {
    showLogin();
  }
})();
