// Durations as the command line and the environment give them: a bare number in the unit the setting has always
// been read in, or a number with a unit of its own (`500ms`, `30s`, `5m`, `1h`), so that settings counted in
// seconds and in milliseconds can be written alike.

const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 } as const;
export type DurationUnit = 'ms' | 's';

/** The forms a duration takes, for error messages. */
export const DURATION_FORMS = '500ms, 30s, 5m, 1h';

/** `text` in whole `unit`s, or undefined when it is not a duration or not a whole number of them. */
export function parseDuration(text: string, unit: DurationUnit): number | undefined {
  const m = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h)?$/i.exec(text.trim());
  if (!m) return undefined;
  const ms = Number(m[1]) * UNIT_MS[(m[2]?.toLowerCase() ?? unit) as keyof typeof UNIT_MS];
  const n = ms / UNIT_MS[unit];
  return Number.isSafeInteger(n) ? n : undefined;
}
