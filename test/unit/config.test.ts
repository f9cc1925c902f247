import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { ROOT } from '../helpers/cli.js';
import { tempDir } from '../helpers/temp.js';

async function configFile(text: string): Promise<string> {
  const dir = await tempDir();
  const file = path.join(dir, 'fleet.yaml');
  await writeFile(file, text);
  return file;
}

async function loadError(
  text: string,
  env: Record<string, string> = {},
): Promise<{ code: string; message: string }> {
  const file = await configFile(text);
  try {
    await loadConfig({ path: file, env });
  } catch (err) {
    return err as { code: string; message: string };
  }
  throw new Error('expected the config to be refused');
}

describe('fleet.yaml defaults', () => {
  it('a five-line file works: every other key has its default', async () => {
    const file = await configFile(
      'ladders:\n  - name: main\n    models: [llama3.2:3b, qwen2.5:0.5b]\napi:\n  port: 5100\n',
    );
    const { config, warnings } = await loadConfig({ path: file });
    expect(config.ollama.url).toBe('http://localhost:11434');
    expect(config.gpu.safety_margin_mib).toBe(1024);
    expect(config.gpu.nvidia_smi).toBe('nvidia-smi');
    expect(config.ladders[0]?.downgrade).toEqual({
      after_incidents: 3,
      window: 600_000,
      cooldown: 300_000,
      on_telemetry: false,
    });
    expect(config.scheduler).toEqual({
      estimate_multiplier: 1.3,
      loop_interval: 100,
      keep_alive: '5m',
      max_concurrent_per_model: 20,
      queue_max_size: 1000,
      preempt: 'low',
    });
    // Safe by default: only this machine, no token needed there.
    expect(config.api).toEqual({
      host: '127.0.0.1',
      port: 5100,
      allow_unauthenticated: false,
      auto_token: false,
      limits: {
        body_mib: 32,
        body_depth: 128,
        metadata_kib: 64,
        metadata_depth: 32,
        bodies_in_flight_mib: 256,
        max_connections: 1000,
      },
    });
    expect(config.models.map((m) => m.name)).toContain('phi3:mini');
    expect(config.detection.patterns.length).toBeGreaterThan(7);
    expect(warnings).toEqual([]);
  });

  it('an empty file gets the seed ladder', async () => {
    const { config } = await loadConfig({ path: await configFile('') });
    expect(config.ladders[0]?.models).toEqual([
      'llama3.2:3b',
      'phi3:mini',
      'tinyllama:1.1b',
      'qwen2.5:0.5b',
    ]);
  });

  it("resolves a relative state_dir from the file's folder", async () => {
    const file = await configFile('state_dir: ./here\n');
    const { config } = await loadConfig({ path: file, cwd: '/' });
    expect(config.state_dir).toBe(path.join(path.dirname(file), 'here'));
  });

  it('freezes the result', async () => {
    const { config } = await loadConfig({ path: await configFile('') });
    expect(Object.isFrozen(config.ladders[0]?.models)).toBe(true);
  });

  it('the shipped fleet.yaml loads, and warns that phi3:mini is not smaller than llama3.2:3b', async () => {
    const { config, warnings } = await loadConfig({ path: path.join(ROOT, 'fleet.yaml') });
    expect(config.ladders[0]?.models).toEqual([
      'llama3.2:3b',
      'phi3:mini',
      'tinyllama:1.1b',
      'qwen2.5:0.5b',
    ]);
    expect(config.models).toHaveLength(11);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(
      /phi3:mini \(2\.2 GB.*not smaller than llama3\.2:3b above it \(2\.0 GB/,
    );
  });

  it('warns about a ladder model missing from the catalogue', async () => {
    const { warnings } = await loadConfig({
      path: await configFile('ladders:\n  - name: a\n    models: [mistral:7b]\n'),
    });
    expect(warnings[0]).toContain('mistral:7b is not in the models catalogue');
  });

  it('the legacy pattern "level=WARN source=sched.go" ships, but off', async () => {
    const { config } = await loadConfig({ path: await configFile('') });
    const broad = config.detection.patterns.find((p) => p.match === 'level=WARN source=sched.go');
    expect(broad?.enabled).toBe(false);
    expect(
      config.detection.patterns.filter((p) => p.match === 'CUDA error: out of memory'),
    ).toHaveLength(1);
  });
});

describe('environment and flags', () => {
  it('OLLAMA_HOST is read as the ollama CLI reads it', async () => {
    const { config } = await loadConfig({
      path: await configFile(''),
      env: { OLLAMA_HOST: '10.0.0.5' },
    });
    expect(config.ollama.url).toBe('http://10.0.0.5:11434');
  });

  it('FLEET_OLLAMA_URL wins over OLLAMA_HOST and the file', async () => {
    const { config } = await loadConfig({
      path: await configFile('ollama:\n  url: http://file:1\n'),
      env: { OLLAMA_HOST: 'ignored:2', FLEET_OLLAMA_URL: 'http://ollama:11434' },
    });
    expect(config.ollama.url).toBe('http://ollama:11434');
  });

  it('FLEET_API_TOKEN and FLEET_STATE_DIR override the file; flags override both', async () => {
    const file = await configFile('api:\n  token: from-file\nstate_dir: /from/file\n');
    const env = { FLEET_API_TOKEN: 'from-env', FLEET_STATE_DIR: 'rel' };
    const { config } = await loadConfig({ path: file, env, cwd: '/work' });
    expect(config.api.token).toBe('from-env');
    expect(config.state_dir).toBe('/work/rel');
    const flagged = await loadConfig({
      path: file,
      env,
      cwd: '/work',
      overrides: { state_dir: '/flag', api_port: 7 },
    });
    expect(flagged.config.state_dir).toBe('/flag');
    expect(flagged.config.api.port).toBe(7);
  });

  it("token: auto reads the token serve made in the state folder; FLEET_API_TOKEN=auto keeps a file's token", async () => {
    const file = await configFile('api:\n  token: auto\nstate_dir: ./state\n');
    const before = await loadConfig({ path: file });
    expect(before.config.api).toMatchObject({ auto_token: true });
    expect(before.config.api.token).toBeUndefined();
    await mkdir(path.join(path.dirname(file), 'state'));
    await writeFile(path.join(path.dirname(file), 'state', 'api-token'), 'made-once\n');
    expect((await loadConfig({ path: file })).config.api.token).toBe('made-once');

    const named = await configFile('api:\n  token: mine\n');
    const env = { FLEET_API_TOKEN: 'auto', FLEET_API_HOST: '0.0.0.0' };
    const { config } = await loadConfig({ path: named, env });
    expect(config.api).toMatchObject({ token: 'mine', host: '0.0.0.0', auto_token: false });
  });

  it('reads the token from token_file', async () => {
    const file = await configFile('api:\n  token_file: secret.txt\n');
    await writeFile(path.join(path.dirname(file), 'secret.txt'), '  s3cret\n');
    const { config } = await loadConfig({ path: file });
    expect(config.api.token).toBe('s3cret');
  });

  it('a bad value from the environment names the variable', async () => {
    const error = await loadError('', { FLEET_OLLAMA_URL: 'not a url' });
    expect(error.message).toMatch(
      /ollama\.url: .*set by the environment variable FLEET_OLLAMA_URL/,
    );
  });
});

describe('fleet.yaml errors name the file, the line, the key path and what was expected', () => {
  it('a missing file', async () => {
    const dir = await tempDir();
    await expect(loadConfig({ path: path.join(dir, 'nope.yaml') })).rejects.toMatchObject({
      code: 'FLEET_ERR_CONFIG_NOT_FOUND',
      exitCode: 2,
      message: expect.stringContaining('nope.yaml: no such file'),
    });
  });

  it('YAML that does not parse', async () => {
    const error = await loadError('ladders:\n  - name: main\n   models: [a\n');
    expect(error.code).toBe('FLEET_ERR_CONFIG_SYNTAX');
    expect(error.message).toMatch(/fleet\.yaml:\d+:\d+: not valid YAML/);
  });

  it('a duplicated key', async () => {
    const error = await loadError('api:\n  port: 1\n  port: 2\n');
    expect(error.code).toBe('FLEET_ERR_CONFIG_SYNTAX');
  });

  it('a top level that is not a mapping', async () => {
    const error = await loadError('- a\n- b\n');
    expect(error.message).toContain('expected a mapping of keys');
  });

  it('an unknown key, with its path, its line and the keys that are allowed', async () => {
    const error = await loadError(
      'ladders:\n  - name: main\n    models: [llama3.2:3b]\n    bogus_key: 1\n',
    );
    expect(error.code).toBe('FLEET_ERR_CONFIG_INVALID');
    expect(error.message).toMatch(
      /fleet\.yaml:4: ladders\[0\]\.bogus_key: unknown key \(expected one of: name, models, downgrade, schedule\)/,
    );
  });

  it('an unknown top-level key', async () => {
    const error = await loadError('ollama_url: http://x\n');
    expect(error.message).toMatch(/:1: ollama_url: unknown key/);
  });

  it('a wrong type, with what was found', async () => {
    const error = await loadError('ladders:\n  - name: main\n    models: [llama3.2:3b, 7]\n');
    expect(error.message).toMatch(
      /:3: ladders\[0\]\.models\[1\]: expected a model name such as llama3\.2:3b, found 7 \(number\)/,
    );
  });

  it('a duration without a unit', async () => {
    const error = await loadError('gpu:\n  poll_interval: 5\n');
    expect(error.message).toMatch(
      /gpu\.poll_interval: expected a duration with a unit.*found 5 \(number\)/,
    );
  });

  it('a number out of range', async () => {
    const error = await loadError('api:\n  port: 70000\n');
    expect(error.message).toMatch(/api\.port: .*65535.*found 70000/);
  });

  it('an empty ladder, a duplicated rung and a duplicated ladder name', async () => {
    const error = await loadError(
      'ladders:\n  - name: a\n    models: []\n  - name: b\n    models: [x:1, x:1]\n  - name: b\n    models: [y:1]\n',
    );
    expect(error.message).toContain('ladders[0].models: a ladder needs at least one model');
    expect(error.message).toContain('ladders[1].models[1]: "x:1" is already on this ladder');
    expect(error.message).toContain('ladders[2].name: duplicate ladder name "b"');
  });

  it('a bad cron schedule', async () => {
    const error = await loadError(
      'ladders:\n  - name: a\n    models: [x:1]\n    schedule:\n      cron: every night\n',
    );
    expect(error.message).toMatch(/ladders\[0\]\.schedule\.cron: expected a cron expression/);
  });

  it('a detection pattern that is not a regular expression, or gives both match and regex', async () => {
    const error = await loadError(
      'detection:\n  patterns:\n    - { regex: "(unclosed" }\n    - { match: a, regex: b }\n',
    );
    expect(error.message).toMatch(
      /detection\.patterns\[0\]\.regex: not a valid regular expression/,
    );
    expect(error.message).toMatch(/detection\.patterns\[1\]: give exactly one of `match`/);
  });

  it('a worker that names no ladder of the file', async () => {
    const error = await loadError(
      'workers:\n  - name: w\n    ladder: nope\n    label: role=worker\n',
    );
    expect(error.message).toMatch(/:3: workers\[0\]\.ladder: no ladder is named "nope"/);
  });

  it('a regex rewrite without its pattern', async () => {
    const error = await loadError(
      'workers:\n  - name: w\n    label: role=worker\n    config: { path: /x.py, format: regex }\n',
    );
    expect(error.message).toContain(
      'workers[0].config: format regex needs `pattern` and `replacement`',
    );
  });

  it('a json rewrite without its key', async () => {
    const error = await loadError(
      'workers:\n  - name: w\n    label: a=b\n    config: { path: /x.json, format: json }\n',
    );
    expect(error.message).toContain('workers[0].config.key: format json needs `key`');
  });

  it('two log sources at once', async () => {
    const error = await loadError(
      'ollama:\n  log_file: /var/log/ollama.log\n  journald_unit: ollama\n',
    );
    expect(error.message).toContain(
      'ollama.journald_unit: give ollama.log_file or ollama.journald_unit, not both',
    );
  });

  it('token and token_file together', async () => {
    const error = await loadError('api:\n  token: a\n  token_file: b\n');
    expect(error.message).toContain('api: give `token` or `token_file`, not both');
  });

  it('a token_file that cannot be read', async () => {
    const error = await loadError('api:\n  token_file: /nonexistent/token\n');
    expect(error.message).toMatch(/api\.token_file: cannot read \/nonexistent\/token \(ENOENT\)/);
  });

  it('lists every problem at once, in file order', async () => {
    const error = await loadError('gpu:\n  safety_margin_mib: -1\napi:\n  port: x\n');
    const lines = error.message.split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toContain(':2: gpu.safety_margin_mib');
    expect(lines[1]).toContain(':4: api.port');
  });
});

describe('fleet.yaml backends', () => {
  const two = `backends:
  - name: a
    url: http://127.0.0.1:11501
    container: ollama-a
    gpu: { vram_total_mib: 8192 }
  - name: gpu-1.b
    url: http://127.0.0.1:11502
    models: [qwen2.5:0.5b]
`;

  it("today's top-level ollama + gpu are one backend named default", async () => {
    const file = await configFile(
      'ollama:\n  url: http://10.0.0.9:11434\ngpu:\n  vram_total_mib: 24576\n',
    );
    const { config } = await loadConfig({ path: file });
    expect(config.backends).toEqual([
      expect.objectContaining({
        name: 'default',
        url: 'http://10.0.0.9:11434',
        container: 'ollama',
        gpu: expect.objectContaining({ vram_total_mib: 24576, safety_margin_mib: 1024 }),
      }),
    ]);
    expect(config.backends[0]?.models).toBeUndefined();
  });

  it('a list gives each backend its own url, log source, gpu section and allow-list', async () => {
    const { config } = await loadConfig({ path: await configFile(two) });
    expect(config.backends.map((b) => b.name)).toEqual(['a', 'gpu-1.b']);
    expect(config.backends[0]).toMatchObject({
      container: 'ollama-a',
      gpu: { vram_total_mib: 8192, nvidia_smi: 'nvidia-smi', poll_interval: 5_000 },
      timeouts: { connect: 5_000, load: 300_000, request: 600_000 },
    });
    expect(config.backends[1]?.container).toBeUndefined();
    expect(config.backends[1]?.models).toEqual(['qwen2.5:0.5b']);
  });

  it('both forms at once is an error that names the line and the key', async () => {
    const err = await loadError(`ollama:\n  url: http://x:1\n${two}`);
    expect(err.code).toBe('FLEET_ERR_CONFIG_INVALID');
    expect(err.message).toMatch(
      /fleet\.yaml:2: ollama: give `backends` or the top-level `ollama` section, not both/,
    );
  });

  it('names must be unique and plain, urls must be URLs', async () => {
    const err = await loadError(
      'backends:\n  - name: a\n    url: http://x:1\n  - name: a\n    url: nope\n  - name: "a b"\n    url: http://y:1\n',
    );
    expect(err.message).toContain('backends[1].name: duplicate backend name "a"');
    expect(err.message).toContain('backends[1].url: expected an http(s) URL');
    expect(err.message).toContain('backends[2].name: expected a backend name of letters, digits');
  });

  it('unknown keys in a backend are refused with the keys it takes', async () => {
    const err = await loadError('backends:\n  - name: a\n    url: http://x:1\n    vram: 8\n');
    expect(err.message).toMatch(
      /:4: backends\[0\]\.vram: unknown key \(expected one of: name, url, container/,
    );
  });

  it.each(['OLLAMA_HOST', 'FLEET_OLLAMA_URL'])(
    'with backends, %s is refused with a message naming it',
    async (variable) => {
      const err = await loadError(two, { [variable]: 'http://elsewhere:11434' });
      expect(err.code).toBe('FLEET_ERR_CONFIG_INVALID');
      expect(err.message).toContain(
        `the environment variable ${variable} sets the single Ollama's URL`,
      );
    },
  );
});

describe('fleet.yaml queue', () => {
  it('a PostgreSQL queue.url (or FLEET_QUEUE_URL) shares the queue; the lease defaults to 30s', async () => {
    const file = await configFile('queue:\n  url: postgres://fleet@db:5432/fleet\n');
    const { config } = await loadConfig({ path: file });
    expect(config.queue).toMatchObject({ url: 'postgres://fleet@db:5432/fleet', lease: 30_000 });
    const fromEnv = await loadConfig({
      path: await configFile('queue:\n  lease: 5s\n'),
      env: { FLEET_QUEUE_URL: 'postgresql://other/fleet' },
    });
    expect(fromEnv.config.queue).toMatchObject({ url: 'postgresql://other/fleet', lease: 5_000 });
    const sqlite = await loadConfig({ path: await configFile('api:\n  port: 5100\n') });
    expect(sqlite.config.queue.url).toBeUndefined();
  });

  it('anything but a PostgreSQL URL is refused, naming the variable that set it', async () => {
    const err = await loadError('api:\n  port: 5100\n', { FLEET_QUEUE_URL: 'mysql://x/y' });
    expect(err.message).toContain('queue.url: expected a PostgreSQL URL such as postgres://');
    expect(err.message).toContain('(set by the environment variable FLEET_QUEUE_URL)');
  });
});
