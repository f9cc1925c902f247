/**
 * `fleet detect [FILE]`: runs the detector over a saved Ollama log (a file, or stdin) with the
 * patterns of fleet.yaml and prints each line it flags. `--json` prints one object per
 * flagged line: `{"line": N, "kind": "...", "severity": "hard"|"soft", "incident": K}`.
 */
import { createReadStream } from 'node:fs';
import { access, readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fleetConfigSchema } from '../config/schema.js';
import { Errors, FleetError } from '../errors.js';
import { compileDetector, type Detector, lineTime } from '../watch/detect.js';
import { IncidentCollapser } from '../watch/incidents.js';
import { formatScore, parseExcerpt, scoreExcerpts } from '../watch/score.js';
import type { ParsedCommand } from './args.js';
import { type CliEnvironment, loadCliConfig } from './context.js';

export async function detectCommand(
  parsed: ParsedCommand,
  cli: CliEnvironment,
  stdin: NodeJS.ReadableStream,
): Promise<number> {
  // With no fleet.yaml here and none named, the built-in patterns apply.
  const named = parsed.options.config !== undefined;
  const present = await access(path.resolve(cli.cwd, parsed.flags.config)).then(
    () => true,
    () => false,
  );
  const detection =
    named || present
      ? (await loadCliConfig(parsed.flags, cli)).detection
      : fleetConfigSchema.parse({}).detection;
  const detect = compileDetector(detection.patterns);
  const scoreDir = parsed.options.score as string | undefined;
  if (scoreDir !== undefined)
    return scoreCommand(path.resolve(cli.cwd, scoreDir), detect, parsed, cli);
  const collapse = new IncidentCollapser(detection.merge_within, detection.weights);
  const file = parsed.positionals[0];
  let input: NodeJS.ReadableStream = stdin;
  if (file !== undefined && file !== '-') {
    const where = path.resolve(cli.cwd, file);
    await access(where).catch((err) => {
      throw new FleetError(
        Errors.FLEET_ERR_USAGE,
        `${where}: cannot read it (${(err as NodeJS.ErrnoException).code})`,
      );
    });
    input = createReadStream(where);
  }
  let n = 0;
  let lastTime = 0;
  let flagged = 0;
  const incidents = new Set<number>();
  for await (const line of createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY })) {
    n += 1;
    lastTime = lineTime(line) ?? lastTime;
    const found = detect(line);
    if (found?.type !== 'incident') continue;
    const result = collapse.feed(found.kind, found.severity, lastTime, line);
    const incident = 'incident' in result ? result.incident.number : result.joined;
    incidents.add(incident);
    flagged += 1;
    if (parsed.flags.json) {
      cli.stdout(
        `${JSON.stringify({ line: n, kind: found.kind, severity: found.severity, incident })}\n`,
      );
    } else {
      cli.stdout(
        `${String(n).padStart(6)}  ${found.severity.padEnd(4)}  ${found.kind.padEnd(20)}  #${incident}  ${line.slice(0, 160)}\n`,
      );
    }
  }
  if (!parsed.flags.json)
    cli.stdout(`${flagged} lines flagged of ${n}, ${incidents.size} incidents\n`);
  return 0;
}

/**
 * `--score DIR`: the detector against labelled excerpts (*.log in the format of
 * test/fixtures/ollama-logs/README.md): failures found, false alarms, line precision and
 * recall, and the files it got wrong.
 */
async function scoreCommand(
  dir: string,
  detect: Detector,
  parsed: ParsedCommand,
  cli: CliEnvironment,
): Promise<number> {
  let names: string[];
  try {
    names = (await readdir(dir)).filter((n) => n.endsWith('.log')).sort();
  } catch (err) {
    throw new FleetError(
      Errors.FLEET_ERR_USAGE,
      `--score ${dir}: cannot read it (${(err as NodeJS.ErrnoException).code})`,
    );
  }
  if (names.length === 0) {
    throw new FleetError(Errors.FLEET_ERR_USAGE, `--score ${dir}: no labelled *.log files in it`);
  }
  const excerpts = [];
  for (const name of names) {
    try {
      excerpts.push(parseExcerpt(name, await readFile(path.join(dir, name), 'utf8')));
    } catch (err) {
      throw new FleetError(Errors.FLEET_ERR_USAGE, (err as Error).message);
    }
  }
  const score = scoreExcerpts(excerpts, detect);
  cli.stdout(parsed.flags.json ? `${JSON.stringify(score, null, 2)}\n` : `${formatScore(score)}\n`);
  return 0;
}
