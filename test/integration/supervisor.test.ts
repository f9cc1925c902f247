import { readFile, stat, writeFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { exited, json, runFleet, startServe } from '../helpers/cli.js';
import { freePort } from '../helpers/ollama-stand-in.js';
import { tempDir } from '../helpers/temp.js';

const running: { child: import('node:child_process').ChildProcess }[] = [];
afterEach(() => {
  for (const r of running.splice(0)) r.child.kill('SIGKILL');
});

async function serve(token?: string) {
  const dir = await tempDir();
  const port = await freePort();
  const config = path.join(dir, 'fleet.yaml');
  await writeFile(
    config,
    `ollama:\n  url: http://127.0.0.1:9\napi:\n  host: 127.0.0.1\n  port: ${port}\n${token ? `  token: ${token}\n` : ''}state_dir: ./state\n`,
  );
  const server = await startServe(['--config', config]);
  running.push(server);
  return { ...server, dir, config, args: ['--config', config] };
}

const state = async (dir: string) =>
  JSON.parse(await readFile(path.join(dir, 'state/fleet-state.json'), 'utf8'));

describe('fleet serve and the admin API', () => {
  it('writes the state file at start-up', async () => {
    const { dir } = await serve();
    expect((await state(dir)).current_model).toBe('llama3.2:3b');
  });

  it('the CLI asks a running supervisor to make the change', async () => {
    const { dir, url, args } = await serve();
    const result = await runFleet(['downgrade', '--json', ...args]);
    expect(result.code).toBe(0);
    const answer = JSON.parse(result.stdout);
    expect(answer.via).toBe(url);
    expect(answer.transition).toMatchObject({
      from: 'llama3.2:3b',
      to: 'phi3:mini',
      source: 'api',
    });
    expect((await state(dir)).current_model).toBe('phi3:mini');
    const status = JSON.parse((await runFleet(['status', '--json', ...args])).stdout);
    expect(status.via).toBe(url);
    expect(status.ladders[0].current_model).toBe('phi3:mini');
    // Through the supervisor, status also shows the work it has in hand.
    expect(status.work).toEqual({
      waiting: 0,
      running: 0,
      pulls: expect.any(Array),
      backends: [expect.objectContaining({ name: 'default', running: {} })],
    });
    expect((await runFleet(['status', ...args])).stdout).toContain('jobs: 0 waiting, 0 running');
  });

  it('refusals from the supervisor keep their exit code', async () => {
    const { args } = await serve();
    const result = await runFleet(['upgrade', ...args]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('already at its top rung');
  });

  it('with another state dir, the CLI leaves the supervisor alone and uses its own file', async () => {
    const { url, args } = await serve();
    const other = await tempDir();
    const result = await runFleet(['downgrade', '--json', ...args, '--state-dir', other]);
    expect(JSON.parse(result.stdout).via).toBe(path.join(other, 'fleet-state.json'));
    const api = await json(await fetch(`${url}/api/fleet`));
    expect(api.ladders[0].current_model).toBe('llama3.2:3b');
  });

  it('GET /api/fleet shows every ladder', async () => {
    const { url } = await serve();
    const body = await json(await fetch(`${url}/api/fleet`));
    expect(body).toMatchObject({
      service: 'ollama-fleet',
      ladders: [{ name: 'main', current_model: 'llama3.2:3b' }],
    });
  });

  it('rejects malformed admin requests with a 4xx naming what is wrong', async () => {
    const { url } = await serve();
    const post = (route: string, body: string) =>
      fetch(`${url}${route}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
      });
    const noModel = await post('/api/fleet/main/set', '{}');
    expect(noModel.status).toBe(400);
    expect(await json(noModel)).toEqual({
      error: {
        code: 'FLEET_ERR_VALIDATION',
        message: 'body.model: set needs the model to switch to',
      },
    });
    const extra = await post('/api/fleet/main/downgrade', '{"modle":"x"}');
    expect(extra.status).toBe(400);
    expect((await json(extra)).error.message).toBe('body: unknown field modle');
    const badJson = await post('/api/fleet/main/downgrade', '{nope');
    expect(badJson.status).toBe(400);
    expect((await json(badJson)).error.code).toBe('FLEET_ERR_VALIDATION');
    const action = await post('/api/fleet/main/explode', '{}');
    expect(action.status).toBe(404);
    expect((await json(action)).error.message).toContain('unknown ladder action "explode"');
    const ladder = await post('/api/fleet/nope/downgrade', '{}');
    expect(ladder.status).toBe(404);
    expect((await json(ladder)).error.code).toBe('FLEET_ERR_UNKNOWN_LADDER');
    // /api/ is Ollama's namespace too: an unknown path there answers as Ollama's router does.
    const route = await fetch(`${url}/api/nothing`);
    expect(route.status).toBe(404);
    expect(await route.text()).toBe('404 page not found');
    const elsewhere = await fetch(`${url}/nothing`);
    expect(elsewhere.status).toBe(404);
    expect((await json(elsewhere)).error.code).toBe('FLEET_ERR_NOT_FOUND');
    // A known path with the wrong method is 405, with what it takes.
    const method = await fetch(`${url}/api/fleet/main/downgrade`);
    expect(method.status).toBe(405);
    expect(method.headers.get('allow')).toContain('POST');
    expect((await json(method)).error.code).toBe('FLEET_ERR_METHOD_NOT_ALLOWED');
  });

  it('with a token, every route but health needs it, and the CLI uses the configured one', async () => {
    const { url, args, dir } = await serve('s3cret');
    expect((await fetch(`${url}/api/health`)).status).toBe(200);
    const anonymous = await fetch(`${url}/api/fleet`);
    expect(anonymous.status).toBe(401);
    expect((await json(anonymous)).error.code).toBe('FLEET_ERR_UNAUTHORIZED');
    const wrong = await fetch(`${url}/api/fleet`, { headers: { authorization: 'Bearer nope' } });
    expect(wrong.status).toBe(401);
    expect((await runFleet(['downgrade', ...args])).code).toBe(0);
    expect((await state(dir)).current_model).toBe('phi3:mini');
    // A CLI with the wrong token is told so, and changes nothing behind the supervisor's back.
    const result = await runFleet(['downgrade', ...args], { env: { FLEET_API_TOKEN: 'wrong' } });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('refused the request (the bearer token is wrong)');
    expect((await state(dir)).current_model).toBe('phi3:mini');
  });

  it('never logs the token', async () => {
    const server = await serve('s3cret-token-value');
    await fetch(`${server.url}/api/fleet`, {
      headers: { authorization: 'Bearer s3cret-token-value' },
    });
    await fetch(`${server.url}/api/fleet`, { headers: { authorization: 'Bearer wrong-guess' } });
    // A token in the URL is refused, and the URL is logged without it.
    const inUrl = await fetch(`${server.url}/api/fleet?token=s3cret-token-value`);
    expect(inUrl.status).toBe(400);
    expect((await json(inUrl)).error.message).toContain('Authorization');
    server.child.kill('SIGTERM');
    await exited(server.child);
    expect(server.output()).not.toContain('s3cret-token-value');
    expect(server.output()).not.toContain('wrong-guess');
  });

  it('with no token on loopback, pages of other sites and other host names are refused', async () => {
    const { url } = await serve();
    const fromSite = await fetch(`${url}/api/fleet/main/downgrade`, {
      method: 'POST',
      headers: { origin: 'https://evil.example', 'content-type': 'text/plain' },
      body: '{}',
    });
    expect(fromSite.status).toBe(403);
    expect((await json(fromSite)).error.message).toContain('https://evil.example');
    // fetch will not send another Host: a raw request, as a rebound browser would.
    const rebound = await new Promise<number>((resolve, reject) => {
      const request = httpRequest(`${url}/api/jobs`, { headers: { host: 'evil.example' } }, (r) => {
        r.resume();
        resolve(r.statusCode ?? 0);
      });
      request.on('error', reject);
      request.end();
    });
    expect(rebound).toBe(403);
    const own = await fetch(`${url}/api/fleet`, { headers: { origin: url } });
    expect(own.status).toBe(200);
  });

  it('with an admin token, ladder moves need it; the user token still reads', async () => {
    const dir = await tempDir();
    const port = await freePort();
    const config = path.join(dir, 'fleet.yaml');
    await writeFile(
      config,
      `ollama:\n  url: http://127.0.0.1:9\napi:\n  port: ${port}\n  token: user-t\n  admin_token: admin-t\nstate_dir: ./state\n`,
    );
    const server = await startServe(['--config', config]);
    running.push(server);
    const as = (token: string, method = 'GET', route = '/api/fleet') =>
      fetch(`${server.url}${route}`, {
        method,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        ...(method === 'POST' ? { body: '{}' } : {}),
      });
    expect((await as('user-t')).status).toBe(200);
    const refused = await as('user-t', 'POST', '/api/fleet/main/downgrade');
    expect(refused.status).toBe(403);
    expect((await json(refused)).error.message).toContain('api.admin_token');
    expect((await as('admin-t', 'POST', '/api/fleet/main/downgrade')).status).toBe(200);
    expect((await as('admin-t')).status).toBe(200);
    // The route decides, not the raw URL: an encoded path is the same route.
    expect((await as('user-t', 'POST', '/api/%66leet/main/downgrade')).status).toBe(403);
    expect((await as('user-t', 'POST', '/api/%70ull')).status).toBe(403);
    // The CLI's ladder commands send the admin token.
    expect((await runFleet(['downgrade', '--config', config])).code).toBe(0);
    expect((await state(dir)).current_model).toBe('tinyllama:1.1b');
  });

  it('stops cleanly on SIGTERM with exit 0', async () => {
    const server = await serve();
    server.child.kill('SIGTERM');
    expect(await exited(server.child)).toBe(0);
    expect(server.output()).toContain('"stopped"');
    // Every log line is JSON with each key once (a child logger binding a key its parent had
    // would write it twice).
    for (const line of server
      .output()
      .split('\n')
      .filter((l) => l.startsWith('{'))) {
      const keys = [...line.matchAll(/"([a-z_]+)":/g)].map((m) => m[1]);
      const top = JSON.parse(line) as Record<string, unknown>;
      expect(keys.filter((k) => k === 'component').length, line).toBeLessThanOrEqual(1);
      expect(Object.keys(top).length).toBeGreaterThan(0);
    }
  });

  it('a port in use stops start-up with a clear error', async () => {
    const first = await serve();
    const port = new URL(first.url).port;
    const result = await runFleet(['serve', '--config', first.config, '--port', port]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(
      `fleet: cannot listen on 127.0.0.1:${port}: the address is in use`,
    );
  });

  it('safe by default: refuses a public address without a token; token: auto makes one the CLI reads', async () => {
    const dir = await tempDir();
    const port = await freePort();
    const config = path.join(dir, 'fleet.yaml');
    const write = (api: string) =>
      writeFile(
        config,
        `ollama:\n  url: http://127.0.0.1:9\napi:\n  port: ${port}\n${api}state_dir: ./state\n`,
      );
    await write('  host: 0.0.0.0\n');
    const refused = await runFleet(['serve', '--config', config]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/api\.host is 0\.0\.0\.0.*api\.token/);

    // The image's way: the address and `auto` from the environment.
    const server = await startServe(['--config', config], {
      env: { FLEET_API_HOST: '0.0.0.0', FLEET_API_TOKEN: 'auto' },
    });
    running.push(server);
    const tokenFile = path.join(dir, 'state', 'api-token');
    expect((await stat(tokenFile)).mode & 0o777).toBe(0o600);
    const token = (await readFile(tokenFile, 'utf8')).trim();
    expect(server.output()).toContain(tokenFile);
    expect(server.output()).not.toContain(token);
    const url = `http://127.0.0.1:${port}`;
    expect((await fetch(`${url}/api/fleet`)).status).toBe(401);
    expect(
      (await fetch(`${url}/api/fleet`, { headers: { authorization: `Bearer ${token}` } })).status,
    ).toBe(200);
    // Every CLI command finds the same token through the same config.
    const status = await runFleet(['status', '--json', '--config', config], {
      env: { FLEET_API_TOKEN: 'auto' },
    });
    expect(JSON.parse(status.stdout).via).toContain(String(port));
    server.child.kill('SIGTERM');
    await exited(server.child);

    // Open on purpose: it serves, and says so in its health.
    await write('  host: 0.0.0.0\n  allow_unauthenticated: true\n');
    const open = await startServe(['--config', config]);
    running.push(open);
    const health = await json(await fetch(`${url}/api/health`));
    expect(health.problems.join(' ')).toContain('no token');
    // Ollama's model routes stay closed to a network without a token.
    const pull = await fetch(`${url}/api/pull`, { method: 'POST', body: '{"model":"x"}' });
    expect(pull.status).toBe(403);
  });
});
