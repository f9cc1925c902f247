/**
 * `fleet submit`: sends jobs to a supervisor and waits for them, with a progress bar and a
 * summary (completed, failed, p50/p95 latency). `--spam N` submits without waiting.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import cliProgress from 'cli-progress';
import { JobClient } from '../api/job-client.js';
import { DEFAULT_CATALOGUE } from '../config/catalogue.js';
import type { FleetError } from '../errors.js';
import { PRIORITIES, type Priority } from '../queue/job.js';
import type { ParsedCommand } from './args.js';
import { usage } from './args.js';
import { type CliEnvironment, supervisorAddress } from './context.js';

interface JobView {
  job_id: string;
  status: string;
  submitted_at: string;
  completed_at?: string;
  error?: { message: string };
}

interface Draft {
  model: string;
  prompt?: string;
  input?: string;
  priority: Priority;
}

const PROMPTS = [
  'Analyze quality metrics for the last release.',
  'Summarize the incident report in three sentences.',
  'Write a haiku about GPUs running out of memory.',
  'List three risks of the migration plan.',
  'Explain the difference between a queue and a stack.',
  'Draft a short reply to a customer asking for a refund.',
];

/** The existing tool's `--batch`: four jobs across the priorities. */
const BATCH: readonly Omit<Draft, 'model'>[] = [
  { prompt: 'Analyze quality metrics for the last release.', priority: 'high' },
  { prompt: 'Summarize the incident report in three sentences.', priority: 'normal' },
  { prompt: 'List three risks of the migration plan.', priority: 'normal' },
  { prompt: 'Write release notes for the ladder feature.', priority: 'low' },
];

export async function submitCommand(parsed: ParsedCommand, cli: CliEnvironment): Promise<number> {
  const o = parsed.options;
  const client = new JobClient(await supervisorAddress(parsed, cli));
  const priority = (o.priority as string | undefined) ?? 'normal';
  if (!(PRIORITIES as readonly string[]).includes(priority)) {
    throw usage(`--priority expects one of ${PRIORITIES.join(', ')}, got "${priority}"`);
  }
  const count = (flag: 'random' | 'spam') => {
    const text = o[flag] as string | undefined;
    if (text === undefined) return undefined;
    const n = Number(text);
    if (!Number.isInteger(n) || n < 1)
      throw usage(`--${flag} expects a whole number >= 1, got "${text}"`);
    return n;
  };
  const delayText = o.delay as string | undefined;
  const delaySeconds = delayText === undefined ? 0 : Number(delayText);
  if (!Number.isFinite(delaySeconds) || delaySeconds < 0)
    throw usage(`--delay expects seconds >= 0, got "${delayText}"`);
  const model = (o.model as string | undefined) ?? 'fleet';
  const random = count('random');
  const spam = count('spam');
  const drafts = plan({
    model,
    priority: priority as Priority,
    prompt: o.prompt as string | undefined,
    batch: o.batch === true,
    random,
    spam,
  });

  if (o['no-check'] !== true) await client.call('/api/health');
  const started = new Map<string, number>();
  for (const [i, draft] of drafts.entries()) {
    if (i > 0 && delaySeconds > 0) await sleep(delaySeconds * 1000);
    const { job_id } = await submitOnce(client, draft);
    started.set(job_id, cli.now());
    if (!parsed.flags.json && spam === undefined && drafts.length <= 10)
      cli.stdout(`submitted ${job_id} (${draft.model}, ${draft.priority})\n`);
  }
  if (spam !== undefined) {
    if (parsed.flags.json)
      cli.stdout(`${JSON.stringify({ submitted: [...started.keys()] }, null, 2)}\n`);
    else cli.stdout(`submitted ${started.size} jobs without waiting\n`);
    return 0;
  }

  const bar =
    process.stderr.isTTY && !parsed.flags.json
      ? new cliProgress.SingleBar(
          { format: 'jobs [{bar}] {value}/{total} done, {failed} failed', stream: process.stderr },
          cliProgress.Presets.shades_classic,
        )
      : undefined;
  let failed = 0;
  bar?.start(started.size, 0, { failed });
  const results = await mapLimited([...started.keys()], 16, async (id) => {
    for (;;) {
      const job = await client.call<JobView>(`/api/job/${id}?wait=30`);
      if (job.status === 'complete' || job.status === 'failed' || job.status === 'cancelled') {
        if (job.status !== 'complete') failed++;
        bar?.increment(1, { failed });
        return job;
      }
    }
  });
  bar?.stop();
  const latencies = results
    .filter((j) => j.status === 'complete' && j.completed_at)
    .map((j) => Date.parse(j.completed_at as string) - Date.parse(j.submitted_at))
    .sort((a, b) => a - b);
  const summary = {
    submitted: results.length,
    completed: results.filter((j) => j.status === 'complete').length,
    failed: results.filter((j) => j.status === 'failed').length,
    cancelled: results.filter((j) => j.status === 'cancelled').length,
    latency_ms: { p50: percentile(latencies, 0.5), p95: percentile(latencies, 0.95) },
  };
  if (parsed.flags.json) {
    cli.stdout(`${JSON.stringify({ jobs: results, summary }, null, 2)}\n`);
  } else {
    for (const j of results.filter((r) => r.status === 'failed'))
      cli.stdout(`failed ${j.job_id}: ${j.error?.message}\n`);
    cli.stdout(
      `${summary.completed} completed, ${summary.failed} failed, ${summary.cancelled} cancelled; latency p50 ${fmt(summary.latency_ms.p50)}, p95 ${fmt(summary.latency_ms.p95)}\n`,
    );
  }
  return summary.failed + summary.cancelled > 0 ? 1 : 0;
}

