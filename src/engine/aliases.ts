/**
 * Which concrete model a job runs on: its own name, or for a ladder alias (`fleet`,
 * `fleet:<ladder>`) the ladder's current rung at dispatch time, so a downgrade takes effect
 * for queued work at once.
 */
import { currentModel, type LadderState } from '../fleet/ladder.js';
import { ladderOfAlias } from '../queue/job.js';

export type Resolve = (model: string) => string | undefined;

export function aliasResolver(ladders: readonly LadderState[]): Resolve {
  return (model) => {
    const alias = ladderOfAlias(model);
    if (!alias) return model;
    const ladder =
      alias.ladder === undefined ? ladders[0] : ladders.find((l) => l.name === alias.ladder);
    return ladder ? currentModel(ladder) : undefined;
  };
}
