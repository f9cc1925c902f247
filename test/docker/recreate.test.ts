/**
 * Recreating a worker with a changed environment variable, on a real dockerd: the new
 * container keeps the name, labels, binds and command; the old one is gone; an unlabelled
 * container is never touched.
 */
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { DockerClient } from '../../src/watch/docker.js';
import { recreateLabelled } from '../../src/workers/restart.js';
import { docker, dockerHost, runContainer } from '../helpers/docker.js';
import { captureLogger } from '../helpers/log.js';
import { tempDir } from '../helpers/temp.js';

describe('recreating workers with a new model in their environment', () => {
  it('keeps name, labels, binds and command, changes the variable, removes the old container', {
    timeout: 120_000,
  }, async () => {
    const id = randomBytes(4).toString('hex');
    const label = `ollama-fleet.worker=${id}`;
    const shared = await tempDir();
    await writeFile(path.join(shared, 'note.txt'), 'kept\n');
    const name = `fleet-recreate-${id}`;
    const script = "echo MODEL=$MODEL; cat /data/note.txt; trap 'exit 0' TERM; sleep 3600 & wait";
    await runContainer(
      name,
      script,
      [label],
      ['-e', 'MODEL=llama3.2:3b', '-e', 'OTHER=1', '-v', `${shared}:/data`],
    );
    await runContainer(`${name}-unlabelled`, 'exec sleep 3600', [], ['-e', 'MODEL=llama3.2:3b']);
    const before = await docker('inspect', '-f', '{{.Id}}', name);
    const untouched = await docker(
      'inspect',
      '-f',
      '{{.Id}} {{.State.StartedAt}}',
      `${name}-unlabelled`,
    );

    const result = await recreateLabelled(
      new DockerClient({ host: dockerHost() }),
      label,
      'MODEL',
      'phi3:mini',
      captureLogger().log,
    );
    expect(result.restarted).toEqual([name]);

    const after = await docker('inspect', '-f', '{{.Id}}', name);
    expect(after).not.toBe(before);
    expect(await docker('inspect', '-f', '{{json .Config.Env}}', name)).toContain(
      '"MODEL=phi3:mini"',
    );
    expect(await docker('inspect', '-f', '{{json .Config.Env}}', name)).toContain('"OTHER=1"');
    expect(
      await docker('inspect', '-f', `{{index .Config.Labels "ollama-fleet.worker"}}`, name),
    ).toBe(id);
    expect(await docker('inspect', '-f', '{{.State.Running}}', name)).toBe('true');
    await expect.poll(() => docker('logs', name), { timeout: 20_000 }).toContain('MODEL=phi3:mini');
    expect(await docker('logs', name)).toContain('kept');
    // The old container is gone, the unlabelled one untouched.
    expect(
      (await docker('ps', '-aq', '--filter', `label=${label}`)).split('\n').filter(Boolean),
    ).toHaveLength(1);
    expect(
      await docker('inspect', '-f', '{{.Id}} {{.State.StartedAt}}', `${name}-unlabelled`),
    ).toBe(untouched);
  });
});
