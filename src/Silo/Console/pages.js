import { ApiError, claims, get, hasRole, post, roles, setToken, stream, token } from "./api.js";
import { errorBox, field, h, put, say, table, time } from "./dom.js";
import { beginSignIn, consoleConfig, takeSignInError } from "./signin.js";

const enc = encodeURIComponent;

// ---- sign in -------------------------------------------------------------------------------
export function signin(main) {
  const c = claims();
  const problem = takeSignInError();
  const box = h("textarea", { name: "token", autocomplete: "off", spellcheck: "false", placeholder: "eyJ..." });
  const paste = h("form", { onsubmit: e => {
    e.preventDefault();
    if (!box.value.trim()) return;
    setToken(box.value);
    if (!claims()) { setToken(null); say("That is not a JWT."); return; }
    location.hash = "#/overview";
  } }, field("Token", box), h("div", { class: "row" }, h("button", { type: "submit" }, "Sign in")));
  const sso = h("div", { "aria-live": "polite" });
  put(main, h("h2", {}, "Sign in"),
    problem ? h("p", { class: "error", role: "alert" }, `Sign-in failed: ${problem}`) : null,
    c ? h("p", {}, `Signed in as ${c.sub}; roles: ${roles().join(", ") || "none"}. `,
      h("button", { type: "button", class: "secondary", onclick: () => { setToken(null); location.hash = "#/signin"; location.reload(); } }, "Sign out")) : null,
    sso,
    h("p", {}, "Paste a token (locally: ", h("code", {}, "deploy/dev-token.sh --sub you --roles hoop:auditor,hoop:approver"),
      "). It is kept for this tab only."),
    paste);
  consoleConfig().then(config => {
    if (!config.oidc) return;
    const host = new URL(config.oidc.authority).host;
    const button = h("button", { type: "button", onclick: async () => {
      button.disabled = true;
      try { await beginSignIn(config.oidc, "#/overview"); }
      catch (e) { button.disabled = false; sso.append(h("p", { class: "error", role: "alert" }, `Cannot start the sign-in: ${e.message}`)); }
    } }, "Sign in with single sign-on");
    sso.replaceChildren(h("p", {}, button, ` at ${host}`), h("p", {}, "Or:"));
  }).catch(e => sso.replaceChildren(h("p", { class: "error" }, `Cannot read the console's sign-in settings: ${e.message}`)));
}

// ---- sessions ------------------------------------------------------------------------------
export function sessions(main, params) {
  const input = (name, attrs = {}) => h("input", { name, value: params.get(name) || "", ...attrs });
  const status = h("select", { name: "status" }, ["", "open", "closed"].map(s =>
    h("option", { value: s, selected: params.get("status") === s }, s || "any")));
  const form = h("form", { class: "filters", role: "search", onsubmit: e => {
    e.preventDefault();
    const q = new URLSearchParams();
    for (const [k, v] of new FormData(form)) if (v) q.set(k, k === "from" || k === "to" ? new Date(v).toISOString() : v);
    location.hash = `#/sessions?${q}`;
  } },
    field("Identity", input("identity")), field("Connection", input("connection")), field("Status", status),
    field("Started from", input("from", { type: "datetime-local", value: local(params.get("from")) })),
    field("Started before", input("to", { type: "datetime-local", value: local(params.get("to")) })),
    field("Per page", input("limit", { type: "number", min: "1", max: "500", value: params.get("limit") || "50" })),
    h("button", { type: "submit" }, "Search"));
  const results = h("div", { "aria-live": "polite" }, "Loading…");
  put(main, h("h2", {}, "Sessions"), form, results);
  const q = new URLSearchParams(params);
  get(`/api/sessions?${q}`).then(page => {
    const next = new URLSearchParams(params);
    if (page.next) next.set("after", page.next);
    results.replaceChildren(
      page.items.length ? table([
        { label: "Session", cell: s => h("a", { href: `#/session/${enc(s.sessionId)}` }, s.sessionId) },
        { label: "Identity", cell: s => s.identity ? h("a", { href: `#/identities/${enc(s.identity)}` }, s.identity) : "" },
        { label: "Connection", cell: s => s.connection },
        { label: "Started", cell: s => time(s.startedAt) },
        { label: "Last activity", cell: s => time(s.lastActivityAt) },
        { label: "Exchanges", cell: s => s.exchanges },
        { label: "Blocked", cell: s => s.blocked },
        { label: "Approvals", cell: s => s.approvals },
        { label: "Masks", cell: s => s.masks },
        { label: "Status", cell: s => s.status },
      ], page.items) : h("p", {}, "No sessions match."),
      h("div", { class: "row" },
        params.get("after") ? h("a", { href: `#/sessions?${withoutAfter(params)}` }, "First page") : null,
        page.next ? h("a", { href: `#/sessions?${next}`, rel: "next" }, "Next page") : null));
  }, e => results.replaceChildren(errorBox(e)));
}

