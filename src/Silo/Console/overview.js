// The overview (#/overview): the first page after sign-in. Everything comes from GET /api/overview
// (cluster-wide, computed from the event log; see src/Silo/Telemetry/OverviewReader.cs), redrawn every 5 s.
// Charts are plain SVG built with DOM calls (no library, nothing from a CDN).
import { get } from "./api.js";
import { errorBox, h, put, table, time } from "./dom.js";

const SVG = "http://www.w3.org/2000/svg";
const REFRESH_MS = 5000;

function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) if (v != null) el.setAttribute(k, String(v));
  for (const c of children.flat(Infinity)) if (c != null && c !== false) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

const DECISIONS = [
  { key: "allow", label: "Allowed", cls: "c-allow" },
  { key: "approval", label: "Approval", cls: "c-approval" },
  { key: "block", label: "Blocked", cls: "c-block" },
];

/** Stacked bars of requests per minute by decision. */
function decisionsChart(perMinute) {
  const width = 720, height = 180, left = 36, bottom = 22, top = 8;
  const max = Math.max(1, ...perMinute.map(m => m.allow + m.block + m.approval));
  const slot = (width - left) / Math.max(1, perMinute.length);
  const y = v => top + (height - top - bottom) * (1 - v / max);
  const bars = perMinute.flatMap((m, i) => {
    let base = 0;
    return DECISIONS.filter(d => m[d.key] > 0).map(d => {
      const rect = s("rect", { x: left + i * slot + 1, y: y(base + m[d.key]), width: Math.max(1, slot - 2),
        height: y(base) - y(base + m[d.key]), class: d.cls },
        s("title", {}, `${time(m.minute)}: ${m[d.key]} ${d.label.toLowerCase()}`));
      base += m[d.key];
      return rect;
    });
  });
  const first = perMinute[0]?.minute, last = perMinute[perMinute.length - 1]?.minute;
  return s("svg", { viewBox: `0 0 ${width} ${height}`, class: "chart", role: "img",
      "aria-label": `Requests per minute by decision, at most ${max} in a minute` },
    s("line", { x1: left, y1: y(0), x2: width, y2: y(0), class: "axis" }),
    s("text", { x: left - 4, y: y(max) + 10, "text-anchor": "end", class: "tick" }, max),
    s("text", { x: left - 4, y: y(0), "text-anchor": "end", class: "tick" }, 0),
    first ? s("text", { x: left, y: height - 4, class: "tick" }, time(first).slice(11, 16)) : null,
    last ? s("text", { x: width, y: height - 4, "text-anchor": "end", class: "tick" }, time(last).slice(11, 16)) : null,
    bars);
}

/** Horizontal bars: label, bar proportional to value, value. */
function barList(rows, label, value, unit = "", cls = "c-allow") {
  if (!rows.length) return h("p", { class: "muted" }, "None in this window.");
  const width = 480, row = 22, labelWidth = 170;
  const max = Math.max(1, ...rows.map(value));
  return s("svg", { viewBox: `0 0 ${width} ${rows.length * row + 4}`, class: "chart bars", role: "img",
      "aria-label": rows.map(r => `${label(r)}: ${value(r)}${unit}`).join(", ") },
    rows.map((r, i) => [
      s("text", { x: 0, y: i * row + 15, class: "tick" }, label(r).length > 24 ? label(r).slice(0, 23) + "…" : label(r)),
      s("rect", { x: labelWidth, y: i * row + 4, height: row - 8, width: Math.max(1, (width - labelWidth - 70) * value(r) / max), class: cls }),
      s("text", { x: width, y: i * row + 15, "text-anchor": "end", class: "tick" }, `${value(r)}${unit}`),
    ]));
}

const ms = v => v == null ? "–" : `${v < 10 ? v.toFixed(2) : Math.round(v)} ms`;
const age = sec => sec < 90 ? `${Math.round(sec)} s` : sec < 5400 ? `${Math.round(sec / 60)} min` : `${(sec / 3600).toFixed(1)} h`;

