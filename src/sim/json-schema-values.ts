/**
 * A value that fits a JSON schema, chosen by a seeded random source: what a simulated model
 * "writes" under Ollama's structured outputs (`format`) and as tool call arguments. Pure.
 *
 * Covers what tool and format schemas use in practice: type (or a list of types), const, enum,
 * properties (all of them, required first in schema order), additionalProperties, items and
 * prefixItems, min/maxItems, uniqueItems, min/maxLength, common string formats, minimum,
 * maximum (exclusive ones too), multipleOf, anyOf/oneOf/allOf and local $ref. Not `pattern`.
 */

type Schema = Record<string, unknown>;

const WORDS = (
  'amber harbor quiet river signal copper meadow lantern orbit cedar ' +
  'velvet summit pixel glacier tundra ember falcon marble nectar prism'
).split(' ');
const CITIES = ['Paris', 'Tokyo', 'Lima', 'Oslo', 'Cairo', 'Toronto', 'Nairobi', 'Hanoi'];
const NAMES = ['Ada', 'Grace', 'Alan', 'Linus', 'Barbara', 'Edsger', 'Margaret', 'Dennis'];
const MAX_DEPTH = 8;

export function valueForSchema(schema: unknown, next: () => number): unknown {
  return new Generator(schema, next).value(schema, '', 0);
}

class Generator {
  constructor(
    private readonly root: unknown,
    private readonly next: () => number,
  ) {}

  value(schema: unknown, key: string, depth: number): unknown {
    if (schema === true || schema === undefined) return this.string({}, key);
    if (schema === false || typeof schema !== 'object' || schema === null) return null;
    const s = this.resolve(schema as Schema, depth);
    if ('const' in s) return s.const;
    if (Array.isArray(s.enum) && s.enum.length > 0) return this.pick(s.enum);
    const options = (
      Array.isArray(s.anyOf) ? s.anyOf : Array.isArray(s.oneOf) ? s.oneOf : []
    ).filter((o) => !isNullSchema(o));
    if (options.length > 0) return this.value(this.pick(options), key, depth + 1);
    if (depth > MAX_DEPTH) return null;
    switch (this.type(s)) {
      case 'object':
        return this.object(s, depth);
      case 'array':
        return this.array(s, key, depth);
      case 'integer':
        return this.integer(s);
      case 'number':
        return this.number(s);
      case 'boolean':
        return this.next() < 0.5;
      case 'null':
        return null;
      default:
        return this.string(s, key);
    }
  }

  /** Follows local `$ref`s and folds `allOf` into one schema. */
  private resolve(schema: Schema, depth: number): Schema {
    let s = schema;
    for (let hops = 0; typeof s.$ref === 'string' && hops < MAX_DEPTH; hops++) {
      const { $ref, ...rest } = s;
      s = { ...(this.pointer($ref as string) ?? {}), ...rest };
    }
    if (Array.isArray(s.allOf) && depth <= MAX_DEPTH) {
      const { allOf, ...rest } = s;
      let merged: Schema = rest;
      for (const part of allOf) {
        if (typeof part !== 'object' || part === null) continue;
        const p = this.resolve(part as Schema, depth + 1);
        merged = {
          ...p,
          ...merged,
          properties: { ...(p.properties as Schema), ...(merged.properties as Schema) },
          required: [...asStrings(p.required), ...asStrings(merged.required)],
        };
      }
      s = merged;
    }
    return s;
  }

  private pointer(ref: string): Schema | undefined {
    if (!ref.startsWith('#')) return undefined;
    let at: unknown = this.root;
    for (const raw of ref.slice(1).split('/').filter(Boolean)) {
      const part = decodeURIComponent(raw).replace(/~1/g, '/').replace(/~0/g, '~');
      at = typeof at === 'object' && at !== null ? (at as Schema)[part] : undefined;
    }
    return typeof at === 'object' && at !== null ? (at as Schema) : undefined;
  }

  private type(s: Schema): string {
    const types = Array.isArray(s.type) ? s.type.filter((t) => t !== 'null') : [s.type];
    const type = types[0];
    if (typeof type === 'string') return type;
    if (s.properties || s.additionalProperties || s.required) return 'object';
    if (s.items || s.prefixItems) return 'array';
    if (typeof s.minimum === 'number' || typeof s.maximum === 'number') return 'number';
    return 'string';
  }

  private object(s: Schema, depth: number): Record<string, unknown> {
    const properties = (typeof s.properties === 'object' && s.properties) || {};
    const out: Record<string, unknown> = {};
    for (const [key, sub] of Object.entries(properties as Schema)) {
      out[key] = this.value(sub, key, depth + 1);
    }
    // Required names the properties leave out still need a value.
    for (const key of asStrings(s.required)) {
      if (!(key in out)) out[key] = this.value(additional(s), key, depth + 1);
    }
    if (Object.keys(properties).length === 0 && typeof s.additionalProperties === 'object') {
      const min = typeof s.minProperties === 'number' ? s.minProperties : 1;
      for (let i = Object.keys(out).length; i < Math.max(1, min); i++) {
        out[`${this.pick(WORDS)}_${i}`] = this.value(s.additionalProperties, '', depth + 1);
      }
    }
    return out;
  }

