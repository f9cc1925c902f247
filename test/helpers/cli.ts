import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const FLEET = path.join(ROOT, 'dist/main.js');

if (!existsSync(FLEET)) {
  throw new Error(`${FLEET} is missing: run npm run build first (npm test does)`);
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the built `fleet` command as a user would, in its own process. */
export function runFleet(
  args: readonly string[],
  options: { cwd?: string; env?: Record<string, string | undefined>; argv0?: string } = {},
): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [options.argv0 ?? FLEET, ...args],
      {
        cwd: options.cwd ?? ROOT,
        env: { ...cleanEnv(), ...options.env },
        timeout: 20_000,
      },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** Starts `fleet serve`; resolves once it logs that it listens. */
export function startServe(
  args: readonly string[],
  options: { cwd?: string; env?: Record<string, string | undefined> } = {},
): Promise<{ child: ChildProcess; url: string; output: () => string }> {
  const child = spawn(process.execPath, [FLEET, 'serve', ...args], {
    cwd: options.cwd ?? ROOT,
    env: { ...cleanEnv(), ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  return new Promise((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const line = output.split('\n').find((l) => l.includes('"supervisor listening"'));
      if (line) {
        const url = (JSON.parse(line) as { url: string }).url;
        resolve({ child, url, output: () => output });
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.once('exit', (code) =>
      reject(new Error(`fleet serve exited ${code} before listening:\n${output}`)),
    );
  });
}

/** Waits for a child to exit; resolves with its code (or the signal that ended it). */
export function exited(child: ChildProcess): Promise<number | string> {
  if (child.exitCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) =>
    child.once('exit', (code, signal) => resolve(code ?? signal ?? -1)),
  );
}

/** The variables that would change fleet's behaviour are not inherited from the test run. */
function cleanEnv(): Record<string, string | undefined> {
  const env = { ...process.env };
  for (const key of [
    'OLLAMA_HOST',
    'FLEET_OLLAMA_URL',
    'FLEET_API_TOKEN',
    'FLEET_API_HOST',
    'FLEET_CONFIG',
    'FLEET_LOG_FORMAT',
    'FLEET_STATE_DIR',
  ])
    delete env[key];
  return env;
}

/** A response body as loosely typed JSON, for assertions. */
// biome-ignore lint/suspicious/noExplicitAny: tests assert on the shape with toMatchObject.
export async function json(response: Response): Promise<any> {
  return response.json();
}
