import { describe, expect, it } from 'vitest';
import { Errors, FleetError, wrapError } from '../../src/errors.js';

describe('error catalogue', () => {
  it('every key equals its code', () => {
    for (const [key, spec] of Object.entries(Errors)) expect(spec.code).toBe(key);
  });

  it('usage and config errors exit 2, refusals exit 1', () => {
    expect(Errors.FLEET_ERR_USAGE.exitCode).toBe(2);
    expect(Errors.FLEET_ERR_CONFIG_INVALID.exitCode).toBe(2);
    expect(Errors.FLEET_ERR_LADDER_AT_BOTTOM.exitCode).toBe(1);
    expect(Errors.FLEET_ERR_LADDER_AT_TOP.exitCode).toBe(1);
  });

  it('serialises as the API error body', () => {
    const error = new FleetError(Errors.FLEET_ERR_VALIDATION, 'body.model: required');
    expect(error.toJSON()).toEqual({
      error: { code: 'FLEET_ERR_VALIDATION', message: 'body.model: required' },
    });
    expect(error.status).toBe(400);
  });

  it('wraps a foreign error with our code and keeps it as the cause', () => {
    const cause = Object.assign(new Error('EACCES: permission denied'), { code: 'EACCES' });
    const wrapped = wrapError(Errors.FLEET_ERR_STATE_IO, 'cannot write /x', cause);
    expect(wrapped.code).toBe('FLEET_ERR_STATE_IO');
    expect(wrapped.message).toBe('cannot write /x: EACCES: permission denied');
    expect(wrapped.cause).toBe(cause);
  });
});
