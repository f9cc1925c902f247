import type { z } from 'zod';
import { formatKeyPath } from '../config/key-path.js';
import { Errors, FleetError } from '../errors.js';

/** Validates a request body; the error names the field: `body.model: expected string`. */
export function parseBody<T extends z.ZodType>(
  schema: T,
  body: unknown,
  where = 'body',
): z.output<T> {
  const parsed = schema.safeParse(body);
  if (parsed.success) return parsed.data;
  const message = parsed.error.issues
    .map((issue) => {
      const where = formatKeyPath(['body', ...issue.path]);
      if (issue.code === 'unrecognized_keys')
        return `${where}: unknown field ${issue.keys.join(', ')}`;
      return `${where}: ${issue.message}`;
    })
    .join('; ');
  throw new FleetError(Errors.FLEET_ERR_VALIDATION, message);
}
