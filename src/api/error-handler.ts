/**
 * One place turns every error into `{ "error": { "code", "message" } }`: routes just throw.
 */
import type { FastifyError, FastifyInstance } from 'fastify';
import { Errors, FleetError, isFleetError } from '../errors.js';
import { OLLAMA_PATHS } from './routes/ollama.js';

export function installErrorHandler(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError | FleetError, request, reply) => {
    if (isFleetError(error)) {
      if (error.status >= 500) request.log.error({ err: error }, error.message);
      if (error.code === 'FLEET_ERR_QUEUE_FULL' || error.code === 'FLEET_ERR_SHUTTING_DOWN') {
        void reply.header('retry-after', '5');
      }
      const path = request.url.split('?')[0] as string;
      // OpenAI's routes answer in OpenAI's shape.
      if (path.startsWith('/v1/')) {
        const status = error.code === 'FLEET_ERR_UNKNOWN_MODEL' ? 404 : error.status;
        return reply.status(status).send({
          error: {
            message: error.message,
            type: status < 500 ? 'invalid_request_error' : 'api_error',
            param: null,
            code: error.code === 'FLEET_ERR_UNKNOWN_MODEL' ? 'model_not_found' : error.code,
          },
        });
      }
      // Ollama's own routes answer as Ollama does: `{"error": "..."}`, 404 for an unknown model.
      if (OLLAMA_PATHS.has(path)) {
        const status = error.code === 'FLEET_ERR_UNKNOWN_MODEL' ? 404 : error.status;
        return reply.status(status).send({ error: error.message });
      }
      return reply.status(error.status).send(error.toJSON());
    }
    const status = error.statusCode ?? 500;
    if (status < 500) {
      // fastify's own 4xx: a body that is not JSON, too large, a wrong content type.
      const wrapped = new FleetError(Errors.FLEET_ERR_VALIDATION, error.message, {
        details: { fastify_code: error.code },
      });
      return reply.status(status).send(wrapped.toJSON());
    }
    request.log.error({ err: error }, 'request failed');
    return reply
      .status(500)
      .send(
        new FleetError(
          Errors.FLEET_ERR_INTERNAL,
          'internal error; the supervisor log has the details',
        ).toJSON(),
      );
  });
  app.setNotFoundHandler((request, reply) => {
    const error = new FleetError(
      Errors.FLEET_ERR_NOT_FOUND,
      `no route ${request.method} ${request.url.split('?')[0]}`,
    );
    return reply.status(404).send(error.toJSON());
  });
}
