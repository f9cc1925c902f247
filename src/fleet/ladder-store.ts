/**
 * Persists the ladders in `<state_dir>/fleet-state.json`. Every change is a locked
 * read-modify-write, so a CLI and a supervisor (or three CLIs at once) never lose an update.
 * A corrupt file is moved aside and reported; the ladders then start at their top.
 */
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import lockfile from 'proper-lockfile';
import type { LadderConfig } from '../config/schema.js';
import { Errors, FleetError, wrapError } from '../errors.js';
import { keepAside, writeFileAtomic } from '../files/atomic.js';
import type { Logger } from '../log.js';
import {
  applyLadderEvent,
  initialLadderState,
  type LadderEvent,
  type LadderOutcome,
  type LadderState,
  reconcileLadder,
  withIncidentsSince,
} from './ladder.js';
import { decodeStateFile, encodeStateFile, STATE_FILE_NAME } from './state-file.js';

export interface LadderStoreOptions {
  stateDir: string;
  /** The ladders of fleet.yaml, in order; the first is the default. */
  ladders: readonly LadderConfig[];
  log: Logger;
  now: () => number;
  /** Told after every transition is on disk, whoever made it (policy, CLI, API, schedule). */
  onTransition?: (ladder: string, outcome: LadderOutcome) => void;
  /**
   * Incidents closer together than this are one event seen by several sources (the log, a
   * failed job, a failed load): counted once (detection.merge_within).
   */
  mergeWithin?: number;
}

export interface LadderSnapshot {
  /** The configured ladders, in fleet.yaml's order. */
  ladders: LadderState[];
  /** What was noticed while reading: a corrupt file kept aside, a changed ladder. */
  notes: string[];
}

interface Loaded {
  configured: LadderState[];
  /** Ladders in the file that fleet.yaml no longer names: kept, never dropped. */
  others: LadderState[];
  notes: string[];
}

export class LadderStore {
  readonly file: string;
  readonly #options: LadderStoreOptions;

  constructor(options: LadderStoreOptions) {
    this.#options = options;
    this.file = path.join(options.stateDir, STATE_FILE_NAME);
  }

  ladderConfig(name: string | undefined): LadderConfig {
    const ladders = this.#options.ladders;
    const found = name === undefined ? ladders[0] : ladders.find((l) => l.name === name);
    if (!found) {
      throw new FleetError(
        Errors.FLEET_ERR_UNKNOWN_LADDER,
        `no ladder is named "${name}"; fleet.yaml has: ${ladders.map((l) => l.name).join(', ')}`,
        { details: { ladder: name, ladders: ladders.map((l) => l.name) } },
      );
    }
    return found;
  }

  /** The current state, without writing (a corrupt file is still moved aside). */
  async read(): Promise<LadderSnapshot> {
    const loaded = await this.#load(false);
    return { ladders: loaded.configured, notes: loaded.notes };
  }

  /** Applies one event to one ladder under the lock and writes the result. */
  async apply(ladderName: string | undefined, event: LadderEvent): Promise<LadderOutcome> {
    const ladder = this.ladderConfig(ladderName);
    return this.#locked(async () => {
      const loaded = await this.#load(true);
      const index = loaded.configured.findIndex((l) => l.name === ladder.name);
      const outcome = applyLadderEvent(
        loaded.configured[index] as LadderState,
        event,
        { ...ladder.downgrade, merge_within: this.#options.mergeWithin ?? 0 },
        this.#options.now(),
      );
      loaded.configured[index] = outcome.state;
      await this.#write(loaded);
      if (outcome.transition) this.#options.onTransition?.(ladder.name, outcome);
      return outcome;
    });
  }

  /** Writes the file as fleet.yaml now describes it (a changed ladder, a fresh start). */
  async sync(): Promise<LadderSnapshot> {
    return this.#locked(async () => {
      const loaded = await this.#load(true);
      await this.#write(loaded);
      return { ladders: loaded.configured, notes: loaded.notes };
    });
  }

  async #load(locked: boolean): Promise<Loaded> {
    const { ladders: configs, log, now } = this.#options;
    const notes: string[] = [];
    let saved = new Map<string, LadderState>();
    const text = await this.#readText();
    if (text !== undefined) {
      const first = configs[0] as LadderConfig;
      const decoded = decodeStateFile(text, first);
      if (decoded.ok) {
        saved = decoded.ladders;
        if (decoded.note) notes.push(decoded.note);
      } else if (!locked) {
        // Someone may be rewriting it right now: look again under the lock before acting.
        return this.#locked(() => this.#load(true));
      } else {
        const aside = await keepAside(this.file, new Date(now())).catch((err: unknown) => {
          throw wrapError(
            Errors.FLEET_ERR_STATE_IO,
            `cannot move the corrupt ${this.file} aside`,
            err,
          );
        });
        const note = `state file ${this.file} was corrupt (${decoded.reason}); kept it as ${aside} and started every ladder at its top`;
        log.warn({ file: this.file, aside, reason: decoded.reason }, note);
        notes.push(note);
      }
    }
    const configured = configs.map((config) => {
      const prior = saved.get(config.name);
      if (!prior) return initialLadderState(config.name, config.models, now());
      const { state, note } = reconcileLadder(prior, config.models, now());
      if (note) {
        log.warn({ ladder: config.name }, note);
        notes.push(note);
      }
      return state;
    });
    const names = new Set(configs.map((c) => c.name));
    const others = [...saved.values()].filter((l) => !names.has(l.name));
    return { configured, others, notes };
  }

  async #readText(): Promise<string | undefined> {
    try {
      return await readFile(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw wrapError(Errors.FLEET_ERR_STATE_IO, `cannot read ${this.file}`, err);
    }
  }

  async #write(loaded: Loaded): Promise<void> {
    const now = this.#options.now();
    const pruned = loaded.configured.map((state, i) => {
      const policy = (this.#options.ladders[i] as LadderConfig).downgrade;
      return withIncidentsSince(state, now - policy.window);
    });
    try {
      await writeFileAtomic(this.file, encodeStateFile([...pruned, ...loaded.others], now));
    } catch (err) {
      throw wrapError(Errors.FLEET_ERR_STATE_IO, `cannot write ${this.file}`, err);
    }
  }

  async #locked<T>(work: () => Promise<T>): Promise<T> {
    try {
      await mkdir(this.#options.stateDir, { recursive: true });
    } catch (err) {
      throw wrapError(
        Errors.FLEET_ERR_STATE_IO,
        `cannot create the state dir ${this.#options.stateDir}`,
        err,
      );
    }
    let release: () => Promise<void>;
    try {
      release = await lockfile.lock(this.file, {
        realpath: false,
        // A lock older than this belongs to a process that died holding it.
        stale: 10_000,
        retries: { retries: 200, factor: 1.2, minTimeout: 5, maxTimeout: 100 },
        onCompromised: (err) =>
          this.#options.log.error({ err, file: this.file }, 'lost the state file lock'),
      });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ELOCKED') {
        throw new FleetError(
          Errors.FLEET_ERR_STATE_LOCKED,
          `another fleet process holds the lock on ${this.file} (${this.file}.lock); try again, or remove the lock if no fleet process runs`,
          { cause: err },
        );
      }
      throw wrapError(Errors.FLEET_ERR_STATE_IO, `cannot lock ${this.file}`, err);
    }
    try {
      return await work();
    } finally {
      await release().catch(() => {});
    }
  }
}
