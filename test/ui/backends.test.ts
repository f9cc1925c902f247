/**
 * The dashboard over two Ollama backends (two simulators, each with its own fake nvidia-smi),
 * in a real headless Chromium: the Backends panel shows both with their health and cards,
 * follows one going down, and the job tables say which backend ran a job.
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { backendEntry, simulatedGpu, supervisorOver } from '../helpers/backends.js';
import { ROOT } from '../helpers/cli.js';
import { launchBrowser } from './browser.js';

async function post(url: string, body: unknown): Promise<Record<string, unknown>> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  expect(response.ok).toBe(true);
  return (await response.json()) as Record<string, unknown>;
}

async function finished(url: string, id: string): Promise<Record<string, unknown>> {
  for (;;) {
    const job = (await (await fetch(`${url}/api/job/${id}?wait=10`)).json()) as Record<
      string,
      unknown
    >;
    if (['complete', 'failed', 'cancelled'].includes(job.status as string)) return job;
  }
}

async function json(url: string) {
  return (await (await fetch(url)).json()) as {
    backends: { name: string; gpus: { ollama: number }[] }[];
  };
}

async function until<T>(read: () => Promise<T>, ok: (value: T) => boolean): Promise<T> {
  for (;;) {
    const value = await read();
    if (ok(value)) return value;
    await new Promise((r) => setTimeout(r, 100));
  }
}

const text = (page: Page, selector: string) => () =>
  page
    .locator(selector)
    .first()
    .textContent()
    .then((t) => t ?? '');

describe('the dashboard over several backends', () => {
  it('shows each backend with its health and cards, one going down, and the backend of each job', {
    timeout: 120_000,
  }, async () => {
    const a = await simulatedGpu();
    const b = await simulatedGpu();
    const fleet = await supervisorOver(backendEntry('a', a.url) + backendEntry('b', b.url));
    // Another program takes 2 GiB of b's card.
    await post(`${b.url}/sim/pressure`, { mib: 2048 });
    const browser = await launchBrowser();
    try {
      const page = await browser.newPage({ viewport: { width: 1366, height: 900 } });
      await page.goto(`${fleet.url}/ui`);

      // Both backends, healthy, each with its card of 8 GiB; the Backends panel stands in for
      // the single VRAM panel.
      for (const [name, sim] of [
        ['a', a],
        ['b', b],
      ] as const) {
        const card = `[data-backend="${name}"]`;
        await expect.poll(text(page, `${card} .health`), { timeout: 20_000 }).toBe('healthy');
        await expect.poll(text(page, card), { timeout: 20_000 }).toContain('of 8.0 GiB in use');
        const shown = await page.locator(card).textContent();
        expect(shown).toContain(sim.url);
        expect(shown).toContain('nothing running');
      }
      await expect
        .poll(text(page, '[data-backend="b"] .gpu'), { timeout: 20_000 })
        .toContain('2.0 GiB of 8.0 GiB in use');
      expect(await page.locator('[data-backend="b"] .gpu').textContent()).toContain(
        'other processes 2.0 GiB',
      );
      expect(await page.locator('[data-backend="a"] .gpu').textContent()).toContain(
        'other processes 0.0 GiB',
      );
      expect(await page.locator('#backends').isVisible()).toBe(true);
      expect(await page.locator('#vram').isVisible()).toBe(false);
      await expect
        .poll(text(page, '#status'), { timeout: 20_000 })
        .toContain('2 of 2 backends healthy');

      // A job: once done, the recent jobs say which backend ran it (a column that a single
      // backend does without).
      const { job_id } = (await post(`${fleet.url}/api/submit`, {
        model: 'qwen2.5:0.5b',
        prompt: 'hello',
      })) as { job_id: string };
      const job = await finished(fleet.url, job_id);
      expect(job.status).toBe('complete');
      const ranOn = job.backend as string;
      expect(['a', 'b']).toContain(ranOn);
      const row = `[data-job="${job_id}"]`;
      await expect.poll(text(page, row), { timeout: 20_000 }).toContain('complete');
      expect(await page.locator(`${row} .backend-name`).textContent()).toBe(ranOn);
      expect(await page.locator('#job-list th').allTextContents()).toContain('backend');
      // The model it ran stays loaded there, in that backend's card, and what Ollama holds on
      // that card is its size.
      await expect
        .poll(text(page, `[data-backend="${ranOn}"] .loaded`), { timeout: 20_000 })
        .toContain('qwen2.5:0.5b');
      const held = await until(
        async () =>
          (await json(`${fleet.url}/api/stats`)).backends.find((x) => x.name === ranOn)?.gpus[0]
            ?.ollama ?? 0,
        (bytes) => bytes > 0,
      );
      await expect
        .poll(text(page, `[data-backend="${ranOn}"] .gpu`), { timeout: 20_000 })
        .toContain(`Ollama ${(held / 2 ** 30).toFixed(1)} GiB`);
      expect(await page.locator(`[data-backend="${ranOn}"] .loaded`).textContent()).toContain(
        `qwen2.5:0.5b ${(held / 2 ** 30).toFixed(1)} GiB`,
      );

      await mkdir(path.join(ROOT, 'test-output'), { recursive: true });
      await page.screenshot({
        path: path.join(ROOT, 'test-output/dashboard-backends.png'),
        fullPage: true,
      });

      // What runs on a backend, and a problem in its own words (escaped, as everything the
      // server says is). A simulated job runs for a few milliseconds, too short to watch, so
      // the supervisor's answer is amended on its way to the page.
      await page.route('**/api/stats', async (route) => {
        const response = await route.fetch();
        const body = (await response.json()) as {
          backends: { state: string; problem: string | null; running: Record<string, number> }[];
        };
        Object.assign(body.backends[1] as object, {
          state: 'suspect',
          problem: '<b>no answer</b> for 5 s & counting',
          running: { 'qwen2.5:0.5b': 2 },
        });
        await route.fulfill({ response, json: body });
      });
      await expect
        .poll(text(page, '[data-backend="b"] .running'), { timeout: 20_000 })
        .toBe('running qwen2.5:0.5b × 2');
      expect(await page.locator('[data-backend="b"] .health').textContent()).toBe('not answering');
      expect(await page.locator('[data-backend="b"] .problem').textContent()).toBe(
        '<b>no answer</b> for 5 s & counting',
      );
      expect(await page.locator('[data-backend="b"] .problem b').count()).toBe(0);
      await page.unroute('**/api/stats');
      await expect
        .poll(text(page, '[data-backend="b"] .health'), { timeout: 20_000 })
        .toBe('healthy');

      // a goes away: the page says it is down, and why; b stays healthy.
      await a.close();
      await expect.poll(text(page, '[data-backend="a"] .health'), { timeout: 30_000 }).toBe('down');
      expect(await page.locator('[data-backend="a"] .problem').textContent()).not.toBe('');
      expect(await page.locator('[data-backend="b"] .health').textContent()).toBe('healthy');
      await expect
        .poll(text(page, '#status'), { timeout: 20_000 })
        .toContain('1 of 2 backends healthy (a down)');
      await page.screenshot({
        path: path.join(ROOT, 'test-output/dashboard-backend-down.png'),
        fullPage: true,
      });

      // On a phone: nothing wider than the screen.
      await page.setViewportSize({ width: 375, height: 812 });
      await expect
        .poll(
          () =>
            page.evaluate(
              'document.documentElement.scrollWidth - document.documentElement.clientWidth',
            ),
          { timeout: 10_000 },
        )
        .toBeLessThanOrEqual(0);
    } finally {
      await browser.close();
    }
  });
});
