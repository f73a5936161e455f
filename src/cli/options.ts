// Option parsing the commands share: whole-number and duration options (one rule and one message for every
// command) and the server's data folder, which `serve` and `clients` must agree on.
import { resolve } from 'node:path';
import { DURATION_FORMS, type DurationUnit, parseDuration } from '../duration.js';
import { FhirBridgeError } from '../errors.js';

/** A usage mistake (bad option value): reported without a stack, exit 1. */
export class UsageError extends FhirBridgeError {
  constructor(message: string) {
    super(message, { issueCode: 'invalid', status: 400 });
  }
}

/**
 * A whole-number option: `fallback` when not given (undefined or empty), else an integer ≥ 1 (≥ 0 with
 * `allowZero`, for ports and intervals where 0 means "any" or "never").
 */
export function positiveInt(option: string, value: string | number | undefined, fallback: number, { allowZero = false } = {}): number {
  if (value === undefined || value === '') return fallback;
  const n = Number(value);
  const min = allowZero ? 0 : 1;
  if (!Number.isInteger(n) || n < min) throw new UsageError(`${option} ${JSON.stringify(String(value))}: expected a whole number ≥ ${min}`);
  return n;
}

/**
 * A duration option in `unit` (what a bare number means, as each option has always read it), or with a unit of
 * its own (src/duration.ts). `fallback` when not given; a whole number of `unit` ≥ 1 (≥ 0 with `allowZero`).
 */
export function duration(
  option: string,
  value: string | number | undefined,
  fallback: number,
  { unit, allowZero = false }: { unit: DurationUnit; allowZero?: boolean },
): number {
  if (value === undefined || value === '') return fallback;
  const text = String(value).trim();
  const min = allowZero ? 0 : 1;
  const n = parseDuration(text, unit);
  if (n === undefined || n < min)
    throw new UsageError(
      `${option} ${JSON.stringify(text)}: expected a whole number of ${unit === 's' ? 'seconds' : 'milliseconds'} ≥ ${min}, or one with a unit (${DURATION_FORMS})`,
    );
  return n;
}

/** $FHIR_BRIDGE_DATA_DIR, else ./.fhir-bridge: jobs.sqlite, jobs/<id>/ files, clients.json */
export function defaultDataDir(env: NodeJS.ProcessEnv = process.env): string {
  return resolve(env.FHIR_BRIDGE_DATA_DIR || '.fhir-bridge');
}

/** The client registry: --clients, else clients.json in the data folder. */
export function registryFile(opts: { dataDir?: string; clients?: string }): string {
  return resolve(opts.clients ?? resolve(opts.dataDir ?? defaultDataDir(), 'clients.json'));
}
