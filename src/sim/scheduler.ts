/**
 * Ollama's own scheduler (server/sched.go, shared/contracts/ollama.md §2), emulated on the
 * simulated GPUs: one load at a time, a bounded pending queue, fit checks on Ollama's
 * estimate, eviction of idle runners by shortest keep-alive, VRAM-recovery waits, partial
 * offload for a lone model, keep-alive expiry, parallel slots, and the failures a real card
 * produces (allocation OOM, runner crash, runtime OOM) with Ollama's status and text.
 */

import { humanBytes } from '../ollama/bytes.js';
import type { SimModel } from './catalogue.js';
import { digestOf, footprintBytes, loadMs as loadMsFor } from './catalogue.js';
import type { Faults } from './faults.js';
import type { SimGpu } from './gpu.js';
import type { SimOptions, SimRules } from './options.js';
import type { SimLog } from './sim-log.js';

const MIB = 2 ** 20;
/** CUDA's own minimum, left free when a lone model is partly offloaded (era A's estimate). */
const GPU_MINIMUM = 457 * MIB;
const RECOVERY_POLL_MS = 250;
const RECOVERY_TIMEOUT_MS = 5_000;
/** Go's time.Now().Add(MaxInt64): what `expires_at` shows for "forever" (year 2318). */
const FOREVER_MS = 9_223_372_036_854;

/** An error Ollama answers with: its status and `{"error": message}`. */
export class OllamaHttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export interface Runner {
  readonly id: string;
  readonly model: SimModel;
  readonly gpu: SimGpu;
  readonly numCtx: number;
  readonly parallel: number;
  /** Ollama's estimate in bytes (what its fit check uses). */
  readonly estimate: number;
  /** Bytes on the GPU; less than `estimate` when partly offloaded to the CPU. */
  readonly sizeVram: number;
  readonly pid: number;
  keepAliveMs: number;
  /** Real epoch ms; Infinity while in use or kept forever. */
  expiresAt: number;
  inflight: number;
  active: number;
  state: 'loading' | 'ready' | 'gone';
  timer: NodeJS.Timeout | undefined;
  readonly slotWaiters: (() => void)[];
  readonly drainWaiters: (() => void)[];
}

export interface Lease {
  runner: Runner;
  /** Simulated ms spent loading for this request (0 when the model was loaded). */
  loadMs: number;
  release(): void;
}

export interface AcquireRequest {
  numCtx: number | undefined;
  keepAliveMs: number | undefined;
}

export interface Clock {
  now(): number;
  /** Sleeps `simMs` of simulated time (scaled to real time). */
  sleep(simMs: number, signal?: AbortSignal): Promise<void>;
}

export class OllamaScheduler {
  readonly runners = new Map<string, Runner>();
  #pending = 0;
  #loadChain: Promise<unknown> = Promise.resolve();
  #nextPid = 2200;
  #closed = false;

  constructor(
    private readonly options: SimOptions,
    private readonly rules: SimRules,
    private readonly gpus: readonly SimGpu[],
    private readonly faults: Faults,
    private readonly log: SimLog,
    private readonly clock: Clock,
  ) {}

  /** Gets a runner for the model, loading it if need be, and a slot on it. */
  async acquire(model: SimModel, request: AcquireRequest, signal: AbortSignal): Promise<Lease> {
    const numCtx = Math.min(request.numCtx ?? this.rules.defaultNumCtx, model.context_length);
    const ready = this.runners.get(model.name);
    let runner: Runner;
    let loadMs = 0;
    if (ready && ready.state === 'ready' && ready.numCtx === numCtx && this.rules.loadedSkipQueue) {
      runner = ready;
      this.#hold(runner);
    } else {
      if (this.#pending >= this.options.maxQueue) {
        throw new OllamaHttpError(
          503,
          'server busy, please try again.  maximum pending requests exceeded',
        );
      }
      this.#pending += 1;
      try {
        const loaded = await this.#serial(() => this.#ensureLoaded(model, numCtx, signal));
        runner = loaded.runner;
        loadMs = loaded.loadMs;
      } finally {
        this.#pending -= 1;
      }
    }
    if (request.keepAliveMs !== undefined) runner.keepAliveMs = request.keepAliveMs;
    try {
      await this.#slot(runner, signal);
    } catch (err) {
      this.#letGo(runner);
      throw err;
    }
    let released = false;
    return {
      runner,
      loadMs,
      release: () => {
        if (released) return;
        released = true;
        runner.active -= 1;
        runner.slotWaiters.shift()?.();
        this.#letGo(runner);
      },
    };
  }

