/** `fleet status`: every ladder, its incidents and history, and what Ollama has installed. */
import { formatDuration } from '../config/duration.js';
import type { FleetConfig } from '../config/load.js';
import { isFleetError } from '../errors.js';
import type { LadderView } from '../fleet/view.js';
import { OllamaClient } from '../ollama/client.js';
import { canonicalModelName } from '../ollama/names.js';
import type { ParsedCommand } from './args.js';
import { type CliEnvironment, loadCliConfig, openFleetControl } from './context.js';

export interface OllamaView {
  url: string;
  reachable: boolean;
  models?: string[];
  error?: string;
}

export async function statusCommand(parsed: ParsedCommand, cli: CliEnvironment): Promise<number> {
  const config = await loadCliConfig(parsed.flags, cli);
  const { control, store } = await openFleetControl(config, cli);
  const chosen =
    parsed.flags.ladder === undefined ? undefined : store.ladderConfig(parsed.flags.ladder).name;
  const [status, ollama] = await Promise.all([control.status(), readOllama(config)]);
  const ladders = status.ladders.filter((l) => chosen === undefined || l.name === chosen);
  if (parsed.flags.json) {
    cli.stdout(
      `${JSON.stringify({ via: control.via, ladders, notes: status.notes, ollama }, null, 2)}\n`,
    );
    return 0;
  }
  const installed = new Set((ollama.models ?? []).map(canonicalModelName));
  const blocks = ladders.map((ladder, i) =>
    formatLadder(ladder, i === 0 && chosen === undefined, ollama.reachable ? installed : undefined),
  );
  const footer = [
    ollama.reachable
      ? `ollama ${ollama.url}: ${ollama.models?.length ?? 0} models installed`
      : `ollama: ${ollama.error}`,
    `state: ${control.via}`,
  ];
  cli.stdout(`${[...blocks, footer.join('\n')].join('\n\n')}\n`);
  return 0;
}

async function readOllama(config: FleetConfig): Promise<OllamaView> {
  const client = new OllamaClient({
    url: config.ollama.url,
    timeout: Math.min(config.ollama.timeouts.connect, 3_000),
  });
  try {
    const tags = await client.tags();
    return { url: client.url, reachable: true, models: tags.models.map((m) => m.name) };
  } catch (err) {
    return {
      url: client.url,
      reachable: false,
      error: isFleetError(err) ? err.message : String(err),
    };
  }
}

export function formatLadder(
  ladder: LadderView,
  isDefault: boolean,
  installed?: Set<string>,
): string {
  const lines = [`ladder ${ladder.name}${isDefault ? ' (default)' : ''}: ${ladder.current_model}`];
  ladder.models.forEach((model, i) => {
    const mark = i === ladder.current_model_index ? '>' : ' ';
    const presence = installed
      ? installed.has(canonicalModelName(model))
        ? ''
        : '  (not pulled)'
      : '';
    lines.push(`  ${mark} ${i}  ${model}${presence}`);
  });
  const inc = ladder.incidents;
  const counted =
    inc.weight === inc.count ? `${inc.count}` : `${inc.weight} (${inc.count} incidents)`;
  lines.push(
    `  incidents: ${counted} of ${inc.threshold} within ${formatDuration(inc.window_seconds * 1000)}`,
  );
  for (const recent of inc.recent) {
    lines.push(
      `    ${recent.at}  ${recent.kind} (${recent.severity})${recent.evidence ? `  ${recent.evidence.slice(0, 100)}` : ''}`,
    );
  }
  lines.push(
    `  cooldown: ${ladder.cooldown_seconds_left > 0 ? `${humanSeconds(ladder.cooldown_seconds_left)} left` : 'none'}`,
  );
  const below = ladder.models[ladder.current_model_index + 1];
  const above = ladder.models[ladder.current_model_index - 1];
  lines.push(`  step down: ${ladder.can_downgrade ? `to ${below}` : 'no, at the bottom'}`);
  lines.push(`  step up: ${ladder.can_upgrade ? `to ${above}` : 'no, at the top'}`);
  if (ladder.schedule)
    lines.push(`  schedule: ${ladder.schedule.action} at "${ladder.schedule.cron}"`);
  if (ladder.history.length > 0) {
    lines.push('  last transitions:');
    for (const t of ladder.history.slice(-5)) {
      lines.push(`    ${t.at}  ${t.from} -> ${t.to}  (${t.source}: ${t.reason})`);
    }
  }
  return lines.join('\n');
}

/** 299 -> "4m 59s", for people reading a countdown. */
function humanSeconds(total: number): string {
  const minutes = Math.floor(total / 60);
  const seconds = total % 60;
  if (minutes === 0) return `${seconds}s`;
  return seconds === 0 ? `${minutes}m` : `${minutes}m ${seconds}s`;
}
