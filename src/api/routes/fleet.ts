/** Admin routes for the ladders; the CLI uses them when a supervisor runs. */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { Errors, FleetError } from '../../errors.js';
import { type FleetControl, LADDER_ACTIONS, type LadderAction } from '../../fleet/control.js';
import { parseBody } from '../validate.js';
import { SERVICE_NAME } from './health.js';

const changeBody = z
  .strictObject({
    model: z.string().min(1).optional(),
    reason: z.string().min(1).max(500).optional(),
  })
  .optional();

export function fleetRoutes(app: FastifyInstance, fleet: FleetControl): void {
  app.get('/api/fleet', async () => {
    const status = await fleet.status();
    return { service: SERVICE_NAME, state_file: fleet.via, ...status };
  });

  app.post<{ Params: { ladder: string; action: string } }>(
    '/api/fleet/:ladder/:action',
    async (request) => {
      const { ladder, action } = request.params;
      if (!(LADDER_ACTIONS as readonly string[]).includes(action)) {
        throw new FleetError(
          Errors.FLEET_ERR_NOT_FOUND,
          `unknown ladder action "${action}"; expected one of: ${LADDER_ACTIONS.join(', ')}`,
        );
      }
      const body = parseBody(changeBody, request.body) ?? {};
      const reason = body.reason === undefined ? {} : { reason: body.reason };
      let change: LadderAction;
      if (action === 'set') {
        if (body.model === undefined) {
          throw new FleetError(
            Errors.FLEET_ERR_VALIDATION,
            'body.model: set needs the model to switch to',
          );
        }
        change = { action: 'set', model: body.model, ...reason };
      } else {
        change = { action: action as 'downgrade' | 'upgrade' | 'reset', ...reason };
      }
      return fleet.change(ladder, change);
    },
  );
}