function withoutAfter(params) { const p = new URLSearchParams(params); p.delete("after"); return p; }
function local(iso) { if (!iso) return ""; const d = new Date(iso); return isNaN(d) ? "" : d.toISOString().slice(0, 16); }

// ---- one session: timeline, replay, live tail ----------------------------------------------
const DECISIONS = new Set(["RequestBlocked", "ApprovalRequired", "ApprovalGranted", "ApprovalDenied", "ApprovalExpired", "AccessDenied"]);
function kind(type) {
  if (type === "MaskApplied") return "mask";
  if (type === "RequestBlocked" || type === "ApprovalDenied") return "blocked";
  return DECISIONS.has(type) ? "decision" : null;
}

export function session(main, id) {
  let stopLive = null;
  let stopReplay = null;
  const timelineBox = h("div", {}, "Loading…");
  const replayOut = h("div", { class: "conversation", "aria-live": "polite", id: "replay" });
  const speed = h("select", { name: "speed" }, [0.5, 1, 2, 4, 10].map(s => h("option", { value: s, selected: s === 1 }, `${s}×`)));
  const playButton = h("button", { type: "button", id: "replay-play", onclick: () => play() }, "Play replay");
  const liveLog = h("ol", { class: "live-log", id: "live-log", "aria-live": "polite" });
  const liveButton = h("button", { type: "button", id: "live-toggle", onclick: () => (stopLive ? stopTail() : startTail()) }, "Start live tail");
  const liveState = h("span", {});
  put(main, h("h2", {}, "Session ", h("code", {}, id)),
    h("section", { "aria-labelledby": "tl" }, h("h3", { id: "tl" }, "Timeline"),
      h("p", {}, h("span", { class: "tag decision" }, "decision"), " ", h("span", { class: "tag mask" }, "mask"), " ",
        h("span", { class: "tag blocked" }, "blocked / denied"), " rows are highlighted."),
      h("div", { class: "row" }, h("button", { type: "button", class: "secondary", onclick: () => loadTimeline() }, "Refresh")),
      timelineBox),
    h("section", { "aria-labelledby": "rp" }, h("h3", { id: "rp" }, "Replay"),
      h("div", { class: "row" }, field("Speed", speed), playButton), replayOut),
    h("section", { "aria-labelledby": "lv" }, h("h3", { id: "lv" }, "Live tail"),
      h("div", { class: "row" }, liveButton, liveState), liveLog));

  async function loadTimeline() {
    try {
      const entries = await get(`/api/sessions/${enc(id)}/timeline`);
      timelineBox.replaceChildren(table([
        { label: "Seq", cell: e => e.seq },
        { label: "At", cell: e => time(e.at) },
        { label: "Event", cell: e => [e.type, kind(e.type) ? [" ", h("span", { class: `tag ${kind(e.type)}` }, kind(e.type))] : null] },
        { label: "Data", cell: e => h("pre", { class: "data" }, JSON.stringify(e.data, null, 1)) },
        // The W3C trace id of the request that appended it: search the tracing backend for it.
        { label: "Trace", cell: e => e.traceId ? h("code", { class: "trace-id", title: `trace ${e.traceId}` }, e.traceId) : "" },
      ], entries, e => kind(e.type)));
    } catch (e) { timelineBox.replaceChildren(errorBox(e)); }
  }

  // Replays the conversation with its recorded timing: prompts at their offsets, response
  // chunks at their recorded elapsed times (idle gaps over 3 s are shortened to 3 s).
  async function play() {
    stopReplay?.();
    replayOut.replaceChildren("Loading…");
    let replay, entries;
    try {
      [replay, entries] = await Promise.all([get(`/api/sessions/${enc(id)}/replay`), get(`/api/sessions/${enc(id)}/timeline`)]);
    } catch (e) { replayOut.replaceChildren(errorBox(e)); return; }
    const chunks = new Map();
    for (const e of entries) if (e.type === "ResponseChunksRecorded")
      for (const c of e.data.chunks || []) (chunks.get(e.data.exchangeId) || chunks.set(e.data.exchangeId, []).get(e.data.exchangeId)).push(c);
    const steps = [];
    let clock = 0, last = null;
    for (const x of replay.exchanges) {
      const start = Date.parse(x.startedAt);
      if (last !== null) clock += Math.min(Math.max(start - last, 0), 3000);
      last = start;
      const card = h("div", { class: "card exchange" });
      const response = h("div", { class: "response" });
      steps.push([clock, () => replayOut.append(card.appendChild(h("div", {},
        h("div", { class: "prompt" }, h("strong", {}, "Prompt: "), x.prompt),
        h("p", {}, `Decision: ${x.decision}${x.rule ? ` (rule ${x.rule})` : ""}${x.masks.length ? ` · masks: ${x.masks.map(m => `${m.detector}×${m.count} in ${m.where}`).join(", ")}` : ""}`),
        response)) && card)]);
      const list = (chunks.get(x.exchangeId) || []).sort((a, b) => a.offset - b.offset);
      let base = clock;
      if (list.length) for (const c of list) steps.push([base + Math.min(c.elapsedMs, 60000), () => response.append(c.text)]);
      else if (x.response) steps.push([base, () => response.append(x.response)]);
      const end = list.length ? base + Math.min(list[list.length - 1].elapsedMs, 60000) : base;
      steps.push([end, () => card.append(h("p", { class: "outcome" }, `Outcome: ${x.outcome}${x.status ? ` (${x.status})` : ""}${x.durationMs != null ? ` in ${Math.round(x.durationMs)} ms` : ""}`))]);
      clock = end;
      last = Date.parse(x.endedAt || x.startedAt);
    }
    replayOut.replaceChildren();
    if (!steps.length) { replayOut.append("Nothing to replay."); return; }
    const factor = Number(speed.value) || 1;
    const timers = steps.map(([at, run]) => setTimeout(run, at / factor));
    const done = setTimeout(() => { say("Replay finished."); replayOut.dataset.done = "true"; }, clock / factor + 20);
    stopReplay = () => { timers.forEach(clearTimeout); clearTimeout(done); };
    delete replayOut.dataset.done;
    say(`Replaying at ${factor}×…`);
  }

  function startTail() {
    liveLog.replaceChildren();
    liveState.textContent = "connecting…";
    liveButton.textContent = "Stop live tail";
    stopLive = stream(`/api/sessions/${enc(id)}/live`, m => {
      liveState.textContent = "live";
      const e = JSON.parse(m.data);
      const text = e.type === "ResponseChunksRecorded" ? (e.data.chunks || []).map(c => c.text).join("") : "";
      liveLog.append(h("li", { class: kind(e.type) || null, "data-type": e.type },
        `${time(e.at)} · v${e.version} · ${e.type}`, text ? [": ", h("q", {}, text)] : null));
      liveLog.scrollTop = liveLog.scrollHeight;
    }, e => { liveState.replaceChildren(errorBox(e)); });
  }
  function stopTail() { stopLive?.(); stopLive = null; liveButton.textContent = "Start live tail"; liveState.textContent = "stopped"; }

  loadTimeline();
  return () => { stopLive?.(); stopReplay?.(); };
}

