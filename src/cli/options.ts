// Defaults of `fhir-bridge serve` that other commands share (the data folder).
import { resolve } from 'node:path';

/** $FHIR_BRIDGE_DATA_DIR, else ./.fhir-bridge: jobs.sqlite, jobs/<id>/ files, clients.json */
export function defaultDataDir(env: NodeJS.ProcessEnv = process.env): string {
  return resolve(env.FHIR_BRIDGE_DATA_DIR || '.fhir-bridge');
}

export function positiveInt(name: string, value: string | undefined, fallback: number, { allowZero = false } = {}): number {
  if (value === undefined || value === '') return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < (allowZero ? 0 : 1)) throw new Error(`${name} must be a ${allowZero ? 'non-negative' : 'positive'} integer, got "${value}"`);
  return n;
}
