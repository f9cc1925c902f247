/**
 * Collapses detected lines into incidents: lines of the same severity closer together than
 * `detection.merge_within` are one failure (an OOM prints a block of lines; a slow unload
 * logs its warning about three times). Pure: times are passed in.
 */
import type { Severity } from './detect.js';

export interface CollapsedIncident {
  /** 1-based, in order of appearance. */
  number: number;
  kind: string;
  severity: Severity;
  weight: number;
  at: number;
  evidence: string;
}

export class IncidentCollapser {
  readonly #last: Record<Severity, { at: number; number: number } | undefined> = {
    hard: undefined,
    soft: undefined,
  };
  #count = 0;

  constructor(
    private readonly mergeWithinMs: number,
    private readonly weights: Readonly<Record<Severity, number>>,
  ) {}

  /**
   * Feeds one matching line. Returns the new incident when the line starts one, or the
   * number of the incident it joined.
   */
  feed(
    kind: string,
    severity: Severity,
    at: number,
    line: string,
  ): { incident: CollapsedIncident } | { joined: number } {
    const last = this.#last[severity];
    if (last && at - last.at <= this.mergeWithinMs) {
      last.at = at;
      return { joined: last.number };
    }
    this.#count += 1;
    this.#last[severity] = { at, number: this.#count };
    return {
      incident: {
        number: this.#count,
        kind,
        severity,
        weight: this.weights[severity],
        at,
        evidence: line.slice(0, 500),
      },
    };
  }
}
