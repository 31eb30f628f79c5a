// The justask console: run list, a run's page (two ask panels, the sweep), datasets. No build step.
"use strict";

const main = document.getElementById("main");

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c);
  return node;
}

async function api(path, body) {
  const init = body === undefined ? {} : { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) };
  const response = await fetch(path, init);
  let data;
  try { data = await response.json(); } catch (e) { data = { error: `justask: error: the console answered ${response.status}` }; }
  if (!response.ok || data.error) throw new Error(data.error || `justask: error: the console answered ${response.status}`);
  return data;
}

const fmt = (x, d = 1) => (x === null || x === undefined || Number.isNaN(x) ? "–" : Number(x).toFixed(d));

// ---- the run list ---------------------------------------------------------------------------
async function showRuns() {
  main.replaceChildren(el("h2", { text: "Runs" }), el("p", { class: "muted", text: "loading…" }));
  let data;
  try { data = await api("/api/runs"); } catch (e) { main.replaceChildren(el("p", { class: "error", text: e.message })); return; }
  document.getElementById("roots").textContent = "serving " + data.roots.join(", ");
  const rows = data.runs.map((r) => {
    const s = r.summary;
    const link = el("a", { href: "#/run/" + encodeURIComponent(r.id), text: r.id });
    if (r.error) return el("tr", { class: "run-row" }, el("td", {}, link), el("td", { class: "error", colspan: "5", text: "justask: error: " + r.error }));
    const best = s.report && s.report.agents.length ? s.report.agents.reduce((a, b) => (b.mean > a.mean ? b : a)) : null;
    return el("tr", { class: "run-row" },
      el("td", {}, link), el("td", { text: s.model }), el("td", { text: s.env }),
      el("td", { text: s.condition.name + (s.condition.keyword ? ` (${s.condition.keyword})` : "") }),
      el("td", { text: `${s.trained.steps ?? "?"} steps × ${s.trained.batch_size ?? "?"}` }),
      el("td", { text: best ? `${best.name}: ${fmt(best.mean)} [${fmt(best.ci95[0])}, ${fmt(best.ci95[1])}]` : s.recipe_report ? `in ${s.recipe_report}` : "no eval report" }));
  });
  const head = el("tr", {}, ...["run", "model", "env", "condition", "trained", "report (best agent)"].map((h) => el("th", { text: h })));
  main.replaceChildren(el("h2", { text: `Runs (${data.runs.length})` }),
    data.runs.length ? el("table", { id: "runs" }, head, ...rows) : el("p", { text: "no run folders under the console's folders" }));
}

// ---- a run ----------------------------------------------------------------------------------
let currentRun = null;

async function showRun(id) {
  main.replaceChildren(el("h2", { text: id }), el("p", { class: "muted", text: "loading the model…" }));
  let run;
  try { run = await api("/api/run?id=" + encodeURIComponent(id)); } catch (e) {
    main.replaceChildren(el("h2", { text: id }), el("p", { class: "error", id: "run-error", text: e.message })); return;
  }
  if (run.error) { main.replaceChildren(el("h2", { text: id }), el("p", { class: "error", id: "run-error", text: "justask: error: " + run.error })); return; }
  currentRun = run;
  const s = run.summary;
  const info = el("p", { class: "muted", id: "run-info",
    text: `${s.model} on ${run.env}; asked for ${s.condition.name}${s.condition.keyword ? " (" + s.condition.keyword + ")" : ""}; trained ${s.trained.steps} steps × ${s.trained.batch_size}${s.trained.dataset ? " on " + s.trained.dataset : ""}` });
  const pair = el("div", { class: "pair" }, askPanel(run, "A"), askPanel(run, "B"));
  const parts = [el("h2", { text: id }), info, pair];
  if (run.control.kind === "number") parts.push(el("h3", { text: "Asked vs achieved" }), el("canvas", { id: "sweep", width: "640", height: "300" }),
    el("p", { class: "muted", text: "grey: the run's eval sweep (95% CI); band: the predicted middle half; blue: asks made here" }));
  if (s.report && s.report.agents.length) {
    const head = el("tr", {}, ...["agent", "mean", "95% CI", "episodes"].map((h) => el("th", { text: h })));
    parts.push(el("h3", { text: "Its evaluation report" }), el("table", {}, head, ...s.report.agents.map((a) =>
      el("tr", {}, el("td", { text: a.name }), el("td", { text: fmt(a.mean) }), el("td", { text: `[${fmt(a.ci95[0])}, ${fmt(a.ci95[1])}]` }), el("td", { text: a.episodes })))));
  }
  if (s.recipe_report) {
    const pre = el("pre", { class: "report", text: "loading…" });
    const details = el("details", {}, el("summary", { text: `the report of the recipe that trained it (${s.recipe_report})` }), pre);
    details.addEventListener("toggle", () => api("/api/report?id=" + encodeURIComponent(id)).then((r) => { pre.textContent = r.markdown; }, (e) => { pre.textContent = e.message; }), { once: true });
    parts.push(details);
  }
  main.replaceChildren(...parts);
  drawSweep();
}

