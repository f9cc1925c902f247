/**
 * Every Docker Engine API call the supervisor makes, in one file: finding containers by
 * name or label, following logs, the events stream, restarting. dockerode follows
 * DOCKER_HOST (unix://, tcp://) and otherwise /var/run/docker.sock.
 */
import type { Readable, Writable } from 'node:stream';
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

  /**
   * Runs a command inside a running container (`docker exec`) and collects its output: how
   * the supervisor reads nvidia-smi from Ollama's container without a GPU of its own.
   * Rejects with `{ kind: 'timeout' }` after `timeoutMs`.
   */
  async exec(
    id: string,
    argv: readonly string[],
    options: { timeoutMs: number; signal?: AbortSignal | undefined },
  ): Promise<{ exitCode: number | null; stdout: string; stderr: string }> {
    const exec = await this.#docker
      .getContainer(id)
      .exec({ Cmd: [...argv], AttachStdout: true, AttachStderr: true, Tty: false });
    const stream = (await exec.start({ hijack: true, stdin: false })) as unknown as Readable;
    // demuxStream writes each frame's payload synchronously as the stream delivers it.
    const chunks = { stdout: [] as Buffer[], stderr: [] as Buffer[] };
    const sink = (into: Buffer[]) =>
      ({ write: (c: Buffer) => into.push(c) }) as unknown as Writable;
    this.#docker.modem.demuxStream(stream, sink(chunks.stdout), sink(chunks.stderr));
    await new Promise<void>((resolve, reject) => {
      const finish = (reason?: Error) => {
        clearTimeout(timer);
        options.signal?.removeEventListener('abort', onAbort);
        if (!reason) return resolve();
        stream.destroy();
        reject(reason);
      };
      const onAbort = () => finish(Object.assign(new Error('exec stopped'), { kind: 'aborted' }));
      const timer = setTimeout(
        () => finish(Object.assign(new Error('exec timed out'), { kind: 'timeout' })),
        options.timeoutMs,
      );
      options.signal?.addEventListener('abort', onAbort, { once: true });
      stream.once('error', (err) => finish(err));
      stream.once('end', () => finish());
      stream.once('close', () => finish());
    });
    // The daemon may record the exit code a moment after the output ends.
    let info = await exec.inspect();
    for (let i = 0; i < 40 && info.Running; i++) {
      await new Promise((r) => setTimeout(r, 25));
      info = await exec.inspect();
    }
    return {
      exitCode: info.ExitCode,
      stdout: Buffer.concat(chunks.stdout).toString('utf8'),
      stderr: Buffer.concat(chunks.stderr).toString('utf8'),
    };
  }

  async restart(id: string, timeoutSeconds: number): Promise<void> {
    await this.#docker.getContainer(id).restart({ t: timeoutSeconds });
  }

  /**
   * Recreates a container with one environment variable changed, keeping what `docker run`
   * gave it: host config (GPU device requests, binds, mounts, restart policy), labels, networks
   * and name. The image's own ENV and labels are left to the image, as watchtower does, so the
   * old image's values are not frozen in. The old container is renamed aside until the new one
   * runs, then removed; on failure it is put back.
   */
  async recreate(
    id: string,
    variable: string,
    value: string,
  ): Promise<{ id: string; name: string }> {
    const old = this.#docker.getContainer(id);
    const info = await old.inspect();
    const name = info.Name.replace(/^\//, '');
    const image = await this.#docker
      .getImage(info.Image)
      .inspect()
      .catch(() => undefined);
    const imageEnv = new Set(image?.Config?.Env ?? []);
    const imageLabels = image?.Config?.Labels ?? {};
    const env = (info.Config.Env ?? []).filter(
      (e) => !imageEnv.has(e) && !e.startsWith(`${variable}=`),
    );
    env.push(`${variable}=${value}`);
    const labels = Object.fromEntries(
      Object.entries(info.Config.Labels ?? {}).filter(([k, v]) => imageLabels[k] !== v),
    );
    const networks = Object.entries(info.NetworkSettings.Networks ?? {});
    const [firstNetwork] = networks;
    const options: Docker.ContainerCreateOptions = {
      name,
      Image: info.Config.Image,
      Env: env,
      Labels: labels,
      ...(info.Config.Cmd ? { Cmd: info.Config.Cmd } : {}),
      ...(info.Config.Entrypoint ? { Entrypoint: info.Config.Entrypoint as string[] } : {}),
      ...(info.Config.WorkingDir ? { WorkingDir: info.Config.WorkingDir } : {}),
      ...(info.Config.User ? { User: info.Config.User } : {}),
      Tty: info.Config.Tty,
      OpenStdin: info.Config.OpenStdin,
      HostConfig: info.HostConfig,
      ...(firstNetwork &&
      info.HostConfig.NetworkMode !== 'host' &&
      info.HostConfig.NetworkMode !== 'none'
        ? {
            NetworkingConfig: {
              EndpointsConfig: { [firstNetwork[0]]: { Aliases: firstNetwork[1].Aliases ?? [] } },
            },
          }
        : {}),
    };
    const aside = `${name}-fleet-old-${Date.now()}`;
    const wasRunning = info.State.Running;
    // A GPU worker must stop before its replacement starts: both would hold VRAM.
    if (wasRunning)
      await old.stop({ t: 10 }).catch((err: { statusCode?: number }) => {
        if (err.statusCode !== 304) throw err;
      });
    await old.rename({ name: aside });
    let created: Docker.Container | undefined;
    try {
      created = await this.#docker.createContainer(options);
      for (const [network, endpoint] of networks.slice(1)) {
        await this.#docker
          .getNetwork(network)
          .connect({ Container: created.id, EndpointConfig: { Aliases: endpoint.Aliases ?? [] } });
      }
      await created.start();
    } catch (err) {
      // Put the old one back as it was.
      if (created) await created.remove({ force: true }).catch(() => {});
      await old.rename({ name });
      if (wasRunning) await old.start().catch(() => {});
      throw err;
    }
    await old.remove({ force: true });
    return { id: created.id, name };
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
