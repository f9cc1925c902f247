/**
 * One Ollama server as the engine sees it: where requests go (the client) and what its cards
 * hold now (the monitor). The engine depends on this, not on the concrete classes, so it can
 * run against a test double and, later, against several backends (one per GPU or host).
 */
import type { BackendHealth } from '../backends/health.js';
import type { ResourceMonitor } from '../gpu/monitor.js';
import type { OllamaClient } from '../ollama/client.js';

export interface OllamaBackend {
  /** `default` for the single backend fleet.yaml's `ollama` section describes. */
  readonly name: string;
  readonly client: Pick<OllamaClient, 'call' | 'send' | 'ps' | 'version' | 'url'>;
  readonly monitor: Pick<ResourceMonitor, 'current' | 'refresh'>;
  /** Whether it answers; the engine keeps its own when none is given. */
  readonly health?: BackendHealth;
  /** The models it may run (canonical names); any when undefined. */
  readonly models?: ReadonlySet<string>;
}