function askPanel(run, label) {
  const panel = document.getElementById("ask-panel").content.firstElementChild.cloneNode(true);
  panel.id = "ask-" + label;
  panel.querySelector(".panel-title").textContent = "Ask " + label;
  const control = panel.querySelector(".control");
  const c = run.control;
  let readRequest = () => ({ request: "best" });
  if (c.kind === "number") {
    const value = el("input", { type: "number", class: "value", step: "any", placeholder: "best" });
    const useQ = el("input", { type: "checkbox", class: "use-quantile" });
    const q = el("input", { type: "range", class: "quantile", min: "0", max: "1", step: "0.01", value: "0.9" });
    const qText = el("span", { class: "quantile-text", text: "0.90" });
    const range = c.range ? ` (the data: ${fmt(c.range[0])} to ${fmt(c.range[1])}; best ${c.best !== null && c.best !== undefined ? fmt(c.best) : "–"})` : "";
    control.append(el("label", {}, `${c.keyword} `, value), el("span", { class: "muted", text: range }), el("br"),
      el("label", {}, useQ, " in the data's terms: better than "), q, qText, el("span", { text: " of its episodes" }));
    readRequest = () => (useQ.checked ? { request: "best", quantile: Number(q.value) } : { request: value.value.trim() || "best" });
    const update = debounce(() => predict(panel, readRequest()), 250);
    q.addEventListener("input", () => { qText.textContent = Number(q.value).toFixed(2); useQ.checked = true; update(); });
    value.addEventListener("input", () => { useQ.checked = false; update(); });
    useQ.addEventListener("change", update);
    predict(panel, readRequest());
  } else if (c.kind === "text") {
    const text = el("input", { type: "text", class: "sentence", placeholder: "e.g. go to the red ball", value: label === "A" ? "go to the red ball" : "" });
    control.append(el("label", {}, "sentence ", text));
    readRequest = () => ({ request: text.value });
  } else if (c.kind === "fields") {
    const inputs = c.fields.map((f, i) => el("input", { type: "number", step: "any", class: "field", "data-field": f, value: c.defaults ? c.defaults[i] : "" }));
    c.fields.forEach((f, i) => control.append(el("label", {}, f + " ", inputs[i])));
    readRequest = () => ({ request: inputs.filter((x) => x.value !== "").map((x) => `${x.dataset.field}=${x.value}`).join(",") || "best" });
  } else if (c.kind === "goal") {
    const xy = el("input", { type: "text", class: "goal", placeholder: "x,y (empty: each episode's own goal)" });
    control.append(el("label", {}, "goal ", xy));
    if (c.map) {
      const img = el("img", { src: c.map.image, alt: "the maze: click a goal" });
      const marker = el("span", { class: "marker", hidden: "" });
      const map = el("div", { class: "map" }, img, marker);
      img.addEventListener("click", (ev) => {
        const r = img.getBoundingClientRect();
        const [x0, x1, y0, y1] = c.map.extent;
        const fx = (ev.clientX - r.left) / r.width, fy = (ev.clientY - r.top) / r.height;
        xy.value = `${fmt(x0 + fx * (x1 - x0), 2)},${fmt(y0 + fy * (y1 - y0), 2)}`;
        marker.style.left = `${fx * 100}%`; marker.style.top = `${fy * 100}%`; marker.hidden = false;
      });
      control.append(el("br"), map);
    }
    readRequest = () => ({ request: xy.value.trim() || "best" });
  } else if (c.kind === "none") {
    control.append(el("p", { class: "muted", text: "behaviour cloning: this model takes no request" }));
  } else {
    const raw = el("input", { type: "text", class: "raw", placeholder: "numbers separated by commas" });
    control.append(el("label", {}, `${c.keyword} `, raw));
    readRequest = () => ({ request: raw.value.trim() || "best" });
  }
  if (!run.guidable) panel.querySelector(".guidance-row").hidden = true;
  panel.querySelector(".ask-button").addEventListener("click", () => startAsk(panel, run, readRequest()));
  return panel;
}

