import { describe, expect, it } from 'vitest';
import { parseComputeApps, parseGpuQuery } from '../../src/gpu/parse.js';
import { buildSnapshot } from '../../src/gpu/snapshot.js';
import { formatNvidiaSmi } from '../../src/sim/nvidia-smi.js';

const MIB = 2 ** 20;

/** Real rows from shared/contracts/docker-nvidia.md §B1 (captures, units removed). */
const H100_IDLE =
  '0, GPU-00000000-0000-0000-0000-000000000000, NVIDIA H100 80GB HBM3, 81559, 0, 81081, 0, 41';
const H100_LOAD =
  '0, GPU-00000000-0000-0000-0000-000000000000, NVIDIA H100 80GB HBM3, 81559, 19818, 61263, 100, 59';
const RTX_4080 =
  '0, GPU-00000000-0000-0000-0000-000000000000, NVIDIA GeForce RTX 4080 SUPER, 16376, 596, 15348, 0, 43';
const TWO_GPUS = [
  '0, GPU-3b7f0c1e-5a2d-4c1b-9e8f-1a2b3c4d5e6f, NVIDIA H100 80GB HBM3, 81559, 0, 81081, 0, 41',
  '1, GPU-9c2e4f6a-7b8d-4e0f-a1b2-c3d4e5f6a7b8, NVIDIA H100 80GB HBM3, 81559, 19818, 61263, 100, 59',
].join('\n');
const APP_ROW = '11345, ./gpu_burn, 15690, GPU-00000000-0000-0000-0000-000000000000';

describe('the nvidia-smi parser', () => {
  it('reads the real H100 and RTX 4080 rows, in bytes', () => {
    const idle = parseGpuQuery(`${H100_IDLE}\n`);
    expect(idle).toEqual({
      ok: true,
      value: [
        {
          index: 0,
          uuid: 'GPU-00000000-0000-0000-0000-000000000000',
          name: 'NVIDIA H100 80GB HBM3',
          total: 81559 * MIB,
          used: 0,
          free: 81081 * MIB,
          utilization: 0,
          temperature: 41,
        },
      ],
    });
    expect(parseGpuQuery(H100_LOAD)).toMatchObject({
      ok: true,
      value: [{ used: 19818 * MIB, utilization: 100 }],
    });
    expect(parseGpuQuery(RTX_4080)).toMatchObject({
      ok: true,
      value: [{ name: 'NVIDIA GeForce RTX 4080 SUPER', total: 16376 * MIB }],
    });
  });

  it('reads several GPUs, keyed by UUID', () => {
    const parsed = parseGpuQuery(TWO_GPUS);
    expect(parsed.ok && parsed.value.map((g) => [g.index, g.uuid.slice(0, 12)])).toEqual([
      [0, 'GPU-3b7f0c1e'],
      [1, 'GPU-9c2e4f6a'],
    ]);
  });

  it('treats [N/A], [Not Supported] and friends as unknown, never 0', () => {
    const mig =
      '0, GPU-00000000-0000-0000-0000-000000000000, NVIDIA H100 80GB HBM3, 81559, 20480, 60600, [N/A], 35';
    expect(parseGpuQuery(mig)).toMatchObject({
      ok: true,
      value: [{ utilization: undefined, used: 20480 * MIB }],
    });
    const old =
      '0, GPU-1, Tesla K80, [Not Supported], [Not Supported], [Not Supported], [Not Supported], [Insufficient Permissions]';
    expect(parseGpuQuery(old)).toMatchObject({
      ok: true,
      value: [{ total: undefined, free: undefined, temperature: undefined }],
    });
  });

  it('reads compute apps, an empty list, and process names with commas', () => {
    expect(parseComputeApps(APP_ROW)).toEqual({
      ok: true,
      value: [
        {
          pid: 11345,
          name: './gpu_burn',
          used: 15690 * MIB,
          gpuUuid: 'GPU-00000000-0000-0000-0000-000000000000',
        },
      ],
    });
    expect(parseComputeApps('')).toEqual({ ok: true, value: [] });
    expect(parseComputeApps('42, python3 train.py --a, --b, 100, GPU-1')).toMatchObject({
      ok: true,
      value: [{ pid: 42, name: 'python3 train.py --a, --b', used: 100 * MIB }],
    });
  });

  it('gives a typed reason for driver failures and garbage', () => {
    const driver =
      "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. Make sure that the latest NVIDIA driver is installed and running.\n\n";
    expect(parseGpuQuery(driver)).toMatchObject({ ok: false, failure: { kind: 'driver' } });
    expect(
      parseGpuQuery('Failed to initialize NVML: Driver/library version mismatch'),
    ).toMatchObject({ ok: false, failure: { kind: 'driver' } });
    expect(parseGpuQuery('No devices were found')).toMatchObject({
      ok: false,
      failure: { kind: 'driver' },
    });
    expect(parseGpuQuery('<html>hello</html>')).toMatchObject({
      ok: false,
      failure: { kind: 'garbage' },
    });
    expect(parseGpuQuery('0, GPU-1, name, 1, 2')).toMatchObject({
      ok: false,
      failure: { kind: 'garbage', message: expect.stringContaining('8 fields') },
    });
    expect(parseGpuQuery('')).toMatchObject({ ok: false, failure: { kind: 'garbage' } });
  });

  it('parses the fake nvidia-smi exactly as the real samples', () => {
    const state = {
      version: '0.12.3',
      era: 'A' as const,
      driver: 'up',
      time_scale: 1,
      gpus: [
        {
          index: 0,
          uuid: 'GPU-00000000-0000-0000-0000-000000000000',
          name: 'NVIDIA H100 80GB HBM3',
          memory_total_mib: 81559,
          memory_reserved_mib: 478,
          memory_used_mib: 19818,
          memory_free_mib: 61263,
          ollama_mib: 19818,
          external_mib: 0,
          external_requested_mib: 0,
          unrecovered_mib: 0,
          utilization_gpu: 100,
          temperature_gpu: 59,
          processes: [{ pid: 11345, process_name: './gpu_burn', used_memory_mib: 15690 }],
        },
      ],
      loaded: [],
      faults: [],
    };
    const fake = formatNvidiaSmi(
      [
        '--query-gpu=index,uuid,name,memory.total,memory.used,memory.free,utilization.gpu,temperature.gpu',
        '--format=csv,noheader,nounits',
      ],
      state,
    );
    expect(parseGpuQuery(fake.stdout)).toEqual(parseGpuQuery(H100_LOAD));
    const apps = formatNvidiaSmi(
      [
        '--query-compute-apps=pid,process_name,used_memory,gpu_uuid',
        '--format=csv,noheader,nounits',
      ],
      state,
    );
    expect(parseComputeApps(apps.stdout)).toEqual(parseComputeApps(APP_ROW));
  });
});

