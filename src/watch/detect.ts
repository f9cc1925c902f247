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

/**
 * The consequences of a VRAM failure, printed in the lines after it: the load or context
 * creation that gave up, the CUDA abort block's location lines, the runner's termination.
 * Marked as part of the failure when they follow one closely; never on their own (a runner
 * can end for other reasons). Stack frames, goroutine dumps and request lines are not here.
 */
const CHAIN: readonly RegExp[] = [
  /llama runner (process has )?terminated/i,
  /llama-server (process has )?terminated/i,
  /error loading model/i,
  /failed to load model/i,
  /current device: \d+/,
  /GGML_ASSERT: .*ggml-cuda\.cu:\d+: !"CUDA error"/,
  /unable to allocate backend buffer/,
  /command buffer \d+ failed with status 5/,
  /ggml-cuda\.cu:\d+: CUDA error/,
  /CUDA error$/,
  /llama_(new_context_with_model|init_from_model): failed/,
  /failed to (create|initialize) (the )?(llama )?context/i,
  /ggml_gallocr_(reserve_n|alloc_graph|needs_realloc).*fail/,
  /alloc_tensor_range: failed/,
  /failed to allocate (compute|the) (pp |tg )?buffers?/i,
  /error="(llama runner|llama-server|model runner)/,
  /msg="error loading llama server"/,
  /do_load_model.*fail|llama_load_model_from_file: failed/i,
];
/** How many lines after a failure its consequences may come, and before it its first signs. */
const CHAIN_AFTER = 25;
const CHAIN_BEFORE = 3;

export interface LineMark {
  kind: string;
  severity: Severity;
  /** Marked as part of a failure next to it, not for itself. */
  chained: boolean;
}

/**
 * Marks a log's lines: what the detector flags, and the chain around each failure (see
 * CHAIN): its consequences in the lines after it, and the location line a CUDA abort block
 * prints just before the error itself.
 */
export function markLog(detect: Detector, lines: readonly string[]): (LineMark | undefined)[] {
  const marks: (LineMark | undefined)[] = lines.map((line) => {
    const found = detect(line);
    return found?.type === 'incident'
      ? { kind: found.kind, severity: found.severity, chained: false }
      : undefined;
  });
  const failures = marks.flatMap((m, i) => (m?.severity === 'hard' && !m.chained ? [i] : []));
  for (const at of failures) {
    const from = Math.max(0, at - CHAIN_BEFORE);
    const to = Math.min(lines.length - 1, at + CHAIN_AFTER);
    for (let i = from; i <= to; i++) {
      if (marks[i] === undefined && CHAIN.some((re) => re.test(lines[i] as string)))
        marks[i] = { kind: 'failure_chain', severity: 'hard', chained: true };
    }
  }
  return marks;
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
