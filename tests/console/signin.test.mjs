// Browser tests of the console's single sign-on (OpenID Connect authorization code with PKCE)
// against a silo that trusts the fake identity provider (started by Hoop.EndToEnd.Tests
// ConsoleSignInTests, which passes the URLs in the environment and checks the exit code).
// Each scenario prints "PASS name" or "FAIL name: why".
import { chromium } from "playwright-core";
import { mkdirSync } from "node:fs";
import { join } from "node:path";

const env = name => { const v = process.env[name]; if (!v) { console.error(`missing ${name}`); process.exit(2); } return v; };
const silo = env("HOOP_SILO_URL").replace(/\/$/, "");
const oidc = env("HOOP_OIDC_URL").replace(/\/$/, "");
const shots = env("HOOP_SCREENSHOTS");
mkdirSync(shots, { recursive: true });

const browser = await chromium.launch({
  executablePath: process.env.HOOP_CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync"],
});

let failed = 0;
let lastPage = null;
async function scenario(name, body) {
  const started = Date.now();
  lastPage = null;
  try {
    await body();
    console.log(`PASS ${name} (${Date.now() - started} ms)`);
  } catch (e) {
    failed++;
    console.log(`FAIL ${name}: ${e?.stack || e}`);
    const shown = await lastPage?.locator("body").innerText({ timeout: 2000 }).catch(() => null);
    if (shown) console.log(`  the page showed: ${shown.slice(0, 1500)}`);
  }
}

async function newPage() {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  page.on("pageerror", e => console.log(`page error: ${e.message}`));
  lastPage = page;
  return { context, page };
}

// Opens the console, starts single sign-on and waits at the provider's sign-in page.
async function atProvider(page) {
  await page.goto(`${silo}/console/`);
  await page.getByRole("button", { name: "Sign in with single sign-on" }).click();
  await page.waitForURL(url => url.toString().startsWith(`${oidc}/authorize`));
  return new URL(page.url());
}

async function signInAs(page, sub) {
  await atProvider(page);
  await page.getByLabel("User").selectOption(sub);
  await page.getByRole("button", { name: "Continue" }).click();
  await page.waitForURL(url => url.toString().startsWith(`${silo}/console/`) && url.hash === "#/overview");
  await page.locator("#who", { hasText: `${sub} (sign out)` }).waitFor({ timeout: 10000 });
}

const assert = (ok, what) => { if (!ok) throw new Error(what); };

let callbackOfSam = null;

await scenario("single sign-on with PKCE: the provider's token is accepted by the silo", async () => {
  const { context, page } = await newPage();
  const authorize = await atProvider(page);
  const q = authorize.searchParams;
  assert(q.get("response_type") === "code", `response_type ${q.get("response_type")}`);
  assert(q.get("code_challenge_method") === "S256" && /^[A-Za-z0-9_-]{43}$/.test(q.get("code_challenge") || ""), `no S256 challenge: ${authorize}`);
  assert(q.get("client_id") === "hoop-console" && q.get("redirect_uri") === `${silo}/console/`, `client/redirect: ${authorize}`);
  assert((q.get("state") || "").length >= 16 && (q.get("scope") || "").split(" ").includes("openid"), `state/scope: ${authorize}`);
  page.on("request", r => { if (r.url().startsWith(`${silo}/console/?code=`)) callbackOfSam = r.url(); });
  await page.screenshot({ path: join(shots, "signin-provider.png"), fullPage: true });
  await page.getByLabel("User").selectOption("sam");
  await page.getByRole("button", { name: "Continue" }).click();
  await page.waitForURL(url => url.toString().startsWith(`${silo}/console/`) && url.hash === "#/overview");
  await page.locator("#who", { hasText: "sam (sign out)" }).waitFor({ timeout: 10000 });
  assert(new URL(page.url()).search === "", `the code is still in the address bar: ${page.url()}`);
  assert(callbackOfSam, "never came back with a code");
  // The silo validated the token (JWKS from the provider's discovery): the overview (first page after sign-in) answers.
  await page.locator("main table, main p:has-text('No sessions')").first().waitFor({ timeout: 10000 });
  assert(await page.locator("main [role=alert]").count() === 0, `an error is shown: ${await page.locator("main").innerText()}`);
  const stored = await page.evaluate(() => ({ pending: sessionStorage.getItem("hoop.oidc.pending"), token: sessionStorage.getItem("hoop.token") }));
  assert(stored.pending === null && stored.token?.split(".").length === 3, `storage after sign-in: ${JSON.stringify(stored)}`);
  await page.goto(`${silo}/console/#/approvals`);
  await page.getByRole("heading", { name: /approvals/i }).first().waitFor();
  await page.screenshot({ path: join(shots, "signin-done.png"), fullPage: true });
  await context.close();
});

