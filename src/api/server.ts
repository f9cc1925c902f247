/**
 * The supervisor's HTTP server. It wires the routes of each room; routes throw, the error
 * handler answers.
 */
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify';
import type { Limits } from '../config/schema.js';
import { Errors, FleetError } from '../errors.js';
import type { FleetControl } from '../fleet/control.js';
import type { Logger } from '../log.js';
import type { FleetMetrics } from '../metrics/metrics.js';
import { decodeGoJson } from '../ollama/go-json.js';
import { GroupCommit } from '../queue/group-commit.js';
import { installAuth, SECRET_PARAMS } from './auth.js';
import { installErrorHandler, routeTable, wordingOf } from './error-handler.js';
import { jsonTextDepth } from './json-limits.js';
import { fleetRoutes } from './routes/fleet.js';
import { healthRoutes } from './routes/health.js';
import { type JobRoutesOptions, jobRoutes, submitContext } from './routes/jobs.js';
import { type OllamaRoutesOptions, ollamaRoutes } from './routes/ollama.js';
import { openaiRoutes } from './routes/openai.js';
import { type StatsOptions, statsRoutes } from './routes/stats.js';
import { DASHBOARD_HTML, FAVICON_SVG } from './ui/page.js';

export interface ApiServerOptions {
  log: Logger;
  token: string | undefined;
  /** Needed for ladder moves and Ollama's model routes when set (`api.admin_token`). */
  adminToken?: string | undefined;
  /** The API listens on loopback only (Ollama's model routes then need no token). */
  loopbackOnly: boolean;
  limits: Limits;
  version: string;
  fleet: FleetControl;
  /** The job API; left out, the server offers health and ladder admin only. */
  jobs?: Omit<JobRoutesOptions, 'submits'>;
  /** Ollama's own API on the supervisor (needs `jobs`). */
  ollama?: Pick<OllamaRoutesOptions, 'ollama' | 'resolve' | 'unloadWhenIdle'>;
  stats?: Omit<StatsOptions, 'fleet'>;
  /** Prometheus metrics, served at /metrics and counting every request. */
  metrics?: FleetMetrics;
  /** What keeps the supervisor from working fully, for /api/health. */
  problems?: () => string[];
}

/** A URL as it may be logged: a credential in its query (refused anyway) never is. */
function redactedUrl(url: string): string {
  const [path, query] = url.split('?');
  if (query === undefined) return url;
  const params = new URLSearchParams(query);
  for (const key of SECRET_PARAMS) if (params.has(key)) params.set(key, '[redacted]');
  return `${path}?${params.toString()}`;
}

const REQUEST_TIMEOUT_MS = 60_000;
const HEADERS_TIMEOUT_MS = 15_000;

/**
 * Bounds the bytes of bodies being received at once, so many large bodies together cannot
 * take the process's memory: past the budget a body is refused with 503 and Retry-After
 * (one body alone is always let in; `bodyLimit` bounds it).
 */
function installBodyBudget(app: FastifyInstance, budget: number): void {
  let inFlight = 0;
  const releases = new WeakMap<object, () => void>();
  app.addHook('onRequest', async (request, reply) => {
    const length = Number(request.headers['content-length'] ?? 0);
    if (!(length > 0)) return;
    if (inFlight > 0 && inFlight + length > budget) {
      throw new FleetError(
        Errors.FLEET_ERR_BUSY,
        `${Math.round(inFlight / 1_048_576)} MiB of bodies are being received already (api.limits.bodies_in_flight_mib); send it again shortly`,
      );
    }
    inFlight += length;
    // Counted while the body is being received: released once it is read (or the request
    // ends without that), not held while a long answer streams.
    let held = true;
    const release = () => {
      if (!held) return;
      held = false;
      inFlight -= length;
    };
    releases.set(request, release);
    reply.raw.once('close', release);
  });
  app.addHook('preHandler', async (request) => {
    releases.get(request)?.();
  });
}

