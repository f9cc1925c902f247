/**
 * A small JSON-schema checker for the simulator's tests: what a client would check of the
 * JSON a model returned under `format` or as tool arguments. It reads the keywords the tests'
 * schemas use and says what does not fit, with a JSON-pointer-ish path.
 */
type Schema = Record<string, unknown>;

export function schemaErrors(schema: unknown, value: unknown, root = schema, at = '$'): string[] {
  if (schema === true || schema === undefined) return [];
  if (schema === false) return [`${at}: no value is allowed`];
  let s = schema as Schema;
  if (typeof s.$ref === 'string') {
    const target = (s.$ref as string)
      .replace(/^#\//, '')
      .split('/')
      .reduce<unknown>((node, key) => (node as Schema)?.[key], root);
    s = { ...(target as Schema), ...s, $ref: undefined };
  }
  const errors: string[] = [];
  if ('const' in s && JSON.stringify(s.const) !== JSON.stringify(value)) {
    errors.push(`${at}: expected ${JSON.stringify(s.const)}`);
  }
  if (Array.isArray(s.enum) && !s.enum.some((e) => JSON.stringify(e) === JSON.stringify(value))) {
    errors.push(`${at}: ${JSON.stringify(value)} is not one of ${JSON.stringify(s.enum)}`);
  }
  for (const key of ['anyOf', 'oneOf'] as const) {
    const options = s[key];
    if (
      Array.isArray(options) &&
      !options.some((o) => schemaErrors(o, value, root, at).length === 0)
    ) {
      errors.push(`${at}: fits none of ${key}`);
    }
  }
  if (Array.isArray(s.allOf)) {
    for (const part of s.allOf) errors.push(...schemaErrors(part, value, root, at));
  }
  const types = s.type === undefined ? [] : Array.isArray(s.type) ? s.type : [s.type];
  if (types.length > 0 && !types.some((t) => isType(t as string, value))) {
    errors.push(`${at}: ${JSON.stringify(value)} is not of type ${types.join('|')}`);
    return errors;
  }
  if (typeof value === 'number') {
    if (typeof s.minimum === 'number' && value < s.minimum) errors.push(`${at}: below minimum`);
    if (typeof s.maximum === 'number' && value > s.maximum) errors.push(`${at}: above maximum`);
    if (typeof s.exclusiveMinimum === 'number' && value <= s.exclusiveMinimum) {
      errors.push(`${at}: not above exclusiveMinimum`);
    }
    if (typeof s.exclusiveMaximum === 'number' && value >= s.exclusiveMaximum) {
      errors.push(`${at}: not below exclusiveMaximum`);
    }
    if (
      typeof s.multipleOf === 'number' &&
      Math.abs(value / s.multipleOf - Math.round(value / s.multipleOf)) > 1e-9
    ) {
      errors.push(`${at}: not a multiple of ${s.multipleOf}`);
    }
  }
  if (typeof value === 'string') {
    if (typeof s.minLength === 'number' && value.length < s.minLength)
      errors.push(`${at}: too short`);
    if (typeof s.maxLength === 'number' && value.length > s.maxLength)
      errors.push(`${at}: too long`);
    if (s.format === 'date-time' && Number.isNaN(Date.parse(value)))
      errors.push(`${at}: not a date-time`);
    if (s.format === 'date' && !/^\d{4}-\d{2}-\d{2}$/.test(value)) errors.push(`${at}: not a date`);
    if (s.format === 'email' && !/^[^@\s]+@[^@\s]+$/.test(value))
      errors.push(`${at}: not an email`);
    if (
      s.format === 'uuid' &&
      !/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(value)
    ) {
      errors.push(`${at}: not a uuid`);
    }
  }
  if (Array.isArray(value)) {
    if (typeof s.minItems === 'number' && value.length < s.minItems)
      errors.push(`${at}: too few items`);
    if (typeof s.maxItems === 'number' && value.length > s.maxItems)
      errors.push(`${at}: too many items`);
    if (
      s.uniqueItems === true &&
      new Set(value.map((v) => JSON.stringify(v))).size !== value.length
    ) {
      errors.push(`${at}: items are not unique`);
    }
    const prefix = Array.isArray(s.prefixItems) ? s.prefixItems : [];
    value.forEach((item, i) => {
      const sub = i < prefix.length ? prefix[i] : s.items;
      errors.push(...schemaErrors(sub, item, root, `${at}[${i}]`));
    });
  }
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    const object = value as Record<string, unknown>;
    const properties = (s.properties ?? {}) as Schema;
    for (const key of (s.required as string[] | undefined) ?? []) {
      if (!(key in object)) errors.push(`${at}: missing required ${key}`);
    }
    for (const [key, item] of Object.entries(object)) {
      if (key in properties)
        errors.push(...schemaErrors(properties[key], item, root, `${at}.${key}`));
      else if (s.additionalProperties === false) errors.push(`${at}: unexpected ${key}`);
      else if (typeof s.additionalProperties === 'object') {
        errors.push(...schemaErrors(s.additionalProperties, item, root, `${at}.${key}`));
      }
    }
  }
  return errors;
}

function isType(type: string, value: unknown): boolean {
  switch (type) {
    case 'object':
      return typeof value === 'object' && value !== null && !Array.isArray(value);
    case 'array':
      return Array.isArray(value);
    case 'integer':
      return Number.isInteger(value);
    case 'number':
      return typeof value === 'number';
    case 'null':
      return value === null;
    default:
      return typeof value === type;
  }
}
