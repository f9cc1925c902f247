/** `fleet jobs [ID]`: list jobs (filters: --status, --model, --limit) or show one. */
import { JobClient } from '../api/job-client.js';
import type { ParsedCommand } from './args.js';
import { type CliEnvironment, supervisorAddress } from './context.js';

export async function jobsCommand(parsed: ParsedCommand, cli: CliEnvironment): Promise<number> {
  const o = parsed.options;
  const client = new JobClient(await supervisorAddress(parsed, cli));
  const id = parsed.positionals[0];
  if (id !== undefined) {
    const job = await client.call<Record<string, unknown>>(`/api/job/${encodeURIComponent(id)}`);
    cli.stdout(parsed.flags.json ? `${JSON.stringify(job, null, 2)}\n` : `${describe(job)}\n`);
    return 0;
  }
  const query = new URLSearchParams();
  for (const key of ['status', 'model', 'limit'] as const) {
    const value = o[key];
    if (typeof value === 'string') query.set(key, value);
  }
  const { jobs } = await client.call<{ jobs: Record<string, unknown>[] }>(
    `/api/jobs${query.size > 0 ? `?${query}` : ''}`,
  );
  if (parsed.flags.json) {
    cli.stdout(`${JSON.stringify({ jobs }, null, 2)}\n`);
    return 0;
  }
  const rows = jobs.map((j) => [
    String(j.job_id),
    String(j.status),
    String(j.priority),
    j.resolved_model && j.resolved_model !== j.model
      ? `${j.model} -> ${j.resolved_model}`
      : String(j.model),
    String(j.attempts),
    String(j.submitted_at),
  ]);
  const header = ['JOB', 'STATUS', 'PRIORITY', 'MODEL', 'ATTEMPTS', 'SUBMITTED'];
  const widths = header.map((h, i) =>
    Math.max(h.length, ...rows.map((r) => (r[i] as string).length)),
  );
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i] as number))
      .join('  ')
      .trimEnd();
  cli.stdout(`${[line(header), ...rows.map(line)].join('\n')}\n`);
  return 0;
}

function describe(job: Record<string, unknown>): string {
  const lines = Object.entries(job)
    .filter(([key]) => key !== 'result')
    .map(
      ([key, value]) =>
        `${key}: ${typeof value === 'object' ? JSON.stringify(value) : String(value)}`,
    );
  const result = job.result as Record<string, unknown> | undefined;
  if (result) {
    const text = answerText(result);
    const vectors = result.embeddings ?? (result.object === 'list' ? result.data : undefined);
    if (typeof text === 'string') lines.push(`result: ${text}`);
    else if (Array.isArray(vectors)) lines.push(`result: ${vectors.length} embeddings`);
  }
  return lines.join('\n');
}

/**
 * The text of an answer in any of the shapes a job keeps: Ollama's generate or chat, a
 * streamed OpenAI answer (`text`), or OpenAI's chat, completion or Responses objects.
 */
function answerText(result: Record<string, unknown>): unknown {
  type Choice = { message?: { content?: unknown }; text?: unknown };
  const choice = (result.choices as Choice[] | undefined)?.[0];
  const output = (result.output as { content?: { text?: unknown }[] }[] | undefined)?.find((o) =>
    Array.isArray(o.content),
  );
  return (
    result.response ??
    (result.message as { content?: unknown } | undefined)?.content ??
    result.text ??
    choice?.message?.content ??
    choice?.text ??
    output?.content?.[0]?.text
  );
}
