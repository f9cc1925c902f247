import type { z } from 'zod';
import { formatKeyPath } from '../config/key-path.js';
import { Errors, FleetError } from '../errors.js';

/**
 * Validates a request body (or query); the error names the field: `body.priority: expected
 * one of high, normal, low`. `where` is the name of what was validated.
 */
export function parseBody<T extends z.ZodType>(
  schema: T,
  body: unknown,
  where = 'body',
): z.output<T> {
  const parsed = schema.safeParse(body);
  if (parsed.success) return parsed.data;
  const message = parsed.error.issues
    .map((issue) => {
      const at = formatKeyPath([where, ...issue.path]);
      if (issue.code === 'unrecognized_keys')
        return `${at}: unknown field ${issue.keys.join(', ')}`;
      if (issue.code === 'invalid_type' && issue.message.startsWith('Invalid input')) {
        return `${at}: expected ${issue.expected}`;
      }
      return `${at}: ${issue.message}`;
    })
    .join('; ');
  throw new FleetError(Errors.FLEET_ERR_VALIDATION, message);
}
