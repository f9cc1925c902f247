/**
 * Who can reach the supervisor, and whether that is safe: beyond loopback, anyone who can
 * reach the port could step a ladder (which rewrites worker configs and restarts containers
 * through the Docker socket), read every job's prompt and answer, and cancel any job. So a
 * non-loopback address needs a token, or an explicit `api.allow_unauthenticated: true`. Pure.
 */
import { isIP } from 'node:net';

export function isLoopback(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (bare === 'localhost' || bare === '::1') return true;
  return isIP(bare) === 4 && bare.startsWith('127.');
}

export type Exposure =
  | { kind: 'private' }
  | { kind: 'protected' }
  | { kind: 'open'; warning: string }
  | { kind: 'refused'; reason: string };

export function exposureOf(api: {
  host: string;
  token?: string | undefined;
  allow_unauthenticated: boolean;
}): Exposure {
  if (isLoopback(api.host)) return { kind: 'private' };
  if (api.token !== undefined) return { kind: 'protected' };
  if (api.allow_unauthenticated) {
    return {
      kind: 'open',
      warning: `the API listens on ${api.host} with no token (api.allow_unauthenticated): anyone who reaches the port can step a ladder, restart workers and read every job`,
    };
  }
  return {
    kind: 'refused',
    reason: `api.host is ${api.host}, reachable from other machines, but no api.token is set: set api.token (or token: auto, which makes one in the state folder), listen on 127.0.0.1, or set api.allow_unauthenticated: true if the network is trusted`,
  };
}
