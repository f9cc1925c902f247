/** bench/REPORT.md and bench/chart.svg, regenerated from one results file. */
import type { BackendsResult, BackendsRun } from './backends.js';
import type { OverheadResult } from './overhead.js';
import type { QueueResult } from './queue.js';
import type { BenchResults, WorkloadResult } from './run.js';

interface Target {
  what: string;
  value: number | null;
  /** Pass when value <= max (or >= min). */
  max?: number;
  min?: number;
  unit: string;
  /** Why a miss happens, where it is understood. */
  why?: string;
}

/** Why the time-based targets read worse in simulation than they would on a GPU. */
const SCALED_LOOP =
  "the supervisor's own clock does not scale with the simulator's: its scheduler loop (100 ms), its /api/ps reads (every second) and the polling that confirms an unload are wall-clock, so at a time scale of 0.1 each costs ten times the simulated time it would against a real GPU (`--time-scale` moves it)";

function targets(r: BenchResults): Target[] {
  const w = (name: string) => r.workloads.find((x) => x.name === name);
  const mixed = w('mixed');
  const pressure = w('pressure');
  const o = r.overhead;
  return [
    {
      what: 'mixed: model loads, fleet / direct',
      value: mixed?.ratios.loads ?? null,
      max: 0.6,
      unit: 'x',
    },
    {
      what: 'mixed: makespan, fleet / direct',
      value: mixed?.ratios.makespan ?? null,
      max: 0.8,
      unit: 'x',
    },
    {
      what: 'mixed: high-priority p95 latency, fleet / direct',
      value: mixed?.ratios.high_p95_latency ?? null,
      max: 0.5,
      unit: 'x',
      why: `${SCALED_LOOP}; and a high job for a model that is not loaded waits for the loaded model's running jobs to finish (nothing is preempted)`,
    },
    {
      what: 'mixed: model loads / lower bound',
      value: mixed?.ratios.loads_vs_bound ?? null,
      max: 1.5,
      unit: 'x',
    },
    {
      what: 'pressure: OOM-failed jobs through ollama-fleet',
      value: pressure?.fleet.oom_failed ?? null,
      max: 0,
      unit: '',
    },
    {
      what: 'backends, one killed mid-run: jobs failed or lost through ollama-fleet',
      value: r.backends?.killed.fleet.failed ?? null,
      max: 0,
      unit: '',
    },
    {
      what: 'ladder: third incident line to the new state on disk',
      value: r.ladder?.measured ? r.ladder.disk_ms : null,
      max: 1000,
      unit: ' ms',
    },
    {
      what: 'ladder: third incident line to the worker restarted on the new model',
      value: r.ladder?.measured ? r.ladder.worker_ms : null,
      max: 10_000,
      unit: ' ms',
    },
    {
      what: 'overhead: added p50 latency per request',
      value: o?.latency_ms.added_p50 ?? null,
      max: 1,
      unit: ' ms',
      why: 'a job is a submit and a long-poll (two HTTP requests, two durable writes) where a direct call is one request; the Ollama-compatible proxy route (issue 10) is the one-request path',
    },
    {
      what: 'overhead: durable submits per second (16 clients)',
      value: o?.submits.jobs_per_s ?? null,
      min: 2000,
      unit: '/s',
      why: 'each submit is its own SQLite transaction with synchronous=FULL (an fsync per job); group commit would share them',
    },
    {
      what: 'overhead: RSS with 100,000 queued jobs',
      value: o?.rss.with_queue_mb ?? null,
      max: 150,
      unit: ' MB',
    },
    {
      what: 'overhead: one plan with 100 models waiting',
      value: o?.planner_us['100'] ?? null,
      max: 1000,
      unit: ' µs',
    },
  ];
}

function verdict(t: Target): string {
  if (t.value === null) return 'not measured';
  const pass = t.max !== undefined ? t.value <= t.max : t.value >= (t.min ?? 0);
  if (pass) return 'pass';
  const by =
    t.max !== undefined
      ? t.max === 0
        ? `${t.value} over`
        : `${Math.round((t.value / t.max) * 100) / 100}x the limit`
      : `${Math.round((t.value / (t.min as number)) * 100)} % of the floor`;
  return `MISS (${by})`;
}

