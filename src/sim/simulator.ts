/**
 * `fleet sim`: an Ollama server with a simulated GPU. Builds the state, serves Ollama's API
 * and the /sim/ control API on one port, and writes Ollama's start-up lines.
 */
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { Errors, FleetError } from '../errors.js';
import { humanBytes } from '../ollama/bytes.js';
import { canonicalModelName } from '../ollama/names.js';
import { SIM_CATALOGUE } from './catalogue.js';
import { Faults } from './faults.js';
import { cardName, SimGpu } from './gpu.js';
import { createRequestListener } from './http.js';
import { rulesFor, type SimOptions } from './options.js';
import { RequestLog } from './request-log.js';
import { controlRoutes } from './routes-control.js';
import { inferenceRoutes } from './routes-inference.js';
import { modelRoutes } from './routes-models.js';
import { openaiRoutes } from './routes-openai.js';
import { type Clock, OllamaScheduler } from './scheduler.js';
import { SimLog, type SimLogSinks } from './sim-log.js';
import type { SimState } from './state.js';

export interface RunningSimulator {
  readonly url: string;
  readonly port: number;
  readonly state: SimState;
  close(): Promise<void>;
}

export async function startSimulator(
  options: SimOptions & { host: string; port: number },
  sinks: SimLogSinks,
): Promise<RunningSimulator> {
  const rules = rulesFor(options);
  const log = new SimLog(sinks, options.debug);
  const faults = new Faults();
  const clock: Clock = {
    now: () => Date.now(),
    sleep: async (simMs, signal) => {
      const real = simMs * options.timeScale;
      if (real > 0) await sleep(real, undefined, signal ? { signal } : undefined);
    },
  };
  const gpus = Array.from({ length: options.gpus }, (_, index) => {
    const hex = createHash('sha256').update(`gpu:${index}`).digest('hex');
    const uuid = `GPU-${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
    return new SimGpu({ index, uuid, name: cardName(options.vramMib), totalMib: options.vramMib });
  });
  const catalogue = new Map(SIM_CATALOGUE.map((m) => [m.name, m]));
  const wanted = options.installed?.map(canonicalModelName);
  const unknown = wanted?.filter((name) => !catalogue.has(name)) ?? [];
  if (unknown.length > 0) {
    throw new FleetError(
      Errors.FLEET_ERR_USAGE,
      `--installed names models the simulator does not know: ${unknown.join(', ')}; it knows ${[...catalogue.keys()].join(', ')}`,
    );
  }
  const installedAt = new Date(Date.UTC(2026, 0, 1));
  const installed = new Map(
    (wanted ?? [...catalogue.keys()]).map((name, i) => [
      name,
      {
        model: catalogue.get(name) as NonNullable<ReturnType<typeof catalogue.get>>,
        modifiedAt: new Date(installedAt.getTime() + i * 1000),
      },
    ]),
  );
  const scheduler = new OllamaScheduler(options, rules, gpus, faults, log, clock);
  const state: SimState = {
    options,
    rules,
    gpus,
    faults,
    log,
    clock,
    scheduler,
    catalogue,
    installed,
    requests: new RequestLog(),
  };

  const sockets = new Set<Socket>();
  let server: Server;
  let refusing: Promise<void> | undefined;
  const listen = (port: number) =>
    new Promise<AddressInfo>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, options.host, () => {
        server.off('error', reject);
        resolve(server.address() as AddressInfo);
      });
    });
  const refuse = (seconds: number) => {
    // Stop accepting and drop open connections, then listen again on the same port.
    refusing ??= (async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of sockets) socket.destroy();
      await sleep(seconds * 1000);
      await listen(address.port);
      refusing = undefined;
    })();
  };
  const routes = {
    ...modelRoutes(state),
    ...inferenceRoutes(state),
    ...openaiRoutes(state),
    ...controlRoutes(state, (s) => setImmediate(() => refuse(s))),
  };
  server = createServer(
    createRequestListener(routes, log, (path, body) => state.requests.add(path, body)),
  );
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  const address = await listen(options.port).catch((err: NodeJS.ErrnoException) => {
    throw new FleetError(
      Errors.FLEET_ERR_LISTEN,
      `cannot listen on ${options.host}:${options.port}: ${err.code ?? err.message}`,
      {
        cause: err,
      },
    );
  });

  const bind = options.host === '0.0.0.0' || options.host === '::' ? '[::]' : options.host;
  log.slog(
    'INFO',
    'routes.go:1350',
    `Listening on ${bind}:${address.port} (version ${options.version})`,
  );
  for (const gpu of gpus) {
    log.slog('INFO', 'types.go:130', 'inference compute', {
      id: gpu.uuid,
      library: 'cuda',
      name: gpu.name,
      total: humanBytes(gpu.total),
      available: humanBytes(gpu.free(Date.now())),
    });
  }
  const host = options.host === '0.0.0.0' || options.host === '::' ? '127.0.0.1' : options.host;
  let closing: Promise<void> | undefined;
  return {
    url: `http://${host}:${address.port}`,
    port: address.port,
    state,
    close() {
      closing ??= (async () => {
        scheduler.close();
        await refusing?.catch(() => {});
        for (const socket of sockets) socket.destroy();
        await new Promise<void>((resolve) =>
          server.listening ? server.close(() => resolve()) : resolve(),
        );
      })();
      return closing;
    },
  };
}