function stat(id, label, text) {
  return h("div", { class: "stat" }, h("span", { class: "stat-label" }, label), h("output", { id }, text));
}

function render(out, o) {
  const waiting = o.approvalsWaiting;
  out.replaceChildren(
    h("p", { class: "muted" }, `Last ${o.minutes} min (${time(o.from)} to ${time(o.to)}), updated ${time(o.at)}`,
      o.truncated ? " — only the newest events were read; the counts are partial." : ""),
    h("div", { class: "stats" },
      stat("total-allow", "Allowed", o.totals.allow),
      stat("total-approval", "Needed approval", o.totals.approval),
      stat("total-block", "Blocked", o.totals.block),
      stat("latency-p50", "Added latency p50", ms(o.addedLatencyMs.p50)),
      stat("latency-p99", "Added latency p99", ms(o.addedLatencyMs.p99)),
      stat("approvals-waiting", "Approvals waiting", waiting.count),
      stat("approvals-oldest", "Oldest waiting", waiting.oldest.length ? age(waiting.oldest[0].ageSeconds) : "–")),
    h("section", { class: "card", "aria-labelledby": "h-rpm" }, h("h3", { id: "h-rpm" }, "Requests per minute by decision"),
      h("ul", { class: "legend" }, DECISIONS.map(d => h("li", {}, h("span", { class: `swatch ${d.cls}` }), d.label))),
      decisionsChart(o.requestsPerMinute)),
    h("div", { class: "grid" },
      h("section", { class: "card", "aria-labelledby": "h-lat" }, h("h3", { id: "h-lat" }, `Gateway added latency (${o.addedLatencyMs.count} exchanges)`),
        barList([{ name: "p50", v: o.addedLatencyMs.p50 }, { name: "p99", v: o.addedLatencyMs.p99 }].filter(r => r.v != null),
          r => r.name, r => Math.round(r.v * 100) / 100, " ms", "c-approval")),
      h("section", { class: "card", "aria-labelledby": "h-wait" }, h("h3", { id: "h-wait" }, `Approvals waiting (${waiting.count})`),
        barList(waiting.oldest.slice(0, 8), a => `${a.rule} ${a.approvalId}`, a => Math.round(a.ageSeconds), " s", "c-approval"),
        waiting.count ? h("p", {}, h("a", { href: "#/approvals" }, "Decide them")) : null),
      h("section", { class: "card", "aria-labelledby": "h-top" }, h("h3", { id: "h-top" }, "Top identities by requests"),
        barList(o.topIdentitiesByRequests, r => r.identity, r => r.count)),
      h("section", { class: "card", "aria-labelledby": "h-risk" }, h("h3", { id: "h-risk" }, "Top identities by risk signals"),
        barList(o.topIdentitiesByRiskSignals, r => r.identity, r => r.count, "", "c-block"))),
    h("section", { class: "card", "aria-labelledby": "h-proj" }, h("h3", { id: "h-proj" }, "Projection lag"),
      table([
        { label: "Projection", cell: p => p.name },
        { label: "Events behind", cell: p => String(p.lagEvents) },
        { label: "Oldest unapplied", cell: p => `${p.lagSeconds} s` },
      ], o.projections)));
}

export function overview(main, params) {
  const minutes = Number(params.get("minutes")) || 60;
  const out = h("div", { "aria-live": "polite" }, "Loading…");
  put(main, h("h2", {}, "Overview"), out);
  let timer = null, stopped = false;
  const load = async () => {
    try { render(out, await get(`/api/overview?minutes=${minutes}`)); }
    catch (e) { out.replaceChildren(errorBox(e)); }
    if (!stopped) timer = setTimeout(load, REFRESH_MS);
  };
  load();
  return () => { stopped = true; clearTimeout(timer); };
}
