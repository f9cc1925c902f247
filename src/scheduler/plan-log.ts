/** Logs a plan when it changes, so the log says what the scheduler did and why, once. */
import type { Logger } from '../log.js';
import type { Plan } from './planner.js';

export class PlanLog {
  #last = '';

  constructor(private readonly log: Logger) {}

  note(plan: Plan): void {
    const key = JSON.stringify([plan.unload, plan.load, plan.draining, plan.impossible]);
    if (key === this.#last) return;
    this.#last = key;
    // Serving what is loaded is the quiet case: nothing to say.
    if (plan.unload.length === 0 && plan.load === undefined && plan.draining.length === 0) return;
    this.log.info({ unload: plan.unload, load: plan.load, draining: plan.draining }, plan.reason);
  }
}
