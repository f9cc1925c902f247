/**
 * The control API under /sim/ (never on Ollama's paths): external VRAM pressure, faults,
 * the GPU state that the fake nvidia-smi prints, raw log lines, and the request bodies received.
 */
import { z } from 'zod';
import { faultSchema } from './faults.js';
import { type Routes, sendJson } from './http.js';
import { OllamaHttpError } from './scheduler.js';
import type { SimState } from './state.js';

const MIB = 2 ** 20;

const pressureSchema = z.strictObject({
  mib: z.number().nonnegative(),
  gpu: z.number().int().nonnegative().default(0),
});

const logSchema = z.strictObject({
  line: z.string(),
  stream: z.enum(['stderr', 'stdout']).default('stderr'),
});

function parse<T extends z.ZodType>(schema: T, body: unknown): z.output<T> {
  const parsed = schema.safeParse(body ?? {});
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  throw new OllamaHttpError(400, `${issue?.path.join('.') || 'body'}: ${issue?.message}`);
}

export function gpuState(state: SimState) {
  const now = state.clock.now();
  const mib = (bytes: number) => Math.round(bytes / MIB);
  const loaded = state.scheduler.loaded();
  return {
    version: state.options.version,
    era: state.rules.era,
    driver: state.faults.driverDown ? 'down' : 'up',
    time_scale: state.options.timeScale,
    gpus: state.gpus.map((gpu) => {
      const busy = loaded.some((r) => r.gpu === gpu && r.active > 0);
      const processes = loaded
        .filter((r) => r.gpu === gpu)
        .map((r) => ({
          pid: r.pid,
          process_name:
            state.rules.era === 'A' ? '/usr/bin/ollama' : '/usr/lib/ollama/llama-server',
          used_memory_mib: mib(gpu.allocations().get(r.id) ?? 0),
        }));
      if (gpu.external(now) > 0) {
        processes.push({
          pid: 4242 + gpu.index,
          process_name: 'python3',
          used_memory_mib: mib(gpu.external(now)),
        });
      }
      return {
        index: gpu.index,
        uuid: gpu.uuid,
        name: gpu.name,
        memory_total_mib: mib(gpu.total),
        memory_reserved_mib: mib(gpu.reserved),
        memory_used_mib: mib(gpu.used(now)),
        memory_free_mib: mib(gpu.free(now)),
        ollama_mib: mib(gpu.ollamaUsed()),
        external_mib: mib(gpu.external(now)),
        external_requested_mib: mib(gpu.externalRequested),
        unrecovered_mib: mib(gpu.unrecovered(now)),
        utilization_gpu: busy ? 97 : 0,
        temperature_gpu: busy ? 63 : 41,
        processes,
      };
    }),
    loaded: loaded.map((r) => ({
      name: r.model.name,
      gpu: r.gpu.index,
      size_mib: mib(r.estimate),
      size_vram_mib: mib(r.sizeVram),
      busy: r.inflight > 0,
    })),
    faults: state.faults.list(),
  };
}

export function controlRoutes(state: SimState, refuse: (seconds: number) => void): Routes {
  return {
    'GET /sim/gpu': async (_request, response) => sendJson(response, 200, gpuState(state)),

    'POST /sim/pressure': async (request, response) => {
      const { mib, gpu } = parse(pressureSchema, request.body);
      const target = state.gpus[gpu];
      if (!target)
        throw new OllamaHttpError(
          400,
          `gpu: no GPU ${gpu}; this simulator has ${state.gpus.length}`,
        );
      target.externalRequested = mib * MIB;
      sendJson(response, 200, gpuState(state));
    },

    'POST /sim/fault': async (request, response) => {
      const fault = parse(faultSchema, request.body);
      state.faults.add(fault);
      sendJson(response, 200, gpuState(state));
      if (fault.kind === 'refuse') refuse(fault.seconds);
    },

    'GET /sim/requests': async (_request, response) =>
      sendJson(response, 200, { requests: state.requests.list() }),

    'POST /sim/log': async (request, response) => {
      const { line, stream } = parse(logSchema, request.body);
      state.log.raw(line, stream);
      sendJson(response, 200, { written: 1 });
    },
  };
}