const fmt = (v: number | null | undefined, digits = 1) =>
  v === null || v === undefined ? '-' : String(Math.round(v * 10 ** digits) / 10 ** digits);

function workloadTable(w: WorkloadResult): string {
  const runs = [w.direct_default, w.direct_tuned, w.fleet];
  const rows = [
    ['', 'direct, defaults', 'direct, tuned', 'ollama-fleet', 'fleet / better direct'],
    ['model loads', ...runs.map((r) => r.loads), w.ratios.loads],
    ['makespan (s)', ...runs.map((r) => r.makespan_s), w.ratios.makespan],
    ...(['high', 'normal', 'low', 'all'] as const).flatMap((p) => [
      [
        `${p}: latency p50 / p95 / p99 (s)`,
        ...runs.map(
          (r) =>
            `${fmt(r.latency_s[p].p50)} / ${fmt(r.latency_s[p].p95)} / ${fmt(r.latency_s[p].p99)}`,
        ),
        p === 'high' ? w.ratios.high_p95_latency : p === 'all' ? w.ratios.all_p95_latency : '',
      ],
      [
        `${p}: wait p50 / p95 / p99 (s)`,
        ...runs.map(
          (r) => `${fmt(r.wait_s[p].p50)} / ${fmt(r.wait_s[p].p95)} / ${fmt(r.wait_s[p].p99)}`,
        ),
        '',
      ],
    ]),
    ['failed jobs (OOM)', ...runs.map((r) => `${r.failed} (${r.oom_failed})`), ''],
    [
      'why they failed',
      ...runs.map(
        (r) =>
          Object.entries(r.failures)
            .map(([why, n]) => `${n}x ${why.replaceAll('|', '/')}`)
            .join('; ') || '-',
      ),
      '',
    ],
    ['OOM lines in the log', ...runs.map((r) => r.oom_lines), ''],
  ];
  const line = (cells: unknown[]) =>
    `| ${cells.map((c) => (c === null ? '-' : String(c))).join(' | ')} |`;
  return [line(rows[0] as unknown[]), `|${' --- |'.repeat(5)}`, ...rows.slice(1).map(line)].join(
    '\n',
  );
}

function backendsTable(run: BackendsRun): string {
  const runs = [run.round_robin, run.least_connections, run.fleet];
  const spreadOf = (x: { p50: number | null; p95: number | null; p99: number | null }) =>
    `${fmt(x.p50)} / ${fmt(x.p95)} / ${fmt(x.p99)}`;
  const perBackend = (on: Record<string, number>) =>
    Object.values(on)
      .map((n) => String(n))
      .join(' + ');
  const rows: unknown[][] = [
    ['', 'round robin', 'least connections', 'ollama-fleet', 'fleet / better baseline'],
    ...(run.fleet.killed_at_s === undefined
      ? []
      : [['killed at (s)', ...runs.map((r) => r.killed_at_s), '']]),
    [
      'jobs completed (on a + b)',
      ...runs.map((r) => `${r.completed} (${perBackend(r.completed_on)})`),
      '',
    ],
    [
      'jobs failed (lost: never finished)',
      ...runs.map((r) => `${r.failed} (${r.lost})`),
      run.ratios.failed_or_lost,
    ],
    ['jobs sent again after an error', ...runs.map((r) => r.sent_again), ''],
    [
      'model loads (a + b)',
      ...runs.map((r) => `${r.loads} (${perBackend(r.loads_on)})`),
      run.ratios.loads,
    ],
    ['makespan (s)', ...runs.map((r) => r.makespan_s), run.ratios.makespan],
    [
      'high: latency p50 / p95 / p99 (s)',
      ...runs.map((r) => spreadOf(r.latency_s.high)),
      run.ratios.high_p95_latency,
    ],
    [
      'all: latency p50 / p95 / p99 (s)',
      ...runs.map((r) => spreadOf(r.latency_s.all)),
      run.ratios.all_p95_latency,
    ],
    ['all: wait p50 / p95 / p99 (s)', ...runs.map((r) => spreadOf(r.wait_s.all)), ''],
    [
      'why they failed',
      ...runs.map(
        (r) =>
          Object.entries(r.failures)
            .map(([why, n]) => `${n}x ${why.replaceAll('|', '/')}`)
            .join('; ') || '-',
      ),
      '',
    ],
    ['OOM lines in the logs', ...runs.map((r) => r.oom_lines), ''],
  ];
  const line = (cells: unknown[]) =>
    `| ${cells.map((c) => (c === null ? '-' : String(c))).join(' | ')} |`;
  return [line(rows[0] as unknown[]), `|${' --- |'.repeat(5)}`, ...rows.slice(1).map(line)].join(
    '\n',
  );
}

