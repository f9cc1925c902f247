/**
 * Files that must never be half-written or silently lost: write to a temp file beside the
 * target, fsync, rename over it, fsync the folder. A file that cannot be read back is moved
 * aside, never overwritten.
 */
import { randomBytes } from 'node:crypto';
import { renameSync } from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';
import path from 'node:path';

export async function writeFileAtomic(file: string, content: string, mode = 0o644): Promise<void> {
  const temp = `${file}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    const handle = await open(temp, 'w', mode);
    try {
      await handle.writeFile(content, 'utf8');
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, file);
  } catch (err) {
    // A full disk or a lost handle: the target is as it was, and no temp file stays behind.
    await rm(temp, { force: true }).catch(() => {});
    throw err;
  }
  await syncFolder(path.dirname(file));
}

/** Renames `file` to `<file>.corrupt-<time>` and returns the new path. */
export async function keepAside(file: string, now: Date): Promise<string> {
  const aside = asideName(file, now);
  await rename(file, aside);
  await syncFolder(path.dirname(file));
  return aside;
}

async function syncFolder(folder: string): Promise<void> {
  // A rename is durable only once the folder's entry is on disk; some filesystems refuse
  // to open a folder for syncing, and then there is nothing more we can do.
  try {
    const handle = await open(folder, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch {}
}

/** keepAside for start-up code that opens files synchronously (the job database). */
export function keepAsideSync(file: string, now: Date): string {
  const aside = asideName(file, now);
  renameSync(file, aside);
  return aside;
}

function asideName(file: string, now: Date): string {
  return `${file}.corrupt-${now.toISOString().replace(/[:.]/g, '-')}`;
}
