/**
 * Restarts or recreates the worker containers bound to a ladder: only those carrying the
 * configured label, re-checked on a fresh listing.
 */
import type { Logger } from '../log.js';
import type { ContainerInfo, DockerClient } from '../watch/docker.js';

const STOP_TIMEOUT_SECONDS = 10;
const RUNNING_POLLS = 100;

/** Restarts each labelled container and waits until it runs again. */
export function restartLabelled(
  docker: DockerClient,
  label: string,
  log: Logger,
): Promise<{ restarted: string[] }> {
  return eachLabelled(docker, label, async (container) => {
    await docker.restart(container.id, STOP_TIMEOUT_SECONDS);
    for (let i = 0; i < RUNNING_POLLS; i++) {
      if ((await docker.inspect(container.id))?.running) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    log.info({ container: container.name, label }, 'restarted worker');
    return container.name;
  });
}

/** Recreates each labelled container with `variable` set to the new model (opt-in). */
export function recreateLabelled(
  docker: DockerClient,
  label: string,
  variable: string,
  model: string,
  log: Logger,
): Promise<{ restarted: string[] }> {
  return eachLabelled(docker, label, async (container) => {
    const fresh = await docker.recreate(container.id, variable, model);
    log.info({ container: fresh.name, label, env: `${variable}=${model}` }, 'recreated worker');
    return fresh.name;
  });
}

async function eachLabelled(
  docker: DockerClient,
  label: string,
  act: (container: ContainerInfo) => Promise<string>,
): Promise<{ restarted: string[] }> {
  const restarted: string[] = [];
  for (const container of await docker.listByLabel(label)) restarted.push(await act(container));
  return { restarted };
}
