// An export's NDJSON files read back as per-type counts, ids and an order-independent digest of the lines, so
// two exports holding the same resources in a different order compare equal. (The processes of the queue
// tests are bench/scale-out.ts's, shared with the bench.)
import { createHash } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { createGunzip } from 'node:zlib';
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { join } from 'node:path';

export interface ExportedType {
  count: number;
  ids: string[];
  /** sum of the lines' hashes: equal for the same lines in any order */
  digest: bigint;
}

/** Per resourceType (and OperationOutcome for the error files) of a folder of NDJSON files. */
export async function readExport(dir: string, files?: string[]): Promise<Map<string, ExportedType>> {
  const names = files ?? (await readdir(dir)).filter((n) => /\.ndjson(\.gz)?$/.test(n));
  const out = new Map<string, ExportedType>();
  for (const name of names.sort()) {
    const path = join(dir, name);
    const input = name.endsWith('.gz') ? createReadStream(path).pipe(createGunzip()) : createReadStream(path);
    for await (const line of createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY })) {
      if (!line) continue;
      const r = JSON.parse(line) as { resourceType: string; id?: string };
      const t = out.get(r.resourceType) ?? { count: 0, ids: [], digest: 0n };
      t.count++;
      if (r.id) t.ids.push(r.id);
      t.digest = (t.digest + BigInt(`0x${createHash('sha1').update(line).digest('hex').slice(0, 16)}`)) % 2n ** 64n;
      out.set(r.resourceType, t);
    }
  }
  return out;
}
