/**
 * One place turns every error into an answer: routes just throw. The fleet's own API answers
 * `{ "error": { "code", "message" } }`; Ollama's paths answer as Ollama does
 * (`{"error": "..."}`, gin's plain-text 404 and 405) and `/v1/` as Ollama's OpenAI layer does.
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Errors, FleetError, isFleetError } from '../errors.js';
import { OLLAMA_DIALECT, OLLAMA_PATHS } from './routes/ollama.js';
import { OPENAI_DIALECT } from './routes/openai.js';

/** Whose words a path answers in: Ollama's, its OpenAI layer's, or the fleet's own. */
export type Wording = 'ollama' | 'openai' | 'fleet';

export function wordingOf(request: FastifyRequest): Wording {
  const path = request.url.split('?')[0] as string;
  if (path.startsWith('/v1/')) return 'openai';
  if (OLLAMA_PATHS.has(path)) return 'ollama';
  return 'fleet';
}

function send(reply: FastifyReply, dialect: Wording, error: FleetError, status: number) {
  if (dialect === 'openai')
    return reply.status(status).send(OPENAI_DIALECT.error(status, error.message, error.code));
  if (dialect === 'ollama')
    return reply.status(status).send(OLLAMA_DIALECT.error(status, error.message, error.code));
  return reply.status(status).send(error.toJSON());
}

/** Refusals that pass: the caller should send the same request again a little later. */
const RETRY_LATER = new Set([
  'FLEET_ERR_QUEUE_FULL',
  'FLEET_ERR_SHUTTING_DOWN',
  'FLEET_ERR_BUSY',
  'FLEET_ERR_STORAGE',
]);

export function installErrorHandler(app: FastifyInstance, routes: RouteTable): void {
  app.setErrorHandler((error: FastifyError | FleetError, request, reply) => {
    const dialect = wordingOf(request);
    if (isFleetError(error)) {
      if (error.status >= 500) request.log.error({ err: error }, error.message);
      if (RETRY_LATER.has(error.code)) {
        void reply.header('retry-after', '5');
      }
      // Ollama answers 404 for a model it does not have.
      const status =
        dialect !== 'fleet' && error.code === 'FLEET_ERR_UNKNOWN_MODEL' ? 404 : error.status;
      return send(reply, dialect, error, status);
    }
    const status = error.statusCode ?? 500;
    if (status < 500) {
      // fastify's own 4xx: a body that is not JSON, too large, a wrong content type.
      const message =
        error.code === 'FST_ERR_CTP_BODY_TOO_LARGE'
          ? `body is larger than ${Math.round((request.routeOptions.bodyLimit ?? 0) / 1_048_576)} MiB (api.limits.body_mib)`
          : error.message;
      const wrapped = new FleetError(Errors.FLEET_ERR_VALIDATION, message, {
        details: { fastify_code: error.code },
      });
      return send(reply, dialect, wrapped, status);
    }
    request.log.error({ err: error }, 'request failed');
    return send(
      reply,
      dialect,
      new FleetError(
        Errors.FLEET_ERR_INTERNAL,
        'internal error; the supervisor log has the details',
      ),
      500,
    );
  });
  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0] as string;
    // `/api/` and `/v1/` are Ollama's too: an unknown path there gets gin's answer, as from
    // Ollama, unless it is under one of the fleet's own (`/api/job/x/y`, `/api/fleet/...`).
    if ((path.startsWith('/api/') && !routes.isFleetPath(path)) || path.startsWith('/v1/')) {
      return reply.status(404).type('text/plain; charset=utf-8').send('404 page not found');
    }
    const error = new FleetError(Errors.FLEET_ERR_NOT_FOUND, `no route ${request.method} ${path}`);
    return reply.status(404).send(error.toJSON());
  });
}

/** gin's order of methods in an `Allow` header (the order its trees are made in Ollama). */
const METHODS = ['HEAD', 'GET', 'POST', 'DELETE', 'PUT', 'PATCH', 'OPTIONS'] as const;

export interface RouteTable {
  /** Under a path of the fleet's own API (`/api/<first segment>` of one of its routes). */
  isFleetPath(path: string): boolean;
  /** Adds the 405 answers; call once every route is there. */
  addMethodNotAllowed(): void;
}

/**
 * Keeps the table of routes as they are added (call it before adding any): which prefixes are
 * the fleet's own, and which methods each path takes, so a known path asked with a method it
 * does not take answers 405, as Ollama's gin router does (`HandleMethodNotAllowed`), not 404.
 */
export function routeTable(app: FastifyInstance): RouteTable {
  const taken = new Map<string, Set<string>>();
  const fleetPrefixes = new Set<string>();
  app.addHook('onRoute', (route) => {
    const methods = taken.get(route.url) ?? new Set<string>();
    for (const m of [route.method].flat()) {
      methods.add(m);
      if (m === 'GET') methods.add('HEAD'); // fastify answers HEAD for every GET route
    }
    taken.set(route.url, methods);
    if (route.url.startsWith('/api/') && !OLLAMA_PATHS.has(route.url))
      fleetPrefixes.add(prefixOf(route.url));
  });
  return {
    isFleetPath: (path) => fleetPrefixes.has(prefixOf(path)),
    addMethodNotAllowed() {
      for (const [url, methods] of [...taken]) {
        const allowed = METHODS.filter((m) => methods.has(m));
        const missing = METHODS.filter((m) => !methods.has(m));
        if (missing.length === 0) continue;
        app.route({
          method: missing,
          url,
          handler: async (request, reply) => {
            void reply.header('allow', allowed.join(', '));
            if (wordingOf(request) !== 'fleet') {
              return reply
                .status(405)
                .type('text/plain; charset=utf-8')
                .send('405 method not allowed');
            }
            const error = new FleetError(
              Errors.FLEET_ERR_METHOD_NOT_ALLOWED,
              `${request.method} ${url} is not allowed; it takes ${allowed.join(', ')}`,
            );
            return reply.status(405).send(error.toJSON());
          },
        });
      }
    },
  };
}

/** `/api/job` of `/api/job/:id/events`. */
function prefixOf(path: string): string {
  return path.split('/').slice(0, 3).join('/');
}
