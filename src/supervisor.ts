/**
 * The composition root: builds every part of the supervisor from the config and wires them.
 * Nothing here reads the environment or signals; `fleet serve` hands those in.
 */
import type { AddressInfo } from 'node:net';
import { buildApiServer } from './api/server.js';
import type { FleetConfig } from './config/load.js';
import { Errors, FleetError } from './errors.js';
import { localFleetControl } from './fleet/control.js';
import { LadderStore } from './fleet/ladder-store.js';
import { startLadderSchedules } from './fleet/schedule.js';
import type { Logger } from './log.js';
import { VERSION } from './version.js';

export interface Supervisor {
  /** The URL the API listens on. */
  readonly url: string;
  /** Stops everything; safe to call twice, and runs every step even when one fails. */
  close(): Promise<void>;
}

export async function startSupervisor(options: {
  config: FleetConfig;
  log: Logger;
  now?: () => number;
}): Promise<Supervisor> {
  const { config, log } = options;
  const now = options.now ?? Date.now;
  const stop = new AbortController();
  const store = new LadderStore({
    stateDir: config.state_dir,
    ladders: config.ladders,
    log: log.child({ component: 'fleet' }),
    now,
  });
  // Write the state as fleet.yaml now describes it, so a changed ladder is settled once.
  const initial = await store.sync();
  for (const ladder of initial.ladders) {
    log.info(
      { component: 'fleet', ladder: ladder.name, model: ladder.models[ladder.current_model_index] },
      'ladder ready',
    );
  }
  startLadderSchedules({
    ladders: config.ladders,
    store,
    log: log.child({ component: 'fleet' }),
    signal: stop.signal,
  });

  const app = await buildApiServer({
    log: log.child({ component: 'api' }),
    token: config.api.token,
    version: VERSION,
    fleet: localFleetControl(store, 'api', now),
  });
  try {
    await app.listen({ host: config.api.host, port: config.api.port });
  } catch (err) {
    stop.abort();
    await app.close().catch(() => {});
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

  let closing: Promise<void> | undefined;
  return {
    url,
    close() {
      closing ??= (async () => {
        stop.abort();
        const results = await Promise.allSettled([app.close()]);
        for (const result of results) {
          if (result.status === 'rejected')
            log.error({ err: result.reason }, 'error while closing');
        }
      })();
      return closing;
    },
  };
}
