/** `fleet status`: every ladder, its incidents and history, and what Ollama has installed. */
import { setTimeout as sleep } from 'node:timers/promises';

import { JobClient } from '../api/job-client.js';
import { resourcesView } from '../api/routes/stats.js';
import type { BackendConfig } from '../config/backends.js';
import { formatDuration } from '../config/duration.js';
import type { FleetConfig } from '../config/load.js';
import { isFleetError } from '../errors.js';
import type { LadderView } from '../fleet/view.js';
import { dockerExecRunner, NvidiaSmiReader } from '../gpu/nvidia-smi.js';
import { buildSnapshot, type ResourceSnapshot } from '../gpu/snapshot.js';
import { humanBytes } from '../ollama/bytes.js';
import { OllamaClient } from '../ollama/client.js';
import { canonicalModelName } from '../ollama/names.js';
import { type Estimate, ModelRegistry } from '../registry/registry.js';
import type { ParsedCommand } from './args.js';
import { type CliEnvironment, loadCliConfig, openFleetControl } from './context.js';

export interface OllamaView {
  url: string;
  reachable: boolean;
  models?: string[];
  error?: string;
}

const WATCH_EVERY_MS = 2_000;

/**
 * `fleet status`, or with `--watch` the same picture redrawn every two seconds until Ctrl-C
 * (or SIGTERM) stops it.
 */
export async function statusCommand(
  parsed: ParsedCommand,
  cli: CliEnvironment,
  signals?: { once(event: 'SIGTERM' | 'SIGINT', listener: () => void): void },
): Promise<number> {
  // fleet.yaml is read once (its warnings said once), not on every redraw.
  const config = await loadCliConfig(parsed.flags, cli, { warn: true });
  if (parsed.options.watch !== true || parsed.flags.json) return statusOnce(parsed, cli, config);
  const stop = new AbortController();
  signals?.once('SIGINT', () => stop.abort());
  signals?.once('SIGTERM', () => stop.abort());
  while (!stop.signal.aborted) {
    let screen = '';
    await statusOnce(parsed, { ...cli, stdout: (text) => (screen += text) }, config).catch(
      (err: Error) => {
        screen = `fleet: ${err.message}\n`;
      },
    );
    // Clear the terminal, then draw the whole picture at once (no flicker line by line).
    cli.stdout(
      `\x1b[2J\x1b[H${screen}\nevery ${WATCH_EVERY_MS / 1000} s, ${new Date(cli.now()).toLocaleTimeString()} (Ctrl-C stops)\n`,
    );
    // timers/promises lets go of its abort listener after each wait (none piles up per redraw).
    await sleep(WATCH_EVERY_MS, undefined, { signal: stop.signal }).catch(() => {});
  }
  return 0;
}

async function statusOnce(
  parsed: ParsedCommand,
  cli: CliEnvironment,
  config: FleetConfig,
): Promise<number> {
  const { control, store } = await openFleetControl(config, cli);
  const chosen =
    parsed.flags.ladder === undefined ? undefined : store.ladderConfig(parsed.flags.ladder).name;
  const registry = new ModelRegistry({
    stateDir: config.state_dir,
    catalogue: config.models,
    multiplier: config.scheduler.estimate_multiplier,
    log: cli.log.child({ component: 'registry' }),
    now: cli.now,
  });
  // Every backend read at once: its Ollama and its cards.
  const [status, backends, work] = await Promise.all([
    control.status(),
    Promise.all(
      config.backends.map(async (backend) => {
        const client = statusClient(backend);
        const [ollama, snapshot] = await Promise.all([
          readOllama(client),
          readResources(backend, client, cli),
        ]);
        return { name: backend.name, ollama, snapshot };
      }),
    ),
    readWork(control.via, config),
    registry.load(),
  ]);
  const { ollama, snapshot } = backends[0] as (typeof backends)[number];
  const several = backends.length > 1;
  const ladders = status.ladders.filter((l) => chosen === undefined || l.name === chosen);
  const estimate = (model: string, numCtx?: number) =>
    registry.estimate(model, numCtx === undefined ? {} : { numCtx });
  if (parsed.flags.json) {
    const withEstimates = ladders.map((l) => ({
      ...l,
      estimates: Object.fromEntries(l.models.map((m) => [m, estimate(m)])),
    }));
    const resources = resourcesView(snapshot, estimate);
    // `ollama` and `resources` are the first backend's; `backends` has each one's.
    const each = several
      ? {
          backends: backends.map((b) => ({
            name: b.name,
            ollama: b.ollama,
            resources: resourcesView(b.snapshot, estimate),
          })),
        }
      : {};
    cli.stdout(
      `${JSON.stringify({ via: control.via, ladders: withEstimates, notes: status.notes, ollama, resources, ...each, ...(work ? { work } : {}) }, null, 2)}\n`,
    );
    return 0;
  }
  const installed = new Set((ollama.models ?? []).map(canonicalModelName));
  const blocks = ladders.map((ladder, i) =>
    formatLadder(
      ladder,
      i === 0 && chosen === undefined,
      ollama.reachable ? installed : undefined,
      estimate,
    ),
  );
  const footer = [
    ...formatWork(work),
    ...(parsed.options.cluster === true ? formatCluster(work) : []),
    ...backends.flatMap((b) => {
      const lines = [
        ...formatResources(b.snapshot, estimate),
        b.ollama.reachable
          ? `ollama ${b.ollama.url}: ${b.ollama.models?.length ?? 0} models installed`
          : `ollama: ${b.ollama.error}`,
      ];
      // Several backends: each one's lines under its name.
      return several ? [`backend ${b.name}:`, ...lines.map((l) => `  ${l}`)] : lines;
    }),
    `state: ${control.via}`,
  ];
  cli.stdout(`${[...blocks, footer.join('\n')].join('\n\n')}\n`);
  return 0;
}

