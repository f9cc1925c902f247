/** `api.token: auto`: the token `serve` makes once and keeps in the state folder. */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { autoTokenFile, type FleetConfig } from '../config/load.js';
import { Errors, FleetError } from '../errors.js';
import type { Logger } from '../log.js';

/**
 * The API token `serve` uses: the configured one, or for `token: auto` the one kept in the
 * state folder, made (random, mode 0600) at the first start and logged by its path only.
 */
export async function serveToken(config: FleetConfig, log: Logger): Promise<string | undefined> {
  if (config.api.token !== undefined || !config.api.auto_token) return config.api.token;
  const file = autoTokenFile(config.state_dir);
  const token = randomBytes(24).toString('base64url');
  await mkdir(config.state_dir, { recursive: true });
  try {
    // Created only if absent: two first starts cannot hand out different tokens.
    await writeFile(file, `${token}\n`, { mode: 0o600, flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    const made = (await readFile(file, 'utf8')).trim();
    if (made === '') {
      throw new FleetError(
        Errors.FLEET_ERR_STATE_IO,
        `${file} is empty (a start that was cut short?): delete it, and the next start makes a new token`,
      );
    }
    return made;
  }
  log.info({ file }, `made an API token (api.token: auto): it is in ${file}`);
  return token;
}
