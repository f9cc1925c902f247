import { readdir, readFile, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FLEET, runFleet } from '../helpers/cli.js';
import { freePort, startOllamaStandIn } from '../helpers/ollama-stand-in.js';
import { tempDir } from '../helpers/temp.js';

let ollama: Awaited<ReturnType<typeof startOllamaStandIn>>;
beforeAll(async () => {
  ollama = await startOllamaStandIn();
});
afterAll(() => ollama.close());

/** A fleet.yaml in a fresh folder, pointed at a port where no supervisor runs. */
async function fleetDir(
  extra = '',
  ollamaUrl = 'http://127.0.0.1:9',
): Promise<{ dir: string; args: string[] }> {
  const dir = await tempDir();
  const port = await freePort();
  await writeFile(
    path.join(dir, 'fleet.yaml'),
    `ollama:\n  url: ${ollamaUrl}\napi:\n  host: 127.0.0.1\n  port: ${port}\nladders:\n  - name: main\n    models: [llama3.2:3b, phi3:mini, tinyllama:1.1b, qwen2.5:0.5b]\n  - name: embed\n    models: [nomic-embed-text, all-minilm]\n${extra}`,
  );
  return {
    dir,
    args: ['--config', path.join(dir, 'fleet.yaml'), '--state-dir', path.join(dir, 'state')],
  };
}

const state = async (dir: string) =>
  JSON.parse(await readFile(path.join(dir, 'state/fleet-state.json'), 'utf8'));