function debounce(f, ms) { let t; return () => { clearTimeout(t); t = setTimeout(f, ms); }; }

async function predict(panel, req) {
  const out = panel.querySelector(".predicted");
  const params = new URLSearchParams({ id: currentRun.id, request: req.request });
  if (req.quantile !== undefined) params.set("quantile", req.quantile);
  try {
    const p = await api("/api/predict?" + params);
    let text = p.asked !== undefined ? `asks ${fmt(p.asked)}` : "";
    if (p.data_episodes_at_or_above !== undefined) text += `; ${p.data_episodes_at_or_above} of the data's episodes reached it`;
    else if (p.data_share_at_or_above !== undefined) text += `; ${fmt(100 * p.data_share_at_or_above)}% of the data reached it`;
    if (p.predicted && p.predicted.length) text += `; what you will get: ${fmt(p.predicted[1])} (middle half [${fmt(p.predicted[0])}, ${fmt(p.predicted[2])}])`;
    if (p.mapped_to !== undefined && p.mapped_to !== null) text += ` — above what it can honour, asked ${fmt(p.mapped_to)} instead`;
    out.textContent = text;
    panel.querySelector(".error").textContent = "";
  } catch (e) { out.textContent = ""; panel.querySelector(".error").textContent = e.message; }
}

function startAsk(panel, run, req) {
  const error = panel.querySelector(".error"), notes = panel.querySelector(".notes");
  const img = panel.querySelector(".frame"), caption = panel.querySelector(".frame-caption");
  const stats = panel.querySelector(".stats"), canvas = panel.querySelector(".histogram");
  const askButton = panel.querySelector(".ask-button"), stopButton = panel.querySelector(".stop-button");
  error.textContent = ""; notes.replaceChildren(); stats.textContent = "waiting for the first episode…";
  const body = {
    run: run.id, request: req.request, episodes: Number(panel.querySelector(".episodes").value),
    action_rule: panel.querySelector(".rule").value, seed: Number(panel.querySelector(".seed").value),
    guidance: Number(panel.querySelector(".guidance").value || 1),
  };
  if (req.quantile !== undefined) body.quantile = req.quantile;
  askButton.disabled = true;
  api("/api/ask", body).then((started) => {
    for (const n of started.notes) notes.append(el("li", { text: n }));
    if (started.waiting) notes.append(el("li", { text: `queued behind ${started.waiting} other ask(s)` }));
    stopButton.disabled = false;
    stopButton.onclick = () => api(`/api/jobs/${started.job}/stop`, {}).catch(() => {});
    const returns = [];
    const frames = [];
    let shown = 0, finished = false, firstOutcome = "";
    const player = setInterval(() => {  // frames arrive faster than real time: play them at 30 per second
      if (frames.length) {
        const f = frames.shift();
        img.src = f.image; shown += 1; img.dataset.frames = String(shown);
        caption.textContent = `first episode: t=${f.t}  return=${fmt(f.ret)}`;
      } else {
        if (firstOutcome && !caption.textContent.endsWith(firstOutcome)) caption.textContent += firstOutcome;
        if (finished) clearInterval(player);
      }
    }, 33);
    const source = new EventSource(`/api/jobs/${started.job}/events`);
    source.onmessage = (m) => {
      const ev = JSON.parse(m.data);
      if (ev.type === "asked") panel.dataset.asked = ev.shown;
      else if (ev.type === "frame") frames.push(ev);
      else if (ev.type === "episode") {
        returns.push(ev.return);
        if (ev.index === 0) firstOutcome = ev.success === true ? " — succeeded" : ev.success === false ? " — failed" : ` — ended after ${ev.length} steps`;
        stats.textContent = statsLine(ev.stats, body.episodes);
        drawHistogram(canvas, returns, ev.stats);
      } else if (ev.type === "done") {
        stats.textContent = (ev.n ? statsLine(ev, body.episodes) : "no episode finished") + ` — done in ${fmt(ev.seconds)} s` + (ev.stopped ? ` (${ev.stopped})` : "");
        panel.dataset.done = "1";
        if (ev.n && typeof panel.dataset.asked === "string") refreshPoints();
      } else if (ev.type === "error") error.textContent = "justask: error: " + ev.message;
    };
    source.addEventListener("end", () => { source.close(); finished = true; askButton.disabled = false; stopButton.disabled = true; });
    source.onerror = () => { source.close(); finished = true; askButton.disabled = false; stopButton.disabled = true; };
  }).catch((e) => { error.textContent = e.message; askButton.disabled = false; stats.textContent = "no episodes yet"; });
}

