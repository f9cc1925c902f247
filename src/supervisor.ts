/**
 * The composition root: builds every part of the supervisor from the config and wires them.
 * Nothing here reads the environment or signals; `fleet serve` hands those in.
 */

import type { AddressInfo } from 'node:net';
import { serveToken } from './api/auto-token.js';
import { exposureOf } from './api/exposure.js';
import { buildApiServer } from './api/server.js';
import { Backends } from './backends/backends.js';
import { BackendRuntime } from './backends/runtime.js';
import { Background } from './background.js';
import type { FleetConfig } from './config/load.js';
import { aliasResolver } from './engine/aliases.js';
import { Errors, FleetError } from './errors.js';
import { localFleetControl } from './fleet/control.js';
import { SerialEffects } from './fleet/effects.js';
import { currentModel, type Incident, type LadderOutcome } from './fleet/ladder.js';
import { LadderCache } from './fleet/ladder-cache.js';
import { LadderStore } from './fleet/ladder-store.js';
import { healthProblems, incidentLadders } from './fleet/policy.js';
import { startLadderSchedules } from './fleet/schedule.js';
import { telemetryWatch } from './fleet/telemetry-watch.js';
import { cardOf, usableOf } from './gpu/snapshot.js';
import type { Logger } from './log.js';
import { FleetMetrics } from './metrics/metrics.js';
import { JobEvents } from './queue/events.js';
import { Jobs } from './queue/jobs.js';
import { openStore, runSharedQueue, supervisorId } from './queue/open.js';
import { QueuePositions } from './queue/positions.js';
import { KnownModels } from './registry/known-models.js';
import { ModelRegistry } from './registry/registry.js';
import { VERSION } from './version.js';
import { DockerClient } from './watch/docker.js';
import { reconfigureWorkers } from './workers/reconfigure.js';

export interface Supervisor {
  /** The URL the API listens on. */
  readonly url: string;
  /** Stops everything; safe to call twice, and runs every step even when one fails. */
  close(): Promise<void>;
}

