/**
 * The VRAM detector on real logs: excerpts users pasted into public Ollama issue threads,
 * from every era (test/fixtures/ollama-logs, each labelled line by line). The score is
 * printed as a table; the floors are the detector's promise: every VRAM failure found, no
 * healthy excerpt flagged, line precision at least 0.95 and line recall at least 0.9.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { fleetConfigSchema } from '../../src/config/schema.js';
import { compileDetector } from '../../src/watch/detect.js';
import { formatScore, parseExcerpt, scoreExcerpts } from '../../src/watch/score.js';
import { ROOT } from '../helpers/cli.js';

const DIR = path.join(ROOT, 'test/fixtures/ollama-logs');
const excerpts = readdirSync(DIR)
  .filter((n) => n.endsWith('.log'))
  .sort()
  .map((name) => parseExcerpt(name, readFileSync(path.join(DIR, name), 'utf8')));

describe('the VRAM detector on real Ollama logs', () => {
  const detect = compileDetector(fleetConfigSchema.parse({}).detection.patterns);
  const score = scoreExcerpts(excerpts, detect);

  it('has a corpus that spans eras, platforms and kinds, each excerpt with its source', () => {
    expect(excerpts.length).toBeGreaterThanOrEqual(60);
    for (const excerpt of excerpts) {
      expect(excerpt.header.source, excerpt.name).toMatch(/^https:\/\/github\.com\//);
      expect(excerpt.lines.length, excerpt.name).toBeGreaterThan(0);
    }
    const kinds = new Set(excerpts.map((e) => e.header.kind));
    for (const kind of ['vram-failure', 'pressure', 'healthy', 'ram-failure', 'crash-not-memory'])
      expect(kinds, kind).toContain(kind);
  });

  it('finds every VRAM failure and flags no healthy excerpt; lines: precision >= 0.95, recall >= 0.9', () => {
    console.log(formatScore(score));
    const missed = score.files.filter((f) => f.failure && !f.foundFailure).map((f) => f.name);
    const falseAlarms = score.files
      .filter((f) => !f.failure && (f.pressure ? f.foundFailure : f.flagged))
      .map((f) => f.name);
    expect(missed).toEqual([]);
    expect(falseAlarms).toEqual([]);
    expect(score.linePrecision).toBeGreaterThanOrEqual(0.95);
    expect(score.lineRecall).toBeGreaterThanOrEqual(0.9);
  });
});
