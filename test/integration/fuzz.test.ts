/**
 * Hostile input on every route that takes any: broken JSON, bodies of any shape, deep and
 * large ones, unicode and NUL, wrong types, long headers. Whatever comes, the answer is a
 * 4xx that says what is wrong (or a job's answer from Ollama, which is Ollama's), never a
 * 5xx of the fleet's own and never a crash; whatever was stored reads back. Bounded: a fixed
 * number of runs per route, against one supervisor in front of `fleet sim`.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { json } from '../helpers/cli.js';
import { startTestSim } from '../helpers/sim.js';
import { startTestSupervisor, type TestSupervisor } from '../helpers/supervisor.js';

const ROUTES: readonly [string, string][] = [
  ['POST', '/api/submit'],
  ['POST', '/api/submit/batch'],
  ['POST', '/api/generate'],
  ['POST', '/api/chat'],
  ['POST', '/api/embed'],
  ['POST', '/api/embeddings'],
  ['POST', '/api/show'],
  ['POST', '/v1/chat/completions'],
  ['POST', '/v1/completions'],
  ['POST', '/v1/embeddings'],
  ['POST', '/v1/responses'],
  ['POST', '/api/fleet/main/set'],
  ['GET', '/api/jobs'],
  ['GET', '/api/job/x'],
  ['DELETE', '/api/job/x'],
];

/** Strings that break naive code: NUL, lone surrogates, RTL marks, long runs, JSON in JSON. */
const nasty = fc.oneof(
  fc.string(),
  fc.string({ unit: 'binary' }),
  fc.constantFrom(
    '\u0000',
    '\ud800',
    '\u202e',
    '{"a":',
    '%00',
    '../../etc/passwd',
    'x'.repeat(70_000),
  ),
);

const value = fc.letrec((tie) => ({
  any: fc.oneof(
    { maxDepth: 4 },
    nasty,
    fc.integer(),
    fc.double(),
    fc.boolean(),
    fc.constant(null),
    fc.array(tie('any'), { maxLength: 4 }),
    fc.dictionary(nasty, tie('any'), { maxKeys: 4 }),
  ),
})).any;

/** A body of the route's shape with hostile values, or anything at all. */
const body = fc.oneof(
  fc.record(
    {
      model: fc.oneof(nasty, fc.constantFrom('qwen2.5:0.5b', 'fleet', 'fleet:nope', ''), value),
      prompt: fc.oneof(nasty, value),
      messages: fc.oneof(value, fc.array(fc.record({ role: nasty, content: value }))),
      input: value,
      metadata: value,
      priority: fc.oneof(nasty, value),
      jobs: value,
      stream: value,
      keep_alive: value,
      options: value,
    },
    { requiredKeys: [] },
  ),
  value,
);

/** Text that is not quite JSON, deep nesting, or a JSON text of a body. */
const text = fc.oneof(
  body.map((b) => JSON.stringify(b) ?? 'null'),
  fc.string(),
  fc.integer({ min: 100, max: 6_000 }).map((n) => `{"a":${'['.repeat(n)}${']'.repeat(n)}}`),
  fc
    .integer({ min: 100, max: 6_000 })
    .map(
      (n) =>
        `{"model":"qwen2.5:0.5b","prompt":"x","metadata":${'{"a":'.repeat(n)}1${'}'.repeat(n)}}`,
    ),
  fc.constantFrom('', '{', '{"model":', '[', 'null', '"', '{"model":"qwen2.5:0.5b"}garbage'),
);

const header = fc.oneof(fc.constantFrom('high', 'low', ''), fc.string({ maxLength: 8_000 }));

async function send(
  fleet: TestSupervisor,
  method: string,
  route: string,
  payload: string,
  priority: string,
) {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  // Header values may not carry control characters; a client could not send them either.
  const clean = priority.replace(/[^\x20-\x7e]/g, '');
  if (clean !== '') headers['x-fleet-priority'] = clean;
  const response = await fetch(`${fleet.url}${route}`, {
    method,
    headers,
    ...(method === 'GET' ? {} : { body: payload }),
    signal: AbortSignal.timeout(20_000),
  });
  return {
    status: response.status,
    job: response.headers.get('x-fleet-job'),
    text: await response.text(),
  };
}

describe('hostile input on every route', () => {
  it('answers 4xx with a message (never a 5xx of its own), stays up, and reads back all it stored', {
    timeout: 240_000,
  }, async () => {
    const sim = await startTestSim({ vramMib: 24_576 });
    const fleet = await startTestSupervisor({ ollamaUrl: sim.url, telemetry: true });
    for (const [method, route] of ROUTES) {
      await fc.assert(
        fc.asyncProperty(text, header, async (payload, priority) => {
          const answer = await send(fleet, method, route, payload, priority);
          // A job that ran answers with Ollama's own status; every other answer is the fleet's.
          if (answer.job === null)
            expect(answer.status, `${method} ${route}: ${answer.text.slice(0, 200)}`).toBeLessThan(
              500,
            );
          if (answer.status >= 400 && answer.status !== 405)
            expect(answer.text.length).toBeGreaterThan(0);
        }),
        { numRuns: 25, seed: 20261201 },
      );
    }
    // Still up, and everything stored reads back: the list, and each job alone.
    expect((await fleet.call('/api/health')).status).toBe(200);
    const list = await fleet.call('/api/jobs?limit=1000');
    expect(list.status).toBe(200);
    for (const job of (await json(list)).jobs as { job_id: string }[]) {
      expect((await fleet.call(`/api/job/${job.job_id}`)).status).toBe(200);
    }
    expect(fleet.logs().filter((l) => l.msg === 'request failed' || l.level === 60)).toEqual([]);
  });
});
