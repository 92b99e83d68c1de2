// Small DOM helpers: elements are built, never parsed from strings, so event text cannot inject markup.
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v == null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else if (k in el && typeof v !== "string") el[k] = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat(Infinity)) {
    if (c == null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

let fieldCount = 0;
/** A labelled form control. */
export function field(label, control) {
  if (!control.id) control.id = `f${++fieldCount}`;
  return h("label", { for: control.id }, label, control);
}

export function errorBox(e) {
  const p = e?.problem;
  return h("div", { class: "error", role: "alert" },
    h("strong", {}, p?.title || "Error", p?.status ? ` (${p.status})` : e?.status ? ` (${e.status})` : ""), ": ",
    p?.detail || e?.message || String(e));
}

export function say(text) { document.getElementById("status").textContent = text; }

export function time(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  return isNaN(d) ? iso : d.toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z");
}

export function table(columns, rows, rowClass) {
  return h("div", { class: "table-wrap" }, h("table", { class: "responsive" },
    h("thead", {}, h("tr", {}, columns.map(c => h("th", { scope: "col" }, c.label)))),
    h("tbody", {}, rows.map(r => h("tr", { class: rowClass?.(r) || null },
      columns.map(c => h("td", { "data-label": c.label }, c.cell(r))))))));
}

/** Appends children to el, flattening arrays and dropping null/false (as h does). */
export function put(el, ...children) {
  el.append(...children.flat(Infinity).filter(c => c != null && c !== false));
}