function plan(o: {
  model: string;
  priority: Priority;
  prompt: string | undefined;
  batch: boolean;
  random: number | undefined;
  spam: number | undefined;
}): Draft[] {
  if (o.batch) return BATCH.map((b) => ({ ...b, model: o.model }));
  if (o.random !== undefined) {
    const models = DEFAULT_CATALOGUE.filter((m) => m.capabilities.includes('text')).map(
      (m) => m.name,
    );
    return Array.from({ length: o.random }, (_, i) => ({
      model: models[Math.floor(Math.random() * models.length)] as string,
      prompt: PROMPTS[Math.floor(Math.random() * PROMPTS.length)] as string,
      priority: PRIORITIES[(i + Math.floor(Math.random() * 3)) % PRIORITIES.length] as Priority,
    }));
  }
  const prompt = o.prompt ?? (PROMPTS[0] as string);
  if (o.spam !== undefined)
    return Array.from({ length: o.spam }, (_, i) => ({
      model: o.model,
      prompt: `${prompt} (#${i + 1})`,
      priority: o.priority,
    }));
  return [{ model: o.model, prompt, priority: o.priority }];
}

async function mapLimited<T, R>(
  items: T[],
  limit: number,
  work: (item: T) => Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        results[i] = await work(items[i] as T);
      }
    }),
  );
  return results;
}

function percentile(sorted: number[], p: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)] as number;
}

function fmt(ms: number | null): string {
  if (ms === null) return '-';
  return ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`;
}

/**
 * One submit, sent again once if the supervisor could not be reached (the reply may be what
 * was lost): its Idempotency-Key makes sure the repeat does not make a second job.
 */
async function submitOnce(client: JobClient, draft: unknown): Promise<{ job_id: string }> {
  const headers = { 'idempotency-key': randomUUID() };
  try {
    return await client.call('/api/submit', { body: draft, headers });
  } catch (err) {
    if ((err as FleetError).code !== 'FLEET_ERR_SUPERVISOR') throw err;
    await sleep(500);
    return client.call('/api/submit', { body: draft, headers });
  }
}
