/**
 * The dashboard in a real headless Chromium (Debian's chromium, driven by playwright-core):
 * it loads, shows the ladder and VRAM, and follows a job completing and the ladder stepping
 * down. A screenshot goes to test-output/dashboard.png for CI to keep.
 */
import { appendFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { json, ROOT } from '../helpers/cli.js';
import { startTestSim } from '../helpers/sim.js';
import { startTestSupervisor } from '../helpers/supervisor.js';
import { tempDir } from '../helpers/temp.js';
import { launchBrowser } from './browser.js';

describe('the dashboard', () => {
  it('shows the ladder and VRAM, and updates when a job completes and the ladder steps down', {
    timeout: 120_000,
  }, async () => {
    const sim = await startTestSim({ vramMib: 8192 });
    // The supervisor follows the simulator's log in a file, as it would Ollama without Docker.
    const logFile = path.join(await tempDir(), 'ollama.log');
    await writeFile(logFile, '');
    let written = 0;
    const copyLog = setInterval(() => {
      const fresh = sim.stderr.slice(written);
      written += fresh.length;
      if (fresh.length > 0) appendFileSync(logFile, `${fresh.join('\n')}\n`);
    }, 20);
    const fleet = await startTestSupervisor({
      ollamaUrl: sim.url,
      telemetry: true,
      token: 'sesame',
      logFile,
    });
    const browser = await launchBrowser();
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
      // One Ollama (the backend named default): no Backends panel, no backend column.
      expect(await page.locator('#backends').isVisible()).toBe(false);
      expect(await page.locator('#job-list th').allTextContents()).not.toContain('backend');
      expect(await page.locator('#status').textContent()).toContain('Ollama reachable');
      // The model it ran on now shows in the VRAM bar's legend.
      await expect
        .poll(() => page.locator('#gpus').textContent(), { timeout: 20_000 })
        .toContain('qwen2.5:0.5b');

      // Three OOMs, a few seconds apart (separate events), step the ladder down; the incidents
      // that did it stay on the page with the step, after the count is cleared.
      for (let episode = 0; episode < 3; episode++) {
        await sim.post('/sim/fault', { kind: 'oom', model: 'llama3.2:3b', count: 1 });
        await fleet.call('/api/submit', { body: { model: 'fleet', prompt: `oom ${episode}` } });
        if (episode < 2) {
          await expect
            .poll(() => page.locator('[data-ladder="main"]').textContent(), { timeout: 20_000 })
            .toContain(`incidents ${episode + 1} of 3`);
          await new Promise((r) => setTimeout(r, 2_500));
        }
      }
      await expect.poll(() => ladder.textContent(), { timeout: 20_000 }).toBe('phi3:mini');
      await expect
        .poll(() => page.locator('#incident-list').textContent(), { timeout: 20_000 })
        .toContain('out of memory');
      expect(await page.locator('[data-ladder="main"] ul.evidence li').count()).toBe(3);

      await fleet.call('/api/fleet/main/downgrade', { body: { reason: 'dashboard test' } });
      await expect.poll(() => ladder.textContent(), { timeout: 20_000 }).toBe('tinyllama:1.1b');
      await expect
        .poll(() => page.locator('[data-ladder="main"]').textContent(), { timeout: 20_000 })
        .toContain('dashboard test');
      // The evidence of the earlier step is still there.
      expect(await page.locator('#incident-list').textContent()).toContain('out of memory');

      await mkdir(path.join(ROOT, 'test-output'), { recursive: true });
      await page.screenshot({ path: path.join(ROOT, 'test-output/dashboard.png'), fullPage: true });
      expect(await page.evaluate('localStorage.getItem("fleet-token")')).toBe('sesame');

      // A fresh page shows the past too: the supervisor kept the VRAM history, with axes.
      const fresh = await browser.newPage({ viewport: { width: 1366, height: 900 } });
      fresh.on('dialog', (dialog) => void dialog.accept('sesame'));
      await fresh.goto(`${fleet.url}/ui`);
      await expect
        .poll(() => fresh.locator('svg.history rect').count(), { timeout: 20_000 })
        .toBeGreaterThan(0);
      expect(await fresh.locator('svg.history').textContent()).toContain('-60 min');
      await fresh.close();

      // On a phone: nothing wider than the screen.
      await page.setViewportSize({ width: 375, height: 812 });
      await page.waitForTimeout(1_500); // a redraw at the new width
      const overflow = await page.evaluate(
        'document.documentElement.scrollWidth - document.documentElement.clientWidth',
      );
      expect(overflow).toBeLessThanOrEqual(0);
      await page.screenshot({
        path: path.join(ROOT, 'test-output/dashboard-phone.png'),
        fullPage: true,
      });
      const icon = await fetch(`${fleet.url}/favicon.ico`);
      expect(icon.status).toBe(200);
      expect(icon.headers.get('content-type')).toContain('image/svg+xml');
    } finally {
      clearInterval(copyLog);
      await browser.close();
    }
  });
});
