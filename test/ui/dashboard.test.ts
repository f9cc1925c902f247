/**
 * The dashboard in a real headless Chromium (Debian's chromium, driven by playwright-core):
 * it loads, shows the ladder and VRAM, and follows a job completing and the ladder stepping
 * down. A screenshot goes to test-output/dashboard.png for CI to keep.
 */
import { execFileSync } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { json, ROOT } from '../helpers/cli.js';
import { startTestSim } from '../helpers/sim.js';
import { startTestSupervisor } from '../helpers/supervisor.js';

function browserPath(): string {
  return execFileSync(path.join(ROOT, 'scripts/chromium-here.sh'), {
    encoding: 'utf8',
    timeout: 600_000,
  })
    .trim()
    .split('\n')
    .at(-1) as string;
}

describe('the dashboard', () => {
  it('shows the ladder and VRAM, and updates when a job completes and the ladder steps down', {
    timeout: 120_000,
  }, async () => {
    const sim = await startTestSim({ vramMib: 8192 });
    const fleet = await startTestSupervisor({
      ollamaUrl: sim.url,
      telemetry: true,
      token: 'sesame',
    });
    const browser = await chromium.launch({
      executablePath: browserPath(),
      args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
    });
    try {
      const page = await browser.newPage({ viewport: { width: 1366, height: 900 } });
      // The page asks for the token once.
      page.on('dialog', (dialog) => void dialog.accept('sesame'));
      await page.goto(`${fleet.url}/ui`);
      const ladder = page.locator('[data-ladder="main"] .current-model');
      await expect.poll(() => ladder.textContent(), { timeout: 20_000 }).toBe('llama3.2:3b');
      await expect
        .poll(() => page.locator('#gpus').textContent(), { timeout: 20_000 })
        .toContain('of 8.0 GiB in use');

      const { job_id } = await json(
        await fleet.call('/api/submit', { body: { model: 'qwen2.5:0.5b', prompt: 'hello' } }),
      );
      const row = page.locator(`[data-job="${job_id}"]`);
      await expect.poll(() => row.textContent(), { timeout: 30_000 }).toContain('complete');
      // The model it ran on now shows in the VRAM bar's legend.
      await expect
        .poll(() => page.locator('#gpus').textContent(), { timeout: 20_000 })
        .toContain('qwen2.5:0.5b');

      await fleet.call('/api/fleet/main/downgrade', { body: { reason: 'dashboard test' } });
      await expect.poll(() => ladder.textContent(), { timeout: 20_000 }).toBe('phi3:mini');
      await expect
        .poll(() => page.locator('[data-ladder="main"]').textContent(), { timeout: 20_000 })
        .toContain('dashboard test');

      await mkdir(path.join(ROOT, 'test-output'), { recursive: true });
      await page.screenshot({ path: path.join(ROOT, 'test-output/dashboard.png'), fullPage: true });
      expect(await page.evaluate('localStorage.getItem("fleet-token")')).toBe('sesame');
    } finally {
      await browser.close();
    }
  });
});