await scenario("roles come from the provider: a user without roles is signed in but sees no Approve buttons", async () => {
  const { context, page } = await newPage();
  await signInAs(page, "nora");
  await page.goto(`${silo}/console/#/approvals`);
  // The approvals page has rendered for a user without the approver role: its notice is shown and
  // its list settled (emptied, no "Loading…"); only then is the absence of buttons meaningful.
  await page.getByRole("heading", { name: "Pending approvals" }).waitFor({ timeout: 10000 });
  await page.locator("main p.notice", { hasText: "do not have the approver role" }).waitFor({ timeout: 10000 });
  await page.waitForFunction(() => document.querySelector("#approvals-list")?.textContent === "", null, { timeout: 10000 });
  assert(await page.getByRole("button", { name: "Approve" }).count() === 0, "nora sees an Approve button");
  await context.close();
});

await scenario("cancelling at the provider leaves the user signed out, told why", async () => {
  const { context, page } = await newPage();
  await atProvider(page);
  await page.getByRole("button", { name: "Cancel" }).click();
  await page.waitForURL(url => url.toString().startsWith(`${silo}/console/`));
  const alert = page.locator("main [role=alert]");
  await alert.waitFor({ timeout: 10000 });
  assert(/cancelled/i.test(await alert.innerText()), `alert: ${await alert.innerText()}`);
  await page.getByRole("button", { name: "Sign in with single sign-on" }).waitFor();
  await page.screenshot({ path: join(shots, "signin-refused.png"), fullPage: true });
  assert(await page.evaluate(() => sessionStorage.getItem("hoop.token")) === null, "signed in after cancelling");
  assert(new URL(page.url()).search === "", `parameters left in the address bar: ${page.url()}`);
  await context.close();
});

await scenario("a forged or replayed answer is refused: it belongs to no sign-in started in this tab", async () => {
  const { context, page } = await newPage();
  await page.goto(`${silo}/console/?code=forged&state=forged`);
  const alert = page.locator("main [role=alert]");
  await alert.waitFor({ timeout: 10000 });
  assert(/does not belong/i.test(await alert.innerText()), `alert: ${await alert.innerText()}`);
  assert(await page.evaluate(() => sessionStorage.getItem("hoop.token")) === null, "signed in by a forged answer");
  // Sam's real answer, replayed while another sign-in is pending in this tab: its state does not match.
  assert(callbackOfSam, "no callback of sam's sign-in to replay");
  await atProvider(page);
  await page.goto(callbackOfSam);
  await page.locator("main [role=alert]").waitFor({ timeout: 10000 });
  assert(/does not belong/i.test(await page.locator("main [role=alert]").innerText()), "replay not refused");
  assert(await page.evaluate(() => sessionStorage.getItem("hoop.token")) === null, "signed in by a replayed answer");
  await context.close();
});

await browser.close();
if (failed) {
  console.log(`${failed} browser scenario(s) failed`);
  process.exit(1);
}
console.log("all browser scenarios passed");
