// The decision timeline page (edgeintent replay --timeline). Reads the data
// embedded in #data, draws the score chart with uPlot, one SVG marker per
// decision over it, and the lanes (events by type, cooldowns, suppressions,
// fences, fixes, coverage, per-slot show updates, alerts) on a canvas that
// follows the chart's time axis. No network: everything is in this file.
(function () {
  "use strict";
  const D = JSON.parse(document.getElementById("data").textContent);
  const sec = (t) => t / 1000;
  const fmtTime = (t) => new Date(t).toISOString().replace("T", " ").replace("Z", "");

  // Colours by reason family (the part before the first ':').
  const COLOURS = {
    model: "#2563eb", staleness: "#7c3aed", trigger: "#059669", fallback: "#6b7280",
    stale: "#0d9488", "geofence:enter": "#ea580c", "geofence:exit": "#b45309",
    coverage: "#db2777", sampling: "#94a3b8", dedup: "#0891b2", monitor: "#dc2626",
  };
  // Geofence reasons keep their kind ("geofence:enter:ISG" -> "geofence:enter").
  const family = (reason) => {
    const parts = reason.split(":");
    return parts[0] === "geofence" ? parts.slice(0, 2).join(":") : parts[0];
  };
  const colour = (reason) => COLOURS[family(reason)] || "#111827";
  // Decisions without a score sit on fixed heights by action.
  const ROW = { refresh: 0.95, refresh_slot: 0.9, show: 0.85, fetch_card: 0.8, reclaim_card: 0.76,
                request_coverage: 0.72, set_location_interval: 0.05, alert: 1.0 };

  // Summary line.
  const byAction = {};
  for (const d of D.decisions) byAction[d.action] = (byAction[d.action] || 0) + 1;
  document.getElementById("summary").textContent =
    `${D.events.length} events, ${D.points.length} decision points, ${D.decisions.length} decisions (` +
    Object.entries(byAction).map(([a, n]) => `${a} ${n}`).join(", ") +
    `); threshold ${D.threshold}, hysteresis ${D.hysteresis}, cooldown ${D.cooldown_s} s`;
  if (D.thinned) {
    const el = document.getElementById("thinned");
    el.hidden = false;
    el.textContent = "Thinned to stay fast: " + D.thinned + " (decisions are never thinned).";
  }

  // Time range of everything on the page.
  const times = [];
  if (D.events.length) times.push(D.events[0][0], D.events[D.events.length - 1][0]);
  if (D.decisions.length) times.push(D.decisions[0].t, D.decisions[D.decisions.length - 1].t);
  const t0 = times.length ? Math.min(...times) : 0;
  const t1 = times.length ? Math.max(...times) : 1000;
  const full = [sec(t0) - 1, sec(t1) + 1];

  // Chart data: score at decision points, threshold and the hysteresis band.
  const pts = D.points.length ? D.points : [{ t: t0, score: null }, { t: t1, score: null }];
  const xs = pts.map((p) => sec(p.t));
  const score = pts.map((p) => (p.score == null ? null : p.score));
  const thr = pts.map(() => D.threshold);
  const low = pts.map(() => Math.max(0, D.threshold - D.hysteresis));

  const plot = document.getElementById("plot");
  const svg = document.getElementById("markers");
  const lanes = document.getElementById("lanes");
  const details = document.getElementById("details");
  const width = () => Math.max(600, plot.clientWidth || 900);

  let markers = null; // set below, once the chart exists
  const opts = {
    width: width(),
    height: 280,
    scales: { x: { time: true, min: full[0], max: full[1] }, y: { range: [0, 1.05] } },
    series: [
      {},
      { label: "score", stroke: "#2563eb", width: 1.5, points: { show: true, size: 3 }, spanGaps: false },
      { label: "threshold", stroke: "#dc2626", dash: [6, 4], points: { show: false } },
      { label: "threshold − hysteresis", stroke: "#f59e0b", dash: [2, 4], points: { show: false } },
    ],
    bands: [{ series: [2, 3], fill: "rgba(245, 158, 11, 0.12)" }],
    axes: [{}, { label: "score" }],
    cursor: { drag: { x: true, y: false, setScale: true } },
    hooks: { setScale: [() => redraw()], ready: [() => redraw()] },
  };
  const u = new uPlot(opts, [xs, score, thr, low], document.getElementById("chart"));

  // One marker per decision, kept in the DOM (hidden outside the view).
  const NS = "http://www.w3.org/2000/svg";
  markers = D.decisions.map((d, i) => {
    const c = document.createElementNS(NS, "circle");
    c.setAttribute("class", "decision");
    c.setAttribute("r", d.action === "set_location_interval" ? 3 : 5);
    c.setAttribute("fill", colour(d.reason));
    c.dataset.i = String(i);
    c.dataset.reason = d.reason;
    const title = document.createElementNS(NS, "title");
    title.textContent = `${d.reason} — ${d.action}` + (d.score != null ? `, score ${d.score.toFixed(3)}` : "") +
      `\n${fmtTime(d.t)}`;
    c.appendChild(title);
    c.addEventListener("click", () => select(i));
    svg.appendChild(c);
    return c;
  });

  function placeMarkers() {
    const over = u.over;
    svg.style.left = over.offsetLeft + "px";
    svg.style.top = over.offsetTop + "px";
    svg.setAttribute("width", over.clientWidth);
    svg.setAttribute("height", over.clientHeight);
    const [lo, hi] = [u.scales.x.min, u.scales.x.max];
    D.decisions.forEach((d, i) => {
      const x = sec(d.t);
      const m = markers[i];
      if (x < lo || x > hi) {
        m.style.display = "none";
        return;
      }
      m.style.display = "";
      const y = d.score != null ? d.score : (ROW[d.action] ?? 0.5);
      m.setAttribute("cx", u.valToPos(x, "x"));
      m.setAttribute("cy", u.valToPos(y, "y"));
    });
  }

  // Lanes: what happened, on the chart's time axis.
  const slots = [...new Set(D.decisions.filter((d) => d.action === "show")
    .map((d) => JSON.parse(d.json).slot).filter(Boolean))];
  const fences = [...new Set(D.zones.map((z) => z[1]))].slice(0, 12);
  const LANE_H = 16;
  const rows = [
    ...D.event_types.map((name) => ({ label: name, kind: "event" })),
    { label: "cooldown", kind: "cooldown" },
    { label: "held back", kind: "suppressed" },
    ...fences.map((f) => ({ label: "fence " + f, kind: "fence", fence: f })),
    { label: "location fixes", kind: "fixes" },
    { label: "coverage requests", kind: "coverage" },
    ...slots.map((s) => ({ label: "show: " + s, kind: "show", slot: s })),
    { label: "alerts", kind: "alert" },
  ];

  function drawLanes() {
    const dpr = window.devicePixelRatio || 1;
    const left = u.over.offsetLeft;
    const w = u.over.clientWidth;
    const cssW = left + w + 20;
    const cssH = rows.length * LANE_H + 4;
    lanes.style.width = cssW + "px";
    lanes.style.height = cssH + "px";
    lanes.width = cssW * dpr;
    lanes.height = cssH * dpr;
    const g = lanes.getContext("2d");
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, cssW, cssH);
    g.font = "11px system-ui, sans-serif";
    g.textBaseline = "middle";
    const [lo, hi] = [u.scales.x.min, u.scales.x.max];
    const X = (t) => left + ((sec(t) - lo) / (hi - lo)) * w;
    const visible = (t) => sec(t) >= lo && sec(t) <= hi;
    rows.forEach((r, k) => {
      const y = k * LANE_H + 2;
      g.fillStyle = k % 2 ? "#fafbfc" : "#f3f5f7";
      g.fillRect(left, y, w, LANE_H - 2);
    });
    // Labels last, over the lanes, on a light box so long names stay readable.
    const labels = () => rows.forEach((r, k) => {
      const y = k * LANE_H + 2;
      const tw = g.measureText(r.label).width;
      g.fillStyle = "rgba(255,255,255,0.85)";
      g.fillRect(left + 2, y + 1, tw + 6, LANE_H - 4);
      g.fillStyle = "#374151";
      g.textAlign = "left";
      g.fillText(r.label, left + 5, y + LANE_H / 2);
    });
    const lane = (kind, extra) => rows.findIndex((r) => r.kind === kind && (!extra || extra(r)));
    const tick = (k, t, c, h = LANE_H - 4) => {
      if (!visible(t)) return;
      g.fillStyle = c;
      g.fillRect(Math.round(X(t)), k * LANE_H + 3, 1, h);
    };
    const span = (k, a, b, c) => {
      const xa = Math.max(left, X(a));
      const xb = Math.min(left + w, X(b));
      if (xb <= xa) return;
      g.fillStyle = c;
      g.fillRect(xa, k * LANE_H + 3, Math.max(1, xb - xa), LANE_H - 4);
    };
    const dot = (k, t, c) => {
      if (!visible(t)) return;
      g.fillStyle = c;
      g.beginPath();
      g.arc(X(t), k * LANE_H + 2 + LANE_H / 2 - 1, 3, 0, 2 * Math.PI);
      g.fill();
    };
    for (const [t, ty] of D.events) tick(ty, t, "#475569");
    const kc = lane("cooldown");
    for (const d of D.decisions) {
      if (d.action === "refresh" && D.cooldown_s > 0) span(kc, d.t, d.t + D.cooldown_s * 1000, "rgba(124,58,237,0.35)");
    }
    const ks = lane("suppressed");
    for (const [t, by] of D.suppressed) tick(ks, t, by === "budget" ? "#dc2626" : "#7c3aed");
    // Fence zones: a span per state from each change to the next.
    const ZC = { buffer: "rgba(234,88,12,0.35)", inside: "rgba(234,88,12,0.85)" };
    const open = {};
    const last = D.events.length ? D.events[D.events.length - 1][0] : t1;
    for (const [t, f, z] of D.zones) {
      const k = lane("fence", (r) => r.fence === f);
      if (k < 0) continue;
      if (open[f]) span(k, open[f][0], t, ZC[open[f][1]]);
      open[f] = z === "outside" ? null : [t, z];
    }
    for (const f of Object.keys(open)) {
      if (open[f]) span(lane("fence", (r) => r.fence === f), open[f][0], last, ZC[open[f][1]]);
    }
    const kf = lane("fixes");
    for (const [t] of D.fixes) tick(kf, t, "#0f766e");
    const kcov = lane("coverage");
    const ka = lane("alert");
    for (const d of D.decisions) {
      if (d.action === "request_coverage") dot(kcov, d.t, colour(d.reason));
      if (d.action === "alert") dot(ka, d.t, colour(d.reason));
      if (d.action === "show") {
        const slot = JSON.parse(d.json).slot;
        dot(lane("show", (r) => r.slot === slot), d.t, colour(d.reason));
      }
    }
    labels();
  }

  function redraw() {
    if (!markers) return;
    placeMarkers();
    drawLanes();
  }

  // The features at a decision: the last decision point at or before it.
  function pointAt(t) {
    let lo = 0, hi = D.points.length - 1, best = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (D.points[mid].t <= t) { best = mid; lo = mid + 1; } else hi = mid - 1;
    }
    return best >= 0 ? D.points[best] : null;
  }

  let selected = -1;
  function select(i) {
    if (selected >= 0) markers[selected].classList.remove("selected");
    selected = i;
    markers[i].classList.add("selected");
    const d = D.decisions[i];
    const p = pointAt(d.t);
    const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" }[c]));
    let html = `<p class="reason">${esc(d.reason)}</p>` +
      `<p>action <b class="action">${esc(d.action)}</b> at <span class="time">${esc(fmtTime(d.t))}</span>` +
      (d.score != null ? `, score <b class="score">${d.score.toFixed(4)}</b>` : "") + `</p>` +
      `<pre class="json">${esc(d.json)}</pre>`;
    if (p) {
      html += `<p>Features at the ${esc(p.kind.replace("_", " "))} decision point of ${esc(fmtTime(p.t))}` +
        (p.score != null ? ` (model score ${p.score.toFixed(4)})` : "") + `:</p><table class="features">` +
        D.feature_names.map((n, k) => `<tr><td>${esc(n)}</td><td>${(+p.f[k]).toPrecision(4)}</td></tr>`).join("") +
        `</table>`;
    }
    details.innerHTML = html;
  }

  // Zoom with the wheel, pan by dragging the lanes (or shift+drag on the chart).
  function zoom(factor, atX) {
    const { min, max } = u.scales.x;
    const c = atX ?? (min + max) / 2;
    u.setScale("x", { min: c - (c - min) * factor, max: c + (max - c) * factor });
  }
  function wheel(e) {
    e.preventDefault();
    const rect = u.over.getBoundingClientRect();
    const frac = Math.min(1, Math.max(0, (e.clientX - rect.left) / rect.width));
    const { min, max } = u.scales.x;
    zoom(e.deltaY < 0 ? 0.8 : 1.25, min + frac * (max - min));
  }
  u.over.addEventListener("wheel", wheel, { passive: false });
  lanes.addEventListener("wheel", wheel, { passive: false });
  function panner(el, needShift) {
    let from = null;
    el.addEventListener("mousedown", (e) => {
      if (needShift && !e.shiftKey) return;
      e.stopPropagation();
      from = { x: e.clientX, min: u.scales.x.min, max: u.scales.x.max };
    }, true);
    window.addEventListener("mousemove", (e) => {
      if (!from) return;
      const dx = ((e.clientX - from.x) / u.over.clientWidth) * (from.max - from.min);
      u.setScale("x", { min: from.min - dx, max: from.max - dx });
    });
    window.addEventListener("mouseup", () => { from = null; });
  }
  panner(lanes, false);
  panner(u.over, true);
  document.getElementById("reset").addEventListener("click", () => u.setScale("x", { min: full[0], max: full[1] }));
  window.addEventListener("resize", () => u.setSize({ width: width(), height: 280 }));

  // Legend of reason colours present.
  const legend = document.getElementById("legend");
  for (const f of [...new Set(D.decisions.map((d) => family(d.reason)))]) {
    const s = document.createElement("span");
    s.style.setProperty("--c", COLOURS[f] || "#111827");
    s.textContent = f;
    legend.appendChild(s);
  }
  redraw();
  // For tests and the console: what the page holds.
  window.edgeintentTimeline = { decisions: D.decisions.length, events: D.events.length, select };
})();