// ---- approvals -----------------------------------------------------------------------------
export function approvals(main) {
  const list = h("div", { id: "approvals-list", "aria-live": "polite" }, "Loading…");
  const state = h("span", {});
  const decided = h("ul", { id: "decided", "aria-live": "polite" });
  const canDecide = hasRole("hoop:approver");
  put(main, h("h2", {}, "Pending approvals"),
    canDecide ? null : h("p", { class: "notice" }, "You do not have the approver role: you can see no queue and decide nothing."),
    h("p", {}, "Updates live. ", state), list, canDecide ? [h("h3", {}, "Decided here"), decided] : null);
  if (!canDecide) { list.replaceChildren(); }
  // The whole masked prompt, one click away; kept open (and fetched once) across live re-renders.
  const fullPrompts = new Map();
  const opened = new Set();
  const fullPrompt = a => {
    const text = h("pre", { class: "data full-prompt" }, fullPrompts.get(a.approvalId) ?? "Loading…");
    const details = h("details", { open: opened.has(a.approvalId), ontoggle: async () => {
      if (!details.open) { opened.delete(a.approvalId); return; }
      opened.add(a.approvalId);
      if (fullPrompts.has(a.approvalId)) return;
      try {
        const p = await get(`/api/approvals/${enc(a.approvalId)}/prompt`);
        fullPrompts.set(a.approvalId, p.prompt);
        text.textContent = p.prompt;
      } catch (e) { text.replaceChildren(errorBox(e)); }
    } }, h("summary", {}, "Full masked prompt"), text);
    return details;
  };
  const render = pending => {
    if (!pending.length) { list.replaceChildren(h("p", {}, "Nothing is waiting.")); return; }
    list.replaceChildren(...pending.map(a => {
      const reason = h("input", { name: "reason", placeholder: "why (optional)" });
      const outcome = h("div", { "aria-live": "assertive" });
      const decide = async verb => {
        outcome.replaceChildren(`${verb === "approve" ? "Approving" : "Denying"}…`);
        try {
          await post(`/api/approvals/${enc(a.approvalId)}/${verb}`, reason.value ? { reason: reason.value } : undefined);
          const done = `${verb === "approve" ? "Approved" : "Denied"} ${a.approvalId} (${a.requester}, rule ${a.rule})${reason.value ? `: ${reason.value}` : ""}`;
          outcome.replaceChildren(h("p", { class: "ok" }, verb === "approve" ? "Approved." : "Denied."));
          decided.append(h("li", { "data-approval": a.approvalId }, done));
          say(done);
        } catch (e) {
          outcome.replaceChildren();
          put(outcome, errorBox(e), e instanceof ApiError && e.status === 403 && /own request/i.test(e.message)
            ? h("p", {}, "Nobody may approve their own request: another approver of the group has to decide it.") : null);
        }
      };
      return h("article", { class: "card approval", "data-approval": a.approvalId, "aria-label": `Approval ${a.approvalId}` },
        h("p", {}, h("strong", {}, a.requester), " asks to pass rule ", h("code", {}, a.rule), " on connection ",
          h("code", {}, a.connection || "unknown"), ", ", h("a", { href: `#/session/${enc(a.sessionId)}` }, "session ", a.sessionId), "."),
        h("p", {}, `Model ${a.model || "unknown"}; request of ${a.requestBytes == null ? "unknown size" : size(a.requestBytes)}.`),
        h("figure", { class: "asked" },
          h("figcaption", {}, a.userTurn != null ? "Latest user turn (masked)" : "Prompt excerpt (masked)"),
          h("pre", { class: "data user-turn" }, a.userTurn ?? a.promptExcerpt ?? "")),
        fullPrompt(a),
        h("p", {}, `Approver group ${a.approverGroup}; ${a.approvedBy.length}/${a.approvalsRequired} approvals; requested ${time(a.requestedAt)}, expires ${time(a.expiresAt)}.`),
        canDecide ? h("div", { class: "row" }, field(`Reason for ${a.approvalId}`, reason),
          h("button", { type: "button", class: "approve", onclick: () => decide("approve") }, "Approve"),
          h("button", { type: "button", class: "deny", onclick: () => decide("deny") }, "Deny")) : null,
        outcome);
    }));
  };
  if (!canDecide) return null;
  return stream("/api/approvals/live", m => { state.textContent = `(updated ${new Date().toLocaleTimeString()})`; render(JSON.parse(m.data)); },
    e => list.replaceChildren(errorBox(e)));
}