function backendsSection(b: BackendsResult, timeScale: unknown): string {
  const scale =
    b.time_scale === timeScale
      ? ''
      : `At time scale ${b.time_scale}, not ${timeScale}: at 0.1 the supervisor's wall-clock costs (an nvidia-smi run before each load beside other models) outweigh two cards' work. `;
  return `## backends (${b.jobs} jobs, two cards)

${scale}Two \`fleet sim\` processes, each a card as above (tuned), and ${b.models.length} models that one card cannot hold
(${b.models.join(', ')}), with \`mixed\`'s skewed popularity, priorities and Poisson arrivals at twice its rate.
ollama-fleet is one \`fleet serve\` with both as \`backends:\`; the baselines are what ${b.clients} clients do
without it, sending each request straight to one server, whose own scheduler decides what it loads:
round robin (each server in turn; an error is the job's failure, as with a plain client) or least
connections (the server with fewest requests open; a request whose connection is refused is sent once
to the other server, one cut off mid-answer is not sent again, as nginx's \`least_conn\` does with its
default \`proxy_next_upstream\`). Ratios are against the better baseline, metric by metric; latency
counts completed jobs only, so a baseline that fails jobs fast does not pay for them there.

${backendsTable(b.normal)}

Lower bound: ${b.bounds.loads} loads (one per model; three fit each card).

Backend ${b.killed_backend} killed (\`kill -9\`) at the first moment from ${b.kill_from_s} s (half-way through the arrivals) that it
ran a request, so that each approach loses a server with work on it:

${backendsTable(b.killed)}
`;
}

function backendsSummary(b: BackendsResult): string[] {
  return [b.normal, b.killed].map((run) => {
    const runs = [run.fleet, run.round_robin, run.least_connections];
    const each = (metric: (r: BackendsRun['fleet']) => number) => runs.map(metric).join(' / ');
    return `backends${run === b.killed ? `, ${b.killed_backend} killed` : ''}: completed ${each((r) => r.completed)}, failed ${each((r) => r.failed)}, model loads ${each((r) => r.loads)} (fleet / round robin / least connections); fleet / better: loads ${run.ratios.loads}x, makespan ${run.ratios.makespan}x, p95 latency ${run.ratios.all_p95_latency}x`;
  });
}

function overheadSection(o: OverheadResult): string {
  return `## Overhead

| Measure | Baseline | ollama-fleet | |
| --- | --- | --- | --- |
| request latency p50 / p99 (ms), model loaded, no generation | ${fmt(o.latency_ms.direct.p50, 2)} / ${fmt(o.latency_ms.direct.p99, 2)} (straight to the simulator) | ${fmt(o.latency_ms.fleet.p50, 2)} / ${fmt(o.latency_ms.fleet.p99, 2)} (submit + long-poll) | added ${o.latency_ms.added_p50} / ${o.latency_ms.added_p99} ms |
| requests per second, ${o.submits.clients} clients over HTTP | ${o.submits.health_per_s} (GET /api/health) | ${o.submits.jobs_per_s} (durable POST /api/submit) | ${o.submits.ratio}x |
| supervisor RSS | ${o.rss.idle_mb} MB idle | ${o.rss.with_queue_mb} MB with ${o.rss.queued_jobs.toLocaleString('en')} queued jobs | |
| one scheduler plan (µs) | ${o.planner_us['10']} with 10 models waiting | ${o.planner_us['100']} with 100, ${o.planner_us['1000']} with 1,000 | |

`;
}

