/**
 * The VRAM watcher: the Ollama container's log lines, through the detector, collapsed into
 * incidents, handed to the ladder policy the moment they are seen.
 */
import type { ParsedFleetConfig } from '../config/schema.js';
import type { Logger } from '../log.js';
import { compileDetector, lineTime } from './detect.js';
import type { ContainerTarget, DockerClient } from './docker.js';
import { LogFollower } from './follower.js';
import { type CollapsedIncident, IncidentCollapser } from './incidents.js';

export interface WatcherOptions {
  docker: DockerClient;
  target: ContainerTarget;
  detection: ParsedFleetConfig['detection'];
  log: Logger;
  now: () => number;
  onIncident: (incident: CollapsedIncident, model: string | undefined) => void;
}

/** `runner.name=registry.ollama.ai/library/llama3.1:8b` or `model=...:tag` in a line. */
const MODEL_IN_LINE = /runner\.name=(?:\S*\/)?([\w.-]+:[\w.-]+)/;

export class VramWatcher {
  readonly #follower: LogFollower;
  #incidents = 0;

  constructor(options: WatcherOptions) {
    const detect = compileDetector(options.detection.patterns);
    const collapse = new IncidentCollapser(
      options.detection.merge_within,
      options.detection.weights,
    );
    this.#follower = new LogFollower({
      docker: options.docker,
      target: options.target,
      log: options.log,
      startAt: new Date(options.now()).toISOString(),
      onLine: (line) => {
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
      },
    });
  }

  status() {
    return { ...this.#follower.status(), incidents: this.#incidents };
  }

  run(signal: AbortSignal): Promise<void> {
    return this.#follower.run(signal);
  }
}
