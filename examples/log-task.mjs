// Tasks of the log-analysis demo (examples/demo.mjs). A plain module: the demo imports it on the
// main thread for the one-thread run, and `new Pool({ filename: <this file> })` runs the same
// exports in worker threads, the way a Python user hands a module-level function to
// `multiprocessing.Pool`.
import { readFileSync, writeFileSync } from 'node:fs';
import { gunzipSync, gzipSync } from 'node:zlib';

/** mulberry32: a tiny deterministic PRNG, uniform in [0, 1). */
function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// The site: a fixed set of paths (the same in every thread: built from a fixed seed), visited with
// a Zipf-like skew so that the top 10 is meaningful.
const PATHS = (() => {
  const r = prng(7);
  const out = ['/', '/index.html', '/login', '/search', '/cart', '/checkout', '/favicon.ico', '/robots.txt'];
  for (let i = 0; i < 120; i++) out.push(`/products/${1000 + Math.floor(r() * 9000)}`);
  for (let i = 0; i < 60; i++) out.push(`/static/js/chunk.${Math.floor(r() * 0xffffff).toString(16)}.js`);
  for (let i = 0; i < 60; i++) out.push(`/static/img/${Math.floor(r() * 100000)}.webp`);
  for (let i = 0; i < 200; i++) out.push(`/api/v1/users/${Math.floor(r() * 1e6)}/orders`);
  for (let i = 0; i < 60; i++) out.push(`/blog/${2015 + (i % 10)}/post-${i}`);
  return [...new Set(out)];
})();
// Cumulative Zipf(s = 1.1) weights over PATHS, in a shuffled-but-fixed order.
const CUM = (() => {
  const w = PATHS.map((_, i) => 1 / (i + 1) ** 1.1);
  const total = w.reduce((a, b) => a + b, 0);
  let acc = 0;
  return Float64Array.from(w, (x) => (acc += x / total));
})();
const pickPath = (u) => {
  let lo = 0;
  let hi = CUM.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (CUM[mid] < u) lo = mid + 1;
    else hi = mid;
  }
  return PATHS[lo];
};
const STATUSES = [[200, 0.8], [304, 0.07], [301, 0.02], [302, 0.03], [404, 0.05], [403, 0.01], [500, 0.015], [503, 0.005]];
const pickStatus = (u) => {
  for (const [code, p] of STATUSES) if ((u -= p) < 0) return code;
  return 200;
};
const METHODS = ['GET', 'GET', 'GET', 'GET', 'GET', 'GET', 'POST', 'HEAD'];
const AGENTS = [
  'Mozilla/5.0 (X11; Linux x86_64; rv:126.0) Gecko/20100101 Firefox/126.0',
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/125.0 Safari/537.36',
  'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148',
  'curl/8.5.0',
  'Googlebot/2.1 (+http://www.google.com/bot.html)',
];
const REFERRERS = ['-', 'https://www.example.com/', 'https://www.google.com/', 'https://news.ycombinator.com/'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const pad = (n) => (n < 10 ? '0' + n : String(n));

/**
 * Writes `lines` combined-log-format lines, gzip-compressed, to `file`; deterministic in `seed`.
 * Returns the sizes. (One object argument, so that `imapUnordered` can feed it.)
 */
export function generate({ file, seed, lines }) {
  const r = prng(seed);
  let t = Date.UTC(2024, 5, 1) + seed * 86_400_000; // one day per file
  const step = (2 * 86_400_000) / lines; // mean gap between requests: the lines span the day
  let raw = Buffer.allocUnsafe(lines * 200);
  let at = 0;
  let second = -1;
  let when = '';
  for (let i = 0; i < lines; i++) {
    t += Math.floor(r() * step);
    const s = Math.floor(t / 1000);
    if (s !== second) { // the timestamp changes every few lines: format it once per second
      second = s;
      const d = new Date(t);
      when = `${pad(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} +0000`;
    }
    const x = (r() * 0x1000000) >>> 0;
    const ip = `10.${x >>> 16}.${(x >>> 8) & 255}.${1 + ((x & 255) % 254)}`;
    const status = pickStatus(r());
    const bytes = status === 304 ? 0 : Math.floor(200 + r() * r() * 120_000);
    let path = pickPath(r());
    if (path === '/search') path += `?q=${Math.floor(r() * 5000)}`;
    const y = (r() * 160) >>> 0; // method, referrer and agent from one draw
    const line = `${ip} - - [${when}] "${METHODS[y & 7]} ${path} HTTP/1.1" ${status} ${bytes} "${REFERRERS[(y >>> 3) & 3]}" "${AGENTS[y % 5]}"\n`;
    if (at + line.length > raw.length) { // grow (lines are ASCII: one byte per char)
      const bigger = Buffer.allocUnsafe(raw.length * 2);
      raw.copy(bigger, 0, 0, at);
      raw = bigger;
    }
    at += raw.latin1Write(line, at);
  }
  const gz = gzipSync(raw.subarray(0, at), { level: 1 });
  writeFileSync(file, gz);
  return { file, lines, rawBytes: at, gzBytes: gz.length };
}

// One line of the combined log format, as a Python user would parse it (`re.match`):
// 10.1.2.3 - - [01/Jun/2024:00:00:01 +0000] "GET /path HTTP/1.1" 200 1234 "referrer" "user agent"
const LINE = /^(\S+) \S+ \S+ \[([^\]]+)\] "(\S+) (\S+) [^"]*" (\d{3}) (\d+|-) "([^"]*)" "([^"]*)"$/;
const BOT = /bot|crawl|spider/i;
const bump = (o, k) => { o[k] = (o[k] ?? 0) + 1; };

/**
 * Gunzips one log and counts it: lines, status codes, methods, requests per path (query string
 * dropped) and per hour, bots, response bytes. Returns plain objects so that per-file results
 * merge by addition.
 */
export function analyse(file) {
  const text = gunzipSync(readFileSync(file)).toString('latin1');
  const status = {};
  const methods = {};
  const paths = new Map();
  const hours = new Array(24).fill(0);
  let lines = 0;
  let malformed = 0;
  let bytes = 0;
  let bots = 0;
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const m = LINE.exec(line);
    if (m === null) {
      malformed++;
      continue;
    }
    const [, , when, method, target, code, size, , agent] = m;
    const qm = target.indexOf('?');
    const path = qm < 0 ? target : target.slice(0, qm);
    paths.set(path, (paths.get(path) ?? 0) + 1);
    bump(status, code);
    bump(methods, method);
    hours[Number(when.slice(12, 14))]++;
    if (size !== '-') bytes += Number(size);
    if (BOT.test(agent)) bots++;
    lines++;
  }
  return { file, lines, malformed, bytes, bots, status, methods, hours, paths: Object.fromEntries(paths) };
}
