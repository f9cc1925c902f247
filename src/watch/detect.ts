/**
 * The VRAM trouble detector: one log line in, a classified event or nothing out. Pure.
 * Patterns come from fleet.yaml (`detection.patterns`); healthy events (a model loaded, a
 * runner started, an access line) are recognised too, for status and metrics.
 */
import type { PatternConfig } from '../config/schema.js';

export type Severity = 'hard' | 'soft';

export type Detection =
  | { type: 'incident'; kind: string; severity: Severity; pattern: string }
  | { type: 'healthy'; kind: 'runner_started' | 'model_loading' | 'request' | 'listening' };

export type Detector = (line: string) => Detection | undefined;

const HEALTHY: readonly [RegExp, Extract<Detection, { type: 'healthy' }>['kind']][] = [
  [/msg="llama runner started in [\d.]+ seconds"/, 'runner_started'],
  [
    /msg="(new model will fit in available VRAM|llama-server model predicted to fit)/,
    'model_loading',
  ],
  [/^\[GIN\] /, 'request'],
  [/msg="Listening on /, 'listening'],
];

export function compileDetector(patterns: readonly PatternConfig[]): Detector {
  const rules = patterns
    .filter((p) => p.enabled)
    .map((p) => ({
      test: p.regex !== undefined ? regexTest(p.regex) : substringTest(p.match as string),
      kind: p.kind,
      severity: p.severity,
      pattern: p.regex ?? (p.match as string),
    }));
  return (line) => {
    // A hard match wins over a soft one on the same line.
    let found: (typeof rules)[number] | undefined;
    for (const rule of rules) {
      if (!rule.test(line)) continue;
      if (!found || (found.severity === 'soft' && rule.severity === 'hard')) found = rule;
      if (found.severity === 'hard') break;
    }
    if (found)
      return {
        type: 'incident',
        kind: found.kind,
        severity: found.severity,
        pattern: found.pattern,
      };
    for (const [test, kind] of HEALTHY) if (test.test(line)) return { type: 'healthy', kind };
    return undefined;
  };
}

function substringTest(match: string): (line: string) => boolean {
  const needle = match.toLowerCase();
  return (line) => line.toLowerCase().includes(needle);
}

function regexTest(source: string): (line: string) => boolean {
  const re = new RegExp(source, 'i');
  return (line) => re.test(line);
}

/** The time a line carries: a Docker timestamp prefix, slog's `time=`, or gin's date. */
export function lineTime(line: string): number | undefined {
  const docker = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z) /.exec(line);
  if (docker) return Date.parse(docker[1] as string);
  const slog = /\btime=(\S+)/.exec(line);
  if (slog) {
    const at = Date.parse(slog[1] as string);
    if (!Number.isNaN(at)) return at;
  }
  const gin = /^\[GIN\] (\d{4})\/(\d\d)\/(\d\d) - (\d\d:\d\d:\d\d)/.exec(line);
  if (gin) return Date.parse(`${gin[1]}-${gin[2]}-${gin[3]}T${gin[4]}Z`);
  return undefined;
}
