/**
 * The backends together: placement over all of them (each dispatcher asks for its share),
 * a job cancelled wherever it runs, and one Ollama front for the compatible routes that
 * merges what several answer (`/api/ps`, `/api/tags`, `/v1/models`).
 */
import { Readable } from 'node:stream';
import type { Placer } from '../engine/engine.js';
import type { OllamaClient } from '../ollama/client.js';
import type { DemandGroup } from '../scheduler/planner.js';
import { type PlacementResult, place } from './placement.js';
import type { BackendRuntime } from './runtime.js';

/** What the compatible routes and the job API need of "Ollama". */
export type OllamaFront = Pick<OllamaClient, 'forward' | 'version' | 'tags' | 'url'>;

export class Backends implements Placer {
  readonly list: BackendRuntime[] = [];

  constructor(
    private readonly settings: {
      maxConcurrentPerModel: number;
      agingMs: number;
    },
  ) {}

  add(backend: BackendRuntime): void {
    this.list.push(backend);
  }

  get first(): BackendRuntime {
    const first = this.list[0];
    if (!first) throw new Error('no backend');
    return first;
  }

  share(
    backend: string,
    demand: readonly DemandGroup[],
    now: number,
  ): { models: ReadonlySet<string>; impossible: PlacementResult['impossible'] } {
    const result = place({
      demand,
      backends: this.list.map((b) => b.engine.view()),
      estimate: (model, name) => this.list.find((b) => b.name === name)?.estimate(model),
      maxConcurrentPerModel: this.settings.maxConcurrentPerModel,
      maxWaitMs: this.settings.agingMs,
      now,
    });
    return { models: result.assigned.get(backend) ?? new Set(), impossible: result.impossible };
  }

  /** Stops a running job's request on whichever backend runs it. */
  cancel(id: string): boolean {
    return this.list.some((b) => b.engine.cancel(id));
  }

  /** A caller's keep_alive 0: every backend lets the model go once no job needs it. */
  unloadWhenIdle(model: string): void {
    for (const b of this.list) b.engine.unloadWhenIdle(model);
  }

  /** Jobs in flight, by concrete model, over all backends. */
  runningByModel(): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const b of this.list)
      for (const [model, n] of Object.entries(b.engine.runningByModel()))
        counts[model] = (counts[model] ?? 0) + n;
    return counts;
  }

  /** Installed models seen on any backend (canonical names), when any has been seen. */
  installed(): { name: string; size: number }[] | undefined {
    const seen = this.list
      .map((b) => b.monitor.current()?.installed)
      .filter((i) => i !== undefined);
    return seen.length === 0 ? undefined : seen.flat();
  }

  /**
   * Ollama as callers of the compatible routes see it. One backend: its client, as is.
   * Several: lists merged over the backends that answer, anything else sent to the first
   * one that answers.
   */
  front(): OllamaFront {
    if (this.list.length === 1) return this.first.client;
    const answering = () => {
      const up = this.list.filter((b) => b.health.healthy);
      return up.length > 0 ? up : this.list;
    };
    const asAnswer = (status: number, text: string) => ({
      status,
      contentType: 'application/json; charset=utf-8',
      body: Readable.from([text]) as NodeJS.ReadableStream,
    });
    /** One list out of every answering backend's; the first backend's refusal when none gives one. */
    const merged = async (
      route: string,
      key: 'models' | 'data',
      id: (entry: Record<string, unknown>) => unknown,
      signal?: AbortSignal,
    ) => {
      const answers = await Promise.allSettled(
        answering().map(async (b) => {
          const answer = await b.client.forward('GET', route, undefined, signal);
          return { status: answer.status, text: await readAll(answer.body) };
        }),
      );
      const lists: Record<string, unknown>[] = [];
      for (const a of answers) {
        if (a.status === 'fulfilled' && a.value.status === 200)
          lists.push(JSON.parse(a.value.text) as Record<string, unknown>);
      }
      if (lists.length === 0) {
        const firstAnswer = answers[0];
        if (firstAnswer?.status === 'rejected') throw firstAnswer.reason;
        return asAnswer(firstAnswer?.value.status ?? 502, firstAnswer?.value.text ?? '{}');
      }
      const entries: Record<string, unknown>[] = [];
      const seen = new Set<unknown>();
      for (const list of lists) {
        for (const entry of (list[key] as Record<string, unknown>[] | undefined) ?? []) {
          // A model loaded on two backends is two entries of /api/ps, one of a model list.
          if (route !== '/api/ps') {
            if (seen.has(id(entry))) continue;
            seen.add(id(entry));
          }
          entries.push(entry);
        }
      }
      return asAnswer(200, JSON.stringify({ ...lists[0], [key]: entries }));
    };
    const first = () => answering()[0] ?? this.first;
    return {
      get url() {
        return first().client.url;
      },
      version: (signal?: AbortSignal) => first().client.version(signal),
      tags: async (signal?: AbortSignal) => {
        const lists = await Promise.allSettled(answering().map((b) => b.client.tags(signal)));
        const ok = lists.flatMap((l) => (l.status === 'fulfilled' ? [l.value] : []));
        if (ok.length === 0) throw (lists[0] as PromiseRejectedResult).reason;
        const seen = new Set<string>();
        return {
          models: ok.flatMap((l) => l.models).filter((m) => !seen.has(m.name) && seen.add(m.name)),
        };
      },
      forward: async (method, route, body, signal) => {
        if (method === 'GET' && (route === '/api/ps' || route === '/api/tags'))
          return merged(route, 'models', (m) => m.name, signal);
        if (method === 'GET' && route === '/v1/models')
          return merged(route, 'data', (m) => m.id, signal);
        return first().client.forward(method, route, body, signal);
      },
    };
  }
}

async function readAll(body: NodeJS.ReadableStream): Promise<string> {
  let text = '';
  for await (const chunk of body)
    text += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
  return text;
}