function statsLine(s, total) {
  let text = `${s.n}/${total} episodes: mean return ${fmt(s.mean)} [95% CI ${fmt(s.ci95[0])}, ${fmt(s.ci95[1])}]`;
  if (s.success !== undefined) text += `; success ${fmt(100 * s.success, 0)}% [${fmt(100 * s.success_ci95[0], 0)}, ${fmt(100 * s.success_ci95[1], 0)}]`;
  return text;
}

function drawHistogram(canvas, values, s) {
  const ctx = canvas.getContext("2d"), w = canvas.width, h = canvas.height, pad = 24;
  ctx.clearRect(0, 0, w, h);
  let lo = Math.min(...values), hi = Math.max(...values);
  if (hi - lo < 1e-9) { lo -= 1; hi += 1; }
  const bins = Math.max(5, Math.min(20, Math.ceil(Math.sqrt(values.length)) + 3));
  const counts = new Array(bins).fill(0);
  for (const v of values) counts[Math.min(bins - 1, Math.floor(((v - lo) / (hi - lo)) * bins))] += 1;
  const top = Math.max(...counts), x = (v) => pad + ((v - lo) / (hi - lo)) * (w - 2 * pad);
  ctx.fillStyle = "#7aa6d6";
  counts.forEach((c, i) => { const bh = (c / top) * (h - 2 * pad); ctx.fillRect(pad + (i * (w - 2 * pad)) / bins + 1, h - pad - bh, (w - 2 * pad) / bins - 2, bh); });
  ctx.fillStyle = "rgba(200, 60, 40, 0.18)"; ctx.fillRect(x(s.ci95[0]), pad / 2, Math.max(2, x(s.ci95[1]) - x(s.ci95[0])), h - pad * 1.5);
  ctx.strokeStyle = "#c83c28"; ctx.lineWidth = 2; ctx.beginPath(); ctx.moveTo(x(s.mean), pad / 2); ctx.lineTo(x(s.mean), h - pad); ctx.stroke();
  ctx.fillStyle = "#333"; ctx.font = "11px sans-serif";
  ctx.fillText(fmt(lo), pad, h - 6); ctx.fillText(fmt(hi), w - pad - 30, h - 6); ctx.fillText(`mean ${fmt(s.mean)}`, Math.min(w - 80, x(s.mean) + 4), pad);
}

async function refreshPoints() {
  try { const run = await api("/api/run?id=" + encodeURIComponent(currentRun.id)); currentRun.points = run.points; drawSweep(); } catch (e) { /* the page keeps what it has */ }
}

