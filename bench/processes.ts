/**
 * The parts under measurement, each in its own process as in a real deployment: `fleet sim`
 * standing in for Ollama (the one stand-in: no GPU here) and `fleet serve`. The benchmark
 * process only sends requests, so its own work never slows what it measures.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { appendFileSync } from 'node:fs';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';

const MAIN = path.resolve('dist/main.js');
const OOM_LINE =
  /out of memory|cudaMalloc failed|unable to allocate|requires more (system|gpu) memory/i;

/** POSTs a JSON body: every request the benchmark sends that has one. */
export function post(url: string, body: unknown): Promise<Response> {
  return fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

export interface SimProcess {
  url: string;
  /** Model loads so far ("llama runner started" lines). */
  loads(): number;
  /** Out-of-memory lines so far. */
  ooms(): number;
  post(route: string, body: unknown): Promise<void>;
  /** kill -9: the card's server gone at once, its sockets cut, nothing said in its log. */
  kill(): void;
  stop(): Promise<void>;
}

export interface SimSettings {
  vramMib: number;
  timeScale: number;
  /** Ollama's tuning variables, as a user would set them; unset is Ollama's default. */
  maxLoadedModels?: number;
  numParallel?: number;
}

export async function startSim(settings: SimSettings): Promise<SimProcess> {
  const port = await freePort();
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.OLLAMA_MAX_LOADED_MODELS;
  delete env.OLLAMA_NUM_PARALLEL;
  if (settings.maxLoadedModels) env.OLLAMA_MAX_LOADED_MODELS = String(settings.maxLoadedModels);
  if (settings.numParallel) env.OLLAMA_NUM_PARALLEL = String(settings.numParallel);
  const child = spawn(
    process.execPath,
    [
      MAIN,
      'sim',
      `--port=${port}`,
      `--vram-mib=${settings.vramMib}`,
      `--time-scale=${settings.timeScale}`,
    ],
    { env, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let loads = 0;
  let ooms = 0;
  const listening = new Promise<void>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`fleet sim exited ${code}`)));
    createInterface({ input: child.stderr as NodeJS.ReadableStream }).on('line', (line) => {
      // FLEET_BENCH_SIM_LOG=FILE keeps every simulator's log, to find what an OOM line followed.
      if (process.env.FLEET_BENCH_SIM_LOG)
        appendFileSync(process.env.FLEET_BENCH_SIM_LOG, `${port} ${line}\n`);
      if (line.includes('Listening on')) resolve();
      if (line.includes('llama runner started')) loads++;
      if (OOM_LINE.test(line)) ooms++;
    });
  });
  await listening;
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    loads: () => loads,
    ooms: () => ooms,
    post: async (route, body) => {
      await (await post(`${url}${route}`, body)).text();
    },
    kill: () => child.kill('SIGKILL'),
    stop: () => stopChild(child),
  };
}

/** One Ollama behind a `backends:` list: its name there, and where it answers. */
export interface BackendTarget {
  name: string;
  url: string;
}

export interface ServeProcess {
  url: string;
  /** The folder holding its fleet.yaml and state/. */
  dir: string;
  pid: number;
  /** Resident memory now, from /proc. */
  rssBytes(): Promise<number>;
  stop(): Promise<void>;
}

/**
 * `fleet serve` with a fleet.yaml written for the run (appended to the basics): one Ollama at
 * a URL, or a `backends:` list, each with its own simulated nvidia-smi.
 */
export async function startServe(
  ollama: string | readonly BackendTarget[],
  yaml = '',
  /** A Docker engine for the log watcher and the workers; none by default. */
  dockerHost?: string,
  /** How the simulated Ollama was started, which the fleet is told as an operator would. */
  sim: Pick<SimSettings, 'maxLoadedModels' | 'numParallel'> = {},
): Promise<ServeProcess> {
  const limits = [
    ...(sim.maxLoadedModels ? [`max_loaded_models: ${sim.maxLoadedModels}`] : []),
    ...(sim.numParallel ? [`num_parallel: ${sim.numParallel}`] : []),
  ];
  const extra = limits.length > 0 ? `, ${limits.join(', ')}` : '';
  const dir = await mkdtemp(path.join(tmpdir(), 'fleet-bench-'));
  const port = await freePort();
  const file = path.join(dir, 'fleet.yaml');
  const gpu = (url: string) =>
    `{ nvidia_smi: [${process.execPath}, ${MAIN}, sim, nvidia-smi, "--sim-url=${url}"], poll_interval: 1s }`;
  const ollamaLines =
    typeof ollama === 'string'
      ? [
          ...(yaml.includes('ollama:')
            ? []
            : [`ollama: { url: "${ollama}", container: fleet-bench-no-container${extra} }`]),
          `gpu: ${gpu(ollama)}`,
        ]
      : // No log source: the simulators write to the benchmark's pipes, not to a container.
        [
          'backends:',
          ...ollama.map(
            (b) => `  - { name: ${b.name}, url: "${b.url}", gpu: ${gpu(b.url)}${extra} }`,
          ),
        ];
  await writeFile(
    file,
    [...ollamaLines, `api: { host: 127.0.0.1, port: ${port} }`, 'state_dir: ./state', yaml].join(
      '\n',
    ),
  );
  // Without Docker the log watcher keeps looking for its container, which costs nothing.
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    DOCKER_HOST: dockerHost ?? `unix://${path.join(dir, 'no-docker.sock')}`,
  };
  // These would replace the simulator's URL, or, beside a `backends:` list, refuse start-up.
  delete env.OLLAMA_HOST;
  delete env.FLEET_OLLAMA_URL;
  const child = spawn(process.execPath, [MAIN, 'serve', '--config', file], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env,
  });
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => {
    stderr = (stderr + c.toString()).slice(-4000);
  });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error(`fleet serve exited: ${stderr}`);
    const ok = await fetch(`${url}/api/health`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) break;
    if (i > 300) throw new Error(`fleet serve did not answer: ${stderr}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url,
    dir,
    pid: child.pid as number,
    rssBytes: async () => {
      const status = await readFile(`/proc/${child.pid}/status`, 'utf8');
      const kib = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
      return kib * 1024;
    },
    stop: () => stopChild(child),
  };
}

async function stopChild(child: ChildProcess): Promise<void> {
  // A child killed by a signal (kill()) has a signalCode and no exitCode.
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}
