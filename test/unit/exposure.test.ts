/** Who may reach the API: beyond loopback only with a token, or when told so explicitly. */
import { describe, expect, it } from 'vitest';
import { exposureOf, isLoopback } from '../../src/api/exposure.js';

describe('exposure of the API', () => {
  it.each([
    ['127.0.0.1', true],
    ['127.0.0.53', true],
    ['localhost', true],
    ['::1', true],
    ['[::1]', true],
    ['0.0.0.0', false],
    ['::', false],
    ['192.168.1.20', false],
    ['fleet.lan', false],
  ])('%s is loopback: %s', (host, loopback) => {
    expect(isLoopback(host)).toBe(loopback);
  });

  it('refuses a public address without a token, and says how to fix it', () => {
    const exposure = exposureOf({ host: '0.0.0.0', allow_unauthenticated: false });
    expect(exposure.kind).toBe('refused');
    expect(exposure.kind === 'refused' && exposure.reason).toMatch(
      /api\.token.*allow_unauthenticated/,
    );
  });

  it('serves a public address with a token, or openly when told so (with a warning)', () => {
    expect(exposureOf({ host: '0.0.0.0', token: 't', allow_unauthenticated: false }).kind).toBe(
      'protected',
    );
    const open = exposureOf({ host: '0.0.0.0', allow_unauthenticated: true });
    expect(open.kind).toBe('open');
    expect(exposureOf({ host: '127.0.0.1', allow_unauthenticated: false }).kind).toBe('private');
  });
});
