/**
 * A job run on behalf of a caller that waits on the line (the Ollama- and OpenAI-compatible
 * routes): submitted like any job, then followed as events until it ends. A job sent back to
 * the queue (an OOM) runs again from the start; the text the caller already has is not sent
 * twice. Cancelling (the caller went away) cancels the job.
 */
import type { JobEvent, JobEvents } from '../queue/events.js';
import type { GroupCommit } from '../queue/group-commit.js';
import { FINAL_STATUSES, type Job, type NewJob } from '../queue/job.js';
import type { JobStore } from '../queue/store.js';

export type RunEvent =
  | { type: 'running'; model: string }
  | { type: 'token'; text: string }
  | { type: 'done'; job: Job };

export interface JobRunDeps {
  store: JobStore;
  events: JobEvents;
  submits: GroupCommit;
  cancelRunning: (id: string) => void;
  now: () => number;
}

export interface JobRun {
  id: string;
  position: number | undefined;
  /** Running, tokens, then one `done` with the job as it ended (complete, failed, cancelled). */
  events(): AsyncGenerator<RunEvent>;
  cancel(): Promise<void>;
}

export async function runJob(deps: JobRunDeps, newJob: NewJob): Promise<JobRun> {
  const { job, position } = await deps.submits.submit(newJob);
  deps.events.publish(job.id, { type: 'queued', job, position });
  const queue: RunEvent[] = [];
  let wake: (() => void) | undefined;
  let sent = 0; // characters the caller has
  let replay = 0; // characters of a re-run not yet past what was sent
  let ended = false;
  const push = (event: RunEvent) => {
    queue.push(event);
    wake?.();
  };
  const onEvent = (event: JobEvent) => {
    if (event.type === 'running') push({ type: 'running', model: modelOf(event.job) });
    else if (event.type === 'requeued') replay = sent;
    else if (event.type === 'token') {
      let text = event.text;
      if (replay > 0) {
        const skip = Math.min(replay, text.length);
        replay -= skip;
        text = text.slice(skip);
      }
      if (text === '') return;
      sent += text.length;
      push({ type: 'token', text });
    } else if (FINAL_STATUSES.has(event.type as Job['status'])) {
      ended = true;
      push({ type: 'done', job: (event as { job: Job }).job });
    }
  };
  const unsubscribe = deps.events.subscribe(job.id, onEvent);
  // It may have ended between the write and the subscription.
  const current = await deps.store.get(job.id);
  if (current && FINAL_STATUSES.has(current.status) && !ended) {
    ended = true;
    push({ type: 'done', job: current });
  }
  return {
    id: job.id,
    position,
    async *events() {
      try {
        for (;;) {
          const next = queue.shift();
          if (next) {
            yield next;
            if (next.type === 'done') return;
            continue;
          }
          await new Promise<void>((resolve) => {
            wake = resolve;
          });
          wake = undefined;
        }
      } finally {
        unsubscribe();
      }
    },
    async cancel() {
      unsubscribe();
      if (ended) return;
      const before = await deps.store.get(job.id);
      const cancelled = await deps.store.cancel(job.id, deps.now());
      if (!cancelled) return;
      if (before?.status === 'running' || before?.status === 'queued') deps.cancelRunning(job.id);
      deps.events.publish(job.id, { type: 'cancelled', job: cancelled });
    },
  };
}

/** The model the job ran on: the rung an alias resolved to, or the name it was given. */
export function modelOf(job: Job): string {
  return job.resolved_model ?? job.model;
}
