/**
 * The `backends` workload: two simulated 8 GiB cards, each its own `fleet sim`, and six models
 * that one card cannot hold. ollama-fleet (one `fleet serve` over both) against what clients
 * do without it: round robin over the two servers, or least connections. Then the same again
 * with one server killed (kill -9) half-way through the arrivals.
 */
import {
  type BackendTarget,
  type ServeProcess,
  type SimProcess,
  type SimSettings,
  startServe,
  startSim,
} from './processes.js';
import { type Routing, runFleet, runRouted } from './schedule.js';
import { type JobOutcome, type RunSummary, summarise } from './stats.js';
import { BACKENDS_MODELS, type BenchJob, mixedWorkload } from './workloads.js';

export interface BackendsSummary extends RunSummary {
  /** Jobs never finished: waiting or running still when the run gave up on them. */
  lost: number;
  /** Jobs sent again after an error: requeued by the fleet, or retried by the client. */
  sent_again: number;
  /** Completed jobs per backend (where the client sent them, or where the fleet ran them). */
  completed_on: Record<string, number>;
  /** Model loads per backend; `loads` is their sum. */
  loads_on: Record<string, number>;
  /** When the backend was killed, simulated seconds from the start (killed runs). */
  killed_at_s?: number;
}

export interface BackendsRun {
  round_robin: BackendsSummary;
  least_connections: BackendsSummary;
  fleet: BackendsSummary;
  /** Fleet over the better of the two baselines, metric by metric (lower is better). */
  ratios: Record<string, number | null>;
}

export interface BackendsResult {
  jobs: number;
  /** Its own: see run.ts. */
  time_scale: number;
  models: string[];
  /** Clients of the baselines, over both servers together. */
  clients: number;
  /**
   * Backend killed in `killed`: at the first moment from `kill_from_s` (simulated seconds
   * after the first arrival, half-way through the arrivals) that it runs a request.
   */
  killed_backend: string;
  kill_from_s: number;
  /** One load per distinct model: each card holds three of them. */
  bounds: { loads: number };
  normal: BackendsRun;
  killed: BackendsRun;
}

export interface BackendsSetup {
  quick: boolean;
  seed: number;
  /** Each simulated card, as the single-card workloads' tuned Ollama. */
  sim: SimSettings;
  /** Clients per server, as in the single-card workloads. */
  clientsPerServer: number;
}

const NAMES = ['a', 'b'] as const;
/** The one killed: it holds work by then whichever way jobs are routed. */
const KILLED = 'a';
/**
 * After the last arrival, how long (simulated) the fleet gets to finish before an unfinished
 * job counts as lost: runs here end seconds after the last arrival, so only a job the fleet
 * dropped waits this long.
 */
const FINISH_WITHIN_MS = 300_000;

type Mode = Routing | 'fleet';

async function runOnce(
  jobs: readonly BenchJob[],
  setup: BackendsSetup,
  mode: Mode,
  killAt: number | undefined,
): Promise<BackendsSummary> {
  const { timeScale } = setup.sim;
  const sims = await Promise.all(NAMES.map(() => startSim(setup.sim)));
  const targets: BackendTarget[] = sims.map((s, i) => ({ name: NAMES[i] as string, url: s.url }));
  const fleet =
    mode === 'fleet'
      ? await startServe(targets, 'scheduler: { queue_max_size: 100000 }', undefined, setup.sim)
      : undefined;
  if (fleet) await telemetryFromEvery(fleet);
  const startedAt = Date.now();
  const victim = sims[NAMES.indexOf(KILLED)] as SimProcess;
  const killed =
    killAt === undefined ? undefined : killWhenBusy(victim, startedAt, killAt, timeScale);
  try {
    const lastArrival = jobs.at(-1)?.at ?? 0;
    const outcomes =
      mode === 'fleet'
        ? await runFleet(
            jobs,
            fleet as ServeProcess,
            timeScale,
            startedAt + (lastArrival + FINISH_WITHIN_MS) * timeScale,
          )
        : await runRouted(jobs, targets, setup.clientsPerServer * sims.length, timeScale, mode);
    const loadsOn = Object.fromEntries(sims.map((s, i) => [NAMES[i], s.loads()]));
    const summary = summarise(outcomes, timeScale, {
      loads: sims.reduce((sum, s) => sum + s.loads(), 0),
      oomLines: sims.reduce((sum, s) => sum + s.ooms(), 0),
    });
    return {
      ...summary,
      ...(killed ? { killed_at_s: Math.round((await killed) * 10) / 10 } : {}),
      lost: outcomes.filter((o) => o.lost).length,
      sent_again: outcomes.filter((o) => o.sentAgain).length,
      completed_on: completedOn(outcomes),
      loads_on: loadsOn,
    };
  } finally {
    await fleet?.stop();
    await Promise.all(sims.map((s) => s.stop()));
  }
}

