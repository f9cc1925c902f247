/**
 * Every Docker Engine API call the supervisor makes, in one file: finding containers by
 * name or label, following logs, the events stream, restarting. dockerode follows
 * DOCKER_HOST (unix://, tcp://) and otherwise /var/run/docker.sock.
 */
import type { Readable } from 'node:stream';
import Docker from 'dockerode';

export interface ContainerInfo {
  id: string;
  name: string;
  running: boolean;
  tty: boolean;
  labels: Record<string, string>;
  startedAt: string;
}

export type ContainerTarget = string | { label: string };

export class DockerClient {
  readonly #docker: Docker;

  constructor(options: { host?: string | undefined } = {}) {
    this.#docker = options.host ? new Docker(hostOptions(options.host)) : new Docker();
  }

  async ping(): Promise<void> {
    await this.#docker.ping();
  }

  /** The container a name or `{label}` points at now: the running one first, else the newest. */
  async find(target: ContainerTarget): Promise<ContainerInfo | undefined> {
    const filters =
      typeof target === 'string'
        ? { name: [`^/?${escapeRegex(target)}$`] }
        : { label: [target.label] };
    const list = await this.#docker.listContainers({ all: true, filters: JSON.stringify(filters) });
    const chosen =
      list.find((c) => c.State === 'running') ?? list.sort((a, b) => b.Created - a.Created)[0];
    return chosen ? this.inspect(chosen.Id) : undefined;
  }

  async inspect(id: string): Promise<ContainerInfo | undefined> {
    try {
      const info = await this.#docker.getContainer(id).inspect();
      return {
        id: info.Id,
        name: info.Name.replace(/^\//, ''),
        running: info.State.Status === 'running',
        tty: info.Config.Tty,
        labels: info.Config.Labels ?? {},
        startedAt: info.State.StartedAt,
      };
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode === 404) return undefined;
      throw err;
    }
  }

  /** Containers carrying a label (`key=value` or `key`), running or not. */
  async listByLabel(label: string): Promise<ContainerInfo[]> {
    const list = await this.#docker.listContainers({
      all: true,
      filters: JSON.stringify({ label: [label] }),
    });
    const infos = await Promise.all(list.map((c) => this.inspect(c.Id)));
    return infos.filter((i): i is ContainerInfo => i !== undefined);
  }

  /** The raw log stream (multiplexed unless the container has a TTY), following. */
  async logs(
    id: string,
    options: { since?: string; tail?: number; signal: AbortSignal },
  ): Promise<Readable> {
    const stream = await this.#docker.getContainer(id).logs({
      follow: true,
      stdout: true,
      stderr: true,
      timestamps: true,
      ...(options.since !== undefined ? { since: options.since as unknown as number } : {}),
      ...(options.tail !== undefined ? { tail: options.tail } : {}),
      abortSignal: options.signal,
    });
    return stream as unknown as Readable;
  }

  /** Container events (start, die, restart, destroy, ...), newline-delimited JSON. */
  async events(filters: Record<string, string[]>, signal: AbortSignal): Promise<Readable> {
    const stream = await this.#docker.getEvents({
      filters: JSON.stringify({ type: ['container'], ...filters }),
      abortSignal: signal,
    } as never);
    return stream as unknown as Readable;
  }

  async restart(id: string, timeoutSeconds: number): Promise<void> {
    await this.#docker.getContainer(id).restart({ t: timeoutSeconds });
  }
}

function hostOptions(host: string): Docker.DockerOptions {
  if (host.startsWith('unix://')) return { socketPath: host.slice('unix://'.length) };
  const url = new URL(host.replace(/^tcp:/, 'http:'));
  return { host: url.hostname, port: Number(url.port || 2375) };
}

function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
