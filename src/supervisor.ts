/**
 * The composition root: builds every part of the supervisor from the config and wires them.
 * Nothing here reads the environment or signals; `fleet serve` hands those in.
 */

import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { serveToken } from './api/auto-token.js';
import { exposureOf } from './api/exposure.js';
import { buildApiServer } from './api/server.js';
import { Background } from './background.js';
import type { FleetConfig } from './config/load.js';
import { aliasResolver } from './engine/aliases.js';
import { Engine } from './engine/engine.js';
import { Errors, FleetError } from './errors.js';
import { localFleetControl } from './fleet/control.js';
import { SerialEffects } from './fleet/effects.js';
import { currentModel, type Incident, type LadderOutcome } from './fleet/ladder.js';
import { LadderCache } from './fleet/ladder-cache.js';
import { LadderStore } from './fleet/ladder-store.js';
import { healthProblems, incidentLadders, telemetryIncidents } from './fleet/policy.js';
import { ModelPulls } from './fleet/pulls.js';
import { startLadderSchedules } from './fleet/schedule.js';
import { VramHistory } from './gpu/history.js';
import { ResourceMonitor } from './gpu/monitor.js';
import { dockerExecRunner, NvidiaSmiReader } from './gpu/nvidia-smi.js';
import type { Logger } from './log.js';
import { FleetMetrics } from './metrics/metrics.js';
import { OllamaClient } from './ollama/client.js';
import { guardDisk } from './queue/disk-guard.js';
import { JobEvents } from './queue/events.js';
import { Jobs } from './queue/jobs.js';
import { SqliteJobStore } from './queue/sqlite-store.js';
import { KnownModels } from './registry/known-models.js';
import { ModelRegistry } from './registry/registry.js';
import { VERSION } from './version.js';
import { DockerClient } from './watch/docker.js';
import { VramWatcher } from './watch/watcher.js';
import { reconfigureWorkers } from './workers/reconfigure.js';

export interface Supervisor {
  /** The URL the API listens on. */
  readonly url: string;
  /** Stops everything; safe to call twice, and runs every step even when one fails. */
  close(): Promise<void>;
}

const PRUNE_EVERY_MS = 3_600_000;
/** /api/ps is cheap: read it every second between nvidia-smi polls. */
const OLLAMA_POLL_MS = 1_000;
const NVIDIA_SMI_TIMEOUT_MS = 10_000;
/** How often "the current rung no longer fits" may count as an incident. */
const TELEMETRY_INCIDENT_EVERY_MS = 60_000;
/** The longest a pull may take, progress or not: a large model on a slow link takes hours. */
const PULL_TIMEOUT_MS = 6 * 3_600_000;

