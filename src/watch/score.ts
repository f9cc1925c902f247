/**
 * How well the detector reads real logs: a labelled excerpt in (every line marked `F` VRAM
 * failure, `P` pressure sign or `.` healthy, as in test/fixtures/ollama-logs/README.md), the
 * lines the detector marks out, and the score: per file (a failure found or missed, a healthy
 * excerpt flagged, a pressure sign taken for a failure) and per line (precision and recall
 * of the marked lines: what `markLog` marks, i.e. the detector's matches and the failure chain
 * around them; the live watcher counts the matches). Pure.
 */
import { type Detector, markLog } from './detect.js';

export type Label = 'F' | 'P' | '.';

export interface LabelledExcerpt {
  name: string;
  header: Record<string, string>;
  lines: { label: Label; text: string }[];
}

/** Reads one corpus file; throws with the line number on a malformed line. */
export function parseExcerpt(name: string, text: string): LabelledExcerpt {
  const header: Record<string, string> = {};
  const lines: LabelledExcerpt['lines'] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.replace(/\r$/, '');
    if (line === '') return;
    if (line.startsWith('#')) {
      const field = /^#\s*([a-z_-]+):\s*(.*)$/i.exec(line);
      if (field) header[(field[1] as string).toLowerCase()] = field[2] as string;
      return;
    }
    const label = line[0];
    if ((label !== 'F' && label !== 'P' && label !== '.') || line[1] !== '\t') {
      throw new Error(
        `${name}:${i + 1}: expected "F", "P" or "." then a tab, found ${JSON.stringify(line.slice(0, 20))}`,
      );
    }
    lines.push({ label, text: line.slice(2) });
  });
  return { name, header, lines };
}

export interface FileScore {
  name: string;
  kind: string;
  /** Has a VRAM failure line (F). */
  failure: boolean;
  /** Has a pressure line and no failure. */
  pressure: boolean;
  /** The detector marked a hard failure in it. */
  foundFailure: boolean;
  /** The detector marked anything in it. */
  flagged: boolean;
  truePositives: number;
  falsePositives: number;
  falseNegatives: number;
}

export interface Score {
  files: FileScore[];
  failureFiles: number;
  failuresFound: number;
  healthyFiles: number;
  healthyFlagged: number;
  linePrecision: number;
  lineRecall: number;
}

export function scoreExcerpts(excerpts: readonly LabelledExcerpt[], detect: Detector): Score {
  const files = excerpts.map((excerpt): FileScore => {
    const marks = markLog(
      detect,
      excerpt.lines.map((l) => l.text),
    );
    let tp = 0;
    let fp = 0;
    let fn = 0;
    let foundFailure = false;
    let flagged = false;
    for (const [i, { label }] of excerpt.lines.entries()) {
      const mark = marks[i];
      const truth = label !== '.';
      if (mark) {
        flagged = true;
        if (mark.severity === 'hard') foundFailure = true;
      }
      if (mark && truth) tp++;
      else if (mark && !truth) fp++;
      else if (!mark && truth) fn++;
    }
    const failure = excerpt.lines.some((l) => l.label === 'F');
    return {
      name: excerpt.name,
      kind: excerpt.header.kind ?? (failure ? 'vram-failure' : 'healthy'),
      failure,
      pressure: !failure && excerpt.lines.some((l) => l.label === 'P'),
      foundFailure,
      flagged,
      truePositives: tp,
      falsePositives: fp,
      falseNegatives: fn,
    };
  });
  const sum = (f: (s: FileScore) => number) => files.reduce((a, s) => a + f(s), 0);
  const tp = sum((s) => s.truePositives);
  const fp = sum((s) => s.falsePositives);
  const fn = sum((s) => s.falseNegatives);
  // A false alarm: a healthy excerpt flagged at all, or a pressure-only one flagged as a
  // failure (a soft sign must not step a ladder as a hard one would).
  const quiet = files.filter((f) => !f.failure);
  return {
    files,
    failureFiles: files.filter((f) => f.failure).length,
    failuresFound: files.filter((f) => f.failure && f.foundFailure).length,
    healthyFiles: quiet.length,
    healthyFlagged: quiet.filter((f) => (f.pressure ? f.foundFailure : f.flagged)).length,
    linePrecision: tp + fp === 0 ? 1 : tp / (tp + fp),
    lineRecall: tp + fn === 0 ? 1 : tp / (tp + fn),
  };
}

/** The score as a table for people: one row per file that is not perfect, then totals. */
export function formatScore(score: Score): string {
  const rows = score.files
    .filter((f) => f.falsePositives + f.falseNegatives > 0 || f.failure !== f.foundFailure)
    .map((f) => {
      const verdict = f.failure
        ? f.foundFailure
          ? 'found'
          : 'MISSED'
        : f.pressure
          ? f.foundFailure
            ? 'FALSE ALARM'
            : f.flagged
              ? 'pressure seen'
              : 'pressure missed'
          : f.flagged
            ? 'FALSE ALARM'
            : 'quiet';
      return `  ${f.name.padEnd(44)} ${f.kind.padEnd(16)} ${verdict.padEnd(15)} ${String(f.truePositives).padStart(3)} ${String(f.falsePositives).padStart(3)} ${String(f.falseNegatives).padStart(3)}`;
    });
  const pct = (x: number) => x.toFixed(3);
  return [
    `${score.files.length} excerpts: VRAM failures found ${score.failuresFound} of ${score.failureFiles}; false alarms ${score.healthyFlagged} of ${score.healthyFiles} without one`,
    `lines: precision ${pct(score.linePrecision)}, recall ${pct(score.lineRecall)}`,
    ...(rows.length > 0
      ? [
          '',
          `  ${'file'.padEnd(44)} ${'kind'.padEnd(16)} ${'verdict'.padEnd(15)}  tp  fp  fn`,
          ...rows,
        ]
      : []),
  ].join('\n');
}
