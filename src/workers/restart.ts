/**
 * Restarts the worker containers bound to a ladder: only those carrying the configured label,
 * re-checked on a fresh listing, and waits until each runs again.
 */
import type { Logger } from '../log.js';
import type { DockerClient } from '../watch/docker.js';

const STOP_TIMEOUT_SECONDS = 10;
const RUNNING_POLLS = 100;

export async function restartLabelled(
  docker: DockerClient,
  label: string,
  log: Logger,
): Promise<{ restarted: string[] }> {
  const containers = await docker.listByLabel(label);
  const restarted: string[] = [];
  for (const container of containers) {
    await docker.restart(container.id, STOP_TIMEOUT_SECONDS);
    for (let i = 0; i < RUNNING_POLLS; i++) {
      const info = await docker.inspect(container.id);
      if (info?.running) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    restarted.push(container.name);
    log.info({ container: container.name, label }, 'restarted worker');
  }
  return { restarted };
}

/** Recreates the labelled containers with `variable` set to the new model (opt-in). */
export async function recreateLabelled(
  docker: DockerClient,
  label: string,
  variable: string,
  model: string,
  log: Logger,
): Promise<{ restarted: string[] }> {
  const containers = await docker.listByLabel(label);
  const restarted: string[] = [];
  for (const container of containers) {
    const fresh = await docker.recreate(container.id, variable, model);
    restarted.push(fresh.name);
    log.info({ container: fresh.name, label, env: `${variable}=${model}` }, 'recreated worker');
  }
  return { restarted };
}