export async function startSupervisor(options: {
  config: FleetConfig;
  log: Logger;
  now?: () => number;
}): Promise<Supervisor> {
  const { config, log } = options;
  const now = options.now ?? Date.now;
  const stop = new AbortController();
  const fleetLog = log.child({ component: 'fleet' });
  const apiLog = log.child({ component: 'api' });
  // Before anything starts: who may reach the API, and with which token.
  const token = await serveToken(config, apiLog);
  const exposure = exposureOf({ ...config.api, token: token ?? config.api.admin_token });
  if (exposure.kind === 'refused') throw new FleetError(Errors.FLEET_ERR_UNSAFE, exposure.reason);
  if (exposure.kind === 'open') apiLog.warn(exposure.warning);
  // Aliases resolve every loop: the state file read at most once a second (at once after a
  // transition), the last good copy standing in while it cannot be read.
  const ladderCache = new LadderCache(() => ladders.read().then((l) => l.ladders), now, fleetLog);
  const currentLadders = () => ladderCache.current();
  // Bound below, once Ollama's client and Docker's exist: what follows a ladder's move.
  let afterTransition: (ladder: string, outcome: LadderOutcome) => void = () => {};
  const ladders = new LadderStore({
    stateDir: config.state_dir,
    ladders: config.ladders,
    mergeWithin: config.detection.merge_within,
    log: fleetLog,
    now,
    onTransition: (ladder, outcome) => {
      ladderCache.forget();
      afterTransition(ladder, outcome);
    },
  });
  // Write the state as fleet.yaml now describes it, so a changed ladder is settled once.
  const initial = await ladders.sync();
  for (const ladder of initial.ladders) {
    fleetLog.info(
      { ladder: ladder.name, model: ladder.models[ladder.current_model_index] },
      'ladder ready',
    );
  }
  startLadderSchedules({
    ladders: config.ladders,
    store: ladders,
    log: fleetLog,
    signal: stop.signal,
  });

  const queueLog = log.child({ component: 'queue' });
  const sqlite = new SqliteJobStore({
    stateDir: config.state_dir,
    settings: { agingMs: config.queue.aging, maxAttempts: config.queue.max_attempts },
    log: queueLog,
  });
  const store = guardDisk(sqlite, sqlite.file, queueLog);
  const recovered = await store.recover(now());
  if (recovered.requeued + recovered.failed + recovered.cancelled > 0) {
    queueLog.warn(
      recovered,
      'jobs interrupted by the last stop: requeued, failed when out of attempts, or cancelled when their caller waited on a connection',
    );
  }
  // Metrics come later in the wiring; failures before then are logged all the same.
  let countBackgroundFailure: (task: string) => void = () => {};
  const background = new Background(log.child({ component: 'supervisor' }), (task) =>
    countBackgroundFailure(task),
  );
  const pruneTimer = setInterval(() => {
    background.run('prune finished jobs', async () => {
      const n = await store.prune(now() - config.queue.retention);
      if (n > 0) queueLog.info({ pruned: n }, 'pruned finished jobs');
    });
  }, PRUNE_EVERY_MS);
  pruneTimer.unref();

  const events = new JobEvents();
  const ollama = new OllamaClient({
    url: config.ollama.url,
    timeout: config.ollama.timeouts.connect,
  });
  const pulls = new ModelPulls(ollama, fleetLog, PULL_TIMEOUT_MS);
  const effects = new SerialEffects(fleetLog, (effect) => countBackgroundFailure(effect));
  const vramTotal =
    config.gpu.vram_total_mib === undefined ? undefined : config.gpu.vram_total_mib * 2 ** 20;
  const registryLog = log.child({ component: 'registry' });
  const registry = new ModelRegistry({
    stateDir: config.state_dir,
    catalogue: config.models,
    multiplier: config.scheduler.estimate_multiplier,
    log: registryLog,
    now,
  });
  await registry.load();
  const docker = new DockerClient();
  const monitor = new ResourceMonitor({
    ollama,
    smi: new NvidiaSmiReader({
      command: config.gpu.nvidia_smi,
      timeoutMs: NVIDIA_SMI_TIMEOUT_MS,
      now,
      ...(config.gpu.nvidia_smi_container !== undefined
        ? { runner: dockerExecRunner(docker, config.gpu.nvidia_smi_container) }
        : {}),
    }),
    vramTotal,
    telemetryIntervalMs: config.gpu.poll_interval,
    ollamaIntervalMs: OLLAMA_POLL_MS,
    log: log.child({ component: 'gpu' }),
    now,
  });
  // The last hour of VRAM, for the dashboard's chart on a fresh page.
  const vramHistory = new VramHistory();
  monitor.subscribe((snapshot) => {
    vramHistory.record(snapshot);
    if (snapshot.installed) registry.noteInstalled(snapshot.installed);
    background.run('learn VRAM from Ollama', () => registry.observe(snapshot.loaded));
  });
  const monitorDone = monitor.run(stop.signal);
  // Read at scrape time; the watcher is made further down, before anyone can scrape.
  const metrics = new FleetMetrics({
    store,
    snapshot: () => monitor.current(),
    ladders: currentLadders,
    estimates: (model) => registry.estimate(model),
    watching: () => watcher.status().state === 'following',
  });
  events.tap((id, event) => metrics.job(id, event));
  countBackgroundFailure = (task) => metrics.backgroundFailure(task);

  // Every change of a job's state and its event, in one place; stopping a running request is
  // the engine's (bound below, before anything can call it).
  const jobs = new Jobs(store, events, now, (id) => engine.cancel(id));
  const engine = new Engine({
    store,
    jobs,
    // fleet.yaml's one Ollama (`ollama` + `gpu`) is the backend named `default`.
    backend: { name: 'default', client: ollama, monitor },
    events,
    log: log.child({ component: 'engine' }),
    schedulerLog: log.child({ component: 'scheduler' }),
    estimate: (model) => registry.estimate(model).bytes,
    vramTotal,
    marginBytes: config.gpu.safety_margin_mib * 2 ** 20,
    now,
    ladders: currentLadders,
    maxConcurrentPerModel: config.scheduler.max_concurrent_per_model,
    pulling: (model) => pulls.isPulling(model),
    loopIntervalMs: config.scheduler.loop_interval,
    agingMs: config.queue.aging,
    keepAlive: config.scheduler.keep_alive,
    timeouts: { load: config.ollama.timeouts.load, request: config.ollama.timeouts.request },
    onModelChange: (change) => metrics.modelChange(change),
    onVramIncident: ({ model, message, at, severity }) => {
      if (severity === 'hard')
        background.run('raise the VRAM estimate', () => registry.raise(model, 1.2));
      background.run('count an incident', () =>
        countIncident(model, {
          at,
          kind: severity === 'hard' ? 'ollama_oom' : 'runner_crash',
          severity,
          weight: config.detection.weights[severity],
          evidence: message,
        }),
      );
    },
  });
  // Models present before work needs them: each ladder's current rung and pull_on_start,
  // marked as being pulled before the engine starts, so their jobs wait (not fail) while a
  // fresh stack's Ollama is still coming up.
  const ollamaAnswers = (async () => {
    for (let wait = 1_000; !stop.signal.aborted; wait = Math.min(30_000, wait * 2)) {
      try {
        return await ollama.version(stop.signal);
      } catch {
        await sleep(wait, undefined, { signal: stop.signal }).catch(() => {});
      }
    }
    return undefined;
  })();
  const wantedAtStart = new Set([
    ...initial.ladders.map((l) => currentModel(l)),
    ...config.pull_on_start,
  ]);
  background.run('pull the models work will need', () =>
    Promise.all([...wantedAtStart].map((model) => pulls.ensure(model, stop.signal, ollamaAnswers))),
  );

  const engineDone = engine.run(stop.signal);

  /** An incident counts on the ladders the policy names (fleet/policy.ts). */
  async function countIncident(model: string | undefined, incident: Incident): Promise<void> {
    const snapshot = await ladders.read();
    for (const ladder of incidentLadders(snapshot.ladders, model)) {
      metrics.incident(ladder.name, incident.kind, incident.severity);
      const outcome = await ladders.apply(ladder.name, { type: 'incident', incident });
      fleetLog.warn(
        { ladder: ladder.name, incident, transition: outcome.transition },
        outcome.message,
      );
    }
  }

  // A ladder moved: pull the new model if Ollama lacks it, let the old one go, then rewrite
  // the workers' config and restart them.
  const workersLog = log.child({ component: 'workers' });
  afterTransition = (ladder, outcome) => {
    const t = outcome.transition;
    if (!t) return;
    // One line per move, whatever moved it (policy, schedule, the CLI, the API).
    fleetLog.info(
      { ladder, from: t.from, to: t.to, source: t.source, reason: t.reason },
      `ladder ${ladder}: ${t.from} -> ${t.to} (${t.source}${t.reason ? `: ${t.reason}` : ''})`,
    );
    metrics.transition(ladder, t.to_index > t.from_index ? 'down' : 'up', t.source);
    // One move's effects after the other's: two quick steps never race on a worker's config.
    effects.enqueue(`carry out ladder ${ladder}'s step to ${t.to}`, async (signal) => {
      const call = {
        signal,
        firstByteTimeoutMs: config.ollama.timeouts.load,
        idleTimeoutMs: config.ollama.timeouts.load,
      };
      await pulls.ensure(t.to, signal);
      await ollama.call('/api/generate', { model: t.from, keep_alive: 0 }, call).catch(() => {});
      await reconfigureWorkers({
        workers: config.workers,
        ladder,
        defaultLadder: config.ladders[0]?.name as string,
        model: t.to,
        docker,
        log: workersLog,
      });
    });
  };

  // Workers follow the ladders as they stand now: a fresh config volume gets its file, and a
  // worker left on another model (the ladder moved while we were away) is put right.
  background.run('bring the workers in line', async () => {
    const snapshot = await ladders.read();
    for (const ladder of snapshot.ladders) {
      await reconfigureWorkers({
        workers: config.workers,
        ladder: ladder.name,
        defaultLadder: config.ladders[0]?.name as string,
        model: currentModel(ladder),
        docker,
        log: workersLog,
        onlyIfStale: true,
      });
    }
  });

  const watcher = new VramWatcher({
    // A log file or a systemd unit when one is named (Ollama without Docker); else the container.
    source:
      config.ollama.log_file !== undefined
        ? {
            kind: 'file',
            file: path.resolve(path.dirname(config.source), config.ollama.log_file),
            positionFile: path.join(config.state_dir, 'log-position.json'),
          }
        : config.ollama.journald_unit !== undefined
          ? {
              kind: 'journald',
              unit: config.ollama.journald_unit,
              cursorFile: path.join(config.state_dir, 'journal-cursor.json'),
            }
          : { kind: 'container', docker, target: config.ollama.container },
    detection: config.detection,
    log: log.child({ component: 'watch' }),
    now,
    onIncident: (incident, model) => {
      background.run('count an incident', () =>
        countIncident(model, {
          at: incident.at,
          kind: incident.kind,
          severity: incident.severity,
          weight: incident.weight,
          evidence: incident.evidence,
        }),
      );
    },
  });
  const watcherDone = watcher.run(stop.signal);

  // Ladders with downgrade.on_telemetry: when the card can no longer hold the current rung
  // (other processes took the room), that counts toward the threshold before any OOM does.
  const telemetryNoted = new Map<string, number>();
  const telemetryWatched = new Set(
    config.ladders.filter((l) => l.downgrade.on_telemetry).map((l) => l.name),
  );
  monitor.subscribe((snapshot) => {
    if (!snapshot.telemetry.available) return;
    const usable =
      (snapshot.totals.total ?? 0) - snapshot.gpus.reduce((sum, g) => sum + (g.external ?? 0), 0);
    background.run('weigh telemetry against the ladders', async () => {
      const found = telemetryIncidents({
        at: snapshot.at,
        usable,
        ladders: (await ladders.read()).ladders,
        watched: telemetryWatched,
        estimate: (model) => registry.estimate(model).bytes,
        lastNoted: telemetryNoted,
        everyMs: TELEMETRY_INCIDENT_EVERY_MS,
        weight: config.detection.weights.soft,
      });
      for (const { ladder, incident } of found) {
        telemetryNoted.set(ladder, incident.at);
        const outcome = await ladders.apply(ladder, { type: 'incident', incident });
        fleetLog.warn({ ladder, transition: outcome.transition }, outcome.message);
      }
    });
  });

  let closing = false;
  const fleet = localFleetControl(ladders, 'api', now);
  const app = await buildApiServer({
    log: log.child({ component: 'api' }),
    token,
    adminToken: config.api.admin_token,
    loopbackOnly: exposure.kind === 'private',
    limits: config.api.limits,
    version: VERSION,
    fleet,
    jobs: {
      store,
      events,
      known: new KnownModels(
        config.models.map((m) => m.name),
        ollama,
        10_000,
        now,
        () => monitor.current()?.installed,
      ),
      ladders: config.ladders.map((l) => l.name),
      limits: config.api.limits,
      queueMaxSize: config.scheduler.queue_max_size,
      now,
      jobs,
      closing: () => closing,
      tokenConfigured: token !== undefined || config.api.admin_token !== undefined,
    },
    metrics,
    ollama: {
      ollama,
      resolve: async (model) => aliasResolver(await currentLadders())(model),
      unloadWhenIdle: (model) => engine.unloadWhenIdle(model),
    },
    problems: () =>
      healthProblems({
        ollama: monitor.current()?.ollama,
        watch: watcher.status(),
        security: exposure.kind === 'open' ? exposure.warning : undefined,
      }),
    stats: {
      store,
      ollama,
      snapshot: async () => monitor.current() ?? (await monitor.refresh()),
      estimate: (model, numCtx) => registry.estimate(model, numCtx === undefined ? {} : { numCtx }),
      engineState: () => engine.state,
      storeHealth: () => store.health(),
      vramHistory: () => vramHistory.samples(),
      pulls: () => pulls.progress(),
      watchState: () => watcher.status(),
    },
  });
  try {
    await app.listen({ host: config.api.host, port: config.api.port });
  } catch (err) {
    stop.abort();
    await Promise.allSettled([app.close(), engineDone, monitorDone, watcherDone]);
    await store.close();
    const code = (err as NodeJS.ErrnoException).code;
    const why =
      code === 'EADDRINUSE' ? 'the address is in use (is another supervisor running?)' : code;
    throw new FleetError(
      Errors.FLEET_ERR_LISTEN,
      `cannot listen on ${config.api.host}:${config.api.port}: ${why}; set api.port in fleet.yaml or pass --port`,
      { cause: err },
    );
  }
  const address = app.server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `http://${host}:${address.port}`;
  log.info(
    { component: 'supervisor', url, state_dir: config.state_dir, version: VERSION },
    'supervisor listening',
  );

  let closed: Promise<void> | undefined;
  return {
    url,
    close() {
      closed ??= (async () => {
        // Stop taking work, requeue what runs, end waiting clients, then let go of the files.
        closing = true;
        stop.abort();
        clearInterval(pruneTimer);
        const steps: [string, () => Promise<unknown>][] = [
          ['engine', () => engineDone],
          ['monitor', () => monitorDone],
          ['watcher', () => watcherDone],
          ['ladder effects', () => effects.close()],
          ['background', () => background.settle()],
          ['clients', async () => events.closeAll()],
          ['api', () => app.close()],
          ['store', () => store.close()],
        ];
        for (const [name, step] of steps) {
          try {
            await step();
          } catch (err) {
            log.error({ component: 'supervisor', err, step: name }, 'error while closing');
          }
        }
      })();
      return closed;
    },
  };
}
