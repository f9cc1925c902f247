import { describe, expect, it } from 'vitest';
import { fleetConfigSchema } from '../../src/config/schema.js';
import { compileDetector, lineTime } from '../../src/watch/detect.js';
import { IncidentCollapser } from '../../src/watch/incidents.js';

const defaults = fleetConfigSchema.parse({}).detection;
const detect = compileDetector(defaults.patterns);
const kindOf = (line: string) => {
  const found = detect(line);
  return found?.type === 'incident' ? `${found.severity}:${found.kind}` : found?.kind;
};

/** Lines from shared/contracts/ollama.md §3.2 and §3.3 (Ollama's own message strings). */
const ERA_A_OOM_BLOCK = [
  'ggml_backend_cuda_buffer_type_alloc_buffer: allocating 2048.00 MiB on device 0: cudaMalloc failed: out of memory',
  'llama_model_load: error loading model: unable to allocate CUDA0 buffer',
  'time=2025-07-30T11:02:14.512Z level=ERROR source=server.go:464 msg="llama runner terminated" error="exit status 2"',
];

describe('the VRAM detector on real Ollama lines', () => {
  it('flags the CUDA and allocation failures Ollama and llama.cpp print', () => {
    expect(kindOf(ERA_A_OOM_BLOCK[0] as string)).toBe('hard:cuda_oom');
    expect(kindOf(ERA_A_OOM_BLOCK[1] as string)).toBe('hard:alloc_failed');
    expect(kindOf('CUDA error: out of memory')).toBe('hard:cuda_oom');
    expect(
      kindOf('ggml_gallocr_reserve_n: failed to allocate CUDA0 buffer of size 838447104'),
    ).toBe('hard:alloc_failed');
    expect(
      kindOf(
        'time=2026-08-21T09:15:09.640Z level=WARN source=sched.go:667 msg="llama-server load failed; evicting all other models and retrying once" model=/root/.ollama/models/blobs/sha256-b112e727c6f1 error="llama-server reported out-of-memory during startup: cudaMalloc failed: out of memory"',
      ),
    ).toMatch(/^hard:/);
    expect(
      kindOf(
        'time=2026-08-21T09:20:00.000Z level=WARN source=sched.go:702 msg="runtime OOM detected; expiring loaded models to clear memory before next request"',
      ),
    ).toBe('hard:runner_oom');
  });

  it('counts the VRAM-recovery warning as soft pressure, in both eras', () => {
    expect(
      kindOf(
        'time=2025-07-30T11:02:19.779Z level=WARN source=sched.go:685 msg="gpu VRAM usage didn\'t recover within timeout" seconds=5.266774732 runner.name=registry.ollama.ai/library/llama3.1:8b',
      ),
    ).toBe('soft:vram_not_recovered');
    expect(
      kindOf(
        'time=2026-08-21T09:20:44.377Z level=DEBUG source=sched.go:1492 msg="gpu VRAM usage didn\'t recover within timeout" seconds=5.001872 free_before="1.2 GiB" free_now="1.3 GiB"',
      ),
    ).toBe('soft:vram_not_recovered');
    // About the host's RAM, not VRAM (a real log: test/fixtures/ollama-logs/b-018): no trouble.
    expect(
      kindOf(
        'time=2025-07-30T11:03:01.004Z level=WARN source=server.go:170 msg="model request too large for system" requested="7.3 GiB" available=6442450944',
      ) ?? 'nothing',
    ).not.toMatch(/^(soft|hard):/);
  });

  it('recognises healthy lines', () => {
    expect(
      kindOf(
        'time=2025-07-30T10:53:52.833Z level=INFO source=server.go:637 msg="llama runner started in 2.76 seconds"',
      ),
    ).toBe('runner_started');
    expect(
      kindOf(
        '[GIN] 2025/07/30 - 11:03:01 | 200 |  1.204417093s |      172.18.0.1 | POST     "/api/generate"',
      ),
    ).toBe('request');
    expect(
      kindOf(
        'time=2025-07-30T10:53:49.801Z level=INFO source=routes.go:1350 msg="Listening on [::]:11434 (version 0.11.0)"',
      ),
    ).toBe('listening');
  });

  it('leaves the hard negatives alone', () => {
    // Host (pinned) memory, not VRAM.
    expect(
      detect(
        'ggml_cuda_host_malloc: failed to allocate 1024.00 MiB of pinned memory: out of memory',
      ),
    ).toBeUndefined();
    // A CPU-only load.
    expect(
      detect(
        'time=2025-07-30T10:53:50.069Z level=INFO source=server.go:175 msg=offload library=cpu layers.requested=-1 layers.model=29 layers.offload=0',
      ),
    ).toBeUndefined();
    // A runner that died for another reason.
    expect(
      detect(
        'time=2025-07-30T11:02:14.512Z level=ERROR source=server.go:464 msg="llama runner terminated" error="exit status 2"',
      ),
    ).toBeUndefined();
    expect(
      detect(
        'time=2025-07-30T11:02:14.512Z level=INFO source=server.go:399 msg="starting llama server" cmd="/usr/bin/ollama runner --model /root/.ollama/models/blobs/sha256-x"',
      ),
    ).toBeUndefined();
    // The broad legacy pattern is off by default: a benign scheduler warning is not trouble.
    expect(
      detect(
        'time=2025-07-30T11:00:00.000Z level=WARN source=sched.go:123 msg="some other scheduler warning"',
      ),
    ).toBeUndefined();
  });

  it('the legacy broad pattern can be turned on in fleet.yaml', () => {
    const patterns = defaults.patterns.map((p) =>
      p.match === 'level=WARN source=sched.go' ? { ...p, enabled: true } : p,
    );
    expect(
      compileDetector(patterns)('time=x level=WARN source=sched.go:123 msg="x"'),
    ).toMatchObject({ kind: 'scheduler_warning', severity: 'soft' });
  });
});