function size(bytes) { return bytes < 1024 ? `${bytes} bytes` : `${(bytes / 1024).toFixed(1)} KiB (${bytes} bytes)`; }

// ---- identities ----------------------------------------------------------------------------
export function identities(main, sub) {
  const input = h("input", { name: "sub", value: sub || "", required: true });
  const out = h("div", { "aria-live": "polite" });
  put(main, h("h2", {}, "Identities"),
    h("form", { class: "filters", role: "search", onsubmit: e => { e.preventDefault(); location.hash = `#/identities/${enc(input.value.trim())}`; } },
      field("Subject (sub)", input), h("button", { type: "submit" }, "Look up")), out);
  if (!sub) return;
  const show = identity => {
    const reason = h("input", { name: "reason", placeholder: "reason" });
    const result = h("div", {});
    const act = async verb => {
      try { show(await post(`/api/identities/${enc(sub)}/${verb}`, { reason: reason.value || `${verb}d from the console` })); say(`${verb}d ${sub}`); }
      catch (e) { result.replaceChildren(errorBox(e)); }
    };
    const dl = h("dl", { class: "card" });
    out.replaceChildren(dl);
    dl.replaceChildren(...[["Subject", identity.subject], ["Groups", (identity.groups || []).join(", ") || "none"],
      ["State", identity.revoked ? `revoked by ${identity.revokedBy}: ${identity.revokedReason}` : "active"],
      ["First seen", time(identity.firstSeen) || "never"], ["Last seen", time(identity.lastSeen) || "never"],
      ["Requests", identity.requests], ["Access denials", identity.accessDenials]].flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
    out.append(h("p", {}, h("a", { href: `#/sessions?identity=${enc(sub)}` }, "Sessions of ", sub)));
    if (hasRole("hoop:admin"))
      out.append(h("div", { class: "row" }, field("Reason", reason),
        identity.revoked ? h("button", { type: "button", onclick: () => act("restore") }, "Restore")
          : h("button", { type: "button", class: "deny", onclick: () => act("revoke") }, "Revoke")), result);
  };
  get(`/api/identities/${enc(sub)}`).then(show, e => out.replaceChildren(errorBox(e)));
}

// ---- projections ---------------------------------------------------------------------------
export function projections(main) {
  const out = h("div", { "aria-live": "polite" }, "Loading…");
  const result = h("div", {});
  put(main, h("h2", {}, "Projections"), out, result);
  let timer = null;
  const load = async () => {
    try {
      const list = await get("/api/projections");
      out.replaceChildren(table([
        { label: "Name", cell: p => p.name },
        { label: "State", cell: p => p.state },
        { label: "Position", cell: p => p.position },
        { label: "Head", cell: p => p.head },
        { label: "Lag", cell: p => `${p.lagEvents} events, ${Math.round(p.lagMs)} ms` },
        { label: "Leader", cell: p => p.leader || "none" },
        { label: "Rebuild", cell: p => p.rebuild ? [h("progress", { max: Math.max(p.rebuild.eventsTotal, 1), value: p.rebuild.eventsDone,
            "aria-label": `Rebuild of ${p.name}` }), ` ${p.rebuild.state} ${p.rebuild.eventsDone}/${p.rebuild.eventsTotal}`] : "" },
        { label: "Action", cell: p => hasRole("hoop:admin") ? h("button", { type: "button", class: "secondary", onclick: () => rebuild(p.name) }, `Rebuild ${p.name}`) : "" },
      ], list));
      timer = setTimeout(load, list.some(p => p.state === "rebuilding" || p.rebuild?.state === "running") ? 500 : 3000);
    } catch (e) { out.replaceChildren(errorBox(e)); }
  };
  const rebuild = async name => {
    try { await post(`/api/projections/${enc(name)}/rebuild`); result.replaceChildren(h("p", { class: "ok" }, `Rebuild of ${name} started.`)); clearTimeout(timer); load(); }
    catch (e) { result.replaceChildren(errorBox(e)); }
  };
  load();
  return () => clearTimeout(timer);
}
