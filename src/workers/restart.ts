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
