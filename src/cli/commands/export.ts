// `fhir-bridge export`: the whole source (or some types / patients / changes) to NDJSON files in a folder,
// with summary.json beside them.
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import cliProgress from 'cli-progress';
import { redactConnection } from '../../connectors/index.js';
import { logger } from '../../log.js';
import { randomUUID } from 'node:crypto';
import { splitForThreads } from '../../pipeline/key-ranges.js';
import { poolAndThisThread } from '../../pipeline/part-runner.js';
import type { OpenedSource } from '../../pipeline/open-source.js';
import { runPartedExport } from '../../pipeline/run-parted-export.js';
import { canUsePool, createPartPool, defaultWorkers, type PartPool } from '../../pipeline/worker-pool.js';
import { runExport } from '../../pipeline/run-export.js';
import { createNdjsonSink } from '../../sinks/ndjson-sink.js';
import { sharedValidator, type ValidationSummary } from '../../pipeline/validate-resource.js';
import type { RetryPolicy } from '../../pipeline/run-mapping.js';
import type { ExportProgress, ExportSummary } from '../../pipeline/types.js';
import type { OutputFile } from '../../sinks/types.js';
import { bytes, duration, shortPath, table } from '../format.js';
import type { CliIo } from '../io.js';
import { positiveInt, UsageError } from '../options.js';
import { runCommand } from '../run-command.js';

export interface ExportOptions {
  connector?: string;
  out?: string;
  /** comma-separated resourceTypes (repeatable) */
  types?: string[] | string;
  since?: string;
  maxPerFile?: string | number;
  gzip?: boolean;
  /** source patient ids (repeatable, or comma-separated) */
  patient?: string[];
  batchSize?: string | number;
  concurrency?: string | number;
  /** worker threads (default: the cores; 0 runs every part on this thread) */
  workers?: string | number;
  /** profile validation of every resource (default on; `--no-validate` sets it false) */
  validate?: boolean;
  signal?: AbortSignal;
  /** not a flag: lets tests shorten the waits between retries of a lost source */
  retry?: Partial<RetryPolicy>;
}

/** What summary.json holds. */
export interface SummaryFile {
  connector: string;
  source: string;
  startedAt: string;
  /** where the next incremental export starts: pass it as `--since` (the source snapshot's time) */
  transactionTime: string;
  durationMs: number;
  request: { types?: string[]; since?: string; patients?: number; gzip: boolean; maxPerFile: number };
  counts: Record<string, number>;
  rowsRead: Record<string, number>;
  rejected: ExportSummary['rejected'];
  /** rows read / exported / rejected per source table, and per mapping within it (`fhir-bridge coverage --summary`) */
  sources: NonNullable<ExportSummary['sources']>;
  /** absent when the export ran with --no-validate */
  validation?: ValidationSummary;
  notes: string[];
  output: Array<Omit<OutputFile, 'path'> & { file: string }>;
  error: Array<Omit<OutputFile, 'path'> & { file: string }>;
  /** `--since` exports: files of Bundles of DELETE entries for the resources deleted since then */
  deleted: Array<Omit<OutputFile, 'path'> & { file: string }>;
}