function queueSection(q: QueueResult): string {
  if (!q.measured) {
    return `## queue

Not measured: ${q.why}. It needs a PostgreSQL server (scripts/postgres-up.sh starts one; as root on Debian it installs \`postgresql\` first).
`;
  }
  const runs = [q.submits.sqlite, q.submits.postgres_one, q.submits.postgres];
  const claims = [q.claim.sqlite, q.claim.postgres_one, q.claim.postgres];
  const line = (cells: unknown[]) =>
    `| ${cells.map((c) => (c === null || c === undefined ? '-' : String(c))).join(' | ')} |`;
  const rows = [
    [
      `durable submits per second (${q.clients} clients, ${q.submit_jobs} jobs)`,
      ...runs.map((r) => r.jobs_per_s),
      q.ratios.submits_per_s,
    ],
    [
      'the same over the first / last fifth of the jobs',
      ...runs.map((r) => `${r.first_fifth_per_s} / ${r.last_fifth_per_s}`),
      '',
    ],
    ['jobs stored afterwards', ...runs.map((r) => r.stored), ''],
    [
      `claim latency p50 / p95 (ms, ${q.claim_jobs} jobs)`,
      ...claims.map((c) => `${fmt(c.claim_ms.p50, 0)} / ${fmt(c.claim_ms.p95, 0)}`),
      `${fmt(q.ratios.claim_p50, 2)} / ${fmt(q.ratios.claim_p95, 2)}`,
    ],
    [
      'claim latency min / max (ms)',
      ...claims.map((c) => `${fmt(c.claim_ms.min, 0)} / ${fmt(c.claim_ms.max, 0)}`),
      '',
    ],
    [
      'submit to completion seen, p50 / p95 (ms)',
      ...claims.map((c) => `${fmt(c.round_trip_ms.p50)} / ${fmt(c.round_trip_ms.p95)}`),
      '',
    ],
    [
      'jobs run by the other supervisor',
      ...claims.map((c) => (c.supervisors > 1 ? `${c.ran_elsewhere} of ${q.claim_jobs}` : '-')),
      '',
    ],
    ['model loads while measured', ...claims.map((c) => c.loads), ''],
  ];
  const durable =
    q.server.fsync === 'on'
      ? ''
      : ` The server runs with fsync=${q.server.fsync} (scripts/postgres-up.sh starts it so for the tests): its commits are not flushed to disk, where SQLite's are (synchronous=FULL), so the PostgreSQL submit rates are a ceiling for a server that flushes.`;
  return `## queue (the shared job queue: two supervisors on PostgreSQL)

SQLite is one \`fleet serve\` on its embedded file; PostgreSQL ${q.server.version} is two \`fleet serve\` processes, each with
its own state_dir, on one fresh database of the private server scripts/postgres-up.sh starts (one supervisor
on PostgreSQL beside them, to tell the store's cost from the second supervisor's). Submits: ${q.clients} clients
send ${q.submit_jobs} single \`POST /api/submit\` each run (over both supervisors, half each, for two), to supervisors
whose Ollama does not answer, so every job stays queued and the rate is the durable write alone; the queue
deepens to ${q.submit_jobs} as it goes. Claim latency: ${q.claim_jobs} jobs one at a time (to each supervisor in turn), with
a pause between them, on idle supervisors each with its own \`fleet sim\` that already holds the model (none is
loaded while measured); from the job's \`submitted_at\` to its \`started_at\` (GET /api/job/:id; whole milliseconds,
both from this machine's clock). The last column is two supervisors on PostgreSQL over SQLite, measured in
this run (submits: higher is better; latency: lower is).${durable}

${line(['', 'SQLite, one supervisor', 'PostgreSQL, one supervisor', 'PostgreSQL, two supervisors', 'two on PostgreSQL / SQLite'])}
|${' --- |'.repeat(5)}
${rows.map(line).join('\n')}

`;
}

