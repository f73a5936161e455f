// Temporary folders of the file sources' working databases (the CSV connector's scratch SQLite, DuckDB's
// copies of a folder's files). An adapter removes its folder on close(); those of adapters never closed (a
// crash, a forgotten close) are removed when the process exits.
import { existsSync, rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

const open = new Set<string>();
process.once('exit', () => {
  for (const dir of open) if (existsSync(dir)) rmSync(dir, { recursive: true, force: true });
});

/** A fresh folder in the temp folder, named `<prefix>XXXXXX`. */
export async function makeScratchFolder(prefix: string): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  open.add(dir);
  return dir;
}

export async function removeScratchFolder(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
  open.delete(dir);
}
