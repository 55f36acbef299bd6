// `npm run bench`: every benchmark in turn, each against baselines measured in the same run, then
// one report: benchmarks/RESULTS.md (the machine, and a table of every row) and
// benchmarks/results.svg (a bar chart of the ratios, log scale, with the targets).
//   node benchmarks/run.mjs [--quick] [--out DIR] [--only name,name] [--json-dir DIR [--no-run]] [--commit REV]
// --quick: short loops (the whole run in about a minute); --out: write the report elsewhere;
// --only: run some benchmarks (the report then holds only those); --json-dir: keep each
// benchmark's JSON there; with --no-run, rebuild the report from those files without running;
// --commit: the commit to name in the report (default: this checkout's HEAD, from git).
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const BENCHMARKS = ['sync', 'shared-data', 'codec', 'channels', 'pool'];
const { values: opt } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false }, out: { type: 'string' }, only: { type: 'string' },
    'json-dir': { type: 'string' }, 'no-run': { type: 'boolean', default: false }, commit: { type: 'string' },
  },
});
const here = fileURLToPath(new URL('.', import.meta.url));
const outDir = opt.out ?? here;
const names = opt.only ? opt.only.split(',') : BENCHMARKS;
for (const n of names) if (!BENCHMARKS.includes(n)) throw new RangeError(`--only: no benchmark '${n}' (${BENCHMARKS.join(', ')})`);

const log = (s) => process.stderr.write(s + '\n');
const sh = (cmd, args) => { try { return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim(); } catch { return null; } };
/**
 * How busy the cores are right now, 0…1 of all of them, over `ms`: what other work takes before
 * the benchmarks start (the 1-minute load average would still count the build `npm run bench`
 * ran just before, and this very process's start).
 */
function busyNow(ms = 1000) {
  const sample = () => cpus().reduce((a, c) => {
    const t = c.times;
    return { busy: a.busy + t.user + t.nice + t.sys + t.irq, all: a.all + t.user + t.nice + t.sys + t.irq + t.idle };
  }, { busy: 0, all: 0 });
  const a = sample();
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
  const b = sample();
  return b.all > a.all ? (b.busy - a.busy) / (b.all - a.all) : 0;
}

const machine = {
  cpu: cpus()[0]?.model.trim() ?? 'unknown CPU',
  cores: availableParallelism(),
  node: process.version,
  v8: process.versions.v8,
  os: `${process.platform} ${release()} ${process.arch}`,
  python: sh('python3', ['--version'])?.replace(/^Python /, '') ?? null,
  commit: opt.commit ?? sh('git', ['-C', here, 'rev-parse', '--short', 'HEAD']),
  libChanged: !opt.commit && (sh('git', ['-C', here, 'status', '--porcelain', '--', '../lib']) ?? '') !== '',
  date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
  quick: opt.quick,
  loadStart: loadavg()[0],
  busyStart: busyNow(),
};

// ------------------------------------------------------------------------------------ running
if (opt['no-run'] && !opt['json-dir']) throw new RangeError('--no-run needs --json-dir');
const tmp = opt['json-dir'] ?? mkdtempSync(join(tmpdir(), 'weft-bench-'));
mkdirSync(tmp, { recursive: true });
const t00 = performance.now();
const runs = [];
log(`weft benchmarks${opt.quick ? ' (--quick)' : ''}: ${names.length} files on ${machine.cores} cores, ${machine.cpu}, Node ${machine.node}; ` +
  `1-min load average ${machine.loadStart.toFixed(2)}${machine.python ? `; Python ${machine.python} for the multiprocessing baseline` : '; no python3: its baseline is skipped'}`);