  /** `keep_alive: 0` on an empty request: expire now, stop once idle. Always 200. */
  expire(model: SimModel): void {
    const runner = this.runners.get(model.name);
    if (!runner || runner.state === 'gone') return;
    runner.keepAliveMs = 0;
    runner.expiresAt = this.clock.now();
    if (runner.inflight === 0) void this.#unload(runner, false);
  }

  /** A runtime CUDA OOM inside a request: the runner dies, Ollama answers 500. */
  runtimeOom(runner: Runner): OllamaHttpError {
    const at = this.clock.now();
    this.log.cudaAbort(runner.gpu.index);
    if (this.rules.era === 'B') {
      this.log.slog(
        'WARN',
        'sched.go:702',
        'runtime OOM detected; expiring loaded models to clear memory before next request',
        {
          model: this.#blob(runner.model),
          error: 'CUDA error: out of memory',
        },
      );
      for (const other of this.runners.values()) {
        if (other !== runner && other.inflight === 0) {
          other.expiresAt = at;
          void this.#unload(other, false);
        }
      }
    }
    this.#crashed(runner);
    return new OllamaHttpError(
      500,
      'model runner has unexpectedly stopped, this may be due to resource limitations or an internal error, check ollama server logs for details',
    );
  }

  /** Loaded runners as `/api/ps` lists them: the latest expiry first. */
  loaded(): Runner[] {
    return [...this.runners.values()]
      .filter((r) => r.state === 'ready')
      .sort((a, b) => this.#expiry(b) - this.#expiry(a));
  }

  /** The time `/api/ps` reports: now while in use, far future for "forever". */
  #expiry(runner: Runner): number {
    if (runner.expiresAt !== Number.POSITIVE_INFINITY) return runner.expiresAt;
    return runner.inflight > 0 && runner.keepAliveMs !== Number.POSITIVE_INFINITY
      ? this.clock.now()
      : this.clock.now() + FOREVER_MS;
  }

  expiresAt(runner: Runner): Date {
    return new Date(this.#expiry(runner));
  }

  close(): void {
    this.#closed = true;
    for (const runner of this.runners.values()) clearTimeout(runner.timer);
  }

  #serial<T>(work: () => Promise<T>): Promise<T> {
    const next = this.#loadChain.then(work, work);
    this.#loadChain = next.catch(() => {});
    return next;
  }

