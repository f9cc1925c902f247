/**
 * A real PostgreSQL for the tests: scripts/postgres-up.sh starts a private server (and installs
 * Debian's postgresql first when it is missing and we are root). Each test gets a database of
 * its own, so stores never see another test's jobs.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import pg from 'pg';
import { ROOT } from './cli.js';

let server: string | undefined;

/** The test server's URL (its `postgres` database). */
export function postgresServer(): string {
  server ??= execFileSync(path.join(ROOT, 'scripts/postgres-up.sh'), {
    encoding: 'utf8',
    timeout: 300_000,
  })
    .trim()
    .split('\n')
    .at(-1) as string;
  return server;
}

/** A fresh, empty database on the test server; its URL. */
export async function freshDatabase(): Promise<string> {
  const url = postgresServer();
  const name = `fleet_test_${randomBytes(6).toString('hex')}`;
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE ${name}`);
  } finally {
    await client.end();
  }
  const fresh = new URL(url);
  fresh.pathname = `/${name}`;
  return fresh.toString();
}
