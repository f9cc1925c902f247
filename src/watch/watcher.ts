/**
 * The VRAM watcher: Ollama's log lines (its container's, or a file's), through the detector,
 * collapsed into incidents, handed to the ladder policy the moment they are seen.
 */
import type { ParsedFleetConfig } from '../config/schema.js';
import type { Logger } from '../log.js';
import type { LogLine } from './demux.js';
import { compileDetector, lineTime } from './detect.js';
import type { ContainerTarget, DockerClient } from './docker.js';
import { FileFollower } from './file-follower.js';
import { LogFollower } from './follower.js';
import { type CollapsedIncident, IncidentCollapser } from './incidents.js';
import { JournaldFollower } from './journald-follower.js';

/** Where Ollama's log comes from: a container through Docker, or a file. */
export type LogSource =
  | { kind: 'container'; docker: DockerClient; target: ContainerTarget }
  | { kind: 'file'; file: string; positionFile: string }
  | { kind: 'journald'; unit: string; cursorFile: string };

export interface WatcherOptions {
  source: LogSource;
  detection: ParsedFleetConfig['detection'];
  log: Logger;
  now: () => number;
  onIncident: (incident: CollapsedIncident, model: string | undefined) => void;
}

/** `runner.name=registry.ollama.ai/library/llama3.1:8b` or `model=...:tag` in a line. */
const MODEL_IN_LINE = /runner\.name=(?:\S*\/)?([\w.-]+:[\w.-]+)/;

export class VramWatcher {
  readonly #follower: LogFollower | FileFollower | JournaldFollower;
  #incidents = 0;

  constructor(options: WatcherOptions) {
    const detect = compileDetector(options.detection.patterns);
    const collapse = new IncidentCollapser(
      options.detection.merge_within,
      options.detection.weights,
    );
    const onLine = (line: LogLine) => {
      const found = detect(line.text);
      if (found?.type !== 'incident') return;
      const at =
        (line.ts ? Date.parse(line.ts) : undefined) ?? lineTime(line.text) ?? options.now();
      const result = collapse.feed(found.kind, found.severity, at, line.text);
      if (!('incident' in result)) return;
      this.#incidents += 1;
      const model = MODEL_IN_LINE.exec(line.text)?.[1];
      options.log.warn(
        { incident: result.incident, stream: line.stream },
        `VRAM trouble in the Ollama log: ${found.kind} (${found.severity})`,
      );
      options.onIncident(result.incident, model);
    };
    const { source } = options;
    this.#follower =
      source.kind === 'file'
        ? new FileFollower({
            file: source.file,
            positionFile: source.positionFile,
            log: options.log,
            onLine,
          })
        : source.kind === 'journald'
          ? new JournaldFollower({
              unit: source.unit,
              cursorFile: source.cursorFile,
              log: options.log,
              onLine,
            })
          : new LogFollower({
              docker: source.docker,
              target: source.target,
              log: options.log,
              startAt: new Date(options.now()).toISOString(),
              onLine,
            });
  }

  status() {
    return { ...this.#follower.status(), incidents: this.#incidents };
  }

  run(signal: AbortSignal): Promise<void> {
    return this.#follower.run(signal);
  }
}
