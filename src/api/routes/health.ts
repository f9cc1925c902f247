import type { FastifyInstance } from 'fastify';

export const SERVICE_NAME = 'ollama-fleet';

/**
 * Liveness: always 200 while the process serves. `status` is `degraded`, with the reasons,
 * when a part it depends on is away (Ollama unreachable): jobs then wait, nothing is lost.
 */
export function healthRoutes(
  app: FastifyInstance,
  info: { version: string; startedAt: number; problems?: () => string[] },
): void {
  app.get('/api/health', async () => {
    const problems = info.problems?.() ?? [];
    return {
      status: problems.length === 0 ? 'ok' : 'degraded',
      ...(problems.length === 0 ? {} : { problems }),
      service: SERVICE_NAME,
      version: info.version,
      uptime_seconds: Math.round((Date.now() - info.startedAt) / 1000),
    };
  });
}