function drawSweep() {
  const canvas = document.getElementById("sweep");
  if (!canvas || !currentRun) return;
  const ctx = canvas.getContext("2d"), w = canvas.width, h = canvas.height, pad = 56;
  const c = currentRun.control, sweep = (currentRun.summary.report && currentRun.summary.report.sweep) || [];
  const points = currentRun.points || [], outcomes = c.outcomes || [];
  const xs = [...sweep.map((p) => p.asked), ...points.map((p) => p.asked), ...(c.range || [])];
  const ys = [...sweep.flatMap((p) => p.ci95), ...points.flatMap((p) => p.ci95), ...outcomes.flatMap((r) => [r[1], r[3]])];
  ctx.clearRect(0, 0, w, h);
  if (!xs.length || !ys.length) { ctx.fillStyle = "#666"; ctx.fillText("ask to add asked-vs-achieved points", pad, h / 2); return; }
  const [x0, x1] = [Math.min(...xs), Math.max(...xs) + 1e-9], [y0, y1] = [Math.min(...ys, ...xs), Math.max(...ys, ...xs) + 1e-9];
  const X = (v) => pad + ((v - x0) / (x1 - x0)) * (w - 1.5 * pad), Y = (v) => h - pad - ((v - y0) / (y1 - y0)) * (h - 1.5 * pad);
  ctx.strokeStyle = "#999"; ctx.strokeRect(pad, pad / 2, w - 1.5 * pad, h - 1.5 * pad);
  ctx.setLineDash([4, 4]); ctx.beginPath(); ctx.moveTo(X(Math.max(x0, y0)), Y(Math.max(x0, y0))); ctx.lineTo(X(Math.min(x1, y1)), Y(Math.min(x1, y1))); ctx.stroke(); ctx.setLineDash([]);
  if (outcomes.length) {
    ctx.fillStyle = "rgba(240, 160, 40, 0.25)"; ctx.beginPath();
    outcomes.forEach((r, i) => (i ? ctx.lineTo(X(r[0]), Y(r[3])) : ctx.moveTo(X(r[0]), Y(r[3]))));
    [...outcomes].reverse().forEach((r) => ctx.lineTo(X(r[0]), Y(r[1]))); ctx.closePath(); ctx.fill();
  }
  const dot = (p, colour) => { ctx.strokeStyle = colour; ctx.fillStyle = colour; ctx.beginPath(); ctx.moveTo(X(p.asked), Y(p.ci95[0])); ctx.lineTo(X(p.asked), Y(p.ci95[1])); ctx.stroke(); ctx.beginPath(); ctx.arc(X(p.asked), Y(p.mean), 4, 0, 7); ctx.fill(); };
  sweep.forEach((p) => dot(p, "#888")); points.forEach((p) => dot(p, "#1f5fbf"));
  ctx.fillStyle = "#333"; ctx.font = "11px sans-serif";
  for (let i = 0; i <= 4; i++) {
    const vx = x0 + (i / 4) * (x1 - x0), vy = y0 + (i / 4) * (y1 - y0);
    ctx.fillText(fmt(vx, 0), X(vx) - 10, h - pad + 14);
    ctx.fillText(fmt(vy, 0), 22, Y(vy) + 4);
  }
  ctx.fillText(`asked ${c.keyword}`, w / 2 - 30, h - 6); ctx.save(); ctx.translate(10, h / 2 + 40); ctx.rotate(-Math.PI / 2); ctx.fillText("achieved return", 0, 0); ctx.restore();
  canvas.dataset.points = String(points.length);
}

// ---- datasets -------------------------------------------------------------------------------
async function showDatasets() {
  main.replaceChildren(el("h2", { text: "Datasets" }), el("p", { class: "muted", text: "loading…" }));
  let data;
  try { data = await api("/api/datasets"); } catch (e) { main.replaceChildren(el("p", { class: "error", text: e.message })); return; }
  const head = el("tr", {}, ...["dataset", "env", "episodes", "steps"].map((h) => el("th", { text: h })));
  const rows = data.datasets.map((d) => el("tr", {}, el("td", {}, el("a", { href: "#/dataset/" + encodeURIComponent(d.id), text: d.id })),
    d.error ? el("td", { class: "error", colspan: "3", text: "justask: error: " + d.error }) : el("td", { text: d.summary.env }),
    el("td", { text: d.summary.episodes ?? "" }), el("td", { text: d.summary.steps ?? "" })));
  main.replaceChildren(el("h2", { text: `Datasets (${data.datasets.length})` }), el("table", { id: "datasets" }, head, ...rows));
}