// With --no-run, the machine and timings of the run that wrote the JSON (report.json) are reused.
const previous = opt['no-run'] ? (() => { try { return JSON.parse(readFileSync(join(tmp, 'report.json'), 'utf8')); } catch { return null; } })() : null;
if (previous) Object.assign(machine, previous.machine);
names.forEach((name, i) => {
  const json = join(tmp, `${name}.json`);
  log(`\n[${i + 1}/${names.length}] benchmarks/${name}.mjs${opt.quick ? ' --quick' : ''}`);
  const t0 = performance.now();
  const r = opt['no-run'] ? { status: 0 }
    : spawnSync(process.execPath, [join(here, `${name}.mjs`), ...(opt.quick ? ['--quick'] : []), '--json', json], { stdio: 'inherit' });
  const secs = previous?.runs.find((p) => p.name === name)?.secs ?? (performance.now() - t0) / 1000;
  let data = null;
  if (r.status === 0) {
    try { data = JSON.parse(readFileSync(json, 'utf8')); } catch (e) { log(`  could not read its JSON: ${e.message}`); }
  }
  const rows = data ? normalize(name, data) : [];
  log(`[${i + 1}/${names.length}] ${name}: ${r.status === 0 ? `${rows.length} rows` : `FAILED (${r.signal ?? `exit code ${r.status}`})`} in ${secs.toFixed(1)} s; ${((performance.now() - t00) / 1000).toFixed(0)} s so far`);
  runs.push({ name, ok: r.status === 0 && data !== null, status: r.signal ?? r.status, secs, rows });
});
if (!previous) {
  machine.loadEnd = loadavg()[0];
  machine.seconds = (performance.now() - t00) / 1000;
}
if (opt['json-dir'] && !opt['no-run']) {
  writeFileSync(join(tmp, 'report.json'), JSON.stringify({ machine, runs: runs.map(({ rows: _, ...r }) => r) }, null, 2));
}
if (!opt['json-dir']) rmSync(tmp, { recursive: true, force: true });

// ------------------------------------------------------------------------------------ rows
/**
 * One shape for every benchmark's rows: { bench, name, weft, base, baseName, ratio, dir, target,
 * targetText, met }. `ratio` is the benchmark's own; `dir` says which way is good for weft:
 * 'cost' (weft ÷ baseline, lower is better) or 'gain' (higher is better). `advantage` folds both
 * into "how many times better than the baseline" for the chart.
 */
function normalize(bench, data) {
  const parseTarget = (t) => {
    const m = /([≤≥>])\s*([\d.]+)\s*×/.exec(String(t));
    return m ? { op: m[1], value: Number(m[2]) } : null;
  };
  const row = (name, weft, base, baseName, ratio, targetText, met, dir) => {
    const t = parseTarget(targetText);
    dir ??= t ? (t.op === '≤' ? 'cost' : 'gain') : /\((ns|ms)\)$/.test(name) ? 'cost' : 'gain';
    const target = t?.value ?? null;
    if (typeof met !== 'boolean') met = target === null ? null : t.op === '≤' ? ratio <= target : t.op === '>' ? ratio > target : ratio >= target;
    return { bench, name, weft, base, baseName, ratio, dir, target, targetText: target === null ? 'info' : targetText, met };
  };
  if (bench === 'codec') {
    return data.rows.map((r) => row(`encode+decode, ${r.name} (ns)`, r.weft, r.base, 'v8.serialize+deserialize', r.ratio,
      r.target ? `≥ ${r.target}× faster` : 'info', null, 'gain'));
  }
  if (bench === 'channels') {
    const bases = data.base ?? ['MessagePort', 'postMessage', 'postMessage', 'postMessage', 'TypedArray.set'];
    return data.rows.map(([name, w, b, ratio, tgt], i) => row(name.replace(' (µs, lower is better)', ' (µs)'), w, b, bases[i], ratio,
      `≥ ${tgt}×${i === 0 ? ' lower' : ''}`, null, 'gain'));
  }
  // sync, shared-data, pool: [name, weft, baseline, baseline's name, ratio, target, met]
  return data.rows.map(([name, w, b, bname, ratio, target, met]) => row(name, w, b, bname, ratio, target, met,
    bench === 'pool' ? 'gain' : undefined));
}
const rows = runs.flatMap((r) => r.rows);
for (const r of rows) r.advantage = r.dir === 'cost' ? 1 / r.ratio : r.ratio;
for (const r of rows) r.targetAdvantage = r.target === null ? null : r.dir === 'cost' ? 1 / r.target : r.target;

// ------------------------------------------------------------------------------------ RESULTS.md
const sig = (x) => {
  const a = Math.abs(x);
  return a >= 100 ? x.toFixed(0) : a >= 10 ? x.toFixed(1) : a >= 1 ? x.toFixed(2) : x.toPrecision(2);
};
/** The ratio as the benchmark states it; for "N× lower" times, a ratio under 1 reads as "M× higher". */
const ratioText = (r) => {
  if (!/lower/.test(r.targetText)) return `${sig(r.ratio)}×`;
  return r.ratio >= 1 ? `${sig(r.ratio)}× lower` : `${sig(1 / r.ratio)}× higher`;
};
const metText = (m) => (m === null ? '—' : m ? '✓' : '✗');
const metCount = rows.filter((r) => r.met === true).length;
const targeted = rows.filter((r) => r.met !== null).length;
const md = [];
md.push('# weft benchmark results', '');
md.push(`Written by \`npm run bench${machine.quick ? ' -- --quick' : ''}\` (benchmarks/run.mjs) from one run of every benchmark in ` +
  '`benchmarks/`; each weft figure is set against a baseline measured in the same run, on the same machine.');
