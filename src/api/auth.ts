/**
 * Bearer-token auth: with `api.token` set, every route but the open ones needs
 * `Authorization: Bearer <token>`. Compared in constant time; the token is never logged.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { Errors, FleetError } from '../errors.js';

const OPEN_ROUTES = new Set(['/api/health', '/ui']);

export function installAuth(app: FastifyInstance, token: string | undefined): void {
  if (token === undefined) return;
  const expected = digest(token);
  app.addHook('onRequest', async (request) => {
    const route = request.url.split('?')[0] as string;
    if (OPEN_ROUTES.has(route)) return;
    const header = request.headers.authorization ?? '';
    const match = /^Bearer\s+(.+)$/i.exec(header);
    if (!match || !timingSafeEqual(digest(match[1] as string), expected)) {
      throw new FleetError(
        Errors.FLEET_ERR_UNAUTHORIZED,
        match
          ? 'the bearer token is wrong'
          : 'this supervisor needs `Authorization: Bearer <token>`',
      );
    }
  });
}

/** Hashing first makes both sides the same length, which timingSafeEqual requires. */
function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}
