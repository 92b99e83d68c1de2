// Talks to the silo API with the signed-in token (kept in sessionStorage for this tab only).
const TOKEN_KEY = "hoop.token";

export function token() { return sessionStorage.getItem(TOKEN_KEY); }
export function setToken(value) {
  if (value) sessionStorage.setItem(TOKEN_KEY, value.trim()); else sessionStorage.removeItem(TOKEN_KEY);
}

/** The token's claims, decoded for display only: the silo checks every call itself. */
export function claims() {
  const t = token();
  if (!t) return null;
  try {
    const part = t.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const json = decodeURIComponent(Array.from(atob(part), c => "%" + c.charCodeAt(0).toString(16).padStart(2, "0")).join(""));
    return JSON.parse(json);
  } catch { return null; }
}

export function roles() {
  const c = claims();
  if (!c || c.roles == null) return [];
  return Array.isArray(c.roles) ? c.roles : String(c.roles).split(" ").filter(Boolean);
}

export function hasRole(role) {
  const r = roles();
  return r.includes("hoop:admin") || r.includes(role);
}

/** A refused call: status, and the problem+json the silo answered with. */
export class ApiError extends Error {
  constructor(status, problem) {
    super(problem?.detail || problem?.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
  }
}

function headers(extra) {
  const h = new Headers(extra);
  const t = token();
  if (t) h.set("Authorization", `Bearer ${t}`);
  return h;
}

async function fail(response) {
  let problem = null;
  try { problem = await response.json(); } catch { /* not JSON */ }
  if (response.status === 401) problem = { ...problem, detail: (problem?.detail || "Not signed in or the token expired") + " — sign in again." };
  throw new ApiError(response.status, problem);
}

export async function get(path, signal) {
  const response = await fetch(path, { headers: headers({ Accept: "application/json" }), signal });
  if (!response.ok) await fail(response);
  return response.json();
}

export async function post(path, body) {
  const init = { method: "POST", headers: headers({ Accept: "application/json" }) };
  if (body !== undefined) {
    init.headers.set("Content-Type", "application/json");
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  if (!response.ok) await fail(response);
  return response.status === 204 ? null : response.json();
}

/**
 * Reads a server-sent event feed with fetch (EventSource cannot send Authorization), calling
 * onEvent({ id, event, data }) per event; reconnects after a dropped connection with
 * Last-Event-ID. Returns a function that stops it.
 */
export function stream(path, onEvent, onError) {
  const controller = new AbortController();
  let lastId = null;
  let stopped = false;
  (async () => {
    while (!stopped) {
      try {
        const h = headers({ Accept: "text/event-stream" });
        if (lastId !== null) h.set("Last-Event-ID", lastId);
        const response = await fetch(path, { headers: h, signal: controller.signal, cache: "no-store" });
        if (!response.ok) await fail(response);
        const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += value.replace(/\r\n?/g, "\n");
          let end;
          while ((end = buffer.indexOf("\n\n")) >= 0) {
            const frame = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            const message = { id: null, event: "message", data: [] };
            for (const line of frame.split("\n")) {
              if (line.startsWith(":")) continue;
              const colon = line.indexOf(":");
              const field = colon < 0 ? line : line.slice(0, colon);
              const val = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
              if (field === "id") message.id = val;
              else if (field === "event") message.event = val;
              else if (field === "data") message.data.push(val);
            }
            if (message.id !== null) lastId = message.id;
            if (message.data.length) onEvent({ ...message, data: message.data.join("\n") });
          }
        }
      } catch (e) {
        if (stopped || e.name === "AbortError") return;
        onError?.(e);
        if (e instanceof ApiError && e.status < 500) return; // refused: retrying will not help
      }
      if (!stopped) await new Promise(r => setTimeout(r, 2000));
    }
  })();
  return () => { stopped = true; controller.abort(); };
}