const PRUNE_EVERY_MS = 3_600_000;

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
  // The embedded SQLite file, or a PostgreSQL queue shared with the other hosts' supervisors.
  const owner = await supervisorId(config.state_dir);
  const { store, shared } = await openStore(config, owner, queueLog);
  if (shared) queueLog.info({ queue: store.where, supervisor: owner }, 'on a shared queue');
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
  const effects = new SerialEffects(fleetLog, (effect) => countBackgroundFailure(effect));
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
  const estimate = (model: string) => registry.estimate(model).bytes;
  /** Other live supervisors on a shared queue (none with SQLite). */
  let peers = 0;
  const backends = new Backends({
    maxConcurrentPerModel: config.scheduler.max_concurrent_per_model,
    agingMs: config.queue.aging,
  });
  // Every change of a job's state and its event, in one place; stopping a running request is
  // the backend's that runs it.
  const jobs = new Jobs(store, events, now, (id) => backends.cancel(id));
  const positions = new QueuePositions(store, events);
  // Read at scrape time; the backends are made below, before anyone can scrape.
  const metrics = new FleetMetrics({
    store,
    backends: () =>
      backends.list.map((b) => ({
        name: b.name,
        snapshot: b.monitor.current(),
        healthy: b.health.healthy,
        running: Object.values(b.engine.runningByModel()).reduce((n, x) => n + x, 0),
      })),
    ladders: currentLadders,
    estimates: (model) => registry.estimate(model),
    watching: () =>
      backends.list.every(
        (b) => b.watcher === undefined || b.watcher.status().state === 'following',
      ),
  });
  events.tap((id, event) => metrics.job(id, event));
  countBackgroundFailure = (task) => metrics.backgroundFailure(task);

  // A rung no card can hold any more counts toward the threshold before any OOM does.
  const weighTelemetry = telemetryWatch({
    ladders: config.ladders,
    store: ladders,
    snapshots: () => backends.list.map((b) => b.monitor.current()),
    estimate,
    weight: config.detection.weights.soft,
    background,
    log: fleetLog,
  });

  /** Incidents name their backend when there are several. */
  const backendField = (backend: string) => (config.backends.length > 1 ? { backend } : {});
  for (const backendConfig of config.backends) {
    backends.add(
      new BackendRuntime(backendConfig, {
        config,
        log,
        now,
        docker,
        store,
        jobs,
        events,
        positions,
        estimateOn: (model, card) =>
          registry.estimate(model, card === undefined ? {} : { card }).bytes,
        ladders: currentLadders,
        // One backend serves all the demand; several (or one with a models list) as placement says.
        placement:
          config.backends.length > 1 || config.backends.some((b) => b.models)
            ? backends
            : undefined,
        mayFailUnplaceable: () => peers === 0,
        maxConcurrentPerModel: config.scheduler.max_concurrent_per_model,
        loopIntervalMs: config.scheduler.loop_interval,
        agingMs: config.queue.aging,
        keepAlive: config.scheduler.keep_alive,
        onModelChange: (backend, change) => metrics.modelChange({ ...change, backend }),
        onPreempted: (backend, model, ranMs) => metrics.preempted(backend, model, ranMs),
        onSnapshot: (_backend, snapshot) => {
          if (snapshot.installed) registry.noteInstalled(snapshot.installed);
          background.run('learn VRAM from Ollama', () =>
            registry.observe(snapshot.loaded, cardOf(snapshot), usableOf(snapshot)),
          );
          weighTelemetry(snapshot);
        },
        onVramIncident: (backend, { model, message, at, severity }) => {
          if (severity === 'hard')
            background.run('raise the VRAM estimate', () => {
              const runtime = backends.list.find((b) => b.name === backend);
              const card = runtime?.card();
              // Never past the card: what no longer fits beside others still runs alone.
              const total = usableOf(runtime?.monitor.current());
              return registry.raise(model, 1.2, card === undefined ? {} : { card }, total);
            });
          background.run('count an incident', () =>
            countIncident(model, {
              at,
              kind: severity === 'hard' ? 'ollama_oom' : 'runner_crash',
              severity,
              weight: config.detection.weights[severity],
              evidence: message,
              ...backendField(backend),
            }),
          );
        },
        onLogIncident: (backend, incident, model) => {
          background.run('count an incident', () =>
            countIncident(model, {
              at: incident.at,
              kind: incident.kind,
              severity: incident.severity,
              weight: incident.weight,
              evidence: incident.evidence,
              ...backendField(backend),
            }),
          );
        },
      }),
    );
  }
  const front = backends.front();

  // Models present before work needs them: each ladder's current rung and pull_on_start,
  // on every backend that may run them, marked as being pulled before the dispatchers start,
  // so their jobs wait (not fail) while a fresh stack's Ollama is still coming up.
  const wantedAtStart = new Set([
    ...initial.ladders.map((l) => currentModel(l)),
    ...config.pull_on_start,
  ]);
  for (const backend of backends.list) {
    const models = [...wantedAtStart].filter((m) => backend.allows(m));
    if (models.length === 0) continue;
    const answers = backend.answers(stop.signal);
    background.run(`pull the models work will need on backend ${backend.name}`, () =>
      Promise.all(models.map((model) => backend.pulls.ensure(model, stop.signal, answers))),
    );
  }

  const backendsDone = Promise.all(backends.list.map((b) => b.run(stop.signal)));
  // On a shared queue: heartbeats, other supervisors' dead claims taken back, their changes heard.
  let apiUrl = '';
  const sharedDone = shared
    ? runSharedQueue({
        shared,
        events,
        leaseMs: config.queue.lease,
        now,
        signal: stop.signal,
        log: queueLog,
        info: () => ({
          url: apiUrl,
          backends: backends.list.map((b) => ({
            name: b.name,
            healthy: b.health.healthy,
            running: Object.values(b.engine.runningByModel()).reduce((n, x) => n + x, 0),
          })),
        }),
        stopRunning: (id) => backends.cancel(id),
        onPeers: (count) => {
          peers = count;
        },
      }).catch((err) => queueLog.error({ err }, 'the shared queue loop stopped'))
    : Promise.resolve();

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

  // A ladder moved: pull the new model where it is missing, let the old one go on every
  // backend, then rewrite the workers' config and restart them.
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
      await Promise.all(
        backends.list.map(async (backend) => {
          const call = {
            signal,
            firstByteTimeoutMs: backend.config.timeouts.load,
            idleTimeoutMs: backend.config.timeouts.load,
          };
          if (backend.allows(t.to)) await backend.pulls.ensure(t.to, signal);
          await backend.client
            .call('/api/generate', { model: t.from, keep_alive: 0 }, call)
            .catch(() => {});
        }),
      );
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
        front,
        10_000,
        now,
        () => backends.installed(),
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
      ollama: front,
      resolve: async (model) => aliasResolver(await currentLadders())(model),
      unloadWhenIdle: (model) => backends.unloadWhenIdle(model),
    },
    problems: () =>
      healthProblems({
        backends: backends.list.map((b) => ({
          name: b.name,
          ollama: b.monitor.current()?.ollama,
          watch: b.watcher?.status(),
        })),
        security: exposure.kind === 'open' ? exposure.warning : undefined,
      }),
    stats: {
      store,
      ollama: front,
      snapshot: async () =>
        backends.first.monitor.current() ?? (await backends.first.monitor.refresh()),
      estimate: (model, numCtx) => registry.estimate(model, numCtx === undefined ? {} : { numCtx }),
      engineState: () => backends.first.engine.state,
      storeHealth: () => store.health(),
      vramHistory: () => backends.first.vramHistory.samples(),
      pulls: () =>
        backends.list.flatMap((b) =>
          b.pulls.progress().map((p) => ({ ...p, ...backendField(b.name) })),
        ),
      watchState: () => backends.first.watcher?.status() ?? { state: 'off' },
      backends: () => backends.list.map((b) => b.status()),
      ...(shared
        ? {
            // The queue is the cluster's: every live supervisor, with what it said of itself.
            cluster: async () => ({
              queue: shared.where,
              self: owner,
              supervisors: (await shared.supervisors(now())).map((s) => ({
                id: s.id,
                seen_at: new Date(s.seen_at).toISOString(),
                ...(s.info as Record<string, unknown>),
              })),
            }),
          }
        : {}),
    },
  });
  try {
    await app.listen({ host: config.api.host, port: config.api.port });
  } catch (err) {
    stop.abort();
    await Promise.allSettled([app.close(), backendsDone, sharedDone]);
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
  apiUrl = url;
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
          ['backends', () => backendsDone],
          ['shared queue', () => sharedDone],
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
