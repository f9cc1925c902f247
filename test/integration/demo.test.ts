import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { exited, FLEET, runFleet } from '../helpers/cli.js';
import { freePort } from '../helpers/ollama-stand-in.js';
import { tempDir } from '../helpers/temp.js';

describe('fleet demo', () => {
  it('starts the simulator and the supervisor together, runs jobs, and stops on SIGINT', async () => {
    const dir = await tempDir();
    const [simPort, apiPort] = [await freePort(), await freePort()];
    const config = path.join(dir, 'fleet.yaml');
    await writeFile(
      config,
      `ollama:\n  url: http://127.0.0.1:${simPort}\ngpu:\n  nvidia_smi: ${JSON.stringify([process.execPath, FLEET, 'sim', 'nvidia-smi', `--sim-url=http://127.0.0.1:${simPort}`])}\napi:\n  host: 127.0.0.1\n  port: ${apiPort}\nstate_dir: ./state\n`,
    );
    const child = spawn(process.execPath, [FLEET, 'demo', '--config', config], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    await expect.poll(() => out.includes('Ctrl-C stops both.'), { timeout: 15_000 }).toBe(true);
    expect(out).toContain(`simulated Ollama   http://127.0.0.1:${simPort}`);
    const submitted = await runFleet([
      'submit',
      '--url',
      `http://127.0.0.1:${apiPort}`,
      '--random',
      '5',
      '--json',
    ]);
    expect(JSON.parse(submitted.stdout).summary).toMatchObject({ completed: 5, failed: 0 });
    child.kill('SIGINT');
    expect(await exited(child)).toBe(0);
  });
});
