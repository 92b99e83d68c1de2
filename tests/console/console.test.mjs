// Browser tests of the Hoop console against a real stack (started by Hoop.EndToEnd.Tests
// ConsoleBrowserTests, which passes URLs and tokens in the environment and checks the exit code).
// playwright-core drives Debian's chromium; each scenario prints "PASS name" or "FAIL name: why".
import { chromium } from "playwright-core";
import { mkdirSync } from "node:fs";
import { join } from "node:path";

const env = name => { const v = process.env[name]; if (!v) { console.error(`missing ${name}`); process.exit(2); } return v; };
const silo = env("HOOP_SILO_URL").replace(/\/$/, "");
const gateway = env("HOOP_GATEWAY_URL").replace(/\/$/, "");
const tokens = {
  approver: env("HOOP_TOKEN_APPROVER"),   // sam: security, hoop:approver + hoop:auditor + hoop:admin
  selfApprover: env("HOOP_TOKEN_SELF"),   // alice: agents + security, hoop:approver
  noRoles: env("HOOP_TOKEN_NOROLES"),     // nora: no roles
  agent: env("HOOP_TOKEN_AGENT"),         // alice: agents
};
const shots = env("HOOP_SCREENSHOTS");
const chromiumPath = process.env.HOOP_CHROMIUM || "/usr/bin/chromium";
mkdirSync(shots, { recursive: true });

// Playwright gives chromium a fresh temporary --user-data-dir of its own (it refuses one in args).
const browser = await chromium.launch({
  executablePath: chromiumPath,
  headless: true,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync"],
});

function agentRequest(prompt, { stream = false, session, chunkDelayMs, token = tokens.agent } = {}) {
  const headers = { "x-api-key": token, "content-type": "application/json", "anthropic-version": "2023-06-01" };
  if (session) headers["x-hoop-session"] = session;
  if (chunkDelayMs) headers["x-fake-chunk-delay-ms"] = String(chunkDelayMs);
  return fetch(`${gateway}/claude/v1/messages`, { method: "POST", headers,
    body: JSON.stringify({ model: "claude-dev", max_tokens: 64, stream, messages: [{ role: "user", content: prompt }] }) });
}

let lastPage = null;
async function signedIn(token, width = 1280) {
  const context = await browser.newContext({ viewport: { width, height: 900 } });
  const page = await context.newPage();
  lastPage = page;
  page.on("pageerror", e => console.log(`page error: ${e.message}`));
  await page.goto(`${silo}/console/#/signin`);
  await page.getByLabel("Token").fill(token);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForURL(/#\/overview/);
  return { context, page };
}

async function until(what, check, ms = 20000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise(r => setTimeout(r, 100));
  }
}

const unique = () => Math.random().toString(36).slice(2, 10);
let failed = 0;
async function scenario(name, body) {
  const started = Date.now();
  lastPage = null;
  try {
    await body();
    console.log(`PASS ${name} (${Date.now() - started} ms)`);
  } catch (e) {
    failed++;
    console.log(`FAIL ${name}: ${e?.stack || e}`);
    const shown = await lastPage?.locator("main").innerText({ timeout: 2000 }).catch(() => null);
    if (shown) console.log(`  the page showed: ${shown.slice(0, 1500)}`);
  }
}

let sessionId = null;

await scenario("sign-in page and pages render, with a screenshot of each", async () => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  await page.goto(`${silo}/console/`);
  await page.getByLabel("Token").waitFor();
  await page.screenshot({ path: join(shots, "signin.png"), fullPage: true });
  await context.close();
});

