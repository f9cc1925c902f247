import { describe, expect, it } from 'vitest';
import { compareTimestamps, LogDemuxer, sinceParameter } from '../../src/watch/demux.js';

function frame(type: number, payload: string): Buffer {
  const body = Buffer.from(payload, 'utf8');
  const header = Buffer.alloc(8);
  header[0] = type;
  header.writeUInt32BE(body.length, 4);
  return Buffer.concat([header, body]);
}

const TS = '2026-07-14T08:12:38.000000001Z';

describe('the Docker log demuxer', () => {
  it('reads multiplexed frames, whichever way chunks cut them', () => {
    const bytes = Buffer.concat([
      frame(1, `${TS} out one\n`),
      frame(2, `${TS} err one\n`),
      frame(1, `${TS} out two\n`),
    ]);
    for (const cut of [1, 3, 8, 9, 17, bytes.length]) {
      const demux = new LogDemuxer(false);
      const lines = [];
      for (let i = 0; i < bytes.length; i += cut)
        lines.push(...demux.push(bytes.subarray(i, i + cut)).lines);
      expect(lines).toEqual([
        { stream: 'stdout', ts: TS, text: 'out one' },
        { stream: 'stderr', ts: TS, text: 'err one' },
        { stream: 'stdout', ts: TS, text: 'out two' },
      ]);
    }
  });

  it('joins a line over 16 KiB that Docker sent in parts, each with its own timestamp', () => {
    const demux = new LogDemuxer(false);
    const a = 'x'.repeat(16 * 1024);
    const lines = [
      ...demux.push(frame(2, `${TS} ${a}`)).lines,
      ...demux.push(frame(2, `2026-07-14T08:12:38.000000002Z ${a}`)).lines,
      ...demux.push(frame(2, '2026-07-14T08:12:38.000000003Z CUDA error: out of memory\n')).lines,
    ];
    expect(lines).toHaveLength(1);
    expect(lines[0]).toEqual({
      stream: 'stderr',
      ts: TS,
      text: `${a}${a}CUDA error: out of memory`,
    });
  });

  it("reads a TTY container's raw stream", () => {
    const demux = new LogDemuxer(true);
    const out = demux.push(Buffer.from(`${TS} first\r\n${TS} sec`));
    expect(out.lines).toEqual([{ stream: 'stdout', ts: TS, text: 'first' }]);
    expect(demux.push(Buffer.from('ond\n')).lines).toEqual([
      { stream: 'stdout', ts: TS, text: 'second' },
    ]);
  });

  it("reports the daemon's error frames and keeps reading after them", () => {
    const demux = new LogDemuxer(false);
    const out = demux.push(
      Buffer.concat([frame(3, 'Error grabbing logs: unexpected EOF\n'), frame(1, `${TS} after\n`)]),
    );
    expect(out.errors).toEqual(['Error grabbing logs: unexpected EOF']);
    expect(out.lines).toEqual([{ stream: 'stdout', ts: TS, text: 'after' }]);
  });

  it('gives an unterminated last line at the end', () => {
    const demux = new LogDemuxer(false);
    demux.push(frame(1, `${TS} no newline`));
    expect(demux.end()).toEqual([{ stream: 'stdout', ts: TS, text: 'no newline' }]);
  });

  it('compares nanosecond timestamps and builds `since` by hand', () => {
    expect(
      compareTimestamps('2026-07-14T08:12:38.000000001Z', '2026-07-14T08:12:38.000000002Z'),
    ).toBe(-1);
    expect(compareTimestamps('2026-07-14T08:12:38.1Z', '2026-07-14T08:12:38.100000000Z')).toBe(0);
    expect(sinceParameter('2026-07-14T08:12:38.000000001Z')).toBe(
      `${Date.parse('2026-07-14T08:12:38Z') / 1000}.000000001`,
    );
  });
});