export async function buildApiServer(options: ApiServerOptions): Promise<FastifyInstance> {
  const app = Fastify({
    // pino's Logger is fastify's logger; the cast only widens its generic parameter.
    loggerInstance: options.log as FastifyBaseLogger,
    // Images travel base64 in job bodies.
    bodyLimit: Math.floor(options.limits.body_mib * 1_048_576),
    // Long-polls and event streams end through JobEvents.closeAll before close().
    forceCloseConnections: true,
    // Workers long-poll and health checks come every few seconds: one line per request, at
    // debug unless it was refused.
    logController: new LogController({ disableRequestLogging: true }),
    // A request must arrive whole within this; a socket that trickles its headers or body is
    // closed instead of holding a file handle forever. Answers may take as long as they need.
    requestTimeout: REQUEST_TIMEOUT_MS,
  });
  app.server.headersTimeout = HEADERS_TIMEOUT_MS;
  app.server.maxConnections = options.limits.max_connections;
  // Out of file handles, accept() fails: say so and carry on serving the connections there are.
  app.server.on('error', (err: NodeJS.ErrnoException) => {
    // listen() reports its own failures; these are the ones after it.
    if (err.syscall === 'accept')
      options.log.warn({ err }, 'the HTTP server could not accept a connection');
  });
  installBodyBudget(app, options.limits.bodies_in_flight_mib * 1_048_576);
  app.addHook('onResponse', async (request, reply) => {
    options.metrics?.request(
      request.method,
      request.routeOptions.url ?? 'unmatched',
      reply.statusCode,
    );
    request.log[reply.statusCode >= 400 ? 'info' : 'debug'](
      {
        method: request.method,
        url: redactedUrl(request.url),
        status: reply.statusCode,
        ms: Math.round(reply.elapsedTime),
      },
      'request',
    );
  });
  // Bodies are JSON whatever the content type says, as Ollama reads them: `curl -d` sends
  // form encoding and fetch sends text/plain by default.
  // application/json too, so a broken body gets Ollama's words on Ollama's paths.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string' }, (request, body, done) => {
    if (body === '') return done(null, undefined);
    // Before any parser recurses into it: a body nested thousands deep is refused whole.
    const depth = jsonTextDepth(body as string);
    if (depth > options.limits.body_depth) {
      const words = `body nests ${depth} levels deep; at most ${options.limits.body_depth} (api.limits.body_depth)`;
      return done(new FleetError(Errors.FLEET_ERR_VALIDATION, words), undefined);
    }
    if (wordingOf(request) !== 'fleet') {
      // Ollama's paths read a body as Ollama's Go decoder does, and say so in its words.
      const decoded = decodeGoJson(body as string);
      if ('value' in decoded) return done(null, decoded.value);
      return done(new FleetError(Errors.FLEET_ERR_VALIDATION, decoded.error), undefined);
    }
    try {
      done(null, JSON.parse(body as string));
    } catch (err) {
      done(
        new FleetError(
          Errors.FLEET_ERR_VALIDATION,
          `body is not valid JSON: ${(err as Error).message}`,
        ),
        undefined,
      );
    }
  });
  const routes = routeTable(app);
  installErrorHandler(app, routes);
  installAuth(app, { token: options.token, adminToken: options.adminToken }, options.loopbackOnly);
  healthRoutes(app, {
    version: options.version,
    startedAt: Date.now(),
    ...(options.problems ? { problems: options.problems } : {}),
  });
  fleetRoutes(app, options.fleet);
  // The page holds no data (it asks the API, with the token), so it needs no token itself.
  app.get('/ui', async (_request, reply) =>
    reply.type('text/html; charset=utf-8').send(DASHBOARD_HTML),
  );
  app.get('/favicon.ico', async (_request, reply) =>
    reply.type('image/svg+xml').header('cache-control', 'max-age=86400').send(FAVICON_SVG),
  );
  const metrics = options.metrics;
  if (metrics) {
    app.get('/metrics', async (_request, reply) =>
      reply.type(metrics.contentType).send(await metrics.text()),
    );
  }
  if (options.jobs) {
    const jobs = options.jobs;
    const submits = new GroupCommit(jobs.store, jobs.events, jobs.queueMaxSize, jobs.now);
    jobRoutes(app, { ...jobs, submits });
    if (options.ollama) {
      const compat = ollamaRoutes(app, {
        ...options.ollama,
        deps: { ...jobs, submits },
        context: (request) => submitContext(jobs, request),
        ladders: jobs.ladders,
        tokenConfigured: jobs.tokenConfigured,
        loopbackOnly: options.loopbackOnly,
        closing: jobs.closing,
      });
      openaiRoutes(app, compat);
    }
  }
  if (options.stats) statsRoutes(app, { ...options.stats, fleet: options.fleet });
  routes.addMethodNotAllowed();
  await app.ready();
  return app;
}