await scenario("approve a held request from the console and see the agent's request complete", async () => {
  const prompt = `please export all customers ${unique()}`;
  const held = agentRequest(prompt);
  const { context, page } = await signedIn(tokens.approver);
  await page.goto(`${silo}/console/#/approvals`);
  const card = page.locator("article.approval", { hasText: "alice" }).first();
  try {
    await card.waitFor({ timeout: 20000 });
  } catch (e) {
    const api = await fetch(`${silo}/api/approvals?status=pending`, { headers: { authorization: `Bearer ${tokens.approver}` } });
    const early = await Promise.race([held.then(r => `answered ${r.status}`, x => `failed ${x}`), new Promise(r => setTimeout(() => r("still held"), 100))]);
    throw new Error(`no approval card; GET /api/approvals: ${api.status} ${await api.text()}; the agent's request: ${early}`);
  }
  // What is being asked (the latest user turn, masked), and the whole masked prompt one click away.
  const asked = (await card.locator("pre.user-turn").textContent()) || "";
  if (asked !== prompt) throw new Error(`the card shows "${asked}" as what is asked, not the user turn "${prompt}"`);
  const details = (await card.textContent()) || "";
  if (!details.includes("claude-dev") || !/request of \d+ bytes/.test(details)) throw new Error(`no model or request size on the card: ${details}`);
  await card.getByText("Full masked prompt").click();
  await until("the whole masked prompt on the card", async () =>
    ((await page.locator("article.approval", { hasText: "alice" }).first().locator("pre.full-prompt").textContent()) || "").includes(`[user]\n${prompt}`));
  await page.screenshot({ path: join(shots, "approvals.png"), fullPage: true });
  let done = false;
  held.then(() => { done = true; }, () => { done = true; });
  if (done) throw new Error("the agent's request finished before anyone approved it");
  const approvalId = await card.getAttribute("data-approval");
  await card.getByLabel(/Reason for/).fill("ok for the quarterly audit");
  await card.getByRole("button", { name: "Approve" }).click();
  await page.locator(`#decided li[data-approval="${approvalId}"]`).waitFor({ timeout: 10000 });
  const response = await Promise.race([held, new Promise((_, no) => setTimeout(() => no(new Error("the agent is still waiting 15 s after approval")), 15000))]);
  if (response.status !== 200) throw new Error(`agent got ${response.status}: ${await response.text()}`);
  const body = await response.json();
  if (!JSON.stringify(body).includes("export all customers")) throw new Error(`unexpected answer ${JSON.stringify(body)}`);
  sessionId = response.headers.get("x-hoop-session");
  await until("the approval to leave the live queue", async () => (await page.locator(`article.approval[data-approval="${approvalId}"]`).count()) === 0);
  await context.close();
});

await scenario("a self-approval is refused with its explanation", async () => {
  const prompt = `dump all users ${unique()}`;
  const held = agentRequest(prompt, { token: tokens.selfApprover });
  const { context, page } = await signedIn(tokens.selfApprover);
  await page.goto(`${silo}/console/#/approvals`);
  const card = page.locator("article.approval", { hasText: "alice" }).last();
  await card.waitFor({ timeout: 20000 });
  await card.getByRole("button", { name: "Approve" }).click();
  await card.getByRole("alert").waitFor({ timeout: 10000 });
  const text = await card.innerText();
  if (!/own request/i.test(text)) throw new Error(`no self-approval explanation in: ${text}`);
  await page.screenshot({ path: join(shots, "approvals-self-refused.png"), fullPage: true });
  // Deny it as sam so the held request ends.
  const id = await card.getAttribute("data-approval");
  const deny = await fetch(`${silo}/api/approvals/${id}/deny`, { method: "POST", headers: { authorization: `Bearer ${tokens.approver}` } });
  if (deny.status !== 200) throw new Error(`deny as sam: ${deny.status}`);
  const response = await held;
  if (response.status !== 403) throw new Error(`denied request answered ${response.status}`);
  await context.close();
});

await scenario("a session's live tail receives the chunks of a streaming request as they happen", async () => {
  const first = await agentRequest(`hello ${unique()}`);
  if (first.status !== 200) throw new Error(`first request: ${first.status}`);
  const session = first.headers.get("x-hoop-session");
  sessionId ??= session;
  const { context, page } = await signedIn(tokens.approver);
  await page.goto(`${silo}/console/#/session/${encodeURIComponent(session)}`);
  await page.getByRole("button", { name: "Start live tail" }).click();
  const chunks = () => page.locator('#live-log li[data-type="ResponseChunksRecorded"]').count();
  await until("the session so far in the live tail", async () => (await chunks()) >= 1);
  const before = await chunks();
  const words = Array.from({ length: 12 }, (_, i) => `word${i}`).join(" ");
  const response = await agentRequest(`stream this back: ${words}`, { stream: true, session, chunkDelayMs: 250 });
  if (response.status !== 200) throw new Error(`streaming request: ${response.status}`);
  const reader = response.body.getReader();
  let seenWhileStreaming = 0;
  let finished = false;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) { finished = true; break; }
    const text = new TextDecoder().decode(value);
    if (text.includes("message_stop")) break;
    seenWhileStreaming = Math.max(seenWhileStreaming, (await chunks()) - before);
  }
  await reader.cancel().catch(() => {});
  if (seenWhileStreaming < 2) throw new Error(`only ${seenWhileStreaming} chunk events reached the live tail while the answer was still streaming (finished=${finished})`);
  await until("the whole answer in the live tail", async () => (await page.locator("#live-log").innerText()).includes("word11"));
  await page.screenshot({ path: join(shots, "session-live.png"), fullPage: true });
  await context.close();
});