/** The work a running supervisor has in hand: its queue, what runs, the pulls under way. */
interface Work {
  waiting: number;
  running: number;
  pulls: { model: string; status: string; completed?: number; total?: number; backend?: string }[];
  /** On a shared queue: every live supervisor and its backends. */
  cluster?: {
    self: string;
    supervisors: {
      id: string;
      url?: string;
      seen_at: string;
      backends?: { name: string; healthy: boolean; running: number }[];
    }[];
  };
  /** The supervisor's word on each backend: health and jobs running there. */
  backends: {
    name: string;
    healthy: boolean;
    problem: string | null;
    running: Record<string, number>;
  }[];
}

/** Only a running supervisor knows its work (`via` is its URL); the state file does not. */
async function readWork(via: string, config: FleetConfig): Promise<Work | undefined> {
  if (!/^https?:\/\//.test(via)) return undefined;
  try {
    const client = new JobClient({ url: via, token: config.api.token ?? config.api.admin_token });
    const stats = await client.call<{
      running: number;
      queue: { by_status: { pending: number; queued: number } };
      pulls?: Work['pulls'];
      backends?: Work['backends'];
      cluster?: Work['cluster'];
    }>('/api/stats', { signal: AbortSignal.timeout(3_000) });
    return {
      waiting: stats.queue.by_status.pending + stats.queue.by_status.queued,
      running: stats.running,
      pulls: stats.pulls ?? [],
      backends: stats.backends ?? [],
      ...(stats.cluster ? { cluster: stats.cluster } : {}),
    };
  } catch {
    return undefined;
  }
}

/** `--cluster`: the supervisors sharing the queue, this one marked. */
function formatCluster(work: Work | undefined): string[] {
  if (!work) return ['cluster: only a running supervisor knows it'];
  if (!work.cluster) return ['cluster: this supervisor has the queue to itself (no queue.url)'];
  const { self, supervisors } = work.cluster;
  return [
    `cluster: ${supervisors.length} supervisor(s) on the shared queue`,
    ...supervisors.map(
      (s) =>
        `  ${s.id}${s.id === self ? ' (this one)' : ''} ${s.url ?? ''}: ${(s.backends ?? [])
          .map((b) => `${b.name} ${b.healthy ? 'healthy' : 'down'}, ${b.running} running`)
          .join('; ')}`,
    ),
  ];
}

function formatWork(work: Work | undefined): string[] {
  if (!work) return [];
  return [
    `jobs: ${work.waiting} waiting, ${work.running} running`,
    ...work.pulls.map(
      (p) =>
        `pulling ${p.model}${p.backend ? ` on ${p.backend}` : ''}: ${p.status}${p.total ? ` ${Math.floor((100 * (p.completed ?? 0)) / p.total)}%` : ''} (its jobs wait)`,
    ),
    ...(work.backends.length > 1
      ? work.backends.map(
          (b) =>
            `backend ${b.name}: ${b.healthy ? 'healthy' : `down (${b.problem ?? 'no answer'})`}, ${Object.values(b.running).reduce((n, x) => n + x, 0)} running`,
        )
      : []),
  ];
}

/** Status answers quickly: Ollama gets at most three seconds. */
function statusClient(backend: BackendConfig): OllamaClient {
  return new OllamaClient({
    url: backend.url,
    timeout: Math.min(backend.timeouts.connect, 3_000),
  });
}

async function readResources(
  { gpu }: BackendConfig,
  client: OllamaClient,
  cli: CliEnvironment,
): Promise<ResourceSnapshot> {
  const inContainer = gpu.nvidia_smi_container;
  const smi = new NvidiaSmiReader({
    command: gpu.nvidia_smi,
    timeoutMs: 5_000,
    now: cli.now,
    ...(inContainer !== undefined
      ? {
          runner: dockerExecRunner(
            new (await import('../watch/docker.js')).DockerClient(),
            inContainer,
          ),
        }
      : {}),
  });
  const [telemetry, ps] = await Promise.all([
    smi.read(),
    client.ps().catch((err: Error) => ({ error: err.message })),
  ]);
  return buildSnapshot({
    at: cli.now(),
    telemetry,
    ps,
    installed: undefined,
    vramTotal: gpu.vram_total_mib === undefined ? undefined : gpu.vram_total_mib * 2 ** 20,
  });
}

function formatResources(
  snapshot: ResourceSnapshot,
  estimate: (model: string, numCtx?: number) => Estimate,
): string[] {
  const size = (bytes: number | undefined) => (bytes === undefined ? 'unknown' : humanBytes(bytes));
  const lines = snapshot.gpus.map(
    (g) =>
      `vram ${g.source === 'nvidia-smi' ? `GPU ${g.index} ${g.name}` : `(${g.source})`}: ${size(g.used)} used of ${size(g.total)}, ${size(g.free)} free; Ollama ${size(g.ollama)}, other processes ${size(g.external)}`,
  );
  if (!snapshot.telemetry.available)
    lines.push(`telemetry: unavailable (${snapshot.telemetry.failure.message})`);
  for (const m of snapshot.loaded) {
    const e = estimate(m.name, m.context_length);
    lines.push(
      `  loaded ${m.name}: ${size(m.size_vram)} on the GPU of ${size(m.size)}, expires ${m.expires_at} (estimate ${size(e.bytes)}, ${e.source})`,
    );
  }
  return lines;
}

async function readOllama(client: OllamaClient): Promise<OllamaView> {
  try {
    const tags = await client.tags();
    return { url: client.url, reachable: true, models: tags.models.map((m) => m.name) };
  } catch (err) {
    return {
      url: client.url,
      reachable: false,
      error: isFleetError(err) ? err.message : String(err),
    };
  }
}

export function formatLadder(
  ladder: LadderView,
  isDefault: boolean,
  installed: Set<string> | undefined,
  estimate: (model: string) => Estimate,
): string {
  const lines = [`ladder ${ladder.name}${isDefault ? ' (default)' : ''}: ${ladder.current_model}`];
  ladder.models.forEach((model, i) => {
    const mark = i === ladder.current_model_index ? '>' : ' ';
    const presence = installed
      ? installed.has(canonicalModelName(model))
        ? ''
        : '  (not pulled)'
      : '';
    const e = estimate(model);
    const cost = e.bytes === undefined ? 'size unknown' : `${humanBytes(e.bytes)} ${e.source}`;
    lines.push(`  ${mark} ${i}  ${model}  (${cost})${presence}`);
  });
  const inc = ladder.incidents;
  // Counts; the weight only where soft signals make it differ from the count.
  const counted =
    inc.weight === inc.count ? `${inc.count}` : `${inc.count} (weighing ${inc.weight})`;
  lines.push(
    `  incidents: ${counted} of ${inc.threshold} within ${formatDuration(inc.window_seconds * 1000)}`,
  );
  for (const recent of inc.recent) {
    lines.push(
      `    ${recent.at}  ${recent.kind} (${recent.severity})${recent.evidence ? `  ${recent.evidence.slice(0, 100)}` : ''}`,
    );
  }
  lines.push(
    `  cooldown: ${ladder.cooldown_seconds_left > 0 ? `${humanSeconds(ladder.cooldown_seconds_left)} left` : 'none'}`,
  );
  const below = ladder.models[ladder.current_model_index + 1];
  const above = ladder.models[ladder.current_model_index - 1];
  lines.push(`  step down: ${ladder.can_downgrade ? `to ${below}` : 'no, at the bottom'}`);
  lines.push(`  step up: ${ladder.can_upgrade ? `to ${above}` : 'no, at the top'}`);
  if (ladder.schedule)
    lines.push(`  schedule: ${ladder.schedule.action} at "${ladder.schedule.cron}"`);
  if (ladder.history.length > 0) {
    lines.push('  last transitions:');
    for (const t of ladder.history.slice(-5)) {
      lines.push(`    ${t.at}  ${t.from} -> ${t.to}  (${t.source}: ${t.reason})`);
    }
  }
  return lines.join('\n');
}

/** 299 -> "4m 59s", for people reading a countdown. */
function humanSeconds(total: number): string {
  const minutes = Math.floor(total / 60);
  const seconds = total % 60;
  if (minutes === 0) return `${seconds}s`;
  return seconds === 0 ? `${minutes}m` : `${minutes}m ${seconds}s`;
}
