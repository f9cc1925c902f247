/** Everything one running simulator holds, passed to its route files. */
import { canonicalModelName } from '../ollama/names.js';
import type { SimModel } from './catalogue.js';
import type { Faults } from './faults.js';
import type { SimGpu } from './gpu.js';
import type { SimOptions, SimRules } from './options.js';
import type { RequestLog } from './request-log.js';
import type { Clock, OllamaScheduler } from './scheduler.js';
import type { SimLog } from './sim-log.js';

export interface SimState {
  options: SimOptions;
  rules: SimRules;
  gpus: SimGpu[];
  faults: Faults;
  log: SimLog;
  clock: Clock;
  scheduler: OllamaScheduler;
  catalogue: ReadonlyMap<string, SimModel>;
  installed: Map<string, { model: SimModel; modifiedAt: Date }>;
  /** The last request bodies received, for GET /sim/requests. */
  requests: RequestLog;
}

export function installedModel(state: SimState, name: string): SimModel | undefined {
  return state.installed.get(canonicalModelName(name))?.model;
}

/** `details` as /api/tags, /api/ps and /api/show report it. */
export function modelDetails(model: SimModel) {
  return {
    parent_model: '',
    format: 'gguf',
    family: model.family,
    families: [...model.families],
    parameter_size: model.parameter_size,
    quantization_level: model.quantization_level,
  };
}