describe('the resource snapshot', () => {
  const ps = {
    models: [
      {
        name: 'llama3.2:3b',
        model: 'llama3.2:3b',
        size: 3000 * MIB,
        digest: 'x',
        details: {},
        expires_at: '2026-11-25T12:05:00Z',
        size_vram: 3000 * MIB,
        context_length: 4096,
      },
    ],
  };

  it("splits a card's memory between Ollama and other processes", () => {
    const snapshot = buildSnapshot({
      at: 1,
      telemetry: {
        available: true,
        at: 1,
        gpus: [
          {
            index: 0,
            uuid: 'GPU-a',
            name: 'card',
            total: 24_000 * MIB,
            used: 5000 * MIB,
            free: 18_900 * MIB,
            utilization: 0,
            temperature: 40,
          },
        ],
        processes: [
          { pid: 1, name: '/usr/bin/ollama', used: 3000 * MIB, gpuUuid: 'GPU-a' },
          { pid: 2, name: 'python3', used: 2000 * MIB, gpuUuid: 'GPU-a' },
        ],
      },
      ps,
      installed: undefined,
      vramTotal: undefined,
    });
    expect(snapshot.gpus[0]).toMatchObject({
      ollama: 3000 * MIB,
      external: 2000 * MIB,
      source: 'nvidia-smi',
    });
    expect(snapshot.totals).toEqual({ total: 24_000 * MIB, used: 5000 * MIB, free: 18_900 * MIB });
    expect(Object.isFrozen(snapshot.gpus[0])).toBe(true);
  });

  it("without telemetry, runs on Ollama's numbers and the configured total", () => {
    const snapshot = buildSnapshot({
      at: 1,
      telemetry: {
        available: false,
        at: 1,
        failure: { kind: 'missing', message: 'nvidia-smi is not installed' },
      },
      ps,
      installed: undefined,
      vramTotal: 8192 * MIB,
    });
    expect(snapshot.gpus[0]).toMatchObject({
      source: 'configured',
      total: 8192 * MIB,
      used: 3000 * MIB,
      free: 5192 * MIB,
      external: undefined,
    });
    expect(snapshot.telemetry).toMatchObject({ available: false, failure: { kind: 'missing' } });
  });
});