describe('fleet CLI', () => {
  it('status shows the ladder with the current rung marked, incidents, cooldown and both directions', async () => {
    const { args } = await fleetDir();
    const result = await runFleet(['status', ...args]);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('ladder main (default): llama3.2:3b');
    expect(result.stdout).toMatch(/> 0 {2}llama3\.2:3b/);
    expect(result.stdout).toContain('incidents: 0 of 3 within 10m');
    expect(result.stdout).toContain('step down: to phi3:mini');
    expect(result.stdout).toContain('step up: no, at the top');
    expect(result.stdout).toContain('ladder embed: nomic-embed-text');
  });

  it('status says when Ollama is unreachable', async () => {
    const { args } = await fleetDir();
    const result = await runFleet(['status', ...args]);
    expect(result.stdout).toMatch(
      /ollama: Ollama at http:\/\/127\.0\.0\.1:9 is unreachable: ECONNREFUSED/,
    );
  });

  it('status lists what Ollama has installed and marks rungs that are not pulled', async () => {
    const { args } = await fleetDir('', ollama.url);
    const text = await runFleet(['status', ...args]);
    expect(text.stdout).toContain(`ollama ${ollama.url}: 2 models installed`);
    expect(text.stdout).toMatch(/llama3\.2:3b {2}\(3\.1 GiB catalogue\) {2}\(not pulled\)/);
    const json = JSON.parse((await runFleet(['status', '--json', ...args])).stdout);
    expect(json.ollama).toEqual({
      url: ollama.url,
      reachable: true,
      models: ['deepseek-r1:latest', 'llama3.2:latest'],
    });
  });

  it('downgrade, upgrade, set and reset move the ladder and exit 0; the history says why', async () => {
    const { dir, args } = await fleetDir();
    expect((await runFleet(['downgrade', '--reason', 'night batch', ...args])).stdout).toBe(
      'ladder main: llama3.2:3b -> phi3:mini (night batch)\n',
    );
    expect((await state(dir)).current_model).toBe('phi3:mini');
    expect((await runFleet(['set', 'qwen2.5:0.5b', ...args])).code).toBe(0);
    expect((await state(dir)).current_model_index).toBe(3);
    expect((await runFleet(['upgrade', ...args])).code).toBe(0);
    expect((await state(dir)).current_model).toBe('tinyllama:1.1b');
    expect((await runFleet(['reset', ...args])).code).toBe(0);
    const file = await state(dir);
    expect(file.current_model).toBe('llama3.2:3b');
    expect(file.ladders.main.history.map((t: { reason: string }) => t.reason)).toEqual([
      'night batch',
      'set to qwen2.5:0.5b',
      'step up',
      'reset to the top',
    ]);
    const status = await runFleet(['status', ...args]);
    expect(status.stdout).toContain('last transitions:');
    expect(status.stdout).toMatch(/cooldown: (5m|4m \d+s) left/);
  });

  it('refuses to step below the bottom or above the top with exit 1 and a reason', async () => {
    const { dir, args } = await fleetDir();
    const top = await runFleet(['upgrade', ...args]);
    expect(top.code).toBe(1);
    expect(top.stderr).toContain('ladder main is already at its top rung (llama3.2:3b)');
    await runFleet(['set', 'qwen2.5:0.5b', ...args]);
    const bottom = await runFleet(['downgrade', '--json', ...args]);
    expect(bottom.code).toBe(1);
    expect(JSON.parse(bottom.stdout)).toMatchObject({
      error: { code: 'FLEET_ERR_LADDER_AT_BOTTOM' },
    });
    expect((await state(dir)).current_model).toBe('qwen2.5:0.5b');
  });

  it('--ladder picks a ladder; an unknown one is a usage error', async () => {
    const { dir, args } = await fleetDir();
    expect((await runFleet(['downgrade', '--ladder', 'embed', ...args])).code).toBe(0);
    const file = await state(dir);
    expect(file.ladders.embed.current_model).toBe('all-minilm');
    expect(file.current_model).toBe('llama3.2:3b');
    const unknown = await runFleet(['downgrade', '--ladder', 'nope', ...args]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('no ladder is named "nope"; fleet.yaml has: main, embed');
  });

  it('set with a model that is not on the ladder exits 2', async () => {
    const { args } = await fleetDir();
    const result = await runFleet(['set', 'gemma:2b', ...args]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('gemma:2b is not on ladder main');
  });

  it('concurrent invocations lose no update', async () => {
    const { dir, args } = await fleetDir();
    const results = await Promise.all([1, 2, 3].map(() => runFleet(['downgrade', ...args])));
    expect(results.map((r) => r.code)).toEqual([0, 0, 0]);
    expect((await state(dir)).current_model).toBe('qwen2.5:0.5b');
    expect((await state(dir)).ladders.main.history).toHaveLength(3);
  });

  it('a corrupt state file is kept aside and reported; status still answers', async () => {
    const { dir, args } = await fleetDir();
    await runFleet(['downgrade', ...args]);
    await writeFile(path.join(dir, 'state/fleet-state.json'), '{"current_model_index": 1, "oops');
    const result = await runFleet(['status', '--json', ...args]);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout).notes[0]).toMatch(/was corrupt/);
    expect(result.stderr).toMatch(/was corrupt .* kept it as/);
    expect(
      (await readdir(path.join(dir, 'state'))).some((f) =>
        f.startsWith('fleet-state.json.corrupt-'),
      ),
    ).toBe(true);
  });

  it('a broken fleet.yaml exits 2 naming the file, line and key path', async () => {
    const dir = await tempDir();
    const file = path.join(dir, 'fleet.yaml');
    await writeFile(
      file,
      'ladders:\n  - name: main\n    models: [llama3.2:3b, 7]\n    bogus_key: 1\n',
    );
    const result = await runFleet(['status', '--config', file]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`${file}:3: ladders[0].models[1]: expected a model name`);
    expect(result.stderr).toContain(`${file}:4: ladders[0].bogus_key: unknown key`);
  });

  it('a missing --config exits 2', async () => {
    const result = await runFleet(['status', '--config', '/nonexistent/fleet.yaml']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('/nonexistent/fleet.yaml: no such file');
  });

  it('unknown commands, unknown flags and missing arguments exit 2', async () => {
    expect((await runFleet(['frobnicate'])).stderr).toContain('unknown command "frobnicate"');
    const flag = await runFleet(['status', '--colour']);
    expect(flag.code).toBe(2);
    expect(flag.stderr).toContain("Unknown option '--colour'");
    expect((await runFleet(['status', '--reason', 'x'])).stderr).toContain(
      'status does not take --reason',
    );
    expect((await runFleet(['set'])).code).toBe(2);
  });

  it('fleet-status, fleet-reset and fleet-downgrade work as aliases', async () => {
    const { dir, args } = await fleetDir();
    const bin = await tempDir();
    for (const alias of ['fleet-status', 'fleet-reset', 'fleet-downgrade']) {
      await symlink(FLEET, path.join(bin, alias));
    }
    expect((await runFleet(args, { argv0: path.join(bin, 'fleet-downgrade') })).code).toBe(0);
    expect((await state(dir)).current_model).toBe('phi3:mini');
    expect((await runFleet(args, { argv0: path.join(bin, 'fleet-status') })).stdout).toContain(
      '> 1  phi3:mini',
    );
    expect((await runFleet(args, { argv0: path.join(bin, 'fleet-reset') })).code).toBe(0);
    expect((await state(dir)).current_model).toBe('llama3.2:3b');
  });

  it('FLEET_CONFIG names fleet.yaml when --config is not given (as the image sets it)', async () => {
    const { dir, args } = await fleetDir();
    const config = args[args.indexOf('--config') + 1] as string;
    // From a folder with no fleet.yaml of its own.
    const elsewhere = await tempDir();
    const result = await runFleet(['downgrade'], { cwd: elsewhere, env: { FLEET_CONFIG: config } });
    expect(result.code).toBe(0);
    expect((await state(dir)).current_model).toBe('phi3:mini');
  });

  it('help and version answer', async () => {
    expect((await runFleet(['help'])).stdout).toContain('Usage: fleet <command>');
    expect((await runFleet(['--version'])).stdout).toMatch(/^\d+\.\d+\.\d+\n$/);
  });

  it('every command has its own help, by `help X` or `X --help`; a typo gets a suggestion and exit 2', async () => {
    const commands = ['status', 'downgrade', 'upgrade', 'reset', 'set', 'serve', 'submit', 'jobs'];
    for (const command of [...commands, 'sim', 'demo', 'detect']) {
      const help = await runFleet(['help', command]);
      expect(help.code, command).toBe(0);
      expect(help.stdout).toContain(`fleet ${command}`);
    }
    for (const command of [...commands, 'sim']) {
      const help = await runFleet([command, '--help']);
      expect(help.code, command).toBe(0);
      expect(help.stdout).toContain(`fleet ${command}`);
    }
    const unknownTopic = await runFleet(['help', 'stauts']);
    expect(unknownTopic.code).toBe(2);
    expect(unknownTopic.stderr).toContain('did you mean "status"?');
    const typo = await runFleet(['downgarde']);
    expect(typo.code).toBe(2);
    expect(typo.stderr).toContain('did you mean "downgrade"?');
  });
});
