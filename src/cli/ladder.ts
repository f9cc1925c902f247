/** `fleet downgrade | upgrade | reset | set <model>`: one ladder transition. */
import type { LadderAction } from '../fleet/control.js';
import type { ParsedCommand } from './args.js';
import { type CliEnvironment, loadCliConfig, openFleetControl } from './context.js';

export async function ladderCommand(parsed: ParsedCommand, cli: CliEnvironment): Promise<number> {
  const config = await loadCliConfig(parsed.flags, cli);
  const { control, store } = await openFleetControl(config, cli);
  const ladder = store.ladderConfig(parsed.flags.ladder).name;
  const reason = parsed.flags.reason === undefined ? {} : { reason: parsed.flags.reason };
  const action: LadderAction =
    parsed.command === 'set'
      ? { action: 'set', model: parsed.positionals[0] as string, ...reason }
      : { action: parsed.command as 'downgrade' | 'upgrade' | 'reset', ...reason };
  const result = await control.change(ladder, action);
  if (parsed.flags.json)
    cli.stdout(`${JSON.stringify({ via: control.via, ...result }, null, 2)}\n`);
  else cli.stdout(`${result.message}\n`);
  return 0;
}
