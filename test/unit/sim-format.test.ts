import { describe, expect, it } from 'vitest';
import { humanBytes } from '../../src/ollama/bytes.js';
import { compareVersions, parseGoDuration, parseKeepAlive } from '../../src/ollama/duration.js';
import { footprintBytes, SIM_CATALOGUE } from '../../src/sim/catalogue.js';
import { rulesFor, SIM_DEFAULTS } from '../../src/sim/options.js';
import { ginLine, goDuration, goTime, slogLine } from '../../src/sim/slog.js';

describe("Ollama's log format", () => {
  it('writes slog text lines, quoting values with spaces, = or quotes', () => {
    const line = slogLine(
      new Date('2025-07-30T11:02:14.512Z'),
      'ERROR',
      'server.go:464',
      'llama runner terminated',
      {
        error: 'exit status 2',
        count: 3,
        empty: '',
        path: '/root/.ollama',
      },
    );
    expect(line).toBe(
      'time=2025-07-30T11:02:14.512Z level=ERROR source=server.go:464 msg="llama runner terminated" error="exit status 2" count=3 empty="" path=/root/.ollama',
    );
    expect(slogLine(new Date(0), 'INFO', 'server.go:175', 'offload')).toContain(' msg=offload');
  });

  it('writes gin access lines with the widths Ollama uses', () => {
    const line = ginLine(
      new Date('2025-02-14T12:04:47Z'),
      200,
      2_133_852_170,
      '192.169.1.3',
      'POST',
      '/api/generate',
    );
    expect(line).toBe(
      '[GIN] 2025/02/14 - 12:04:47 | 200 |   2.13385217s |     192.169.1.3 | POST     "/api/generate"',
    );
  });

  it("formats durations as Go's Duration.String", () => {
    expect(goDuration(523_400)).toBe('523.4µs');
    expect(goDuration(12_500_000)).toBe('12.5ms');
    expect(goDuration(62_500_000_000)).toBe('1m2.5s');
    expect(goDuration(999)).toBe('999ns');
  });

  it("formats sizes as Ollama's HumanBytes2", () => {
    expect(humanBytes(5.5 * 2 ** 30)).toBe('5.5 GiB');
    expect(humanBytes(512 * 2 ** 20)).toBe('512.0 MiB');
    expect(humanBytes(0)).toBe('0 B');
  });

  it('writes times as RFC3339Nano with trailing zeros trimmed', () => {
    expect(goTime(new Date('2024-09-12T03:54:03.516Z'), 566_000)).toBe(
      '2024-09-12T03:54:03.516566Z',
    );
    expect(goTime(new Date('2024-09-12T03:54:03.000Z'), 0)).toBe('2024-09-12T03:54:03Z');
  });
});

describe('keep_alive and versions', () => {
  it('reads numbers as seconds and negative values as forever', () => {
    expect(parseKeepAlive(30)).toEqual({ ms: 30_000 });
    expect(parseKeepAlive(-1)).toEqual({ ms: Number.POSITIVE_INFINITY });
    expect(parseKeepAlive('-1m')).toEqual({ ms: Number.POSITIVE_INFINITY });
    expect(parseKeepAlive('0')).toEqual({ ms: 0 });
    expect(parseKeepAlive('1h30m')).toEqual({ ms: 5_400_000 });
  });

  it("refuses a string without a unit, as Go's parser does", () => {
    expect(parseGoDuration('300')).toEqual({ error: 'time: missing unit in duration "300"' });
    expect(parseGoDuration('5x')).toEqual({ error: 'time: unknown unit "x" in duration "5x"' });
  });

  it('compares versions numerically', () => {
    expect(compareVersions('0.12.10', '0.12.6')).toBe(1);
    expect(compareVersions('0.30.0-rc2', '0.30.0')).toBe(0);
    expect(compareVersions('0.9.0', '0.12.0')).toBe(-1);
  });

  it('picks era, queueing, recovery level and default context by version', () => {
    const a = rulesFor({ ...SIM_DEFAULTS, version: '0.11.0' });
    expect(a).toMatchObject({
      era: 'A',
      loadedSkipQueue: false,
      recoveryWarnLevel: 'WARN',
      defaultNumCtx: 4096,
    });
    const mid = rulesFor({ ...SIM_DEFAULTS, version: '0.12.6' });
    expect(mid).toMatchObject({
      era: 'A',
      loadedSkipQueue: true,
      recoveryWarnLevel: 'DEBUG',
      recoveryRatio: 0.75,
    });
    const b = rulesFor({ ...SIM_DEFAULTS, version: '0.30.0', vramMib: 24_576 });
    expect(b).toMatchObject({
      era: 'B',
      fitFraction: 0.8,
      defaultNumCtx: 32_768,
      maxLoadedModels: 3,
    });
  });
});

describe('simulated footprints', () => {
  const model = (name: string) =>
    SIM_CATALOGUE.find((m) => m.name === name) as (typeof SIM_CATALOGUE)[number];

  it('match the measured /api/ps sizes at 4096 tokens', () => {
    // llama3.2:3b 3.37 GB, gemma:2b 2.88 GB, llama3.2:1b 2.4 GB (ollama-calibration.md §2)
    expect(footprintBytes(model('llama3.2:3b'), 4096, 1) / 1e9).toBeCloseTo(3.37, 1);
    expect(footprintBytes(model('gemma:2b'), 4096, 1) / 1e9).toBeCloseTo(2.88, 1);
    expect(footprintBytes(model('llama3.2:1b'), 4096, 1) / 1e9).toBeCloseTo(2.4, 1);
  });

  it('grow with num_ctx × parallel by the KV cache per token', () => {
    const m = model('llama3.1:8b');
    const grown = footprintBytes(m, 8192, 1) - footprintBytes(m, 4096, 1);
    // 128 KiB per token × 4096 tokens = 512 MiB
    expect(grown).toBe(512 * 2 ** 20);
    expect(footprintBytes(m, 4096, 2)).toBe(footprintBytes(m, 8192, 1));
  });
});
