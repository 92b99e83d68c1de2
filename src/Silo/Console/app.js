// Hash router: #/overview (first page after sign-in), #/sessions, #/session/{id}, #/approvals, #/identities[/{sub}], #/projections, #/signin.
import { claims, setToken, token } from "./api.js";
import { h, put } from "./dom.js";
import * as pages from "./pages.js";
import { overview } from "./overview.js";
import { completeSignIn, noteSignInProblem } from "./signin.js";

let cleanup = null;

function route() {
  cleanup?.();
  cleanup = null;
  const [path, query = ""] = location.hash.replace(/^#/, "").split("?");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  const params = new URLSearchParams(query);
  const main = document.getElementById("main");
  main.replaceChildren();
  let page = parts[0] || "overview";
  const exp = claims()?.exp;
  if (token() && typeof exp === "number" && exp * 1000 <= Date.now()) {
    setToken(null);
    noteSignInProblem("Your sign-in has expired; sign in again.");
  }
  if (!token() && page !== "signin") page = "signin";
  const render = {
    signin: () => pages.signin(main),
    overview: () => overview(main, params),
    sessions: () => pages.sessions(main, params),
    session: () => pages.session(main, parts[1]),
    approvals: () => pages.approvals(main),
    identities: () => pages.identities(main, parts[1]),
    projections: () => pages.projections(main),
  }[page] ?? (() => put(main, h("h2", {}, "Not found"), h("p", {}, "No such page.")));
  cleanup = render() || null;
  for (const a of document.querySelectorAll("nav a[data-page]"))
    a.toggleAttribute("aria-current", a.dataset.page === (page === "session" ? "sessions" : page)) && a.setAttribute("aria-current", "page");
  const c = claims();
  document.getElementById("who").textContent = c ? `${c.sub} (sign out)` : "Sign in";
  main.focus({ preventScroll: true });
}

// Back from the identity provider: redeem the code before the first page is drawn.
const landing = await completeSignIn();
if (landing && location.hash !== landing) history.replaceState(null, "", location.pathname + landing);
addEventListener("hashchange", route);
route();
