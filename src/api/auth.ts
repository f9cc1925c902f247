/**
 * Bearer-token auth: with `api.token` set, every route but the open ones needs
 * `Authorization: Bearer <token>`. With `api.admin_token` set too, the routes that change
 * the fleet or Ollama's models (ladder moves; pull, delete, copy, create) need that one, and
 * it opens every other route as well. Compared in constant time; tokens are never logged, and
 * a token in the query string (where logs and proxies keep it) is refused.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Errors, FleetError } from '../errors.js';

const OPEN_ROUTES = new Set(['/api/health', '/ui', '/favicon.ico']);
const MODEL_ROUTES = new Set(['/api/pull', '/api/delete', '/api/copy', '/api/create']);

/** Query parameters that would carry a credential. */
export const SECRET_PARAMS = ['token', 'access_token', 'api_key', 'apikey', 'key'];

export function isAdminRoute(request: FastifyRequest): boolean {
  const route = request.url.split('?')[0] as string;
  if (MODEL_ROUTES.has(route)) return true;
  return request.method !== 'GET' && route.startsWith('/api/fleet/');
}

export function installAuth(
  app: FastifyInstance,
  tokens: { token: string | undefined; adminToken?: string | undefined },
): void {
  app.addHook('onRequest', async (request) => {
    const query = new URLSearchParams(request.url.split('?')[1] ?? '');
    if (SECRET_PARAMS.some((p) => query.has(p))) {
      throw new FleetError(
        Errors.FLEET_ERR_VALIDATION,
        'a token in the URL is refused (logs and proxies keep URLs): send `Authorization: Bearer <token>`',
      );
    }
  });
  const { token, adminToken } = tokens;
  if (token === undefined && adminToken === undefined) return;
  const user = token === undefined ? undefined : digest(token);
  const admin = adminToken === undefined ? undefined : digest(adminToken);
  app.addHook('onRequest', async (request) => {
    const route = request.url.split('?')[0] as string;
    if (OPEN_ROUTES.has(route)) return;
    const header = request.headers.authorization ?? '';
    const match = /^Bearer\s+(.+)$/i.exec(header);
    const given = match ? digest(match[1] as string) : undefined;
    const isAdmin = given !== undefined && admin !== undefined && timingSafeEqual(given, admin);
    if (isAdmin) return;
    const adminOnly = admin !== undefined && isAdminRoute(request);
    const isUser = given !== undefined && user !== undefined && timingSafeEqual(given, user);
    if (isUser && !adminOnly) return;
    if (isUser && adminOnly) {
      throw new FleetError(
        Errors.FLEET_ERR_FORBIDDEN,
        'this route changes the fleet or its models: it needs the admin token (api.admin_token)',
      );
    }
    throw new FleetError(
      Errors.FLEET_ERR_UNAUTHORIZED,
      match ? 'the bearer token is wrong' : 'this supervisor needs `Authorization: Bearer <token>`',
    );
  });
}

/** Hashing first makes both sides the same length, which timingSafeEqual requires. */
function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}
