// Single sign-on: OpenID Connect authorization code flow with PKCE (S256), as a public browser
// client. The silo's /console/config.json names the authority and client id; the authority's
// discovery document gives the endpoints. The access token is kept like a pasted one (this
// tab's sessionStorage); the silo validates it on every call.
import { setToken, claims } from "./api.js";

const PENDING_KEY = "hoop.oidc.pending";
let lastError = null;

/** The console's sign-in settings: { oidc: { authority, clientId, scope } | null }. */
export async function consoleConfig() {
  const response = await fetch("config.json", { headers: { Accept: "application/json" }, cache: "no-store" });
  if (!response.ok) throw new Error(`config.json: HTTP ${response.status}`);
  return response.json();
}

/** Notes why the user must sign in (again), for the sign-in page. */
export function noteSignInProblem(text) { lastError = text; }

/** Why the last sign-in failed (shown once on the sign-in page), or null. */
export function takeSignInError() {
  const e = lastError;
  lastError = null;
  return e;
}

const b64url = bytes => btoa(String.fromCharCode(...new Uint8Array(bytes))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
const random = n => b64url(crypto.getRandomValues(new Uint8Array(n)));
const redirectUri = () => `${location.origin}${location.pathname}`;

async function discover(authority) {
  const response = await fetch(`${authority}/.well-known/openid-configuration`, { headers: { Accept: "application/json" } });
  if (!response.ok) throw new Error(`the identity provider's discovery document answered HTTP ${response.status}`);
  const doc = await response.json();
  if (!doc.authorization_endpoint || !doc.token_endpoint) throw new Error("the identity provider's discovery document has no authorization or token endpoint");
  const methods = doc.code_challenge_methods_supported;
  if (Array.isArray(methods) && !methods.includes("S256")) throw new Error("the identity provider does not support PKCE with S256");
  return doc;
}

/** Sends the browser to the identity provider; it comes back to this page with a code. */
export async function beginSignIn(oidc, returnTo) {
  const doc = await discover(oidc.authority);
  const verifier = random(32);
  const challenge = b64url(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier)));
  const pending = { state: random(16), nonce: random(16), verifier, issuer: doc.issuer, tokenEndpoint: doc.token_endpoint,
    clientId: oidc.clientId, redirectUri: redirectUri(), returnTo: returnTo || "#/overview" };
  sessionStorage.setItem(PENDING_KEY, JSON.stringify(pending));
  const url = new URL(doc.authorization_endpoint);
  for (const [k, v] of Object.entries({ response_type: "code", client_id: oidc.clientId, redirect_uri: pending.redirectUri,
    scope: oidc.scope, state: pending.state, nonce: pending.nonce, code_challenge: challenge, code_challenge_method: "S256" }))
    url.searchParams.set(k, v);
  location.assign(url.toString());
}

/**
 * On the way back from the identity provider (?code=&state= or ?error=): checks the state against
 * the sign-in this tab started, redeems the code with the verifier, keeps the access token.
 * Always removes the parameters from the address bar. Returns the hash to show, or null.
 */
export async function completeSignIn() {
  const params = new URLSearchParams(location.search);
  if (!params.has("state") && !params.has("code") && !params.has("error")) return null;
  const raw = sessionStorage.getItem(PENDING_KEY);
  sessionStorage.removeItem(PENDING_KEY);
  let pending = null;
  try { pending = raw && JSON.parse(raw); } catch { pending = null; }
  history.replaceState(null, "", location.pathname + (pending?.returnTo || "#/signin"));
  try {
    if (!pending || params.get("state") !== pending.state)
      throw new Error("the answer from the identity provider does not belong to a sign-in started in this tab; sign in again");
    if (params.has("error"))
      throw new Error(`the identity provider refused: ${params.get("error_description") || params.get("error")}`);
    if (params.has("iss") && pending.issuer && params.get("iss") !== pending.issuer)
      throw new Error("the answer came from another issuer than the one the sign-in was sent to");
    const body = new URLSearchParams({ grant_type: "authorization_code", code: params.get("code") || "",
      redirect_uri: pending.redirectUri, client_id: pending.clientId, code_verifier: pending.verifier });
    const response = await fetch(pending.tokenEndpoint, { method: "POST", body, headers: { Accept: "application/json" } });
    const answer = await response.json().catch(() => ({}));
    if (!response.ok || !answer.access_token)
      throw new Error(`the token endpoint refused: ${answer.error_description || answer.error || `HTTP ${response.status}`}`);
    setToken(answer.access_token);
    if (!claims()) {
      setToken(null);
      throw new Error("the identity provider's access token is not a JWT; the silo needs a JWT access token for its audience");
    }
    return pending.returnTo;
  } catch (e) {
    lastError = e.message;
    return "#/signin";
  }
}