export async function exportCommand(options: ExportOptions, io: CliIo): Promise<number> {
  return runCommand(io, async (scope) => {
    const outDir = resolve(options.out ?? 'out');
    const types = splitList(options.types);
    const since = options.since === undefined ? undefined : parseInstant(options.since);
    const maxPerFile = positiveInt('--max-per-file', options.maxPerFile, 100_000);
    const batchSize = options.batchSize === undefined ? undefined : positiveInt('--batch-size', options.batchSize, 500);
    const concurrency = options.concurrency === undefined ? undefined : positiveInt('--concurrency', options.concurrency, 1);
    const patients = options.patient ? splitList(options.patient) : undefined;
    // checked now; the default depends on where the source's database runs (defaultWorkers)
    const workersGiven = options.workers === undefined ? undefined : positiveInt('--workers', options.workers, 1, { allowZero: true });

    const connectorFile = options.connector ? resolve(options.connector) : undefined;
    let pool: PartPool | undefined;
    try {
      return await exportWith(await scope.openSource(options.connector));
    } finally {
      await pool?.close();
    }

    async function exportWith(source: OpenedSource): Promise<number> {
      if (since && source.adapter.changesUnknown) throw new UsageError(`--since cannot be applied: ${source.adapter.changesUnknown}`);
      if (types) {
        const unknown = types.filter((t) => !source.mappings.resourceTypes.includes(t));
        if (unknown.length > 0) {
          throw new UsageError(
            `no mapping makes ${unknown.join(', ')}; this connector's mappings make ${source.mappings.resourceTypes.join(', ')}`,
          );
        }
      }

      const validate = options.validate !== false;
      const workers = workersGiven ?? defaultWorkers(source.config);
      // `workers` threads map: this one and a pool of the others (this thread would otherwise idle while they work)
      const onPool = !readsOneSnapshot(source.adapter) && workers > 1 && canUsePool();
      // Loaded before any file is touched, so a validator that cannot load stops the export early: here (this
      // thread validates what it maps), and by each pool thread while it warms.
      const validator = validate ? await sharedValidator() : undefined;
      pool = onPool ? createPartPool({ workers: workers - 1 }) : undefined;
      if (pool) await pool.warm(connectorFile, { validate });
      await mkdir(outDir, { recursive: true });
      await removePreviousExport(outDir);
      const startedAt = new Date();
      const progress = progressReporter(io);
      let summary: ExportSummary;
      try {
        if (readsOneSnapshot(source.adapter)) {
          // A source with change tracking whose snapshot cannot be shared between connections (MariaDB,
          // SQLite; also SQL Server and Oracle for now) is read on this thread.
          summary = await runExport({
            adapter: source.adapter,
            mappings: source.mappings,
            sink: createNdjsonSink({ dir: outDir, maxResourcesPerFile: maxPerFile, gzip: Boolean(options.gzip) }),
            ...(types ? { types } : {}),
            ...(since ? { since } : {}),
            ...(patients ? { patientKeys: patients } : {}),
            ...(batchSize ? { batchSize } : {}),
            ...(concurrency ? { concurrency } : {}),
            ...(options.signal ? { signal: options.signal } : {}),
            ...(options.retry ? { retry: options.retry } : {}),
            ...(validator ? { validator } : {}),
            onProgress: progress.update,
            onRetry: ({ mapping, error, attempt, rowsWritten }) =>
              logger('export').warn({ mapping, attempt, rowsWritten, err: error.message }, 'source failed, retrying the rest of the query'),
          });
        } else {
          // Parts run on this thread and worker threads when the compiled worker is there (not under a
          // TypeScript test runner), else on this thread alone.
          const runner = poolAndThisThread(pool, source, concurrency ? { concurrency } : {});
          summary = await runPartedExport({
            exportId: randomUUID(),
            ...(connectorFile ? { connectorFile } : {}),
            mappings: source.mappings,
            request: {
              ...(types ? { types } : {}),
              ...(since ? { since: since.toISOString() } : {}),
              ...(patients ? { patientKeys: patients } : {}),
              ...(batchSize ? { batchSize } : {}),
              ...(options.retry ? { retry: options.retry } : {}),
              validate,
            },
            runner,
            // begins the snapshot the parts adopt (PostgreSQL) and reads the deletions of a --since export
            adapter: source.adapter,
            // big runs cut into key ranges, so every thread works to the end
            ...(pool ? { split: splitForThreads(source.adapter, workers) } : {}),
            dir: outDir,
            maxResourcesPerFile: maxPerFile,
            gzip: Boolean(options.gzip),
            ...(options.signal ? { signal: options.signal } : {}),
            onProgress: progress.update,
          });
        }
      } finally {
        progress.stop();
      }

      const fileEntry = (f: OutputFile) => ({ type: f.type, file: basename(f.path), count: f.count, bytes: f.bytes });
      const summaryFile: SummaryFile = {
        connector: source.config.name,
        source: redactConnection(source.config),
        startedAt: startedAt.toISOString(),
        transactionTime: summary.transactionTime,
        durationMs: summary.durationMs,
        request: {
          ...(types ? { types } : {}),
          ...(since ? { since: since.toISOString() } : {}),
          ...(patients ? { patients: patients.length } : {}),
          gzip: Boolean(options.gzip),
          maxPerFile,
        },
        counts: summary.counts,
        rowsRead: summary.rowsRead,
        rejected: summary.rejected,
        sources: summary.sources ?? {},
        ...(summary.validation ? { validation: summary.validation } : {}),
        notes: summary.notes ?? [],
        output: summary.files.output.map(fileEntry),
        error: summary.files.error.map(fileEntry),
        deleted: (summary.files.deleted ?? []).map(fileEntry),
      };
      await writeFile(join(outDir, 'summary.json'), JSON.stringify(summaryFile, null, 2) + '\n');
      io.out(describeSummary(summaryFile, outDir));
      return 0;
    }
  });
}