export function renderReport(
  r: BenchResults,
  resultsFile: string,
): { markdown: string; summary: string } {
  const list = targets(r);
  const o = r.overhead;
  const targetLines = list.map(
    (t) =>
      `| ${t.what} | ${t.max !== undefined ? `<= ${t.max}${t.unit}` : `>= ${t.min}${t.unit}`} | ${fmt(t.value, 2)}${t.unit} | ${verdict(t)} |`,
  );
  const misses = list.filter((t) => verdict(t).startsWith('MISS'));
  const tuned = r.setup.tuned as { maxLoadedModels: number; numParallel: number };
  const markdown = `# Benchmarks

Generated by \`npm run bench${r.quick ? ' -- --quick' : ''}\` on ${r.date} from [${resultsFile}](${resultsFile}); do not edit.
Every figure is a count or a ratio of runs made in the same benchmark process tree: these
machines are noisy, so no figure stands alone as a time.

Set-up: \`fleet sim\` (the stand-in for Ollama and the GPU) on a ${r.setup.vram_mib} MiB card at time scale
${r.setup.time_scale} (times below are simulated seconds), seed ${r.seed}, ${r.setup.cpus} CPUs, Node ${r.setup.node}. Three ways per
workload: (a) straight to Ollama with its defaults; (b) straight to Ollama tuned for this card
(OLLAMA_MAX_LOADED_MODELS=${tuned.maxLoadedModels}, OLLAMA_NUM_PARALLEL=${tuned.numParallel}); (c) through ollama-fleet (Ollama as in b).
Direct runs use ${r.setup.clients} concurrent clients taking the jobs in arrival order; through ollama-fleet each job
is submitted when it arrives. Ratios are against the better of (a) and (b). Wait is arrival to
the first byte (direct) or to the job's start (fleet); latency is arrival to completion.

![model loads and p95 latency, fleet vs direct](chart.svg)

## Targets

| Target | Aim | Measured | |
| --- | --- | --- | --- |
${targetLines.join('\n')}
${misses.length ? `\nMisses, and why:\n\n${misses.map((t) => `- ${t.what}: ${t.why ?? 'not yet understood; see the tables below'}.`).join('\n')}\n` : ''}
${r.workloads
  .map(
    (w) => `## ${w.name} (${w.jobs} jobs)

${workloadTable(w)}

Lower bounds: ${w.bounds.loads} loads (one per distinct model; fleet is ${w.ratios.loads_vs_bound}x), makespan ${w.bounds.makespan_s} s (the work over every parallel slot plus one load of each model, or the arrival span; fleet is ${w.ratios.makespan_vs_bound}x).
`,
  )
  .join('\n')}
${r.backends ? `\n${backendsSection(r.backends, r.setup.time_scale)}` : ''}
## ladder

${
  r.ladder?.measured
    ? `On the real Docker engine: third out-of-memory block written to the "Ollama" container's log -> ladder state on disk ${r.ladder.disk_ms} ms; -> labelled worker restarted and reading the new model ${r.ladder.worker_ms} ms (both include \`docker exec\` and \`docker inspect\` round trips).`
    : `Not measured: ${r.ladder?.why ?? 'left out with --only'}. It needs a Docker engine (scripts/dockerd-up.sh starts one).`
}

