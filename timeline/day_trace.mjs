// A seeded day of one heavy user's events, for the timeline's size check:
//   node timeline/day_trace.mjs OUT.jsonl [SEED]
// Sessions through the day (foreground, home views, a scroll every 1-3 s,
// exposures, clicks, searches, pull-to-refresh, background), a dense location
// stream (a fix every 2 s all day): about 70,000 events, past the thinning limit.
import { writeFileSync } from "node:fs";

const [out, seedArg] = process.argv.slice(2);
if (!out) {
  console.error("usage: node timeline/day_trace.mjs OUT.jsonl [SEED]");
  process.exit(2);
}
let s = Number(seedArg || 7) >>> 0;
const rnd = () => { // mulberry32
  s = (s + 0x6d2b79f5) >>> 0;
  let t = s;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};
const start = Date.UTC(2026, 0, 5, 0, 0, 0);
const end = start + 24 * 3600 * 1000;
const ev = [];
for (let t = start; t < end; t += 2_000) {
  ev.push({ ts_ms: t, type: "location", lat: 31.23 + rnd() * 0.01, lon: 121.47 + rnd() * 0.01, accuracy_m: 10 + rnd() * 20 });
}
let t = start + 6 * 3600 * 1000;
let item = 0;
while (t < end - 3600_000) {
  ev.push({ ts_ms: t, type: "app_foreground" });
  const sessionEnd = t + Math.floor((10 + rnd() * 30) * 60_000);
  while (t < sessionEnd) {
    ev.push({ ts_ms: t, type: "page_view", page: "home" });
    const views = 20 + Math.floor(rnd() * 60);
    for (let k = 0; k < views && t < sessionEnd; k++) {
      t += 1000 + Math.floor(rnd() * 2000);
      ev.push({ ts_ms: t, type: "scroll", page: "home", dy_px: 200 + Math.floor(rnd() * 900) });
      if (rnd() < 0.5) ev.push({ ts_ms: t + 1, type: "exposure", slot: "feed", items: [`i${item++}`, `i${item++}`] });
      if (rnd() < 0.05) ev.push({ ts_ms: t + 2, type: "click", slot: "feed", item: `i${item - 1}` });
      if (rnd() < 0.01) ev.push({ ts_ms: t + 3, type: "search", query_len: 6 });
      if (rnd() < 0.01) ev.push({ ts_ms: t + 4, type: "pull_to_refresh", page: "home" });
    }
    t += 2000;
    ev.push({ ts_ms: t, type: "page_view", page: "detail" });
    t += 5000 + Math.floor(rnd() * 20000);
  }
  ev.push({ ts_ms: t, type: "app_background" });
  t += Math.floor((10 + rnd() * 50) * 60_000);
}
ev.sort((a, b) => a.ts_ms - b.ts_ms);
writeFileSync(out, ev.map((e) => JSON.stringify(e)).join("\n") + "\n");
console.log(`${ev.length} events`);
