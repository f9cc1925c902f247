import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { random } from '../../src/sim/inference.js';
import { valueForSchema } from '../../src/sim/json-schema-values.js';
import { schemaErrors } from '../helpers/sim-schema.js';

/** Schemas of the kinds tool definitions and `format` use, nested a few levels. */
const schemaArb = fc.letrec<{ schema: Record<string, unknown> }>((tie) => ({
  schema: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc
      .record(
        {
          minLength: fc.integer({ min: 0, max: 12 }),
          extra: fc.integer({ min: 0, max: 20 }),
          format: fc.constantFrom(undefined, 'date', 'date-time', 'email', 'uuid'),
        },
        { requiredKeys: ['minLength', 'extra'] },
      )
      .map(({ minLength, extra, format }) =>
        format
          ? { type: 'string', format }
          : { type: 'string', minLength, maxLength: minLength + extra },
      ),
    fc
      .tuple(fc.integer({ min: -1000, max: 1000 }), fc.integer({ min: 0, max: 50 }), fc.boolean())
      .map(([min, span, exclusive]) =>
        exclusive
          ? { type: 'integer', exclusiveMinimum: min, exclusiveMaximum: min + span + 2 }
          : { type: 'integer', minimum: min, maximum: min + span },
      ),
    fc
      .tuple(fc.double({ min: -100, max: 100, noNaN: true }), fc.double({ min: 1, max: 100 }))
      .map(([min, span]) => ({ type: 'number', minimum: min, maximum: min + span })),
    fc.constant({ type: 'boolean' }),
    fc.constant({ type: ['string', 'null'] }),
    fc.uniqueArray(fc.string({ maxLength: 6 }), { minLength: 1, maxLength: 5 }).map((e) => ({
      type: 'string',
      enum: e,
    })),
    fc.jsonValue({ maxDepth: 1 }).map((c) => ({ const: c })),
    fc
      .record({
        items: tie('schema'),
        minItems: fc.integer({ min: 0, max: 3 }),
        extra: fc.integer({ min: 0, max: 3 }),
      })
      .map(({ items, minItems, extra }) => ({
        type: 'array',
        items,
        minItems,
        maxItems: minItems + extra,
      })),
    fc
      .dictionary(fc.stringMatching(/^[a-z_]{1,8}$/), tie('schema'), { maxKeys: 4 })
      .chain((properties) =>
        fc.subarray(Object.keys(properties)).map((required) => ({
          type: 'object',
          properties,
          required,
          additionalProperties: false,
        })),
      ),
    fc
      .array(tie('schema'), { minLength: 1, maxLength: 3 })
      .map((anyOf) => ({ anyOf: [...anyOf, { type: 'null' }] })),
  ),
})).schema;

describe('values generated for a JSON schema', () => {
  it('always fit the schema', () => {
    fc.assert(
      fc.property(schemaArb, fc.integer(), (schema, seed) => {
        const value = valueForSchema(schema, random(seed));
        expect(schemaErrors(schema, value)).toEqual([]);
      }),
      { numRuns: 500 },
    );
  });

  it('are the same for the same seed and differ across seeds', () => {
    const schema = {
      type: 'object',
      properties: { city: { type: 'string' }, days: { type: 'integer', minimum: 1, maximum: 14 } },
    };
    expect(valueForSchema(schema, random(7))).toEqual(valueForSchema(schema, random(7)));
    const values = new Set(
      Array.from({ length: 20 }, (_, i) => JSON.stringify(valueForSchema(schema, random(i)))),
    );
    expect(values.size).toBeGreaterThan(1);
  });

  it('fill every property, required or not, in the schema order', () => {
    const schema = {
      type: 'object',
      properties: { b: { type: 'boolean' }, a: { type: 'integer' }, c: { type: 'string' } },
      required: ['a', 'extra'],
    };
    const value = valueForSchema(schema, random(1)) as Record<string, unknown>;
    expect(Object.keys(value)).toEqual(['b', 'a', 'c', 'extra']);
  });

  it('follow $ref into $defs, fold allOf, and fill prefixItems tuples', () => {
    const schema = {
      $defs: {
        point: {
          type: 'object',
          properties: { x: { type: 'number' }, y: { type: 'number' } },
          required: ['x', 'y'],
        },
      },
      type: 'object',
      properties: {
        at: { $ref: '#/$defs/point' },
        both: {
          allOf: [
            { type: 'object', properties: { id: { type: 'string', format: 'uuid' } } },
            { properties: { n: { type: 'integer', multipleOf: 5, minimum: 1, maximum: 40 } } },
          ],
        },
        pair: {
          type: 'array',
          prefixItems: [{ type: 'string' }, { type: 'integer' }],
          items: false,
        },
        tags: { type: 'array', items: { enum: ['a', 'b', 'c'] }, uniqueItems: true, minItems: 2 },
      },
      required: ['at', 'both', 'pair', 'tags'],
    };
    for (let seed = 0; seed < 50; seed++) {
      const value = valueForSchema(schema, random(seed)) as Record<string, unknown>;
      expect(schemaErrors(schema, value)).toEqual([]);
      expect(value.pair).toHaveLength(2);
      expect(Object.keys(value.both as object).sort()).toEqual(['id', 'n']);
    }
  });

  it('give a field named like a city a city', () => {
    const value = valueForSchema(
      { type: 'object', properties: { city: { type: 'string' } } },
      random(3),
    ) as { city: string };
    expect(['Paris', 'Tokyo', 'Lima', 'Oslo', 'Cairo', 'Toronto', 'Nairobi', 'Hanoi']).toContain(
      value.city,
    );
  });
});
