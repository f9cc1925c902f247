/** Key paths as users read them in error messages: `ladders[0].models[2]`. */
import type { z } from 'zod';

export function formatKeyPath(keyPath: readonly PropertyKey[]): string {
  let text = '';
  for (const part of keyPath) {
    if (typeof part === 'number') text += `[${part}]`;
    else text += text === '' ? String(part) : `.${String(part)}`;
  }
  return text;
}

interface Def {
  type: string;
  innerType?: z.ZodType;
  shape?: Record<string, z.ZodType>;
  element?: z.ZodType;
  options?: z.ZodType[];
  in?: z.ZodType;
}

const defOf = (schema: z.ZodType): Def => (schema as unknown as { _zod: { def: Def } })._zod.def;

/** The keys a mapping at `keyPath` may hold, for "unknown key (expected one of ...)". */
export function knownKeysAt(schema: z.ZodType, keyPath: readonly PropertyKey[]): string[] {
  const objects = walk(schema, keyPath);
  return [...new Set(objects.flatMap((def) => Object.keys(def.shape ?? {})))];
}

function walk(schema: z.ZodType, keyPath: readonly PropertyKey[]): Def[] {
  const def = defOf(schema);
  if (def.innerType) return walk(def.innerType, keyPath);
  if (def.type === 'pipe' && def.in) return walk(def.in, keyPath);
  if (def.type === 'union' && def.options) return def.options.flatMap((o) => walk(o, keyPath));
  if (keyPath.length === 0) return def.type === 'object' ? [def] : [];
  const [head, ...rest] = keyPath;
  if (def.type === 'object' && typeof head === 'string' && def.shape?.[head]) {
    return walk(def.shape[head], rest);
  }
  if (def.type === 'array' && typeof head === 'number' && def.element)
    return walk(def.element, rest);
  return [];
}
