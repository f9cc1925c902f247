/**
 * The dashboard on a shared PostgreSQL queue (a real server the tests start), in a real
 * headless Chromium: two supervisors, each with one simulated backend (a stand-in for a GPU
 * host). Supervisor 1's page shows a Cluster panel with both supervisors and their backends,
 * itself marked as this one; once supervisor 2 stops and its lease runs out, it leaves the
 * panel.
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { hostOnQueue, simulatedGpu } from '../helpers/backends.js';
import { ROOT } from '../helpers/cli.js';
import { freshDatabase } from '../helpers/postgres.js';
import { launchBrowser } from './browser.js';

/** This supervisor's id on the queue, as its /api/stats says. */
async function selfOf(url: string): Promise<string> {
  const stats = (await (await fetch(`${url}/api/stats`)).json()) as { cluster: { self: string } };
  return stats.cluster.self;
}

const text = (page: Page, selector: string) => () =>
  page
    .locator(selector)
    .first()
    .textContent()
    .then((t) => t ?? '');

describe('the dashboard on a shared queue', () => {
  it('shows every supervisor with its backends, this one marked, and drops one whose lease ran out', {
    timeout: 120_000,
  }, async () => {
    const queue = await freshDatabase();
    const [s1, s2] = [await simulatedGpu(), await simulatedGpu()];
    const h1 = await hostOnQueue('host1', s1.url, queue);
    const h2 = await hostOnQueue('host2', s2.url, queue);
    const [id1, id2] = [await selfOf(h1.url), await selfOf(h2.url)];
    expect(id1).not.toBe(id2);
    const browser = await launchBrowser();
    try {
      const page = await browser.newPage({ viewport: { width: 1366, height: 900 } });
      await page.goto(`${h1.url}/ui`);

      // The Cluster panel, next to the local view: both supervisors.
      const peers = () =>
        page
          .locator('#cluster [data-supervisor] .peer-id')
          .allTextContents()
          .then((ids) => ids.sort());
      await expect.poll(peers, { timeout: 20_000 }).toEqual([id1, id2].sort());
      expect(await page.locator('#cluster').isVisible()).toBe(true);
      expect(await page.locator('#backends').isVisible()).toBe(true);
      await expect
        .poll(text(page, '#cluster .cluster-summary'), { timeout: 20_000 })
        .toContain('2 supervisors on postgres://');

      const one = `#cluster [data-supervisor="${id1}"]`;
      const two = `#cluster [data-supervisor="${id2}"]`;
      // Supervisor 1 (this page's) is marked as this one, and only it.
      expect(await page.locator(`${one} .self`).textContent()).toBe('this one');
      expect(await page.locator(`${two} .self`).count()).toBe(0);
      expect(await page.locator('#cluster .self').count()).toBe(1);
      // Each with its URL as a link, when it was last seen, and its backend, healthy, idle.
      for (const [selector, url, backend] of [
        [one, h1.url, 'host1'],
        [two, h2.url, 'host2'],
      ] as const) {
        await expect
          .poll(() => page.locator(`${selector} a.peer-url`).getAttribute('href'), {
            timeout: 20_000,
          })
          .toBe(url);
        expect(await page.locator(`${selector} a.peer-url`).textContent()).toBe(url);
        expect(await page.locator(`${selector} .seen`).textContent()).toMatch(/^seen \d+ s ago$/);
        const card = `${selector} [data-peer-backend="${backend}"]`;
        await expect.poll(text(page, `${card} .health`), { timeout: 20_000 }).toBe('healthy');
        expect(await page.locator(`${card} .jobs`).textContent()).toBe('nothing running');
        expect(await page.locator(`${selector} [data-peer-backend]`).count()).toBe(1);
      }

      await mkdir(path.join(ROOT, 'test-output'), { recursive: true });
      await page.screenshot({
        path: path.join(ROOT, 'test-output/dashboard-cluster.png'),
        fullPage: true,
      });

      // Supervisor 2 stops: once its lease has run out, the panel shows supervisor 1 alone.
      await h2.close();
      await expect.poll(peers, { timeout: 30_000 }).toEqual([id1]);
      await expect
        .poll(text(page, '#cluster .cluster-summary'), { timeout: 20_000 })
        .toContain('1 supervisor on postgres://');
      expect(await page.locator(`${one} .self`).textContent()).toBe('this one');
      expect(await page.locator('#cluster [data-peer-backend="host2"]').count()).toBe(0);
      expect(await page.locator(`${one} [data-peer-backend="host1"] .health`).textContent()).toBe(
        'healthy',
      );

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

  it('escapes what the cluster says, and keeps the page as it was without one', {
    timeout: 120_000,
  }, async () => {
    const queue = await freshDatabase();
    const h1 = await hostOnQueue('host1', (await simulatedGpu()).url, queue);
    const browser = await launchBrowser();
    try {
      const page = await browser.newPage({ viewport: { width: 1366, height: 900 } });
      // The supervisor's answer amended on its way to the page: a peer with markup in its
      // words and an address that is not a web one.
      let cluster: 'amended' | 'absent' = 'amended';
      await page.route('**/api/stats', async (route) => {
        const response = await route.fetch();
        const body = (await response.json()) as {
          cluster?: { supervisors: Record<string, unknown>[] };
        };
        if (cluster === 'absent') delete body.cluster;
        else
          body.cluster?.supervisors.push({
            id: '<i>evil</i> & co',
            seen_at: new Date().toISOString(),
            url: 'javascript:alert(1)',
            backends: [{ name: '<b>gpu</b>', healthy: false, running: 3 }],
          });
        await route.fulfill({ response, json: body });
      });
      await page.goto(`${h1.url}/ui`);
      const evil = '#cluster [data-supervisor="<i>evil</i> & co"]';
      await expect
        .poll(text(page, `${evil} .peer-id`), { timeout: 20_000 })
        .toBe('<i>evil</i> & co');
      expect(await page.locator('#cluster i, #cluster .peer b b').count()).toBe(0);
      expect(await page.locator(`${evil} a`).count()).toBe(0);
      expect(await page.locator(`${evil} .peer-url`).textContent()).toBe('javascript:alert(1)');
      const gpu = `${evil} [data-peer-backend="<b>gpu</b>"]`;
      expect(await page.locator(`${gpu} .health`).textContent()).toBe('down');
      expect(await page.locator(`${gpu} .jobs`).textContent()).toBe('3 running');

      // Without `cluster` in /api/stats: no panel, the local view as before.
      cluster = 'absent';
      await expect
        .poll(() => page.locator('#cluster').isVisible(), { timeout: 20_000 })
        .toBe(false);
      expect(await page.locator('main.clustered').count()).toBe(0);
      expect(await page.locator('#backends').isVisible()).toBe(true);
    } finally {
      await browser.close();
    }
  });
});
