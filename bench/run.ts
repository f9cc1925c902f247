/**
 * `npm run bench` (add `-- --quick` for a run of about three minutes): ollama-fleet against the
 * baseline users have today, every client talking to Ollama directly, on `fleet sim` with a
 * fixed seed. Every figure is a count or a ratio of runs made here, in this process tree.
 * Writes bench/results/<date>.json and regenerates bench/REPORT.md and bench/chart.svg.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { loadMs, SIM_CATALOGUE } from '../src/sim/catalogue.js';
import { type BackendsResult, measureBackends } from './backends.js';
import { type LadderResult, measureLadder } from './ladder.js';
import { measureOverhead, type OverheadResult } from './overhead.js';
import { type SimSettings, startServe, startSim } from './processes.js';
import { measureQueue, type QueueResult } from './queue.js';
import { renderChart, renderReport } from './report.js';
import { runDirect, runFleet } from './schedule.js';
import { type RunSummary, summarise } from './stats.js';
import { type BenchJob, compareWorkload, mixedWorkload } from './workloads.js';

const SEED = 20261125;
const QUICK = process.argv.includes('--quick');
/**
 * Simulated time runs this much faster than real time: 0.1 for --quick (ten times faster),
 * 0.3 otherwise. Closer to 1 is closer to a GPU (the supervisor's own loops are wall-clock)
 * and slower; `--time-scale X` sets it.
 */
const TIME_SCALE = Number(flag('--time-scale') ?? (QUICK ? 0.1 : 0.3));
/**
 * `backends` runs at 0.3 even with --quick: at 0.1 the supervisor's wall-clock costs (before
 * each load beside other models it runs nvidia-smi, here a Node process of half a second or
 * more) outweigh two cards' work; `--time-scale X` sets it too.
 */
const BACKENDS_TIME_SCALE = Number(flag('--time-scale') ?? 0.3);
const VRAM_MIB = 8192;
const CLIENTS = 8;
/** Direct (b): what a careful user sets for this card and workload. */
const TUNED = { maxLoadedModels: 3, numParallel: 4 };

export interface Spike {
  at: number;
  mib: number;
  forMs: number;
}

export interface WorkloadResult {
  name: string;
  jobs: number;
  direct_default: RunSummary;
  direct_tuned: RunSummary;
  fleet: RunSummary;
  /** Fleet over the better of the two direct runs (lower is better for all of them). */
  ratios: Record<string, number | null>;
  bounds: { loads: number; makespan_s: number };
}

async function runMode(
  jobs: readonly BenchJob[],
  settings: SimSettings,
  via: 'direct' | 'fleet',
  spikes: readonly Spike[],
): Promise<RunSummary> {
  const sim = await startSim(settings);
  const fleet =
    via === 'fleet'
      ? await startServe(sim.url, 'scheduler: { queue_max_size: 100000 }', undefined, settings)
      : undefined;
  const startedAt = Date.now();
  const pressure = Promise.all(
    spikes.map(async (s) => {
      await sleepUntil(startedAt + s.at * settings.timeScale);
      await sim.post('/sim/pressure', { mib: s.mib });
      await sleepUntil(startedAt + (s.at + s.forMs) * settings.timeScale);
      await sim.post('/sim/pressure', { mib: 0 });
    }),
  );
  try {
    const outcomes = fleet
      ? await runFleet(jobs, fleet, settings.timeScale)
      : await runDirect(jobs, sim, CLIENTS, settings.timeScale);
    await pressure;
    const summary = summarise(outcomes, settings.timeScale, {
      loads: sim.loads(),
      oomLines: sim.ooms(),
    });
    return Object.assign(summary, { work_s: outcomes.reduce((a, o) => a + o.workMs, 0) / 1000 });
  } finally {
    await fleet?.stop();
    await sim.stop();
  }
}

function flag(name: string): string | undefined {
  const at = process.argv.indexOf(name);
  return at > 0 ? process.argv[at + 1] : undefined;
}

async function sleepUntil(at: number): Promise<void> {
  const wait = at - Date.now();
  if (wait > 0) await new Promise((r) => setTimeout(r, wait));
}

async function workload(
  name: string,
  jobs: BenchJob[],
  spikes: Spike[] = [],
): Promise<WorkloadResult> {
  const base = { vramMib: VRAM_MIB, timeScale: TIME_SCALE };
  process.stdout.write(`${name}: ${jobs.length} jobs, direct (Ollama's defaults)...`);
  const directDefault = await runMode(jobs, base, 'direct', spikes);
  process.stdout.write(' direct (tuned)...');
  const directTuned = await runMode(jobs, { ...base, ...TUNED }, 'direct', spikes);
  process.stdout.write(' ollama-fleet...');
  const fleet = await runMode(jobs, { ...base, ...TUNED }, 'fleet', spikes);
  process.stdout.write(' done\n');

  const better = (metric: (r: RunSummary) => number | null) => {
    const values = [metric(directDefault), metric(directTuned)].filter(
      (v): v is number => v !== null,
    );
    return values.length ? Math.min(...values) : null;
  };
  const ratio = (metric: (r: RunSummary) => number | null) => {
    const b = better(metric);
    const f = metric(fleet);
    return b && f !== null ? Math.round((f / b) * 100) / 100 : null;
  };
  // Lower bounds: one load per distinct model; and the work spread over every parallel slot
  // (each slower by the simulator's 15 % per extra slot) plus one load of each model, or the
  // arrival span when that is longer.
  const models = [...new Set(jobs.map((j) => j.model))];
  const loadSeconds = models.reduce((sum, m) => {
    const model = SIM_CATALOGUE.find((c) => c.name === m);
    return sum + (model ? loadMs(model) / 1000 : 0);
  }, 0);
  const slots = TUNED.numParallel / (1 + 0.15 * (TUNED.numParallel - 1));
  const work = (fleet as RunSummary & { work_s: number }).work_s;
  const span = (jobs.at(-1)?.at ?? 0) / 1000;
  const makespanBound = Math.round(Math.max(span, work / slots + loadSeconds) * 10) / 10;
  return {
    name,
    jobs: jobs.length,
    direct_default: directDefault,
    direct_tuned: directTuned,
    fleet,
    ratios: {
      loads: ratio((r) => r.loads),
      makespan: ratio((r) => r.makespan_s),
      high_p95_latency: ratio((r) => r.latency_s.high.p95),
      all_p95_latency: ratio((r) => r.latency_s.all.p95),
      loads_vs_bound: Math.round((fleet.loads / models.length) * 100) / 100,
      makespan_vs_bound: Math.round((fleet.makespan_s / makespanBound) * 100) / 100,
    },
    bounds: { loads: models.length, makespan_s: makespanBound },
  };
}

