/** The headless Chromium the dashboard tests drive (Debian's chromium, through playwright-core). */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { type Browser, chromium } from 'playwright-core';
import { ROOT } from '../helpers/cli.js';

/** Finds the browser (installing Debian's package when root and it is missing). */
export function browserPath(): string {
  return execFileSync(path.join(ROOT, 'scripts/chromium-here.sh'), {
    encoding: 'utf8',
    timeout: 600_000,
  })
    .trim()
    .split('\n')
    .at(-1) as string;
}

export function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: browserPath(),
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
  });
}