  private array(s: Schema, key: string, depth: number): unknown[] {
    // A tuple is `prefixItems` (or, before 2020-12, an `items` list); the rest follow `items`.
    const tuple = Array.isArray(s.items);
    const prefix = Array.isArray(s.prefixItems)
      ? s.prefixItems
      : tuple
        ? (s.items as unknown[])
        : [];
    const rest = tuple ? s.additionalItems : s.items;
    const min = Math.max(typeof s.minItems === 'number' ? s.minItems : 1, prefix.length);
    const cap = rest === false ? prefix.length : Number.POSITIVE_INFINITY;
    const max = Math.min(cap, Math.max(min, typeof s.maxItems === 'number' ? s.maxItems : min + 2));
    const length = Math.min(max, min + Math.floor(this.next() * 3));
    const out: unknown[] = [];
    for (let i = 0; i < length; i++) {
      const sub = i < prefix.length ? prefix[i] : (rest ?? true);
      let value = this.value(sub, singular(key), depth + 1);
      // uniqueItems: draw again a few times before giving up on a duplicate.
      for (let tries = 0; s.uniqueItems === true && tries < 8 && contains(out, value); tries++) {
        value = this.value(sub, singular(key), depth + 1);
      }
      if (s.uniqueItems === true && contains(out, value) && out.length >= min) break;
      out.push(value);
    }
    return out;
  }

  private integer(s: Schema): number {
    const { low, high } = bounds(s, 1);
    const step = typeof s.multipleOf === 'number' && s.multipleOf > 0 ? s.multipleOf : 1;
    const first = Math.ceil(low / step);
    const last = Math.floor(high / step);
    if (last < first) return Math.round(low);
    return (first + Math.floor(this.next() * (last - first + 1))) * step;
  }

  private number(s: Schema): number {
    if (typeof s.multipleOf === 'number') return this.integer(s);
    const { low, high } = bounds(s, 0.1);
    const value = Math.round((low + this.next() * (high - low)) * 10) / 10;
    return Math.min(high, Math.max(low, value));
  }

  private string(s: Schema, key: string): string {
    const text = this.formatted(s.format) ?? this.words(key);
    const min = typeof s.minLength === 'number' ? s.minLength : 0;
    const max = typeof s.maxLength === 'number' ? s.maxLength : Number.POSITIVE_INFINITY;
    let out = text;
    while (out.length < min) out += ` ${this.pick(WORDS)}`;
    return out.slice(0, Math.max(min, Math.min(max, out.length)));
  }

  private formatted(format: unknown): string | undefined {
    const n = (size: number) => Math.floor(this.next() * size);
    const pad = (v: number, width = 2) => String(v).padStart(width, '0');
    const date = `20${pad(20 + n(10))}-${pad(1 + n(12))}-${pad(1 + n(28))}`;
    const time = `${pad(n(24))}:${pad(n(60))}:${pad(n(60))}`;
    switch (format) {
      case 'date-time':
        return `${date}T${time}Z`;
      case 'date':
        return date;
      case 'time':
        return `${time}Z`;
      case 'email':
        return `${this.pick(NAMES).toLowerCase()}@example.com`;
      case 'uri':
      case 'url':
        return `https://example.com/${this.pick(WORDS)}`;
      case 'hostname':
        return `${this.pick(WORDS)}.example.com`;
      case 'ipv4':
        return `192.0.2.${1 + n(254)}`;
      case 'uuid': {
        const hex = Array.from({ length: 32 }, () => n(16).toString(16)).join('');
        return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-a${hex.slice(17, 20)}-${hex.slice(20)}`;
      }
      default:
        return undefined;
    }
  }

  /** Words that read like an answer for the field: a city for `city`, a name for `name`. */
  private words(key: string): string {
    const k = key.toLowerCase();
    if (/city|location|place|town/.test(k)) return this.pick(CITIES);
    if (/name|author|user/.test(k)) return this.pick(NAMES);
    const count = 1 + Math.floor(this.next() * 3);
    return Array.from({ length: count }, () => this.pick(WORDS)).join(' ');
  }

  private pick<T>(list: readonly T[]): T {
    return list[Math.floor(this.next() * list.length)] as T;
  }
}

function bounds(s: Schema, epsilon: number): { low: number; high: number } {
  const exclusive = (value: unknown, base: unknown) =>
    typeof value === 'number'
      ? value
      : value === true && typeof base === 'number'
        ? base
        : undefined;
  const exMin = exclusive(s.exclusiveMinimum, s.minimum);
  const exMax = exclusive(s.exclusiveMaximum, s.maximum);
  let low = typeof s.minimum === 'number' ? s.minimum : Number.NEGATIVE_INFINITY;
  let high = typeof s.maximum === 'number' ? s.maximum : Number.POSITIVE_INFINITY;
  if (exMin !== undefined) low = Math.max(low, exMin + epsilon);
  if (exMax !== undefined) high = Math.min(high, exMax - epsilon);
  if (!Number.isFinite(low) && !Number.isFinite(high)) return { low: 0, high: 100 };
  if (!Number.isFinite(low)) low = Math.min(0, high - 100);
  if (!Number.isFinite(high)) high = Math.max(low + 100, 100);
  return { low, high: Math.max(low, high) };
}

function additional(s: Schema): unknown {
  return typeof s.additionalProperties === 'object' ? s.additionalProperties : true;
}

function isNullSchema(schema: unknown): boolean {
  return typeof schema === 'object' && schema !== null && (schema as Schema).type === 'null';
}

function asStrings(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}

function contains(list: unknown[], value: unknown): boolean {
  const text = JSON.stringify(value);
  return list.some((v) => JSON.stringify(v) === text);
}

function singular(key: string): string {
  return key.endsWith('ies') ? `${key.slice(0, -3)}y` : key.replace(/s$/, '');
}
