/**
 * Rewrites the model in a worker's config file, leaving every other byte as it was, and
 * writes it atomically (a worker never reads half a file). Formats: a JSON or YAML key (a
 * dotted path), an env-file variable, or a regex replacement in any text file (a Python
 * module, say). Mount the folder, not the file, into the worker: a rename-replace behind a
 * single-file bind mount is not seen.
 */
import { readFile } from 'node:fs/promises';
import { isScalar, parseDocument, stringify } from 'yaml';
import type { WorkerConfig } from '../config/schema.js';
import { Errors, FleetError } from '../errors.js';
import { writeFileAtomic } from '../files/atomic.js';

type ConfigFile = NonNullable<WorkerConfig['config']>;

export async function rewriteWorkerConfig(
  file: ConfigFile,
  model: string,
): Promise<{ changed: boolean; created?: boolean }> {
  let text: string;
  try {
    text = await readFile(file.path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    // A fresh volume: write a file holding just the model (a regex has nothing to go on).
    if (code === 'ENOENT' && file.format !== 'regex') {
      await writeFileAtomic(file.path, freshConfig(file, model));
      return { changed: true, created: true };
    }
    throw new FleetError(
      Errors.FLEET_ERR_WORKER_CONFIG,
      `${file.path}: cannot read the worker config (${(err as NodeJS.ErrnoException).code})`,
      {
        cause: err,
      },
    );
  }
  const next = rewriteText(text, file, model);
  if (next === text) return { changed: false };
  await writeFileAtomic(file.path, next);
  return { changed: true };
}

/** A config file holding only the model: `{"model": "x"}`, `model: x` or `MODEL=x`. */
function freshConfig(file: ConfigFile, model: string): string {
  const keyPath = (file.key as string).split('.');
  if (file.format === 'env') return `${file.key}=${model}\n`;
  const value = keyPath.reduceRight<unknown>((inner, key) => ({ [key]: inner }), model);
  return file.format === 'json' ? `${JSON.stringify(value, null, 2)}\n` : stringify(value);
}

export function rewriteText(text: string, file: ConfigFile, model: string): string {
  switch (file.format) {
    case 'json':
    case 'yaml':
      return replaceKey(text, file, model);
    case 'env':
      return replaceEnv(text, file.key as string, model);
    case 'regex': {
      const pattern = new RegExp(file.pattern as string);
      if (!pattern.test(text)) {
        throw new FleetError(
          Errors.FLEET_ERR_WORKER_CONFIG,
          `${file.path}: the pattern ${file.pattern} matches nothing`,
        );
      }
      return text.replace(pattern, () => (file.replacement as string).replaceAll('{model}', model));
    }
  }
}

/** Replaces only the value's characters, found through the YAML parser (JSON is YAML). */
function replaceKey(text: string, file: ConfigFile, model: string): string {
  const keyPath = (file.key as string).split('.');
  const doc = parseDocument(text);
  const node = doc.getIn(keyPath, true);
  if (!isScalar(node) || !node.range) {
    throw new FleetError(
      Errors.FLEET_ERR_WORKER_CONFIG,
      `${file.path}: no value at ${file.key} to rewrite`,
    );
  }
  const [start, end] = node.range;
  return `${text.slice(0, start)}${JSON.stringify(model)}${text.slice(end)}`;
}

function replaceEnv(text: string, key: string, model: string): string {
  const line = new RegExp(
    `^(\\s*(?:export\\s+)?${key.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\s*=\\s*)(["']?)[^\\r\\n]*?\\2(\\s*(?:#.*)?)$`,
    'm',
  );
  if (line.test(text))
    return text.replace(
      line,
      (_all, head: string, quote: string, tail: string) => `${head}${quote}${model}${quote}${tail}`,
    );
  return `${text}${text.endsWith('\n') || text === '' ? '' : '\n'}${key}=${model}\n`;
}