async function showDataset(id) {
  const policy = el("input", { type: "text", class: "policy", placeholder: "any" });
  const lo = el("input", { type: "number", class: "min-return", step: "any" }), hi = el("input", { type: "number", class: "max-return", step: "any" });
  const table = el("div", { id: "episodes", class: "episode-list" }), error = el("p", { class: "error" }), found = el("p", { class: "muted" });
  const viewer = el("img", { class: "frame", alt: "a played-back episode", "data-frames": "0" }), caption = el("p", { class: "muted" });
  const filters = el("p", { class: "filters" }, el("label", {}, "policy contains ", policy), el("label", {}, "return ≥ ", lo), el("label", {}, "≤ ", hi),
    el("button", { text: "Filter", onclick: () => load() }));
  main.replaceChildren(el("h2", { text: id }), filters, error, found, el("div", { class: "pair" }, table, el("figure", { class: "replay" }, viewer, caption)));
  async function load() {
    const params = new URLSearchParams({ id, policy: policy.value });
    if (lo.value !== "") params.set("min_return", lo.value);
    if (hi.value !== "") params.set("max_return", hi.value);
    try {
      const d = await api("/api/dataset?" + params);
      error.textContent = "";
      const head = el("tr", {}, ...["#", "policy", "seed", "return", "length", ...d.conditions.map((c) => c + " (first step)"), ""].map((h) => el("th", { text: h })));
      const shownValue = (v) => (typeof v === "number" ? fmt(v, 2) : Array.isArray(v) ? v.map((x) => fmt(x, 2)).join(", ") : String(v));
      const rows = d.rows.map((r) => el("tr", {}, el("td", { text: r.index }), el("td", { text: r.policy }), el("td", { text: r.seed ?? "" }),
        el("td", { text: fmt(r.return) }), el("td", { text: r.length }), ...d.conditions.map((c) => el("td", { text: shownValue(r.conditions[c]) })),
        el("td", {}, el("button", { class: "play", text: "play", onclick: () => play(r.index) }))));
      found.textContent = `${d.env}: ${d.matching} of ${d.episodes} episodes match${d.matching > d.shown ? ` (the first ${d.shown} shown)` : ""}${d.conditions.length ? "; condition columns: " + d.conditions.join(", ") : ""}; policies: ${d.policies.join(", ")}`;
      table.replaceChildren(el("table", {}, head, ...rows));
    } catch (e) { error.textContent = e.message; }
  }
  async function play(index) {
    try {
      const started = await api("/api/replay", { dataset: id, episode: index });
      let shown = 0;
      const source = new EventSource(`/api/jobs/${started.job}/events`);
      source.onmessage = (m) => {
        const ev = JSON.parse(m.data);
        if (ev.type === "frame") { viewer.src = ev.image; shown += 1; viewer.dataset.frames = String(shown); caption.textContent = `episode ${index}: t=${ev.t} return=${fmt(ev.ret)}`; }
        if (ev.type === "done") caption.textContent += ev.diverged_at === null ? " — the replay matches the recording" : ` — the replay left the recording at step ${ev.diverged_at}`;
        if (ev.type === "error") error.textContent = "justask: error: " + ev.message;
      };
      source.addEventListener("end", () => source.close());
    } catch (e) { error.textContent = e.message; }
  }
  load();
}

function route() {
  const hash = decodeURIComponent(location.hash.slice(1) || "/");
  if (hash.startsWith("/run/")) return showRun(hash.slice(5));
  if (hash.startsWith("/dataset/")) return showDataset(hash.slice(9));
  if (hash === "/datasets") return showDatasets();
  return showRuns();
}
window.addEventListener("hashchange", route);
route();