  #hold(runner: Runner): void {
    runner.inflight += 1;
    runner.expiresAt = Number.POSITIVE_INFINITY;
    clearTimeout(runner.timer);
    runner.timer = undefined;
  }

  async #slot(runner: Runner, signal: AbortSignal): Promise<void> {
    while (runner.active >= runner.parallel) {
      await new Promise<void>((resolve, reject) => {
        const wake = () => {
          signal.removeEventListener('abort', abort);
          resolve();
        };
        const abort = () => {
          const i = runner.slotWaiters.indexOf(wake);
          if (i >= 0) runner.slotWaiters.splice(i, 1);
          reject(new OllamaHttpError(499, 'request canceled'));
        };
        runner.slotWaiters.push(wake);
        signal.addEventListener('abort', abort, { once: true });
      });
    }
    if (runner.state === 'gone') throw this.#runnerGone();
    runner.active += 1;
  }

  #runnerGone(): OllamaHttpError {
    return new OllamaHttpError(
      500,
      'model runner has unexpectedly stopped, this may be due to resource limitations or an internal error, check ollama server logs for details',
    );
  }

  /** A request ended: when the runner is idle, its keep-alive starts. */
  #letGo(runner: Runner): void {
    runner.inflight = Math.max(0, runner.inflight - 1);
    if (runner.inflight > 0 || runner.state === 'gone') return;
    for (const wake of runner.drainWaiters.splice(0)) wake();
    if (runner.keepAliveMs === 0) {
      runner.expiresAt = this.clock.now();
      void this.#unload(runner, false);
      return;
    }
    if (runner.keepAliveMs === Number.POSITIVE_INFINITY) {
      runner.expiresAt = Number.POSITIVE_INFINITY;
      return;
    }
    const realMs = runner.keepAliveMs * this.options.timeScale;
    runner.expiresAt = this.clock.now() + realMs;
    runner.timer = setTimeout(() => {
      if (runner.inflight === 0 && runner.state === 'ready') void this.#unload(runner, false);
    }, realMs);
    runner.timer.unref();
  }

  async #ensureLoaded(
    model: SimModel,
    numCtx: number,
    signal: AbortSignal,
  ): Promise<{ runner: Runner; loadMs: number }> {
    const existing = this.runners.get(model.name);
    if (existing && existing.state === 'ready') {
      if (existing.numCtx === numCtx) {
        this.#hold(existing);
        return { runner: existing, loadMs: 0 };
      }
      // Different runner options: Ollama reloads (a common source of thrash).
      await this.#drain(existing);
      await this.#unload(existing, true);
    }
    return this.#load(model, numCtx, signal, false);
  }

  async #load(
    model: SimModel,
    numCtx: number,
    signal: AbortSignal,
    retried: boolean,
  ): Promise<{ runner: Runner; loadMs: number }> {
    const parallel = model.embedding ? 1 : this.options.numParallel;
    const estimate = footprintBytes(model, numCtx, parallel);
    const placement = await this.#place(model, estimate, numCtx, signal);
    const slow = this.faults.take('slow_load', model.name);
    const loadMs = loadMsFor(model) * (slow?.factor ?? 1);
    const runner: Runner = {
      id: `${model.name}#${this.#nextPid}`,
      model,
      gpu: placement.gpu,
      numCtx,
      parallel,
      estimate,
      sizeVram: placement.sizeVram,
      pid: this.#nextPid++,
      keepAliveMs: this.options.keepAliveMs,
      expiresAt: Number.POSITIVE_INFINITY,
      inflight: 1,
      active: 0,
      state: 'loading',
      timer: undefined,
      slotWaiters: [],
      drainWaiters: [],
    };
    this.runners.set(model.name, runner);
    await this.clock.sleep(loadMs * 0.3, signal).catch(() => {});

    if (this.faults.take('crash', model.name)) {
      this.runners.delete(model.name);
      const error = this.rules.era === 'A' ? 'exit status 2' : 'exit status 1';
      this.#terminated(error);
      throw new OllamaHttpError(
        500,
        this.rules.era === 'A'
          ? `llama runner process has terminated: ${error}`
          : `llama-server process has terminated: ${error}`,
      );
    }
    const footprint = this.faults.take('footprint', model.name);
    const actualTotal = footprint
      ? estimate * (footprint.factor ?? 1) + (footprint.extra_mib ?? 0) * MIB
      : estimate;
    const actualVram = Math.round(placement.sizeVram * (actualTotal / estimate));
    if (actualVram > placement.gpu.free(this.clock.now())) {
      this.runners.delete(model.name);
      this.log.raw(
        `ggml_backend_cuda_buffer_type_alloc_buffer: allocating ${(actualVram / MIB).toFixed(2)} MiB on device ${placement.gpu.index}: cudaMalloc failed: out of memory`,
      );
      if (this.rules.era === 'A') {
        this.log.raw(
          `llama_model_load: error loading model: unable to allocate CUDA${placement.gpu.index} buffer`,
        );
        this.#terminated('exit status 2');
        throw new OllamaHttpError(
          500,
          `llama runner process has terminated: error loading model: unable to allocate CUDA${placement.gpu.index} buffer`,
        );
      }
      const text =
        'llama-server reported out-of-memory during startup: cudaMalloc failed: out of memory';
      const others = [...this.runners.values()].filter((r) => r.state === 'ready');
      if (!retried && others.length > 0) {
        this.log.slog(
          'WARN',
          'sched.go:667',
          'llama-server load failed; evicting all other models and retrying once',
          {
            model: this.#blob(model),
            error: text,
          },
        );
        for (const other of others) {
          await this.#drain(other);
          await this.#unload(other, true);
        }
        return this.#load(model, numCtx, signal, true);
      }
      this.#terminated('exit status 1');
      throw new OllamaHttpError(500, text);
    }
    placement.gpu.allocate(runner.id, actualVram);
    await this.clock.sleep(loadMs * 0.7, signal).catch(() => {});
    runner.state = 'ready';
    if (this.rules.era === 'A') {
      this.log.slog(
        'INFO',
        'server.go:637',
        `llama runner started in ${(loadMs / 1000).toFixed(2)} seconds`,
      );
    }
    return { runner, loadMs };
  }

  /** Ollama's fit loop: evict until the model fits, or offload part of a lone model. */
  async #place(
    model: SimModel,
    estimate: number,
    numCtx: number,
    signal: AbortSignal,
  ): Promise<{ gpu: SimGpu; sizeVram: number }> {
    for (;;) {
      if (signal.aborted || this.#closed) throw new OllamaHttpError(499, 'request canceled');
      const loaded = [...this.runners.values()].filter((r) => r.state !== 'gone');
      if (loaded.length >= this.rules.maxLoadedModels) {
        await this.#evictOne(loaded, model);
        continue;
      }
      const now = this.clock.now();
      const views = this.gpus.map((gpu) => ({ gpu, free: this.#ollamaFree(gpu, now) }));
      views.sort((a, b) => b.free - a.free);
      const best = views[0] as { gpu: SimGpu; free: number };
      if (loaded.length === 0) {
        if (estimate <= best.free * this.rules.fitFraction) {
          this.#logFit(model, best.gpu, estimate, best.free, numCtx, true);
          return { gpu: best.gpu, sizeVram: estimate };
        }
        return this.#partial(model, best.gpu, best.free, estimate);
      }
      const fits = views.find((v) => estimate <= v.free * this.rules.fitFraction);
      if (fits) {
        this.#logFit(model, fits.gpu, estimate, fits.free, numCtx, true);
        return { gpu: fits.gpu, sizeVram: estimate };
      }
      this.#logFit(model, best.gpu, estimate, best.free, numCtx, false);
      await this.#evictOne(loaded, model);
    }
  }

  /** Free VRAM as Ollama sees it: min(reported free, total − Σ loaded estimates). */
  #ollamaFree(gpu: SimGpu, now: number): number {
    let estimates = 0;
    for (const r of this.runners.values())
      if (r.gpu === gpu && r.state !== 'gone') estimates += r.sizeVram;
    return Math.max(0, Math.min(gpu.free(now), gpu.total - gpu.reserved - estimates));
  }

  #partial(model: SimModel, gpu: SimGpu, free: number, estimate: number) {
    const perLayer = estimate / (model.block_count + 1);
    const layers = Math.max(
      0,
      Math.min(model.block_count + 1, Math.floor((free - GPU_MINIMUM) / perLayer)),
    );
    const sizeVram = Math.round(layers * perLayer);
    const onCpu = estimate - sizeVram;
    const cpuUsed = [...this.runners.values()].reduce(
      (sum, r) => sum + (r.estimate - r.sizeVram),
      0,
    );
    const ramFree = this.options.systemRamMib * MIB - cpuUsed;
    if (onCpu > ramFree) {
      this.log.slog('WARN', 'server.go:170', 'model request too large for system', {
        requested: humanBytes(onCpu),
        available: ramFree,
        total: humanBytes(this.options.systemRamMib * MIB),
        free: humanBytes(ramFree),
        swap: '0 B',
      });
      throw new OllamaHttpError(
        500,
        `model requires more system memory (${(onCpu / 2 ** 30).toFixed(1)} GiB) than is available (${(ramFree / 2 ** 30).toFixed(1)} GiB)`,
      );
    }
    if (this.rules.era === 'A') {
      this.log.slog('INFO', 'server.go:175', 'offload', {
        library: 'cuda',
        'layers.requested': -1,
        'layers.model': model.block_count + 1,
        'layers.offload': layers,
        'layers.split': '',
        'memory.available': `[${humanBytes(free)}]`,
        'memory.gpu_overhead': '0 B',
        'memory.required.full': humanBytes(estimate),
        'memory.required.partial': humanBytes(sizeVram),
      });
    }
    return { gpu, sizeVram };
  }

  #logFit(
    model: SimModel,
    gpu: SimGpu,
    estimate: number,
    free: number,
    numCtx: number,
    fits: boolean,
  ): void {
    if (this.rules.era === 'B') {
      this.log.slog(
        'INFO',
        'sched.go:551',
        fits
          ? 'llama-server model predicted to fit alongside existing models'
          : 'llama-server model predicted to exceed available memory, evicting',
        {
          predicted: humanBytes(estimate),
          predicted_num_ctx: numCtx,
          num_batch: 512,
          available: humanBytes(free * this.rules.fitFraction),
          gpu_free: humanBytes(free),
          system_free: humanBytes(this.options.systemRamMib * MIB),
          system_limited: false,
        },
      );
      return;
    }
    if (!fits) {
      this.log.slog(
        'INFO',
        'server.go:651',
        'model requires more gpu memory than is currently available, evicting a model to make space',
        {
          'loaded layers': 0,
        },
      );
      return;
    }
    this.log.slog(
      'INFO',
      'sched.go:786',
      'new model will fit in available VRAM in single GPU, loading',
      {
        model: this.#blob(model),
        gpu: gpu.uuid,
        parallel: model.embedding ? 1 : this.options.numParallel,
        available: free,
        required: humanBytes(estimate),
      },
    );
    this.log.slog('INFO', 'server.go:175', 'offload', {
      library: 'cuda',
      'layers.requested': -1,
      'layers.model': model.block_count + 1,
      'layers.offload': model.block_count + 1,
      'layers.split': '',
      'memory.available': `[${humanBytes(free)}]`,
      'memory.gpu_overhead': '0 B',
      'memory.required.full': humanBytes(estimate),
      'memory.required.partial': humanBytes(estimate),
      'memory.required.kv': humanBytes((model.kv_kib_per_token * 1024 * numCtx) | 0),
    });
  }

  /** findRunnerToUnload: shortest keep-alive first, then name; idle first, else wait for one. */
  async #evictOne(loaded: Runner[], model: SimModel): Promise<void> {
    const order = [...loaded].sort(
      (a, b) => a.keepAliveMs - b.keepAliveMs || a.model.name.localeCompare(b.model.name),
    );
    const victim = order.find((r) => r.inflight === 0 && r.state === 'ready') ?? order[0];
    if (!victim)
      throw new OllamaHttpError(500, `unable to load model ${model.name}: nothing to evict`);
    await this.#drain(victim);
    await this.#unload(victim, true);
  }

  #drain(runner: Runner): Promise<void> {
    if (runner.inflight === 0) return Promise.resolve();
    return new Promise((resolve) => runner.drainWaiters.push(resolve));
  }

  /** Stops a runner; waits for its VRAM to come back as Ollama's waitForVRAMRecovery does. */
  async #unload(runner: Runner, wait: boolean): Promise<void> {
    if (runner.state === 'gone') return;
    runner.state = 'gone';
    clearTimeout(runner.timer);
    this.runners.delete(runner.model.name);
    const gpu = runner.gpu;
    const freeBefore = gpu.free(this.clock.now());
    const hold = this.faults.take('no_recover', runner.model.name);
    const bytes = gpu.release(
      runner.id,
      hold ? this.clock.now() + hold.seconds * 1000 * this.options.timeScale : undefined,
    );
    for (const wake of runner.slotWaiters.splice(0)) wake();
    if (bytes === 0) return;
    const recovery = this.#waitForRecovery(runner, freeBefore, bytes);
    if (wait) await recovery;
  }

  async #waitForRecovery(runner: Runner, freeBefore: number, bytes: number): Promise<void> {
    const gpu = runner.gpu;
    const startedReal = this.clock.now();
    for (let waited = 0; waited < RECOVERY_TIMEOUT_MS; waited += RECOVERY_POLL_MS) {
      if (gpu.free(this.clock.now()) - freeBefore >= bytes * this.rules.recoveryRatio) {
        const seconds = (this.clock.now() - startedReal) / 1000 / this.options.timeScale;
        this.log.slog(
          'DEBUG',
          'sched.go:710',
          `gpu VRAM free memory converged after ${seconds.toFixed(2)} seconds`,
          this.#runnerAttrs(runner),
        );
        return;
      }
      await this.clock.sleep(RECOVERY_POLL_MS);
    }
    const attrs = (seconds: number) => ({
      seconds,
      ...(this.rules.recoveryWarnLevel === 'DEBUG'
        ? { free_before: humanBytes(freeBefore), free_now: humanBytes(gpu.free(this.clock.now())) }
        : {}),
      ...this.#runnerAttrs(runner),
    });
    const source = this.rules.recoveryWarnLevel === 'WARN' ? 'sched.go:685' : 'sched.go:1492';
    const msg = "gpu VRAM usage didn't recover within timeout";
    if (this.rules.recoveryWarnLevel === 'DEBUG') {
      this.log.slog('DEBUG', source, msg, attrs(5.001872));
      return;
    }
    // Up to 0.12.5 the check runs on and logs about three times, some 300 ms apart.
    for (const seconds of [5.266774732, 5.517352466, 5.767932581]) {
      this.log.slog('WARN', source, msg, attrs(seconds));
      await this.clock.sleep(250);
    }
  }

  #runnerAttrs(runner: Runner): Record<string, string | number> {
    const base = {
      'runner.name': `registry.ollama.ai/library/${runner.model.name}`,
      'runner.inference':
        this.rules.era === 'A' ? 'cuda' : `[{ID:${runner.gpu.uuid} Library:CUDA}]`,
    };
    return {
      ...base,
      ...(this.rules.era === 'A' ? { 'runner.devices': 1 } : {}),
      'runner.size': humanBytes(runner.estimate),
      'runner.vram': humanBytes(runner.sizeVram),
      'runner.parallel': runner.parallel,
      'runner.pid': runner.pid,
      'runner.model': this.#blob(runner.model),
      'runner.num_ctx': runner.numCtx,
    };
  }

  #crashed(runner: Runner): void {
    runner.state = 'gone';
    clearTimeout(runner.timer);
    this.runners.delete(runner.model.name);
    runner.gpu.release(runner.id);
    this.#terminated(this.rules.era === 'A' ? 'exit status 2' : 'exit status 1');
    for (const wake of runner.slotWaiters.splice(0)) wake();
    for (const wake of runner.drainWaiters.splice(0)) wake();
  }

  #terminated(error: string): void {
    if (this.rules.era === 'A')
      this.log.slog('ERROR', 'server.go:464', 'llama runner terminated', { error });
    else
      this.log.slog('ERROR', 'llama_server.go:1023', 'llama-server terminated', { error, exit: 1 });
  }

  #blob(model: SimModel): string {
    return `/root/.ollama/models/blobs/sha256-${digestOf(model.name).slice(0, 12)}`;
  }
}
