/**
 * Docker Compose for the end-to-end tests, on the tests' real dockerd: commands run from the
 * clone's folder with the test's environment, a service's container found by its compose
 * labels, and the API token a supervisor made at its first start, read as an operator would.
 */
import { execFile } from 'node:child_process';
import { ROOT } from './cli.js';
import { docker } from './docker.js';

/** Runs a command from the clone's folder with `env`; its stdout, trimmed. */
export function runWith(
  env: NodeJS.ProcessEnv,
  file: string,
  args: string[],
  timeout = 300_000,
): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { cwd: ROOT, env, timeout }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${file} ${args.join(' ')}: ${stderr || error.message}`));
      else resolve(stdout.trim());
    });
  });
}

/** The container of a compose project's service. */
export function serviceContainer(project: string, service: string): Promise<string> {
  return docker(
    'ps',
    '-q',
    '--filter',
    `label=com.docker.compose.project=${project}`,
    '--filter',
    `label=com.docker.compose.service=${service}`,
  );
}

/** The token a supervisor made at its first start (`token: auto`), from its state volume. */
export async function apiTokenOf(project: string, service: string): Promise<string> {
  const id = await serviceContainer(project, service);
  return (await docker('exec', id, 'cat', '/var/lib/fleet/api-token')).trim();
}
