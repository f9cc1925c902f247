/**
 * The fake nvidia-smi: `fleet sim` and `bin/nvidia-smi` run as real processes, and their
 * output read the way nvidia-smi's real output (shared/contracts/docker-nvidia.md §B) is.
 */
import { execFile, spawn } from 'node:child_process';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { formatNvidiaSmi } from '../../src/sim/nvidia-smi.js';
import { gpuState } from '../../src/sim/routes-control.js';
import { FLEET, ROOT } from '../helpers/cli.js';
import { freePort } from '../helpers/ollama-stand-in.js';
import { startTestSim } from '../helpers/sim.js';

const QUERY_GPU =
  '--query-gpu=index,uuid,name,memory.total,memory.used,memory.free,utilization.gpu,temperature.gpu';
const QUERY_APPS = '--query-compute-apps=pid,process_name,used_memory,gpu_uuid';

/** Real rows from the contract (H100 and RTX 4080 SUPER captures, units removed). */
const REAL_ROWS = [
  '0, GPU-00000000-0000-0000-0000-000000000000, NVIDIA H100 80GB HBM3, 81559, 0, 81081, 0, 41',
  '0, GPU-00000000-0000-0000-0000-000000000000, NVIDIA GeForce RTX 4080 SUPER, 16376, 596, 15348, 0, 43',
];
const REAL_APP_ROW = '11345, ./gpu_burn, 15690, GPU-00000000-0000-0000-0000-000000000000';

/** How a reader splits a row: `, ` separated, numbers where numbers belong. */
const row = (line: string) =>
  line.split(', ').map((cell) => (/^\d+$/.test(cell) ? 'number' : 'text'));

function run(file: string, args: string[], env: Record<string, string>) {
  return new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(file, args, { env: { ...process.env, ...env } }, (error, stdout, stderr) =>
      resolve({ code: error ? (error.code as number) : 0, stdout, stderr }),
    );
  });
}

const children: ReturnType<typeof spawn>[] = [];
afterEach(() => {
  for (const child of children.splice(0)) child.kill('SIGTERM');
});

describe('the fake nvidia-smi', () => {
  it('prints rows that read like the real samples', async () => {
    const sim = await startTestSim({ vramMib: 24576 });
    await sim.post('/api/generate', { model: 'llama3.2:3b' });
    const out = formatNvidiaSmi([QUERY_GPU, '--format=csv,noheader,nounits'], gpuState(sim.state));
    expect(out.code).toBe(0);
    const lines = out.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(1);
    expect(row(lines[0] as string)).toEqual(row(REAL_ROWS[0] as string));
    const [, , name, total, used, free] = (lines[0] as string).split(', ');
    expect(name).toBe('NVIDIA GeForce RTX 4090');
    expect(Number(total)).toBe(24576);
    expect(Number(used)).toBe(3214);
    // total is not used + free: the driver reserves a little, as on real cards.
    expect(Number(total)).toBeGreaterThan(Number(used) + Number(free));
    const apps = formatNvidiaSmi(
      [QUERY_APPS, '--format=csv,noheader,nounits'],
      gpuState(sim.state),
    );
    expect(row(apps.stdout.trimEnd())).toEqual(row(REAL_APP_ROW));
  });

  it('prints the header with units, and units in the values, without noheader/nounits', async () => {
    const sim = await startTestSim({ vramMib: 16376 });
    const out = formatNvidiaSmi([QUERY_GPU, '--format=csv'], gpuState(sim.state));
    const [header, first] = out.stdout.trimEnd().split('\n');
    expect(header).toBe(
      'index, uuid, name, memory.total [MiB], memory.used [MiB], memory.free [MiB], utilization.gpu [%], temperature.gpu',
    );
    expect(first).toMatch(
      /^0, GPU-[0-9a-f-]{36}, NVIDIA GeForce RTX 4080 SUPER, 16376 MiB, 0 MiB, \d+ MiB, 0 %, 41$/,
    );
  });

  it('prints nothing for compute apps on an idle card, one row per GPU, and -L', async () => {
    const sim = await startTestSim({ gpus: 2, vramMib: 8192 });
    expect(
      formatNvidiaSmi([QUERY_APPS, '--format=csv,noheader,nounits'], gpuState(sim.state)),
    ).toEqual({ stdout: '', stderr: '', code: 0 });
    expect(
      formatNvidiaSmi([QUERY_GPU, '--format=csv,noheader,nounits'], gpuState(sim.state))
        .stdout.trimEnd()
        .split('\n'),
    ).toHaveLength(2);
    expect(formatNvidiaSmi(['-L'], gpuState(sim.state)).stdout).toMatch(
      /^GPU 0: NVIDIA GeForce RTX 4060 \(UUID: GPU-[0-9a-f-]+\)\nGPU 1: /,
    );
  });

  it('fails as nvidia-smi does: bad field exit 2, driver down exit 9', async () => {
    const sim = await startTestSim();
    expect(
      formatNvidiaSmi(['--query-gpu=index,bogus', '--format=csv'], gpuState(sim.state)),
    ).toMatchObject({
      code: 2,
      stdout: 'Field "bogus" is not a valid field to query.\n\n',
    });
    await sim.post('/sim/fault', { kind: 'driver', down: true });
    expect(formatNvidiaSmi([QUERY_GPU, '--format=csv'], gpuState(sim.state))).toMatchObject({
      code: 9,
      stdout: expect.stringContaining(
        "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.",
      ),
    });
  });

  it('`fleet sim` serves, and bin/nvidia-smi finds it through FLEET_SIM_URL', async () => {
    const port = await freePort();
    const child = spawn(
      process.execPath,
      [FLEET, 'sim', '--port', String(port), '--vram-mib', '4096', '--time-scale', '0.01'],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    children.push(child);
    let stderr = '';
    child.stderr?.on('data', (d) => {
      stderr += d;
    });
    await expect
      .poll(() => stderr.includes('msg="Listening on 127.0.0.1:'), { timeout: 10_000 })
      .toBe(true);
    const url = `http://127.0.0.1:${port}`;
    const smi = path.join(ROOT, 'bin/nvidia-smi');
    const out = await run(
      smi,
      ['--query-gpu=index,memory.total,memory.used,memory.free', '--format=csv,noheader,nounits'],
      {
        FLEET_SIM_URL: url,
      },
    );
    expect(out.code).toBe(0);
    expect(out.stdout).toMatch(/^0, 4096, 0, \d+\n$/);
    await fetch(`${url}/sim/fault`, {
      method: 'POST',
      body: JSON.stringify({ kind: 'driver', down: true }),
    });
    expect(
      (await run(smi, ['--query-gpu=index', '--format=csv'], { FLEET_SIM_URL: url })).code,
    ).toBe(9);
    const none = await run(smi, ['--query-gpu=index', '--format=csv'], {
      FLEET_SIM_URL: 'http://127.0.0.1:9',
    });
    expect(none.code).toBe(9);
    expect(none.stderr).toContain('no simulator answers at http://127.0.0.1:9');
    child.kill('SIGTERM');
    expect(await new Promise((resolve) => child.once('exit', resolve))).toBe(0);
  });

  it('`fleet sim` refuses bad flags with exit 2', async () => {
    const out = await run(process.execPath, [FLEET, 'sim', '--vram-mib', 'lots'], {});
    expect(out.code).toBe(2);
    expect(out.stderr).toContain('--vram-mib expects a number');
    const unknown = await run(
      process.execPath,
      [FLEET, 'sim', '--installed', 'nope:1b', '--port', '0'],
      {},
    );
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain(
      '--installed names models the simulator does not know: nope:1b',
    );
  });
});
