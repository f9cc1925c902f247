/**
 * End to end on a real dockerd: an "Ollama" container prints Ollama's real VRAM error lines;
 * the supervisor follows its log, steps the ladder down, rewrites the worker's config file
 * and restarts the labelled worker container, and leaves an unlabelled one of the same name
 * alone.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { docker, dockerHost, runContainer } from '../helpers/docker.js';
import { startTestSim } from '../helpers/sim.js';
import { startTestSupervisor } from '../helpers/supervisor.js';
import { tempDir } from '../helpers/temp.js';

const OOM_LINES = [
  'ggml_backend_cuda_buffer_type_alloc_buffer: allocating 2048.00 MiB on device 0: cudaMalloc failed: out of memory',
  'llama_model_load: error loading model: unable to allocate CUDA0 buffer',
  'time=2025-07-30T11:02:14.512Z level=ERROR source=server.go:464 msg="llama runner terminated" error="exit status 2"',
];

const startedAt = async (name: string) => docker('inspect', '-f', '{{.State.StartedAt}}', name);

describe('VRAM trouble in the Ollama log steps the ladder down and restarts the workers', () => {
  it('three incidents: ladder down, state file, worker config rewritten, worker restarted, impostor untouched', {
    timeout: 90_000,
  }, async () => {
    process.env.DOCKER_HOST = dockerHost();
    const id = randomBytes(4).toString('hex');
    const ollama = `fleet-ollama-${id}`;
    const worker = `fleet-worker-${id}`;
    const label = `ollama-fleet.worker=${id}`;
    const shared = await tempDir();
    await mkdir(path.join(shared, 'config'));
    const configFile = path.join(shared, 'config/worker.json');
    const original = '{\n  "model": "llama3.2:3b",\n  "batch": 8\n}\n';
    await writeFile(configFile, original);

    await runContainer(
      ollama,
      'echo "time=2025-07-30T10:53:49.801Z level=INFO source=routes.go:1350 msg=\\"Listening on [::]:11434 (version 0.11.0)\\""; exec sleep 3600',
    );
    // The worker reads its config folder at start; an impostor has the worker's name but no label.
    await runContainer(
      `${worker}-labelled`,
      "cat /config/worker.json; trap 'exit 0' TERM; sleep 3600 & wait",
      [label],
      ['-v', `${shared}/config:/config`],
    );
    await runContainer(worker, 'exec sleep 3600');
    const workerStarted = await startedAt(`${worker}-labelled`);
    const impostorStarted = await startedAt(worker);

    const sim = await startTestSim();
    const fleet = await startTestSupervisor({
      ollamaUrl: sim.url,
      container: ollama,
      yaml: `detection:\n  merge_within: 100ms\nworkers:\n  - name: ${worker}\n    ladder: main\n    label: ${label}\n    config: { path: ${configFile}, format: json, key: model }\n    action: restart\n`,
    });
    const stats = async () =>
      (await (await fleet.call('/api/stats')).json()) as {
        watch: { state: string; container?: string };
      };
    await expect
      .poll(async () => (await stats()).watch.state, { timeout: 60_000 })
      .toBe('following');
    expect((await stats()).watch.container).toBe(ollama);

    // Three OOM blocks, written to the container's stderr as Ollama would.
    const state = () =>
      readFile(path.join(fleet.dir, 'state/fleet-state.json'), 'utf8').then((t) => JSON.parse(t));
    let thirdAt = 0;
    for (let block = 0; block < 3; block++) {
      // Separate failures, further apart than detection.merge_within (100 ms here).
      if (block > 0) await new Promise((r) => setTimeout(r, 300));
      thirdAt = Date.now();
      const script = OOM_LINES.map((l) => `echo '${l}' >&2`).join('; ');
      await docker('exec', ollama, 'sh', '-c', `(${script}) 2>/proc/1/fd/2`);
      if (block < 2) {
        await expect
          .poll(async () => (await state()).vram_error_count, { timeout: 30_000 })
          .toBe(block + 1);
      }
    }
    await expect
      .poll(async () => (await state()).current_model, { timeout: 30_000, interval: 20 })
      .toBe('phi3:mini');
    // A figure for the record, not an assertion: these machines are too noisy for that.
    console.log(
      `third incident written -> ladder stepped down on disk: ${Date.now() - thirdAt} ms (docker exec included)`,
    );
    const file = await state();
    expect(file.ladders.main.history.at(-1)).toMatchObject({
      from: 'llama3.2:3b',
      to: 'phi3:mini',
      source: 'policy',
    });
    expect(file.ladders.main.history.at(-1).reason).toContain('3 VRAM incidents');

    // The worker: config rewritten byte for byte but the model, container restarted and reading it.
    await expect
      .poll(() => readFile(configFile, 'utf8'), { timeout: 60_000 })
      .toBe(original.replace('llama3.2:3b', 'phi3:mini'));
    await expect
      .poll(() => startedAt(`${worker}-labelled`), { timeout: 60_000 })
      .not.toBe(workerStarted);
    await expect
      .poll(() => docker('logs', `${worker}-labelled`), { timeout: 30_000, interval: 20 })
      .toContain('"model": "phi3:mini"');
    console.log(
      `third incident written -> worker restarted and reading the new model: ${Date.now() - thirdAt} ms`,
    );
    expect(await startedAt(worker)).toBe(impostorStarted);
    expect(
      fleet
        .logs()
        .some(
          (l) =>
            l.component === 'workers' &&
            String(l.msg).includes(`worker ${worker} now runs phi3:mini`),
        ),
    ).toBe(true);
  });
});

describe('at start-up the workers are brought in line with the ladder', () => {
  it('a config naming another model is rewritten and its worker restarted; a missing one is written', {
    timeout: 90_000,
  }, async () => {
    process.env.DOCKER_HOST = dockerHost();
    const id = randomBytes(4).toString('hex');
    const label = `ollama-fleet.worker=${id}`;
    const shared = await tempDir();
    await mkdir(path.join(shared, 'stale'));
    await mkdir(path.join(shared, 'fresh'));
    const stale = path.join(shared, 'stale/worker.yaml');
    await writeFile(
      stale,
      '# left from last night\nmodel: phi3:mini   # the rung we were on\nbatch: 8\n',
    );
    const fresh = path.join(shared, 'fresh/worker.json');
    await runContainer(`fleet-stale-${id}`, "trap 'exit 0' TERM; sleep 3600 & wait", [label]);
    const before = await startedAt(`fleet-stale-${id}`);

    const sim = await startTestSim();
    await startTestSupervisor({
      ollamaUrl: sim.url,
      yaml: [
        'workers:',
        `  - { name: stale, label: "${label}", config: { path: ${stale}, format: yaml, key: model } }`,
        `  - { name: fresh, action: none, config: { path: ${fresh}, format: json, key: model } }`,
        '',
      ].join('\n'),
    });
    await expect.poll(() => startedAt(`fleet-stale-${id}`), { timeout: 30_000 }).not.toBe(before);
    expect(await readFile(stale, 'utf8')).toBe(
      '# left from last night\nmodel: "llama3.2:3b"   # the rung we were on\nbatch: 8\n',
    );
    await expect
      .poll(() => readFile(fresh, 'utf8').then(JSON.parse, () => undefined), { timeout: 30_000 })
      .toEqual({ model: 'llama3.2:3b' });
  });
});