/** Writes bench/REPORT.md and bench/chart.svg from a results file, and prints the summary. */
async function writeReport(results: BenchResults, file: string): Promise<void> {
  const dir = path.resolve('bench');
  const report = renderReport(results, path.relative(dir, file));
  await writeFile(path.join(dir, 'REPORT.md'), report.markdown);
  await writeFile(path.join(dir, 'chart.svg'), renderChart(results));
  process.stdout.write(`\n${report.summary}\n`);
}

async function main(): Promise<void> {
  // `--from bench/results/X.json`: only regenerate the report from an earlier run.
  const from = flag('--from');
  if (from) {
    await writeReport(JSON.parse(await readFile(from, 'utf8')) as BenchResults, path.resolve(from));
    return;
  }
  const quick = QUICK;
  const count = quick ? 200 : 1000;
  const started = Date.now();
  const mixed = mixedWorkload(count, 4, SEED);
  const span = mixed.at(-1)?.at ?? 0;
  const spikes = [0.25, 0.5, 0.75].map((f) => ({ at: span * f, mib: 3500, forMs: 15_000 }));
  // `--only mixed,overhead` runs some sections (the report then shows only those).
  const only = flag('--only')?.split(',');
  const wanted = (name: string) => !only || only.includes(name);
  const workloads: WorkloadResult[] = [];
  if (wanted('compare')) workloads.push(await workload('compare', compareWorkload()));
  if (wanted('mixed')) workloads.push(await workload('mixed', mixed));
  if (wanted('pressure')) workloads.push(await workload('pressure', mixed, spikes));
  const backends = wanted('backends')
    ? await measureBackends({
        quick,
        seed: SEED,
        sim: { vramMib: VRAM_MIB, timeScale: BACKENDS_TIME_SCALE, ...TUNED },
        clientsPerServer: CLIENTS,
      })
    : undefined;
  let ladder: LadderResult | undefined;
  if (wanted('ladder')) {
    process.stdout.write('ladder: three OOM blocks in a container log, real Docker engine...');
    ladder = await measureLadder();
    process.stdout.write(ladder.measured ? ' done\n' : ` not measured: ${ladder.why}\n`);
  }
  let overhead: OverheadResult | undefined;
  if (wanted('overhead')) {
    process.stdout.write('overhead: latency, submits, memory, planner...');
    overhead = await measureOverhead(quick);
    process.stdout.write(' done\n');
  }
  let queue: QueueResult | undefined;
  if (wanted('queue')) {
    process.stdout.write(
      'queue: submits and claim latency, SQLite vs two supervisors on PostgreSQL...',
    );
    queue = await measureQueue(quick);
    process.stdout.write(queue.measured ? ' done\n' : ` not measured: ${queue.why}\n`);
  }

  const results = {
    date: new Date().toISOString(),
    quick,
    seed: SEED,
    setup: {
      time_scale: TIME_SCALE,
      vram_mib: VRAM_MIB,
      clients: CLIENTS,
      tuned: TUNED,
      cpus: os.cpus().length,
      node: process.version,
    },
    workloads,
    backends,
    ladder,
    overhead,
    queue,
    seconds: Math.round((Date.now() - started) / 1000),
  };
  const dir = path.resolve('bench');
  await mkdir(path.join(dir, 'results'), { recursive: true });
  const file = path.join(
    dir,
    'results',
    `${results.date.slice(0, 10)}${quick ? '-quick' : ''}.json`,
  );
  await writeFile(file, `${JSON.stringify(results, null, 2)}\n`);
  await writeReport(results, file);
  process.stdout.write(
    `wrote ${path.relative(process.cwd(), file)}, bench/REPORT.md, bench/chart.svg\n`,
  );
}

export type BenchResults = {
  date: string;
  quick: boolean;
  seed: number;
  setup: Record<string, unknown>;
  workloads: WorkloadResult[];
  /** Absent from results written before the workload existed. */
  backends?: BackendsResult | undefined;
  ladder: LadderResult | undefined;
  overhead: OverheadResult | undefined;
  /** Absent from results written before the section existed. */
  queue?: QueueResult | undefined;
  seconds: number;
};

main().catch((err) => {
  process.stderr.write(`bench failed: ${(err as Error).stack}\n`);
  process.exit(1);
});