await scenario("replay a session", async () => {
  if (!sessionId) throw new Error("no session from the earlier scenarios");
  const { context, page } = await signedIn(tokens.approver);
  await page.goto(`${silo}/console/#/session/${encodeURIComponent(sessionId)}`);
  await page.locator("table tbody tr").first().waitFor();
  await page.getByLabel("Speed").selectOption("10");
  await page.getByRole("button", { name: "Play replay" }).click();
  await page.locator("#replay[data-done]").waitFor({ timeout: 30000 });
  const text = await page.locator("#replay").innerText();
  if (!/Prompt:/.test(text) || !/Outcome:/.test(text)) throw new Error(`replay shows: ${text}`);
  const highlighted = await page.locator("tr.decision, tr.mask, tr.blocked").count();
  await page.screenshot({ path: join(shots, "session.png"), fullPage: true });
  if (sessionId && highlighted === 0 && text.includes("export all")) throw new Error("the approval decision is not highlighted in the timeline");
  await context.close();
});

await scenario("sessions, identities and projections pages, at 1280 px and phone width", async () => {
  const { context, page } = await signedIn(tokens.approver);
  await page.goto(`${silo}/console/#/sessions?identity=alice`);
  await page.locator("table tbody tr").first().waitFor();
  await page.screenshot({ path: join(shots, "sessions.png"), fullPage: true });
  await page.goto(`${silo}/console/#/identities/alice`);
  await page.getByText("Requests").waitFor();
  await page.screenshot({ path: join(shots, "identities.png"), fullPage: true });
  await page.goto(`${silo}/console/#/projections`);
  await page.getByText("session_summaries").first().waitFor();
  await page.screenshot({ path: join(shots, "projections.png"), fullPage: true });
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto(`${silo}/console/#/sessions`);
  await page.locator("table tbody tr").first().waitFor();
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  await page.screenshot({ path: join(shots, "sessions-phone.png"), fullPage: true });
  if (overflow > 2) throw new Error(`the sessions page scrolls sideways by ${overflow} px at phone width`);
  await context.close();
});

await scenario("a user without roles sees no Approve buttons", async () => {
  const prompt = `export all customers ${unique()}`;
  const held = agentRequest(prompt);
  await until("the approval to be pending", async () => {
    const r = await fetch(`${silo}/api/approvals?status=pending`, { headers: { authorization: `Bearer ${tokens.approver}` } });
    return r.ok && (await r.json()).length > 0;
  });
  const { context, page } = await signedIn(tokens.noRoles);
  await page.goto(`${silo}/console/#/approvals`);
  await page.getByText("You do not have the approver role").waitFor();
  await page.waitForTimeout(1500);
  const buttons = await page.getByRole("button", { name: /Approve|Deny/ }).count();
  await page.screenshot({ path: join(shots, "approvals-no-role.png"), fullPage: true });
  if (buttons !== 0) throw new Error(`${buttons} Approve/Deny buttons shown to a user without roles`);
  await page.goto(`${silo}/console/#/sessions`);
  await page.getByRole("alert").waitFor();
  if (!/403/.test(await page.getByRole("alert").innerText())) throw new Error("the sessions page did not show the 403");
  await context.close();
  // Let the held request go.
  const pending = await (await fetch(`${silo}/api/approvals?status=pending`, { headers: { authorization: `Bearer ${tokens.approver}` } })).json();
  for (const a of pending)
    await fetch(`${silo}/api/approvals/${a.approvalId}/deny`, { method: "POST", headers: { authorization: `Bearer ${tokens.approver}` } });
  await held;
});

await browser.close();
console.log(failed ? `${failed} browser scenario(s) failed` : "all browser scenarios passed");
process.exit(failed ? 1 : 0);
