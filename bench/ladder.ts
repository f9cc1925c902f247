/**
 * The `ladder` workload, on a real Docker engine: an "Ollama" container prints Ollama's own
 * out-of-memory lines three times; measured from the third to the new ladder state on disk,
 * and to the labelled worker container restarted and reading the new model. Needs a Docker
 * engine already answering (scripts/dockerd-up.sh starts the tests' one); otherwise it says so.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startServe, startSim } from './processes.js';

export type LadderResult =
  | { measured: true; disk_ms: number; worker_ms: number }
  | { measured: false; why: string };

const OOM_LINES = [
  'ggml_backend_cuda_buffer_type_alloc_buffer: allocating 2048.00 MiB on device 0: cudaMalloc failed: out of memory',
  'llama_model_load: error loading model: unable to allocate CUDA0 buffer',
];

function docker(host: string, ...args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      'docker',
      args,
      { env: { ...process.env, DOCKER_HOST: host } },
      (error, stdout, stderr) => {
        if (error) reject(new Error(`docker ${args[0]}: ${stderr || error.message}`));
        else resolve(stdout.trim());
      },
    );
  });
}

async function until<T>(
  read: () => Promise<T>,
  done: (value: T) => boolean,
  ms: number,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 10));
  }
}

export async function measureLadder(): Promise<LadderResult> {
  const host = process.env.DOCKER_HOST ?? 'unix:///tmp/fleet-docker/docker.sock';
  try {
    await docker(host, 'image', 'inspect', 'fleet-test/busybox:1');
  } catch {
    return {
      measured: false,
      why: `no Docker engine with the test image at ${host} (run scripts/dockerd-up.sh)`,
    };
  }
  const id = randomBytes(4).toString('hex');
  const ollama = `fleet-bench-ollama-${id}`;
  const worker = `fleet-bench-worker-${id}`;
  const label = `ollama-fleet.bench=${id}`;
  const dir = await mkdtemp(path.join(tmpdir(), 'fleet-bench-ladder-'));
  await mkdir(path.join(dir, 'config'));
  const config = path.join(dir, 'config/worker.json');
  await writeFile(config, '{ "model": "llama3.2:3b" }\n');
  const sim = await startSim({ vramMib: 24_576, timeScale: 0.01 });
  const run = (name: string, script: string, extra: string[] = []) =>
    docker(
      host,
      'run',
      '-d',
      '--network',
      'none',
      '--name',
      name,
      ...extra,
      'fleet-test/busybox:1',
      'sh',
      '-c',
      script,
    );
  try {
    await run(ollama, 'exec sleep 3600');
    await run(worker, "cat /config/worker.json; trap 'exit 0' TERM; sleep 3600 & wait", [
      '--label',
      label,
      '-v',
      `${dir}/config:/config`,
    ]);
    const startedAt = () => docker(host, 'inspect', '-f', '{{.State.StartedAt}}', worker);
    const before = await startedAt();
    const fleet = await startServe(
      sim.url,
      [
        `ollama: { url: "${sim.url}", container: ${ollama} }`,
        'detection: { merge_within: 100ms }',
        'workers:',
        `  - { name: bench, ladder: main, label: "${label}", config: { path: ${config}, format: json, key: model } }`,
      ].join('\n'),
      host,
    );
    try {
      await until(
        async () =>
          ((await (await fetch(`${fleet.url}/api/stats`)).json()) as { watch: { state: string } })
            .watch.state,
        (s) => s === 'following',
        30_000,
      );
      const stateFile = path.join(fleet.dir, 'state/fleet-state.json');
      const model = async () =>
        (JSON.parse(await readFile(stateFile, 'utf8')) as { current_model: string }).current_model;
      let third = 0;
      for (let block = 0; block < 3; block++) {
        if (block > 0) await new Promise((r) => setTimeout(r, 300));
        third = Date.now();
        const script = OOM_LINES.map((l) => `echo '${l}' >&2`).join('; ');
        await docker(host, 'exec', ollama, 'sh', '-c', `(${script}) 2>/proc/1/fd/2`);
      }
      await until(model, (m) => m !== 'llama3.2:3b', 30_000);
      const disk = Date.now() - third;
      await until(startedAt, (s) => s !== before, 30_000);
      await until(
        () => docker(host, 'logs', worker),
        (l) => l.includes('phi3:mini'),
        30_000,
      );
      return { measured: true, disk_ms: disk, worker_ms: Date.now() - third };
    } finally {
      await fleet.stop();
    }
  } catch (err) {
    return { measured: false, why: (err as Error).message };
  } finally {
    await docker(host, 'rm', '-f', ollama, worker).catch(() => {});
    await sim.stop();
  }
}
