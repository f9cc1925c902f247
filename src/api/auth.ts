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

/**
 * The route a request matched, as registered (`/api/fleet/:ladder/:action`): what decides
 * who may call it. Never the raw URL: the router decodes `%70ull` to `pull`, a check on the
 * raw text would not.
 */
function routeOf(request: FastifyRequest): string | undefined {
  return request.routeOptions.url;
}

export function isAdminRoute(request: FastifyRequest): boolean {
  const route = routeOf(request);
  if (route === undefined) return false;
  if (MODEL_ROUTES.has(route)) return true;
  return request.method !== 'GET' && route.startsWith('/api/fleet/');
}

export function installAuth(
  app: FastifyInstance,
  tokens: { token: string | undefined; adminToken?: string | undefined },
  /** Listening on loopback only: with no token, this machine's own pages and names only. */
  loopbackOnly = false,
): void {
  app.addHook('onRequest', async (request) => {
    const query = new URLSearchParams(request.url.slice(request.url.indexOf('?') + 1));
    const names = new Set([...query.keys()].map((k) => k.toLowerCase()));
    if (request.url.includes('?') && SECRET_PARAMS.some((p) => names.has(p))) {
      throw new FleetError(
        Errors.FLEET_ERR_VALIDATION,
        'a token in the URL is refused (logs and proxies keep URLs): send `Authorization: Bearer <token>`',
      );
    }
  });
  const { token, adminToken } = tokens;
  if (token === undefined && adminToken === undefined) {
    if (loopbackOnly) refuseOtherSites(app);
    return;
  }
  const user = token === undefined ? undefined : digest(token);
  const admin = adminToken === undefined ? undefined : digest(adminToken);
  app.addHook('onRequest', async (request) => {
    if (OPEN_ROUTES.has(routeOf(request) ?? '')) return;
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

/**
 * With no token (a supervisor on loopback), the browser is the way in for others: a web page
 * the operator visits could send requests to 127.0.0.1 (any content type is read as JSON),
 * and DNS rebinding could read the answers. As Ollama does, requests from another site's page
 * (an `Origin` that is not this machine) and requests for another host name are refused.
 */
function refuseOtherSites(app: FastifyInstance): void {
  app.addHook('onRequest', async (request) => {
    const origin = request.headers.origin;
    if (origin !== undefined && origin !== 'null' && !isLocalHost(hostOf(origin))) {
      throw new FleetError(
        Errors.FLEET_ERR_FORBIDDEN,
        `requests from web pages of ${origin} are refused: this supervisor has no api.token`,
      );
    }
    const host = request.headers.host;
    if (host !== undefined && !isLocalHost(host.replace(/:\d+$/, ''))) {
      throw new FleetError(
        Errors.FLEET_ERR_FORBIDDEN,
        `requests for host ${host} are refused: this supervisor has no api.token and answers for this machine only`,
      );
    }
  });
}

function hostOf(origin: string): string {
  try {
    return new URL(origin).hostname;
  } catch {
    return origin;
  }
}

function isLocalHost(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, '').toLowerCase();
  return (
    bare === 'localhost' || bare === '::1' || bare.startsWith('127.') || bare.endsWith('.localhost')
  );
}
