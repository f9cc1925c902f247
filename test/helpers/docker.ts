/**
 * A real Docker engine for the tests: scripts/dockerd-up.sh starts a private dockerd (and
 * installs Debian's docker.io first when it is missing and we are root). Containers the tests
 * make carry a label, so they are removed afterwards.
 */
import { execFile, execFileSync } from 'node:child_process';
import path from 'node:path';
import { afterAll } from 'vitest';
import { ROOT } from './cli.js';

export const TEST_LABEL = 'ollama-fleet.test=1';
export const BUSYBOX = 'fleet-test/busybox:1';

let host: string | undefined;

export function dockerHost(): string {
  host ??= execFileSync(path.join(ROOT, 'scripts/dockerd-up.sh'), {
    encoding: 'utf8',
    timeout: 300_000,
  })
    .trim()
    .split('\n')
    .at(-1) as string;
  return host;
}

/** Runs the docker CLI against the test engine. */
export function docker(...args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      'docker',
      args,
      { env: { ...process.env, DOCKER_HOST: dockerHost() } },
      (error, stdout, stderr) => {
        if (error) reject(new Error(`docker ${args.join(' ')}: ${stderr || error.message}`));
        else resolve(stdout.trim());
      },
    );
  });
}

/** A uniquely named container from the busybox image, running a shell script. */
export async function runContainer(
  name: string,
  script: string,
  labels: string[] = [],
  /** More `docker run` flags: `-e`, `-v`, ... */
  extra: string[] = [],
): Promise<string> {
  const labelArgs = [TEST_LABEL, ...labels].flatMap((l) => ['--label', l]);
  return docker(
    'run',
    '-d',
    '--network',
    'none',
    '--name',
    name,
    ...labelArgs,
    ...extra,
    BUSYBOX,
    'sh',
    '-c',
    script,
  );
}

afterAll(async () => {
  if (!host) return;
  const ids = (await docker('ps', '-aq', '--filter', `label=${TEST_LABEL}`))
    .split('\n')
    .filter(Boolean);
  if (ids.length > 0) await docker('rm', '-f', ...ids);
});
