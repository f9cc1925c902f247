/** Background work has an owner: failures are caught, logged and counted; shutdown waits. */
import { describe, expect, it } from 'vitest';
import { Background } from '../../src/background.js';
import { captureLogger } from '../helpers/log.js';

describe('background tasks', () => {
  it('catches, logs and counts a failure by task name, and the process carries on', async () => {
    const capture = captureLogger();
    const told: string[] = [];
    const background = new Background(capture.log, (task) => told.push(task));
    background.run('count an incident', async () => {
      throw new Error('state file unreadable');
    });
    background.run('count an incident', () => Promise.reject(new Error('again')));
    background.run('prune', async () => {});
    await background.settle();
    expect(background.failures()).toEqual({ 'count an incident': 2 });
    expect(told).toEqual(['count an incident', 'count an incident']);
    const logged = capture.lines().filter((l) => l.task === 'count an incident');
    expect(logged).toHaveLength(2);
    expect(logged[0]?.err).toMatchObject({ message: 'state file unreadable' });
  });

  it('settles only once nothing is in flight, tasks started meanwhile included', async () => {
    const background = new Background(captureLogger().log);
    const order: string[] = [];
    let release: () => void = () => {};
    background.run('first', async () => {
      await new Promise<void>((resolve) => {
        release = resolve;
      });
      background.run('second', async () => {
        await Promise.resolve();
        order.push('second');
      });
      order.push('first');
    });
    const settled = background.settle().then(() => order.push('settled'));
    release();
    await settled;
    expect(order).toEqual(['first', 'second', 'settled']);
  });
});
