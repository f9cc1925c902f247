import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
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
    // The banner's story, with no Docker: three OOMs (seen in the simulator's log file, which
    // the supervisor follows) step the ladder down.
    expect(out).toContain('/sim/fault');
    const ladder = async () =>
      JSON.parse((await runFleet(['status', '--config', config, '--json'])).stdout).ladders[0];
    for (let episode = 0; episode < 3; episode++) {
      await fetch(`http://127.0.0.1:${simPort}/sim/fault`, {
        method: 'POST',
        body: JSON.stringify({ kind: 'oom', count: 1 }),
      });
      await runFleet(['submit', '--config', config, '--model', 'fleet', '--prompt', 'hi']);
      if (episode < 2) {
        await expect
          .poll(async () => (await ladder()).incidents.count, { timeout: 15_000 })
          .toBe(episode + 1);
        await new Promise((r) => setTimeout(r, 2_500)); // apart: separate events
      }
    }
    await expect
      .poll(async () => (await ladder()).current_model_index, { timeout: 15_000 })
      .toBe(1);
    child.kill('SIGINT');
    expect(await exited(child)).toBe(0);
  });

  it('a failed start says why and lets go of every port', async () => {
    const dir = await tempDir();
    const [simPort, apiPort] = [await freePort(), await freePort()];
    const config = path.join(dir, 'fleet.yaml');
    await writeFile(
      config,
      `ollama:\n  url: http://127.0.0.1:${simPort}\napi:\n  host: 127.0.0.1\n  port: ${apiPort}\nstate_dir: ./state\n`,
    );
    // The API port is taken.
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(apiPort, '127.0.0.1', resolve));
    const failed = await runFleet(['demo', '--config', config]);
    expect(failed.code).not.toBe(0);
    expect(failed.stderr).toContain(String(apiPort));
    // The simulator's port was let go: something else can listen there now.
    const after = createServer();
    await new Promise<void>((resolve, reject) => {
      after.once('error', reject);
      after.listen(simPort, '127.0.0.1', resolve);
    });
    await new Promise((r) => after.close(r));
    await new Promise((r) => blocker.close(r));
  });
});