${o ? overheadSection(o) : ''}${r.queue ? queueSection(r.queue) : ''}`;
  const summary = [
    ...r.workloads.map(
      (w) =>
        `${w.name}: model loads ${w.fleet.loads} via fleet vs ${w.direct_default.loads} / ${w.direct_tuned.loads} direct (defaults / tuned) = ${w.ratios.loads}x; makespan ${w.ratios.makespan}x; high p95 latency ${w.ratios.high_p95_latency}x; failed ${w.fleet.failed} vs ${w.direct_default.failed} / ${w.direct_tuned.failed}`,
    ),
    ...(r.backends ? backendsSummary(r.backends) : []),
    ...(o
      ? [
          `overhead: added latency p50 ${o.latency_ms.added_p50} ms, p99 ${o.latency_ms.added_p99} ms; ${o.submits.jobs_per_s} durable submits/s; RSS ${o.rss.with_queue_mb} MB with ${o.rss.queued_jobs} queued; plan ${o.planner_us['100']} µs at 100 models`,
        ]
      : []),
    ...(r.queue?.measured
      ? [
          `queue: durable submits/s ${r.queue.submits.sqlite.jobs_per_s} on SQLite, ${r.queue.submits.postgres.jobs_per_s} with two supervisors on PostgreSQL (${r.queue.ratios.submits_per_s}x); claim latency p50 / p95 ${r.queue.claim.sqlite.claim_ms.p50} / ${r.queue.claim.sqlite.claim_ms.p95} ms vs ${r.queue.claim.postgres.claim_ms.p50} / ${r.queue.claim.postgres.claim_ms.p95} ms (${r.queue.ratios.claim_p50}x / ${r.queue.ratios.claim_p95}x)`,
        ]
      : r.queue
        ? [`queue: not measured: ${r.queue.why}`]
        : []),
    '',
    ...list.map((t) => `${verdict(t).padEnd(22)} ${t.what}: ${fmt(t.value, 2)}${t.unit}`),
  ].join('\n');
  return { markdown, summary };
}

/** Two panels of grouped bars: model loads, and all-priority p95 latency, per workload. */
export function renderChart(r: BenchResults): string {
  const panel = 300;
  const colours = { direct_default: '#9aa5b1', direct_tuned: '#52606d', fleet: '#2f80ed' };
  const series = ['direct_default', 'direct_tuned', 'fleet'] as const;
  const metrics = [
    { title: 'model loads', value: (x: WorkloadResult['fleet']) => x.loads },
    {
      title: 'p95 latency, all jobs (s)',
      value: (x: WorkloadResult['fleet']) => x.latency_s.all.p95 ?? 0,
    },
  ];
  const parts: string[] = [];
  metrics.forEach((m, mi) => {
    const x0 = 40 + mi * (panel + 60);
    const max = Math.max(1, ...r.workloads.flatMap((w) => series.map((s) => m.value(w[s]))));
    parts.push(`<text x="${x0}" y="20" font-size="14" font-weight="bold">${m.title}</text>`);
    r.workloads.forEach((w, wi) => {
      const gx = x0 + wi * (panel / Math.max(1, r.workloads.length));
      series.forEach((s, si) => {
        const v = m.value(w[s]);
        const h = (v / max) * 200;
        const x = gx + si * 26;
        parts.push(
          `<rect x="${x}" y="${240 - h}" width="22" height="${h}" fill="${colours[s]}"><title>${w.name} ${s}: ${v}</title></rect>`,
          `<text x="${x + 11}" y="${236 - h}" font-size="10" text-anchor="middle">${Math.round(v * 10) / 10}</text>`,
        );
      });
      parts.push(
        `<text x="${gx + 37}" y="258" font-size="12" text-anchor="middle">${w.name}</text>`,
      );
    });
  });
  const names = {
    direct_default: 'direct, defaults',
    direct_tuned: 'direct, tuned',
    fleet: 'ollama-fleet',
  };
  const legend = series
    .map(
      (s, i) =>
        `<rect x="${40 + i * 170}" y="275" width="12" height="12" fill="${colours[s]}"/><text x="${58 + i * 170}" y="285" font-size="12">${names[s]}</text>`,
    )
    .join('');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="720" height="300" font-family="sans-serif">\n<title>Model loads and p95 latency: ollama-fleet against Ollama alone</title>\n<rect width="100%" height="100%" fill="white"/>\n${parts.join('\n')}\n${legend}\n</svg>\n`;
}
