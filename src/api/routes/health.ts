import type { FastifyInstance } from 'fastify';

export const SERVICE_NAME = 'ollama-fleet';

export function healthRoutes(
  app: FastifyInstance,
  info: { version: string; startedAt: number },
): void {
  app.get('/api/health', async () => ({
    status: 'ok',
    service: SERVICE_NAME,
    version: info.version,
    uptime_seconds: Math.round((Date.now() - info.startedAt) / 1000),
  }));
}
