/** Percentiles and the per-priority summary every workload reports. */
import type { Priority } from '../src/queue/job.js';

export function percentile(values: readonly number[], p: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index] as number;
}

export interface Spread {
  p50: number | null;
  p95: number | null;
  p99: number | null;
}

export function spread(values: readonly number[]): Spread {
  const round = (v: number | null) => (v === null ? null : Math.round(v * 100) / 100);
  return {
    p50: round(percentile(values, 50)),
    p95: round(percentile(values, 95)),
    p99: round(percentile(values, 99)),
  };
}

/** One job as a client saw it; times in real ms on this machine's clock. */
export interface JobOutcome {
  priority: Priority;
  arrival: number;
  start: number | undefined;
  end: number | undefined;
  ok: boolean;
  /** Failed with an out-of-memory error. */
  oom: boolean;
  /** Simulated ms of inference it took, loads excluded (Ollama's timing fields). */
  workMs: number;
  /** Why it failed: an error code or Ollama's answer. */
  reason?: string;
  /** Never finished: still waiting or running when the run gave up on it. */
  lost?: boolean;
  /** The Ollama it was sent to (direct) or that ran it (fleet). */
  backend?: string;
  /** Sent again after an error: the client retried it elsewhere, or the fleet requeued it. */
  sentAgain?: boolean;
}

export interface RunSummary {
  jobs: number;
  completed: number;
  failed: number;
  oom_failed: number;
  /** Failures by reason. */
  failures: Record<string, number>;
  /** First arrival to last completion, simulated seconds. */
  makespan_s: number;
  loads: number;
  oom_lines: number;
  /** Simulated seconds, per priority: arrival to start, and arrival to completion. */
  wait_s: Record<Priority | 'all', Spread>;
  latency_s: Record<Priority | 'all', Spread>;
}

export function summarise(
  outcomes: readonly JobOutcome[],
  timeScale: number,
  counts: { loads: number; oomLines: number },
): RunSummary {
  const toSim = (ms: number) => ms / timeScale / 1000;
  const done = outcomes.filter((o) => o.ok);
  const first = Math.min(...outcomes.map((o) => o.arrival));
  const last = Math.max(...outcomes.map((o) => o.end ?? o.arrival));
  const by = (metric: (o: JobOutcome) => number | undefined) => {
    const result = {} as Record<Priority | 'all', Spread>;
    for (const p of ['high', 'normal', 'low', 'all'] as const) {
      const values = done
        .filter((o) => p === 'all' || o.priority === p)
        .map(metric)
        .filter((v): v is number => v !== undefined)
        .map(toSim);
      result[p] = spread(values);
    }
    return result;
  };
  return {
    jobs: outcomes.length,
    completed: done.length,
    failed: outcomes.length - done.length,
    oom_failed: outcomes.filter((o) => o.oom).length,
    failures: outcomes
      .filter((o) => !o.ok)
      .reduce<Record<string, number>>((acc, o) => {
        const key = o.reason ?? 'unknown';
        acc[key] = (acc[key] ?? 0) + 1;
        return acc;
      }, {}),
    makespan_s: Math.round(toSim(last - first) * 10) / 10,
    loads: counts.loads,
    oom_lines: counts.oomLines,
    wait_s: by((o) => (o.start === undefined ? undefined : o.start - o.arrival)),
    latency_s: by((o) => (o.end === undefined ? undefined : o.end - o.arrival)),
  };
}
