/**
 * After a ladder moves: every worker bound to it gets the new model in its config file, then
 * its labelled containers are restarted so they read it.
 */
import { execa } from 'execa';
import type { WorkerConfig } from '../config/schema.js';
import type { Logger } from '../log.js';
import type { DockerClient } from '../watch/docker.js';
import { recreateLabelled, restartLabelled } from './restart.js';
import { rewriteWorkerConfig } from './rewrite.js';

export interface WorkerOutcome {
  worker: string;
  config_changed: boolean;
  restarted: string[];
  command_output?: string;
  error?: string;
}

const COMMAND_TIMEOUT_MS = 60_000;

export async function reconfigureWorkers(options: {
  workers: readonly WorkerConfig[];
  /** The ladder that moved, and the name of the first ladder (the default binding). */
  ladder: string;
  defaultLadder: string;
  model: string;
  docker: DockerClient | undefined;
  log: Logger;
  /**
   * At start-up: restart only the workers whose config was missing or named another model
   * (the ladder moved while the supervisor was away).
   */
  onlyIfStale?: boolean;
}): Promise<WorkerOutcome[]> {
  const bound = options.workers.filter(
    (w) => (w.ladder ?? options.defaultLadder) === options.ladder,
  );
  const outcomes: WorkerOutcome[] = [];
  for (const worker of bound) {
    const log = options.log.child({ worker: worker.name });
    const outcome: WorkerOutcome = { worker: worker.name, config_changed: false, restarted: [] };
    try {
      if (options.onlyIfStale && !worker.config) continue;
      if (worker.config) {
        const rewrite = await rewriteWorkerConfig(worker.config, options.model);
        outcome.config_changed = rewrite.changed;
        if (rewrite.created) log.info({ path: worker.config.path }, `wrote ${worker.config.path}`);
        if (options.onlyIfStale && !rewrite.changed) {
          outcomes.push(outcome);
          continue;
        }
      }
      if (worker.action !== 'none' && worker.label !== undefined) {
        if (!options.docker) throw new Error('no Docker client to restart workers with');
        if (worker.action === 'recreate' && worker.env !== undefined) {
          outcome.restarted = (
            await recreateLabelled(options.docker, worker.label, worker.env, options.model, log)
          ).restarted;
        } else {
          outcome.restarted = (await restartLabelled(options.docker, worker.label, log)).restarted;
        }
      }
      if (worker.command !== undefined) {
        const [file, ...args] =
          typeof worker.command === 'string'
            ? worker.command.split(/\s+/).filter(Boolean)
            : worker.command;
        const result = await execa(file as string, args, {
          timeout: COMMAND_TIMEOUT_MS,
          env: {
            FLEET_MODEL: options.model,
            FLEET_LADDER: options.ladder,
            FLEET_WORKER: worker.name,
          },
        });
        outcome.command_output = String(result.stdout).slice(0, 500);
      }
      // `worker` is bound on the logger already: one key once per line.
      const { worker: _bound, ...facts } = outcome;
      log.info(
        { model: options.model, ...facts },
        `worker ${worker.name} now runs ${options.model}`,
      );
    } catch (err) {
      outcome.error = (err as Error).message;
      log.error({ err }, `could not reconfigure worker ${worker.name}`);
    }
    outcomes.push(outcome);
  }
  return outcomes;
}