describe('collapsing lines into incidents', () => {
  const collapser = () => new IncidentCollapser(defaults.merge_within, defaults.weights);

  it('one OOM block is one incident; a later one is another', () => {
    const c = collapser();
    const first = c.feed('cuda_oom', 'hard', 1000, 'a');
    expect(first).toMatchObject({ incident: { number: 1, weight: 1 } });
    expect(c.feed('alloc_failed', 'hard', 1100, 'b')).toEqual({ joined: 1 });
    expect(c.feed('cuda_oom', 'hard', 60_000, 'c')).toMatchObject({ incident: { number: 2 } });
  });

  it('the triple VRAM-recovery warning is one soft incident, weighed less', () => {
    const c = collapser();
    expect(c.feed('vram_not_recovered', 'soft', 0, 'w')).toMatchObject({
      incident: { number: 1, severity: 'soft', weight: 0.25 },
    });
    expect(c.feed('vram_not_recovered', 'soft', 300, 'w')).toEqual({ joined: 1 });
    expect(c.feed('vram_not_recovered', 'soft', 600, 'w')).toEqual({ joined: 1 });
  });

  it('reads the time of a line from Docker, slog or gin', () => {
    expect(lineTime('2026-07-14T08:12:38.123456789Z time=2025-01-01T00:00:00Z x')).toBe(
      Date.parse('2026-07-14T08:12:38.123Z'),
    );
    expect(lineTime('time=2025-07-30T11:02:14.512Z level=ERROR')).toBe(
      Date.parse('2025-07-30T11:02:14.512Z'),
    );
    expect(lineTime('[GIN] 2025/02/14 - 12:04:47 | 200 |')).toBe(
      Date.parse('2025-02-14T12:04:47Z'),
    );
    expect(lineTime('CUDA error: out of memory')).toBeUndefined();
  });
});
