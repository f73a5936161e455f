import type { Row } from '../../src/connectors/types.js';

/** Every row of a stream, in order (for tests and small lookups; large sources should stay streamed). */
export async function collect(rows: AsyncIterable<Row>): Promise<Row[]> {
  const out: Row[] = [];
  for await (const r of rows) out.push(r);
  return out;
}
