/**
 * `fleet pull [MODEL | --ladder NAME]`: makes sure Ollama has a model, pulling it with its
 * progress shown; without a model, the ladder's current rung. What the supervisor does by
 * itself at start and after each step, done by hand.
 */
import type { BackendConfig } from '../config/backends.js';
import { Errors, FleetError } from '../errors.js';
import { OllamaClient } from '../ollama/client.js';
import { sameModel } from '../ollama/names.js';
import { ndjsonObjects } from '../ollama/ndjson.js';
import type { ParsedCommand } from './args.js';
import { type CliEnvironment, loadCliConfig, openFleetControl } from './context.js';

export async function pullCommand(parsed: ParsedCommand, cli: CliEnvironment): Promise<number> {
  const config = await loadCliConfig(parsed.flags, cli);
  let model = parsed.positionals[0];
  if (model === undefined) {
    const { control, store } = await openFleetControl(config, cli);
    const name = store.ladderConfig(parsed.flags.ladder).name;
    const ladder = (await control.status()).ladders.find((l) => l.name === name);
    if (!ladder)
      throw new FleetError(Errors.FLEET_ERR_UNKNOWN_LADDER, `no ladder is named ${name}`);
    model = ladder.current_model;
  }
  // Every backend that may run it; one line of JSON each, naming it when there are several.
  const targets = config.backends.filter(
    (b) => !b.models || b.models.some((m) => sameModel(m, model as string)),
  );
  if (targets.length === 0) {
    throw new FleetError(
      Errors.FLEET_ERR_NO_BACKEND,
      `no backend may run ${model}: it is on none of the backends' models lists`,
    );
  }
  for (const backend of targets) {
    const named = config.backends.length > 1 ? backend.name : undefined;
    const pulled = await pullOn(backend, model, parsed, cli, named);
    if (parsed.flags.json)
      cli.stdout(`${JSON.stringify({ model, pulled, ...(named ? { backend: named } : {}) })}\n`);
  }
  return 0;
}

/** Pulls the model on one backend unless it has it; whether it pulled. */
async function pullOn(
  backend: BackendConfig,
  model: string,
  parsed: ParsedCommand,
  cli: CliEnvironment,
  named: string | undefined,
): Promise<boolean> {
  const ollama = new OllamaClient({ url: backend.url, timeout: backend.timeouts.connect });
  const installed = await ollama.tags();
  if (installed.models.some((m) => sameModel(m.name, model))) {
    if (!parsed.flags.json) cli.stdout(`${model} is already on ${backend.url}\n`);
    return false;
  }
  const answer = await ollama.forward('POST', '/api/pull', JSON.stringify({ model, stream: true }));
  let last = '';
  let failed: string | undefined;
  for await (const step of ndjsonObjects(answer.body as AsyncIterable<Buffer>)) {
    if (typeof step.error === 'string') failed = step.error;
    const total = typeof step.total === 'number' ? step.total : undefined;
    const completed = typeof step.completed === 'number' ? step.completed : undefined;
    const percent =
      total && completed !== undefined ? ` ${Math.floor((completed / total) * 100)}%` : '';
    const text = `${typeof step.status === 'string' ? step.status : ''}${percent}`;
    if (text !== '' && text !== last && !parsed.flags.json)
      cli.stdout(`${named ? `${named}: ` : ''}${model}: ${text}\n`);
    last = text;
  }
  if (answer.status >= 400 || failed) {
    throw new FleetError(
      Errors.FLEET_ERR_OLLAMA_RESPONSE,
      `could not pull ${model}${named ? ` on backend ${named}` : ''}: ${failed ?? `Ollama answered ${answer.status}`}`,
    );
  }
  return true;
}
