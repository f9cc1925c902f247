/**
 * The dashboard (`GET /ui`): one self-contained page, no build step. It polls /api/stats and
 * /api/jobs every second and draws VRAM per GPU (now, and over the last hour as the supervisor
 * kept it), the ladders with their history and the evidence of each step, the queue, recent
 * incidents with their log lines and recent jobs. With `api.token` set it asks for the token once and keeps it in the
 * browser's localStorage.
 *
 * With several Ollama backends (or one given its own name) a Backends panel takes the VRAM
 * panel's place: each backend's health (and why it is not healthy), its cards (in use of the
 * total, what Ollama holds, what other processes hold), the models it holds and the jobs
 * running there; the job tables then say which backend ran each job. A single backend named
 * `default` keeps the page as it was, its health in the header's one line.
 *
 * On a shared queue (`queue.url`, so /api/stats has `cluster`) a compact Cluster panel sits
 * next to the local view: every live supervisor (its id, its URL as a link, this one marked,
 * when it was last seen) and each of its backends with its health and the jobs running there.
 * Without `cluster` the panel stays hidden and the page is as it was.
 */
export const DASHBOARD_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>ollama-fleet</title>
<link rel="icon" href="/favicon.ico" type="image/svg+xml">
<style>
  :root { --bg: #f6f7f9; --card: #fff; --ink: #1f2933; --muted: #616e7c; --line: #e4e7eb;
          --free: #e4e7eb; --external: #9aa5b1; --accent: #2f80ed; --bad: #d64545;
          --good: #1f8a5c; --warn: #b7791f; }
  * { box-sizing: border-box; }
  body { margin: 0; font: 14px/1.4 system-ui, sans-serif; background: var(--bg); color: var(--ink); }
  header { display: flex; gap: 16px; align-items: baseline; padding: 12px 20px; background: var(--ink); color: #fff; }
  header h1 { font-size: 18px; margin: 0; }
  header .status { font-size: 13px; opacity: .85; min-width: 0; overflow-wrap: anywhere; }
  main { display: grid; grid-template-columns: repeat(auto-fit, minmax(min(420px, 100%), 1fr)); gap: 14px; padding: 14px 20px; }
  header { flex-wrap: wrap; }
  .scroll { overflow-x: auto; }
  @media (max-width: 480px) { main { padding: 10px 8px; } header { padding: 10px 12px; } }
  section { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 12px 14px; min-width: 0; overflow-x: auto; }
  h2 { font-size: 14px; margin: 0 0 8px; color: var(--muted); text-transform: uppercase; letter-spacing: .04em; }
  table { width: 100%; border-collapse: collapse; font-size: 13px; }
  table.scroll { display: block; overflow-x: auto; }
  th, td { text-align: left; padding: 3px 6px; border-bottom: 1px solid var(--line); white-space: nowrap; }
  td.wrap { white-space: normal; word-break: break-word; }
  .bar { display: flex; height: 22px; border-radius: 4px; overflow: hidden; background: var(--free); margin: 4px 0 2px; }
  .bar div { height: 100%; }
  .legend { display: flex; flex-wrap: wrap; gap: 10px; font-size: 12px; color: var(--muted); }
  .legend i { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 4px; vertical-align: -1px; }
  .rungs { display: flex; gap: 6px; flex-wrap: wrap; margin: 6px 0; }
  .rung { padding: 3px 8px; border: 1px solid var(--line); border-radius: 12px; font-size: 13px; }
  .rung.current { background: var(--accent); color: #fff; border-color: var(--accent); font-weight: 600; }
  .muted { color: var(--muted); }
  .bad { color: var(--bad); }
  .good { color: var(--good); }
  .warn { color: var(--warn); }
  #backends { grid-column: 1 / -1; }
  .backend-list { display: grid; grid-template-columns: repeat(auto-fit, minmax(min(340px, 100%), 1fr)); gap: 10px; }
  .backend { border: 1px solid var(--line); border-radius: 6px; padding: 8px 10px; min-width: 0; overflow-wrap: anywhere; }
  .backend.down { border-color: var(--bad); }
  .backend.down .gpu, .backend.down .legend { opacity: .55; }
  .backend .gpu { margin-top: 6px; }
  .backend p { margin: 4px 0 0; }
  svg { display: block; width: 100%; height: auto; margin-top: 6px; }
  svg .axis { font-size: 10px; fill: var(--muted); }
  main.clustered #backends { grid-column: 1 / -2; }
  #cluster { overflow-wrap: anywhere; }
  #cluster .cluster-summary { margin: 0 0 4px; }
  .peer { padding: 6px 0; border-bottom: 1px solid var(--line); overflow-wrap: anywhere; }
  .peer:last-child { border-bottom: 0; }
  .peer .self { margin-left: 4px; padding: 0 6px; border-radius: 10px; background: var(--accent); color: #fff; font-size: 12px; }
  .peer ul { list-style: none; margin: 2px 0 0; padding: 0; font-size: 13px; }
  .peer li { display: inline-block; margin-right: 12px; }
  ul.evidence { margin: 2px 0 0; padding-left: 16px; font-size: 12px; }
  ul.evidence code { word-break: break-word; white-space: normal; }
</style>
</head>
<body>
<header><h1>ollama-fleet</h1><span class="status" id="status">connecting…</span></header>
<main>
  <section id="backends" hidden><h2>Backends</h2><div id="backend-list"></div></section>
  <section id="vram"><h2>VRAM</h2><div id="gpus" class="muted">waiting for the first reading…</div></section>
  <section id="cluster" hidden><h2>Cluster</h2><div id="cluster-body"></div></section>
  <section id="ladders"><h2>Model ladders</h2><div id="ladder-list"></div></section>
  <section id="queue"><h2>Queue</h2><div id="queue-body"></div><div id="running-list"></div></section>
  <section id="incidents"><h2>Latest VRAM incidents</h2><div id="incident-list" class="muted">none</div></section>
  <section id="jobs"><h2>Recent jobs</h2><div id="job-list"></div></section>
</main>
<script>
const colours = ['#2f80ed', '#27ab83', '#f0b429', '#8e44ad', '#e8590c', '#0b7285', '#c2255c', '#5c940d'];
// One colour per model name, the same on every load and in every tab (a hash of the name).
const colourOf = (name) => { let h = 0; for (const c of String(name)) h = (h * 31 + c.charCodeAt(0)) >>> 0; return colours[h % colours.length]; };
const esc = (s) => String(s ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
const gib = (b) => b === undefined || b === null ? '?' : (b / 2 ** 30).toFixed(1) + ' GiB';
const ago = (iso) => { const s = Math.round((Date.now() - Date.parse(iso)) / 1000); return s < 60 ? s + ' s ago' : Math.round(s / 60) + ' min ago'; };

async function api(path) {
  const token = localStorage.getItem('fleet-token');
  const response = await fetch(path, { headers: token ? { authorization: 'Bearer ' + token } : {} });
  if (response.status === 401) {
    const given = prompt('This supervisor needs its API token (api.token):');
    if (!given) throw new Error('no token');
    localStorage.setItem('fleet-token', given);
    return api(path);
  }
  if (!response.ok) throw new Error(path + ': ' + response.status);
  return response.json();
}

// A card's bar: [label, bytes, colour] parts over its total; the rest shows as free.
const barOf = (parts, total) => '<div class="bar">' + parts.filter((p) => p[1] > 0).map((p) => '<div title="' + esc(p[0]) + ': ' + gib(p[1]) + '" style="width:' + (100 * p[1] / total).toFixed(2) + '%;background:' + p[2] + '"></div>').join('') + '</div>';
const keysOf = (models) => models.map((m) => '<span><i style="background:' + colourOf(m.name) + '"></i>' + esc(m.name) + ' ' + gib(m.size_vram) + '</span>').join('');
// Card i over the last hour (samples of { at, gpus: [{ total, external, models: [{ name, bytes }] }] }):
// time runs left to right; height is the share of the card.
function historyOf(history, i, cardTotal) {
  const L = 46, W = 580, H = 90, now = Date.now(), span = 3600000;
  const cols = history.map((h) => {
    const hg = h.gpus[i] ?? h.gpus[0]; if (!hg) return '';
    const t = hg.total || 1; const x = L + W * (Date.parse(h.at) - (now - span)) / span; if (x < L) return '';
    let y = H; let out = '';
    for (const m of hg.models) { const hgt = H * m.bytes / t; y -= hgt; out += '<rect x="' + x.toFixed(1) + '" y="' + y.toFixed(1) + '" width="1.6" height="' + hgt.toFixed(1) + '" fill="' + colourOf(m.name) + '"/>'; }
    const ext = H * hg.external / t; y -= ext; out += '<rect x="' + x.toFixed(1) + '" y="' + y.toFixed(1) + '" width="1.6" height="' + ext.toFixed(1) + '" fill="#9aa5b1"/>';
    return out;
  }).join('')
    + '<line x1="' + L + '" y1="0" x2="' + L + '" y2="' + H + '" stroke="#9aa5b1"/><line x1="' + L + '" y1="' + H + '" x2="' + (L + W) + '" y2="' + H + '" stroke="#9aa5b1"/>'
    + '<text x="' + (L - 4) + '" y="9" text-anchor="end" class="axis">' + gib(cardTotal) + '</text><text x="' + (L - 4) + '" y="' + H + '" text-anchor="end" class="axis">0</text>'
    + [[0, '-60 min'], [0.5, '-30 min'], [1, 'now']].map(([f, label]) => '<text x="' + (L + W * f) + '" y="' + (H + 14) + '" text-anchor="' + (f === 0 ? 'start' : f === 1 ? 'end' : 'middle') + '" class="axis">' + label + '</text>').join('');
  return '<svg class="history" viewBox="0 0 630 106" aria-label="VRAM over the last hour">' + cols + '</svg>';
}

function drawGpus(stats) {
  const res = stats.resources;
  const gpus = res.gpus.length ? res.gpus : [{ index: 0, name: 'GPU', total: res.vram.total, used: res.vram.used, external: 0 }];
  const models = res.loaded_models ?? [];
  // The supervisor keeps the last hour (a sample every 10 s), so a fresh page shows the past.
  const history = res.history ?? [];
  document.getElementById('gpus').innerHTML = gpus.map((g, i) => {
    const total = g.total || 1;
    const parts = models.map((m) => [m.name, m.size_vram / gpus.length, colourOf(m.name)]);
    parts.push(['other processes', g.external ?? 0, 'var(--external)']);
    const used = parts.reduce((a, p) => a + p[1], 0);
    return '<div class="gpu" data-gpu="' + i + '"><b>' + esc(g.name) + '</b> <span class="muted">' + gib(used) + ' of ' + gib(g.total) + ' in use, ' + gib(Math.max(0, total - used)) + ' free</span>'
      + barOf(parts, total)
      + '<div class="legend">' + keysOf(models) + '<span><i style="background:var(--external)"></i>other processes ' + gib(g.external ?? 0) + '</span><span><i style="background:var(--free)"></i>free</span></div>'
      + historyOf(history, i, g.total) + '</div>';
  }).join('') + (res.telemetry.available ? '' : '<p class="bad">nvidia-smi: ' + esc(res.telemetry.failure?.message ?? 'unavailable') + '</p>');
}

const since = (iso) => iso ? ' <span class="muted">since ' + ago(iso) + '</span>' : '';
// up: healthy; suspect: a call went unanswered and it is being probed; down: skipped, its jobs
// run elsewhere.
const healthOf = (b) => b.state === 'down' || b.healthy === false ? ['down', 'bad'] : b.state === 'suspect' ? ['not answering', 'warn'] : ['healthy', 'good'];

function drawBackends(backends, firstHistory) {
  document.getElementById('backend-list').innerHTML = '<div class="backend-list">' + backends.map((b, place) => {
    const [word, tone] = healthOf(b);
    const loaded = b.loaded ?? [];
    const held = loaded.reduce((a, m) => a + (m.size_vram ?? 0), 0);
    // The supervisor keeps the last hour of the first backend's cards.
    const history = place === 0 ? firstHistory : [];
    const cards = (b.gpus ?? []).map((g, i) => {
      const total = g.total || 1;
      // Each model's share of what Ollama holds on this card (split evenly when it cannot tell).
      const share = b.gpus.length === 1 ? 1 : g.ollama > 0 && held > 0 ? g.ollama / held : 1 / b.gpus.length;
      const parts = loaded.map((m) => [m.name, (m.size_vram ?? 0) * share, colourOf(m.name)]);
      parts.push(['other processes', g.external ?? 0, 'var(--external)']);
      const used = g.used ?? parts.reduce((a, p) => a + p[1], 0);
      // Without nvidia-smi (or a configured size) only what Ollama holds is known.
      if (g.total === undefined || g.total === null) return '<div class="gpu" data-gpu="' + esc(g.index) + '"><b>' + esc(g.name === 'unknown' ? 'GPU ' + g.index : g.name) + '</b> <span class="muted">Ollama holds ' + gib(g.ollama ?? 0) + ', card size unknown</span></div>';
      return '<div class="gpu" data-gpu="' + esc(g.index) + '"><b>' + esc(g.name) + '</b> <span class="muted">' + gib(used) + ' of ' + gib(g.total) + ' in use</span>'
        + barOf(parts, total)
        + '<div class="legend"><span>Ollama ' + gib(g.ollama ?? 0) + '</span><span><i style="background:var(--external)"></i>other processes ' + (g.external === undefined || g.external === null ? 'unknown' : gib(g.external)) + '</span><span><i style="background:var(--free)"></i>' + gib(g.free ?? Math.max(0, total - used)) + ' free</span></div>'
        + (history.length ? historyOf(history, i, g.total) : '') + '</div>';
    }).join('');
    const running = Object.entries(b.running ?? {}).filter(([, n]) => n > 0);
    return '<div class="backend ' + esc(word === 'down' ? 'down' : '') + '" data-backend="' + esc(b.name) + '">'
      + '<div><b>' + esc(b.name) + '</b> <span class="muted">' + esc(b.url) + '</span></div>'
      + '<div class="health-line"><span class="health ' + tone + '">' + word + '</span>' + (b.problem ? ': <span class="problem">' + esc(b.problem) + '</span>' : '') + since(b.since) + '</div>'
      + (cards || '<p class="muted">no card readings</p>')
      + (loaded.length ? '<div class="legend loaded"><span>holds</span>' + keysOf(loaded) + '</div>' : '<p class="loaded muted">no model loaded</p>')
      + '<p class="running">' + (running.length ? '<span class="muted">running</span> ' + running.map(([m, n]) => esc(m) + ' × ' + esc(n)).join(', ') : '<span class="muted">nothing running</span>') + '</p>'
      + (b.models ? '<p class="muted">serves only ' + b.models.map(esc).join(', ') + '</p>' : '')
      + (b.watch && b.watch.state !== 'off' ? '<p class="muted">log watch: ' + esc(b.watch.state) + '</p>' : '')
      + '</div>';
  }).join('') + '</div>';
}

// A link only to a web address (anything else, or none yet, shows as text).
const linkOf = (url) => /^https?:\\/\\//i.test(String(url ?? '')) ? '<a class="peer-url" href="' + esc(url) + '" target="_blank" rel="noopener">' + esc(url) + '</a>' : '<span class="peer-url muted">' + (url ? esc(url) : 'address not known yet') + '</span>';
// Seen by another host's clock: never in the future.
const seenOf = (iso) => { const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000)); return Number.isFinite(s) ? (s < 60 ? s + ' s ago' : Math.round(s / 60) + ' min ago') : 'unknown'; };

// Every supervisor alive on the shared queue (this one first), each with its backends.
function drawCluster(cluster) {
  const all = Array.isArray(cluster.supervisors) ? cluster.supervisors : [];
  const supervisors = [...all.filter((s) => s.id === cluster.self), ...all.filter((s) => s.id !== cluster.self)];
  document.getElementById('cluster-body').innerHTML = '<p class="muted cluster-summary">' + esc(supervisors.length) + ' supervisor' + (supervisors.length === 1 ? '' : 's') + ' on ' + esc(cluster.queue) + '</p>'
    + supervisors.map((s) => {
      const backends = Array.isArray(s.backends) ? s.backends : [];
      return '<div class="peer" data-supervisor="' + esc(s.id) + '">'
        + '<div><b class="peer-id">' + esc(s.id) + '</b>' + (s.id === cluster.self ? '<span class="self">this one</span>' : '') + '</div>'
        + '<div>' + linkOf(s.url) + ' <span class="muted seen">seen ' + esc(seenOf(s.seen_at)) + '</span></div>'
        + (backends.length ? '<ul>' + backends.map((b) => {
          const [word, tone] = healthOf(b);
          const running = Number(b.running) || 0;
          return '<li class="peer-backend" data-peer-backend="' + esc(b.name) + '"><b>' + esc(b.name) + '</b> <span class="health ' + tone + '">' + word + '</span> <span class="muted jobs">' + (running ? esc(running) + ' running' : 'nothing running') + '</span></li>';
        }).join('') + '</ul>' : '<p class="muted">no backends</p>')
        + '</div>';
    }).join('');
}

function drawLadders(stats) {
  const ladders = stats.fleet.ladders;
  const pulls = (stats.pulls ?? []).map((p) => '<p class="pull">pulling <b>' + esc(p.model) + '</b>' + (p.backend ? ' on ' + esc(p.backend) : '') + ': ' + esc(p.status) + (p.total ? ' ' + Math.floor(100 * (p.completed ?? 0) / p.total) + '%' : '') + ' <span class="muted">(its jobs wait)</span></p>').join('');
  document.getElementById('ladder-list').innerHTML = pulls + ladders.map((l) =>
    '<div class="ladder" data-ladder="' + esc(l.name) + '"><b>' + esc(l.name) + '</b>: <span class="current-model">' + esc(l.current_model) + '</span>'
    + ' <span class="muted">incidents ' + l.incidents.count + (l.incidents.weight === l.incidents.count ? '' : ' (weighing ' + l.incidents.weight + ')') + ' of ' + l.incidents.threshold + (l.cooldown_seconds_left ? ', cooldown ' + l.cooldown_seconds_left + ' s' : '') + '</span>'
    + '<div class="rungs">' + l.models.map((m, i) => '<span class="rung' + (i === l.current_model_index ? ' current' : '') + '">' + esc(m) + '</span>').join('') + '</div>'
    + (l.history.length ? '<div class="scroll"><table><tr><th>when</th><th>from → to</th><th>why</th></tr>' + l.history.slice(-5).reverse().map((h) => '<tr class="move"><td>' + ago(h.at) + '</td><td>' + esc(h.from) + ' → ' + esc(h.to) + '</td><td class="wrap">' + esc(h.reason) + ' <span class="muted">(' + esc(h.source) + ')</span>'
      + (h.incidents ? '<ul class="evidence">' + h.incidents.map((i) => '<li><span class="' + (i.severity === 'hard' ? 'bad' : '') + '">' + esc(i.kind) + '</span> <code>' + esc(i.evidence) + '</code></li>').join('') + '</ul>' : '') + '</td></tr>').join('') + '</table></div>' : '<span class="muted">no moves yet</span>')
    + '</div>').join('');
  // Counted now, and those behind the last moves (kept with the move, so a step down does not
  // take its evidence away).
  const seen = new Set();
  const incidents = ladders.flatMap((l) => [...l.incidents.recent, ...l.history.flatMap((h) => h.incidents ?? [])].map((i) => ({ ...i, ladder: l.name })))
    .filter((i) => { const key = i.ladder + i.at + i.kind; if (seen.has(key)) return false; seen.add(key); return true; })
    .sort((a, b) => Date.parse(b.at) - Date.parse(a.at)).slice(0, 8);
  document.getElementById('incident-list').innerHTML = incidents.length ? '<table class="scroll"><tr><th>when</th><th>ladder</th><th>kind</th><th>log line</th></tr>' + incidents.map((i) => '<tr><td>' + ago(i.at) + '</td><td>' + esc(i.ladder) + '</td><td class="' + (i.severity === 'hard' ? 'bad' : '') + '">' + esc(i.kind) + '</td><td class="wrap"><code>' + esc(i.evidence) + '</code></td></tr>').join('') + '</table>' : 'none in the window';
}

// The backend a job ran on, as a column only where there are several.
const backendHead = (several) => several ? '<th>backend</th>' : '';
const backendCell = (several, j) => several ? '<td class="backend-name">' + esc(j.backend ?? '') + '</td>' : '';

function drawRunning(list, several) {
  document.getElementById('running-list').innerHTML = list.jobs.length ? '<h2 style="margin-top:10px">Running now</h2><table><tr><th>job</th><th>model</th>' + backendHead(several) + '<th>priority</th><th>for</th></tr>' + list.jobs.map((j) => '<tr data-running="' + esc(j.job_id) + '"><td>' + esc(j.job_id.slice(0, 8)) + '</td><td>' + esc(j.resolved_model ?? j.model) + '</td>' + backendCell(several, j) + '<td>' + esc(j.priority) + '</td><td>' + (j.started_at ? ((Date.now() - Date.parse(j.started_at)) / 1000).toFixed(1) + ' s' : '') + '</td></tr>').join('') + '</table>' : '';
}

function drawQueue(stats) {
  const q = stats.queue;
  const rows = Object.entries(q.by_model);
  const prio = q.waiting_by_priority ?? {};
  document.getElementById('queue-body').innerHTML = '<p><b class="running">' + stats.running + '</b> running, <b>' + q.by_status.pending + '</b> waiting; ' + q.by_status.complete + ' complete, ' + q.by_status.failed + ' failed</p>'
    + (rows.length ? '<table><tr><th>model</th><th>waiting (high / normal / low)</th><th>running</th></tr>' + rows.map(([m, c]) => { const p = prio[m] ?? { high: 0, normal: 0, low: 0 }; return '<tr><td>' + esc(m) + '</td><td>' + (c.pending + c.queued) + ' (' + p.high + ' / ' + p.normal + ' / ' + p.low + ')</td><td>' + c.running + '</td></tr>'; }).join('') + '</table>' : '<span class="muted">nothing waiting</span>');
}

function drawJobs(list, several) {
  document.getElementById('job-list').innerHTML = list.jobs.length ? '<table><tr><th>job</th><th>model</th>' + backendHead(several) + '<th>priority</th><th>status</th><th>latency</th></tr>' + list.jobs.map((j) => {
    const latency = j.completed_at ? ((Date.parse(j.completed_at) - Date.parse(j.submitted_at)) / 1000).toFixed(1) + ' s' : '';
    return '<tr data-job="' + esc(j.job_id) + '"><td>' + esc(j.job_id.slice(0, 8)) + '</td><td>' + esc(j.resolved_model ?? j.model) + '</td>' + backendCell(several, j) + '<td>' + esc(j.priority) + '</td><td class="' + (j.status === 'failed' ? 'bad' : '') + '">' + esc(j.status) + '</td><td>' + latency + '</td></tr>';
  }).join('') + '</table>' : '<span class="muted">no jobs yet</span>';
}

async function tick() {
  try {
    const [stats, jobs, running] = await Promise.all([api('/api/stats'), api('/api/jobs?limit=12'), api('/api/jobs?status=running&limit=10')]);
    const backends = stats.backends ?? [];
    const several = backends.length > 1;
    // One backend named default: today's page, its health in the header's one line. Otherwise
    // the Backends panel, which shows each backend's cards in the VRAM panel's place.
    const panel = several || (backends.length === 1 && backends[0].name !== 'default');
    const only = backends.length === 1 ? backends[0] : undefined;
    const down = backends.filter((b) => healthOf(b)[0] !== 'healthy');
    document.getElementById('status').textContent = (panel
      ? backends.length - down.length + ' of ' + backends.length + ' backend' + (backends.length === 1 ? '' : 's') + ' healthy' + (down.length ? ' (' + down.map((b) => b.name + ' ' + healthOf(b)[0]).join(', ') + ')' : '')
      : (only && only.problem && healthOf(only)[0] !== 'healthy' ? 'Ollama ' + healthOf(only)[0] + ': ' + only.problem : stats.resources.ollama.reachable ? 'Ollama reachable' : 'Ollama unreachable') + ' · log watch: ' + stats.watch.state)
      + ' · updated ' + new Date().toLocaleTimeString();
    document.getElementById('backends').hidden = !panel;
    document.getElementById('vram').hidden = panel;
    if (panel) drawBackends(backends, stats.resources.history ?? []); else drawGpus(stats);
    // On a shared queue only: the Cluster panel, next to the local view.
    const cluster = stats.cluster && typeof stats.cluster === 'object' ? stats.cluster : undefined;
    document.getElementById('cluster').hidden = !cluster;
    document.querySelector('main').classList.toggle('clustered', Boolean(cluster));
    if (cluster) drawCluster(cluster);
    drawLadders(stats); drawQueue(stats); drawRunning(running, several); drawJobs(jobs, several);
  } catch (err) {
    document.getElementById('status').textContent = 'cannot reach the supervisor: ' + err.message;
  }
}
tick();
setInterval(tick, 1000);
</script>
</body>
</html>
`;

/** The dashboard's icon (and the browser's /favicon.ico): a small card with a ladder. */
export const FAVICON_SVG = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect width="32" height="32" rx="6" fill="#1f2933"/><path d="M10 5v22M22 5v22M10 10h12M10 16h12M10 22h12" stroke="#2f80ed" stroke-width="3" stroke-linecap="round"/></svg>`;
