// Browser test of the console's overview (#/overview) against a real stack (started by Hoop.EndToEnd.Tests
// OverviewBrowserTests with Prometheus /metrics on): real traffic through the gateway, then the page's numbers
// are checked against GET /api/overview and against the gateway's /metrics for the same window (a fresh stack:
// everything the counters hold is inside the page's last 60 minutes). Prints "PASS name" or "FAIL name: why".
import { chromium } from "playwright-core";
import { mkdirSync } from "node:fs";
import { join } from "node:path";

const env = name => { const v = process.env[name]; if (!v) { console.error(`missing ${name}`); process.exit(2); } return v; };
const silo = env("HOOP_SILO_URL").replace(/\/$/, "");
const gateway = env("HOOP_GATEWAY_URL").replace(/\/$/, "");
const tokens = { auditor: env("HOOP_TOKEN_AUDITOR"), alice: env("HOOP_TOKEN_ALICE"), bob: env("HOOP_TOKEN_BOB") };
const shots = env("HOOP_SCREENSHOTS");
mkdirSync(shots, { recursive: true });

const browser = await chromium.launch({
  executablePath: process.env.HOOP_CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync"],
});

const unique = () => Math.random().toString(36).slice(2, 10);
async function agentRequest(token, prompt, { stream = false, async = false } = {}) {
  const headers = { "x-api-key": token, "content-type": "application/json", "anthropic-version": "2023-06-01" };
  if (async) headers.prefer = "respond-async";
  const response = await fetch(`${gateway}/claude/v1/messages`, { method: "POST", headers,
    body: JSON.stringify({ model: "claude-dev", max_tokens: 64, stream, messages: [{ role: "user", content: prompt }] }) });
  await response.text();
  return response.status;
}

async function until(what, check, ms = 30000) {
  const end = Date.now() + ms;
  let last;
  for (;;) {
    last = await check();
    if (last === true) return;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}: ${last}`);
    await new Promise(r => setTimeout(r, 200));
  }
}

/** hoop_gateway_requests_total summed by decision, from the gateway's /metrics. */
async function gatewayCounts() {
  const text = await (await fetch(`${gateway}/metrics`)).text();
  const counts = { allow: 0, block: 0, approval: 0 };
  for (const line of text.split("\n")) {
    const m = /^hoop_gateway_requests_total\{([^}]*)\} ([0-9.e+]+)/.exec(line);
    if (!m) continue;
    const decision = /hoop_decision="([^"]+)"/.exec(m[1])?.[1];
    const key = decision === "rate_limited" || decision === "approval_mismatch" ? "block" : decision;
    if (key in counts) counts[key] += Number(m[2]);
  }
  return counts;
}

async function apiOverview() {
  const response = await fetch(`${silo}/api/overview?minutes=60`, { headers: { authorization: `Bearer ${tokens.auditor}` } });
  if (!response.ok) throw new Error(`GET /api/overview: ${response.status} ${await response.text()}`);
  return response.json();
}

const shown = async (page, id) => (await page.locator(`#${id}`).innerText()).trim();

let failed = 0, lastPage = null;
async function scenario(name, body) {
  const started = Date.now();
  try {
    await body();
    console.log(`PASS ${name} (${Date.now() - started} ms)`);
  } catch (e) {
    failed++;
    console.log(`FAIL ${name}: ${e?.stack || e}`);
    const text = await lastPage?.locator("main").innerText({ timeout: 2000 }).catch(() => null);
    if (text) console.log(`  the page showed: ${text.slice(0, 1500)}`);
  }
}

await scenario("the overview is the first page after sign-in and its numbers match /api/overview and the gateway's /metrics", async () => {
  // Traffic: allowed (streamed and not, two identities), blocked, and one approval left waiting.
  const statuses = [
    await agentRequest(tokens.alice, `hello ${unique()}`, { stream: true }),
    await agentRequest(tokens.alice, `summarise ${unique()}`),
    await agentRequest(tokens.bob, `hello from bob ${unique()}`, { stream: true }),
    await agentRequest(tokens.bob, `drop table users ${unique()}`),
    await agentRequest(tokens.alice, `export all customers ${unique()}`, { async: true }),
  ];
  if (statuses.join() !== "200,200,200,403,202") throw new Error(`agent requests answered ${statuses}`);

  const context = await browser.newContext({ viewport: { width: 1280, height: 1000 } });
  const page = await context.newPage();
  lastPage = page;
  page.on("pageerror", e => console.log(`page error: ${e.message}`));
  await page.goto(`${silo}/console/#/signin`);
  await page.getByLabel("Token").fill(tokens.auditor);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForURL(/#\/overview/);

  // Completion is recorded just after the answer ends: wait until the three completions are in.
  await until("the page to show what the gateway counted", async () => {
    const metrics = await gatewayCounts();
    const api = await apiOverview();
    await page.locator("#total-allow").waitFor({ timeout: 10000 });
    const page_ = { allow: Number(await shown(page, "total-allow")), block: Number(await shown(page, "total-block")),
      approval: Number(await shown(page, "total-approval")), waiting: Number(await shown(page, "approvals-waiting")) };
    const ok = metrics.allow === 3 && metrics.block === 1 && metrics.approval === 1
      && page_.allow === metrics.allow && page_.block === metrics.block && page_.approval === metrics.approval
      && api.totals.allow === metrics.allow && api.totals.block === metrics.block && api.totals.approval === metrics.approval
      && page_.waiting === 1 && api.approvalsWaiting.count === 1 && api.addedLatencyMs.count === 3;
    return ok || `metrics ${JSON.stringify(metrics)}, page ${JSON.stringify(page_)}, api ${JSON.stringify(api.totals)} waiting ${api.approvalsWaiting.count} latency ${JSON.stringify(api.addedLatencyMs)}`;
  });

  const api = await apiOverview();
  const p50 = await shown(page, "latency-p50"), p99 = await shown(page, "latency-p99");
  if (!/ms$/.test(p50) || !/ms$/.test(p99)) throw new Error(`latency shown as ${p50} / ${p99}`);
  const expected = v => `${v < 10 ? v.toFixed(2) : Math.round(v)} ms`;
  if (p50 !== expected(api.addedLatencyMs.p50) || p99 !== expected(api.addedLatencyMs.p99))
    throw new Error(`latency shown ${p50} / ${p99}, the API says ${api.addedLatencyMs.p50} / ${api.addedLatencyMs.p99}`);
  const main = await page.locator("main").innerText();
  for (const what of ["Requests per minute by decision", "Top identities by requests", "Top identities by risk signals", "Projection lag", "Approvals waiting"])
    if (!main.includes(what)) throw new Error(`no "${what}" on the page`);
  const bars = await page.locator("svg.chart rect").count();
  if (bars < 3) throw new Error(`only ${bars} bars drawn`);
  if (!(await page.locator("svg.chart[aria-label*='alice']").count())) throw new Error("alice is not among the top identities");
  await page.screenshot({ path: join(shots, "overview.png"), fullPage: true });

  // Live: another request shows up without a reload.
  if (await agentRequest(tokens.bob, `once more ${unique()}`) !== 200) throw new Error("the last request was not allowed");
  await until("the page to count the new request", async () => {
    const metrics = await gatewayCounts();
    const allow = Number(await shown(page, "total-allow"));
    return (metrics.allow === 4 && allow === 4) || `metrics allow ${metrics.allow}, page ${allow}`;
  }, 20000);
  await context.close();
});

await browser.close();
if (failed) {
  console.log(`${failed} browser scenario(s) failed`);
  process.exit(1);
}
console.log("all browser scenarios passed");
