// Browser test of the decision timeline page (issue 24), in Debian's
// Chromium through playwright-core:
//
//   node timeline/test.mjs PAGE.html DECISIONS.jsonl SCREENSHOT.png [--max-render-ms N] [--expect-thinned]
//
// Opens the page offline, checks one marker per decision, clicks one and
// reads its reason back from the details panel, checks that no request left
// the file, and saves a screenshot; optionally that it rendered within N ms
// and says that it thinned points. Prints one JSON line; exits 1 on failure.
import { chromium } from "playwright-core";
import { readFileSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const [page, decisionsFile, shot, ...flags] = process.argv.slice(2);
const maxRenderMs = flags.includes("--max-render-ms") ? Number(flags[flags.indexOf("--max-render-ms") + 1]) : null;
const expectThinned = flags.includes("--expect-thinned");
if (!page || !decisionsFile || !shot) {
  console.error("usage: node timeline/test.mjs PAGE.html DECISIONS.jsonl SCREENSHOT.png");
  process.exit(2);
}
const decisions = readFileSync(decisionsFile, "utf8").split("\n").filter((l) => l.trim());
const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";
// A fresh profile each run (the network is closed; nothing to sync).
const browser = await chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), "edgeintent-chromium-")), {
  executablePath,
  headless: true,
  viewport: { width: 1500, height: 1000 },
  args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--no-first-run"],
});
const fail = async (why) => {
  console.error("timeline test: " + why);
  await browser.close();
  process.exit(1);
};
try {
  const tab = await browser.newPage();
  const url = "file://" + resolve(page);
  const requests = [];
  tab.on("request", (r) => { if (r.url() !== url) requests.push(r.url()); });
  const errors = [];
  tab.on("pageerror", (e) => errors.push(String(e)));
  const started = Date.now();
  await tab.goto(url);
  await tab.waitForSelector("#chart .uplot");
  const renderMs = Date.now() - started;
  if (errors.length) await fail("page errors: " + errors.join("; "));
  if (maxRenderMs != null && renderMs > maxRenderMs) await fail(`rendered in ${renderMs} ms, over ${maxRenderMs}`);
  const thinned = await tab.locator("#thinned").isVisible();
  if (expectThinned && !thinned) await fail("the page does not say that it thinned points");
  const markers = tab.locator("svg#markers circle.decision");
  const count = await markers.count();
  if (count !== decisions.length) await fail(`${count} markers for ${decisions.length} decisions`);
  // A refresh the user asked for, if there is one, else the first decision.
  const want = decisions.findIndex((l) => JSON.parse(l).reason === "trigger:pull_to_refresh");
  const i = want >= 0 ? want : 0;
  const expected = JSON.parse(decisions[i]).reason;
  await markers.nth(i).dispatchEvent("click");
  const shown = (await tab.locator("#details .reason").textContent()).trim();
  if (shown !== expected) await fail(`clicked decision ${i}: shows ${shown}, expected ${expected}`);
  const features = await tab.locator("#details table.features tr").count();
  await tab.screenshot({ path: shot, fullPage: true });
  if (requests.length) await fail("network requests: " + requests.join(", "));
  console.log(JSON.stringify({ markers: count, decisions: decisions.length, clicked: i, reason: shown,
    feature_rows: features, requests: requests.length, render_ms: renderMs, thinned, screenshot: shot }));
} catch (e) {
  await fail(String(e && e.stack || e));
}
await browser.close();