md.push('');
md.push(`**${machine.quick ? 'Quick run (`--quick`: shorter loops, noisier).' : 'Full run.'}** ` +
  'Absolute figures drift by ±30% between runs on a quiet machine, and much more on a loaded one: ' +
  'only same-run ratios mean anything. ' +
  (machine.busyStart === undefined ? '' : `Just before the first benchmark the cores were ${(machine.busyStart * 100).toFixed(0)}% busy with other work. `) +
  `The 1-minute load average was ${machine.loadStart.toFixed(2)} at the start (it still counts the build that ran just before) and ${machine.loadEnd.toFixed(2)} at the end, on ${machine.cores} cores: ` +
  ((machine.busyStart ?? machine.loadStart / machine.cores) > 0.25
    ? 'other work was running when it started, so these figures are noisier than usual, ' +
      'those of the primitives that spin before they sleep (hand-offs, round trips) above all.'
    : 'the machine was otherwise idle when it started.'));
md.push('');
md.push('| machine | |', '|---|---|');
md.push(`| CPU | ${machine.cpu} |`);
md.push(`| cores | ${machine.cores} (\`os.availableParallelism()\`) |`);
md.push(`| Node | ${machine.node} (V8 ${machine.v8}) |`);
md.push(`| Python | ${machine.python ? `${machine.python} (\`multiprocessing\` baseline)` : 'not found: its rows are missing'} |`);
md.push(`| OS | ${machine.os} |`);
md.push(`| commit | ${machine.commit ?? 'unknown'}${machine.libChanged ? ' (with uncommitted changes in lib/)' : ''} |`);
md.push(`| date | ${machine.date} |`);
md.push(`| run | ${machine.quick ? 'quick' : 'full'}, ${machine.seconds.toFixed(0)} s |`);
md.push('');
md.push(`${metCount} of ${targeted} targets met. ✓ met, ✗ missed, — no target (shown for information).`);
md.push('"ratio" is weft ÷ baseline for times whose target is a ceiling (≤); otherwise how many times better weft ' +
  'does (rates: weft ÷ baseline; times marked "lower" or "higher": baseline ÷ weft or its inverse). The chart folds ' +
  'both into one direction: right of 1× is better than the baseline.');
md.push('');
md.push('![weft against its baselines](results.svg)');
md.push('');
md.push('| benchmark | weft | baseline | ratio | target | met |', '|---|---|---|---|---|---|');
for (const r of rows) {
  md.push(`| ${r.bench}: ${r.name} | ${sig(r.weft)} | ${sig(r.base)} (${r.baseName}) | ${ratioText(r)} | ${r.targetText} | ${metText(r.met)} |`);
}
const failed = runs.filter((r) => !r.ok);
if (failed.length) {
  md.push('');
  for (const f of failed) md.push(`- **benchmarks/${f.name}.mjs failed** (${f.status}) after ${f.secs.toFixed(1)} s: its rows are missing.`);
}
md.push('');
md.push('Per benchmark: ' + runs.map((r) => `${r.name} ${r.secs.toFixed(0)} s`).join(', ') + '.');
md.push('');

// ------------------------------------------------------------------------------------ results.svg
function chart() {
  const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
  const W = 1140;
  const LEFT = 430; // row labels
  const PLOT = 390; // bars
  const RIGHT = W - LEFT - PLOT; // values
  const ROW = 20;
  const HEAD = 80;
  const values = rows.flatMap((r) => [r.advantage, r.targetAdvantage]).filter((x) => x !== null && x > 0 && Number.isFinite(x));
  const lo = Math.min(-1, Math.floor(Math.log10(Math.min(...values, 1)) - 0.05));
  const hi = Math.max(1, Math.ceil(Math.log10(Math.max(...values, 1)) + 0.05));
  const x = (v) => LEFT + ((Math.log10(Math.min(Math.max(v, 10 ** lo), 10 ** hi)) - lo) / (hi - lo)) * PLOT;
  const lines = [];
  let y = HEAD;
  const items = [];
  let last = null;
  for (const r of rows) {
    if (r.bench !== last) { items.push({ header: r.bench }); last = r.bench; }
    items.push({ row: r });
  }
  const H = HEAD + items.length * ROW + 40;
  lines.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="system-ui, -apple-system, 'Segoe UI', sans-serif" font-size="12">`);
  lines.push(`<rect width="${W}" height="${H}" fill="#ffffff"/>`);
  lines.push(`<text x="12" y="22" font-size="16" font-weight="bold">weft against same-run baselines: how many times better (log scale)</text>`);
  lines.push(`<text x="12" y="40" fill="#555">${esc(`${machine.quick ? 'quick' : 'full'} run, ${machine.date.slice(0, 10)}, ${machine.cores} cores ${machine.cpu}, Node ${machine.node}; load average ${machine.loadStart.toFixed(1)} → ${machine.loadEnd.toFixed(1)}`)}</text>`);
  lines.push(`<text x="12" y="56" fill="#555">${esc('bar: baseline cost ÷ weft cost, right of 1× = weft better; black tick: the target; right: the ratio as in RESULTS.md')}</text>`);
  [['#2e7d32', 'target met'], ['#c62828', 'target missed'], ['#9aa5ad', 'no target']].forEach(([c, t], i) => {
    lines.push(`<rect x="${LEFT + PLOT + 8 + i * 112}" y="${HEAD - 18}" width="10" height="10" fill="${c}"/><text x="${LEFT + PLOT + 22 + i * 112}" y="${HEAD - 9}" fill="#555">${t}</text>`);
  });
  // decade grid
  for (let e = lo; e <= hi; e++) {
    const gx = x(10 ** e).toFixed(1);
    lines.push(`<line x1="${gx}" y1="${HEAD - 6}" x2="${gx}" y2="${H - 30}" stroke="${e === 0 ? '#333' : '#ddd'}" stroke-width="${e === 0 ? 1.2 : 1}"/>`);
    lines.push(`<text x="${gx}" y="${H - 16}" text-anchor="middle" fill="#555">${e < 0 ? (10 ** e).toFixed(-e) : 10 ** e}×</text>`);
  }
  for (const it of items) {
    if (it.header) {
      lines.push(`<text x="12" y="${y + 14}" font-weight="bold">${esc(it.header)}</text>`);
      y += ROW;
      continue;
    }
    const r = it.row;
    const color = r.met === null ? '#9aa5ad' : r.met ? '#2e7d32' : '#c62828';
    const x0 = x(1);
    const x1 = x(r.advantage);
    const label = r.name.length > 66 ? r.name.slice(0, 65) + '…' : r.name;
    lines.push(`<text x="${LEFT - 8}" y="${y + 14}" text-anchor="end">${esc(label)}</text>`);
    lines.push(`<rect x="${Math.min(x0, x1).toFixed(1)}" y="${y + 4}" width="${Math.max(1, Math.abs(x1 - x0)).toFixed(1)}" height="${ROW - 8}" fill="${color}"><title>${esc(`${r.bench}: ${r.name}: weft ${sig(r.weft)}, ${r.baseName} ${sig(r.base)}, ratio ${ratioText(r)}, target ${r.targetText}`)}</title></rect>`);
    if (r.targetAdvantage !== null) {
      const tx = x(r.targetAdvantage).toFixed(1);
      lines.push(`<line x1="${tx}" y1="${y + 1}" x2="${tx}" y2="${y + ROW - 1}" stroke="#000" stroke-width="2"/>`);
    }
    lines.push(`<text x="${LEFT + PLOT + 8}" y="${y + 14}" fill="${color}">${esc(`${ratioText(r)}${r.met === null ? '' : `  ${metText(r.met)} target ${r.targetText}`}`)}</text>`);
    y += ROW;
  }
  lines.push('</svg>');
  void RIGHT;
  return lines.join('\n') + '\n';
}

mkdirSync(outDir, { recursive: true });
writeFileSync(join(outDir, 'RESULTS.md'), md.join('\n'));
writeFileSync(join(outDir, 'results.svg'), chart());
log(`\nwrote ${join(outDir, 'RESULTS.md')} and results.svg: ${rows.length} rows, ${metCount} of ${targeted} targets met; ` +
  `${failed.length ? `${failed.length} benchmark(s) FAILED; ` : ''}${machine.seconds.toFixed(0)} s in all`);
process.exit(failed.length ? 1 : 0);