export function describeSummary(s: SummaryFile, outDir: string): string {
  const files = new Map<string, { count: number; files: number; bytes: number }>();
  for (const f of s.output) {
    const e = files.get(f.type) ?? { count: 0, files: 0, bytes: 0 };
    e.count += f.count;
    e.files++;
    e.bytes += f.bytes;
    files.set(f.type, e);
  }
  const types = [...files.keys()].sort();
  const total = types.reduce((n, t) => n + files.get(t)!.count, 0);
  const lines = [
    table(
      ['resourceType', 'resources', 'files', 'size'],
      [
        ...types.map((t) => [t, files.get(t)!.count, files.get(t)!.files, bytes(files.get(t)!.bytes)]),
        ['total', total, s.output.length, ''],
      ],
      [false, true, true, true],
    ),
    '',
    `rows read: ${Object.values(s.rowsRead).reduce((a, b) => a + b, 0)} from ${plural(Object.keys(s.rowsRead).length, 'mapping')}`,
  ];
  if (s.rejected.total > 0) {
    const bySeverity = Object.entries(s.rejected.bySeverity)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ');
    lines.push(`row issues: ${s.rejected.total} (${bySeverity}), see ${s.error.map((f) => f.file).join(', ')}`);
    const reasons = Object.entries(s.rejected.byReason).sort((a, b) => b[1] - a[1]);
    for (const [reason, n] of reasons.slice(0, 10)) lines.push(`  ${String(n).padStart(6)} × ${reason}`);
    if (reasons.length > 10) lines.push(`  … ${reasons.length - 10} more reasons in summary.json`);
  }
  const deleted = s.deleted.reduce((n, f) => n + f.count, 0);
  if (s.request.since)
    lines.push(
      `deleted since ${s.request.since}: ${plural(deleted, 'resource')}${deleted > 0 ? ` (${s.deleted.map((f) => f.file).join(', ')})` : ''}`,
    );
  if (s.validation) lines.push(describeValidation(s.validation));
  for (const note of s.notes) lines.push(`note: ${note}`);
  lines.push(`transactionTime ${s.transactionTime}: export again with --since ${s.transactionTime} for what changes from now on`);
  lines.push(
    `wrote ${plural(s.output.length + s.error.length + s.deleted.length, 'file')} to ${shortPath(outDir)} in ${duration(s.durationMs)} (summary.json)`,
  );
  return lines.join('\n');
}

function describeValidation(v: ValidationSummary): string {
  const sum = (by: Record<string, Record<string, number>>): number =>
    Object.values(by).reduce((n, profiles) => n + Object.values(profiles).reduce((a, b) => a + b, 0), 0);
  const rejected = v.rejected > 0 ? `, ${plural(v.rejected, 'resource')} rejected (${plural(sum(v.errors), 'error')})` : ', no errors';
  return `validation: ${plural(v.resources, 'resource')} checked against their profiles${rejected}, ${plural(sum(v.warnings), 'warning')}; must-support coverage in summary.json`;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/**
 * Sources that keep change times are read through one snapshot per export. Where the pool's threads can
 * adopt it (PostgreSQL: SourceAdapter.adoptSnapshot) the export runs as parts on the pool, like file sources;
 * the others (MariaDB and SQLite, whose snapshots cannot be shared between connections) on this thread.
 */
export function readsOneSnapshot(adapter: Pick<OpenedSource['adapter'], 'changesUnknown' | 'adoptSnapshot'>): boolean {
  return !adapter.changesUnknown && !adapter.adoptSnapshot;
}

/** Parts of an earlier export in the same folder would otherwise be mixed with this one's. */
async function removePreviousExport(dir: string): Promise<void> {
  const names = await readdir(dir);
  await Promise.all(
    names
      .filter((n) => /^(~part\d{6}\.|~lead\.|~source\.)?([A-Z][A-Za-z]+|deleted)\.\d{6}\.ndjson(\.gz)?$/.test(n) || n === 'summary.json')
      .map((n) => rm(join(dir, n), { force: true })),
  );
}

function progressReporter(io: CliIo): { update: (p: ExportProgress) => void; stop: () => void } {
  if (io.interactive) {
    const bar = new cliProgress.SingleBar(
      {
        format: ' {bar} {value}/{total} mappings | {rows} rows | {resources} resources | {mapping}',
        hideCursor: true,
        clearOnComplete: true,
        stream: process.stderr,
      },
      cliProgress.Presets.shades_classic,
    );
    let started = false;
    return {
      update: (p) => {
        if (!started) {
          bar.start(p.mappingsTotal, 0, { rows: 0, resources: 0, mapping: '' });
          started = true;
        }
        bar.update(p.mappingsDone, { rows: p.rowsRead, resources: p.resourcesWritten, mapping: p.mapping });
      },
      stop: () => {
        if (started) bar.stop();
      },
    };
  }
  const log = logger('export');
  let done = 0;
  return {
    update: (p) => {
      if (p.mappingsDone === done) return;
      done = p.mappingsDone;
      log.info(
        {
          mapping: p.mapping,
          mappingsDone: p.mappingsDone,
          mappingsTotal: p.mappingsTotal,
          rowsRead: p.rowsRead,
          resourcesWritten: p.resourcesWritten,
        },
        'progress',
      );
    },
    stop: () => undefined,
  };
}

export function splitList(value: string[] | string | undefined): string[] | undefined {
  if (value === undefined) return undefined;
  const list = (Array.isArray(value) ? value : [value])
    .flatMap((v) => v.split(','))
    .map((v) => v.trim())
    .filter(Boolean);
  return list.length > 0 ? list : undefined;
}

/** `--since`: a FHIR instant, or a date (midnight UTC). A time without an offset is ambiguous: refused. */
export function parseInstant(text: string): Date {
  const t = text.trim();
  const ok = /^\d{4}-\d{2}-\d{2}$/.test(t) || /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/.test(t);
  const date = new Date(t);
  if (!ok || Number.isNaN(date.getTime())) {
    throw new UsageError(
      `--since ${JSON.stringify(text)}: expected an instant like 2024-01-31T00:00:00Z or 2024-01-31T09:00:00+01:00, or a date`,
    );
  }
  return date;
}