/**
 * kill -9 at the first moment from `from` (simulated ms) that the server runs a request, so
 * that each approach loses a server with work on it; at the latest a quarter of the arrivals
 * later. Gives when, in simulated seconds from the start.
 */
async function killWhenBusy(
  sim: SimProcess,
  startedAt: number,
  from: number,
  timeScale: number,
): Promise<number> {
  const at = (ms: number) => startedAt + ms * timeScale;
  await new Promise((r) => setTimeout(r, at(from) - Date.now()));
  while (Date.now() < at(from * 1.5)) {
    const gpu = (await (await fetch(`${sim.url}/sim/gpu`)).json()) as {
      loaded: { busy: boolean }[];
    };
    if (gpu.loaded.some((m) => m.busy)) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  sim.kill();
  return (Date.now() - startedAt) / timeScale / 1000;
}

/**
 * Until the supervisor has read each card once: it loads nothing before, and a supervisor in
 * service has long done so. Its first nvidia-smi runs take about a second here, which at a
 * time scale of 0.1 would be ten simulated seconds charged to the fleet alone.
 */
async function telemetryFromEvery(fleet: ServeProcess): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    const stats = (await (await fetch(`${fleet.url}/api/stats`)).json()) as {
      backends: { gpus: unknown[] }[];
    };
    if (stats.backends.every((b) => b.gpus.length > 0)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
}

function completedOn(outcomes: readonly JobOutcome[]): Record<string, number> {
  const on: Record<string, number> = Object.fromEntries(NAMES.map((n) => [n, 0]));
  for (const o of outcomes) if (o.ok && o.backend) on[o.backend] = (on[o.backend] ?? 0) + 1;
  return on;
}

async function compareAll(
  jobs: readonly BenchJob[],
  setup: BackendsSetup,
  killAt: number | undefined,
): Promise<BackendsRun> {
  process.stdout.write(' round robin...');
  const roundRobin = await runOnce(jobs, setup, 'round-robin', killAt);
  process.stdout.write(' least connections...');
  const leastConnections = await runOnce(jobs, setup, 'least-connections', killAt);
  process.stdout.write(' ollama-fleet...');
  const fleet = await runOnce(jobs, setup, 'fleet', killAt);
  const ratio = (metric: (r: BackendsSummary) => number | null) => {
    const baselines = [metric(roundRobin), metric(leastConnections)].filter(
      (v): v is number => v !== null,
    );
    const better = baselines.length ? Math.min(...baselines) : null;
    const f = metric(fleet);
    return better && f !== null ? Math.round((f / better) * 100) / 100 : null;
  };
  return {
    round_robin: roundRobin,
    least_connections: leastConnections,
    fleet,
    ratios: {
      loads: ratio((r) => r.loads),
      makespan: ratio((r) => r.makespan_s),
      high_p95_latency: ratio((r) => r.latency_s.high.p95),
      all_p95_latency: ratio((r) => r.latency_s.all.p95),
      // A failed or lost job is one the client has to notice and send again.
      failed_or_lost: ratio((r) => r.failed),
    },
  };
}

export async function measureBackends(setup: BackendsSetup): Promise<BackendsResult> {
  // Two cards take twice the single-card workloads' arrival rate.
  const count = setup.quick ? 160 : 600;
  const jobs = mixedWorkload(count, 8, setup.seed, BACKENDS_MODELS);
  const killAt = (jobs.at(-1)?.at ?? 0) / 2;
  process.stdout.write(`backends: ${jobs.length} jobs on two cards,`);
  const normal = await compareAll(jobs, setup, undefined);
  process.stdout.write(` then ${KILLED} killed half-way,`);
  const killed = await compareAll(jobs, setup, killAt);
  process.stdout.write(' done\n');
  return {
    jobs: jobs.length,
    time_scale: setup.sim.timeScale,
    models: [...BACKENDS_MODELS],
    clients: setup.clientsPerServer * NAMES.length,
    killed_backend: KILLED,
    kill_from_s: Math.round(killAt / 100) / 10,
    bounds: { loads: BACKENDS_MODELS.length },
    normal,
    killed,
  };
}
