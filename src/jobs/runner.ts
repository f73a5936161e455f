// Runs queued export jobs, at most `concurrency` at a time (p-queue), and keeps the job store honest:
// every job ends completed, failed (with an OperationOutcome) or cancelled, also across restarts: a job
// found running at start-up was interrupted and is re-run from scratch, up to `maxAttempts` runs, then
// failed. Files are written to <dataDir>/jobs/<id>/, kept there or in a bucket by the file store
// (src/storage/), and deleted through it when the job expires or is cancelled (never while a download of
// them is in progress).
// The store can fail under it (database connection lost, disk full): the state changes a run writes are
// retried with backoff (p-retry) until the store is back. A failed write may still have committed (the
// connection dropped after the COMMIT, before the reply), so a retry first reads the job back and takes a
// change already made as done: otherwise a start whose reply was lost would find the job no longer queued
// and leave it `running` with nothing running it, and a lost completion reply would read as a cancel and
// delete the files. A run that still cannot be recorded is logged and remembered; the periodic sweep
// settles it once the store answers again (a job the store shows running but this process does not run is
// queued again; one still queued is run), without waiting for a restart. Only jobs this process touched
// are settled so, as several instances may share a PostgreSQL store. Nothing a job does can reject into
// the queue and take the server down. Every state change is one log line with the job id.
import { mkdir, rm } from 'node:fs/promises';
import PQueue from 'p-queue';
import pRetry from 'p-retry';
import type { OperationOutcome } from 'fhir/r4';
import { FhirBridgeError, operationOutcome } from '../errors.js';
import type { SinkResult } from '../sinks/types.js';
import { LocalFileStore } from '../storage/local-store.js';
import type { ExportFileStore } from '../storage/types.js';
import type { JobStore } from './job-store.js';
import { buildManifest } from './manifest.js';
import type { ExportJob, ExportManifest } from './types.js';

export interface JobExecution {
  job: ExportJob;
  /** empty folder the job's files go to */
  dir: string;
  signal: AbortSignal;
  /** a short text for X-Progress (< 100 characters) */
  onProgress(text: string): void;
}

export interface JobResult {
  files: SinkResult;
  /** resource types `_since` could not filter (no lastUpdated column) */
  sinceNotApplied?: string[];
  /** the source snapshot's time (the manifest's transactionTime, where the next `_since` starts) */
  transactionTime?: string;
}

/** What running a job means; the default runs the pipeline (pipeline-executor.ts), tests inject fakes. */
export type JobExecutor = (execution: JobExecution) => Promise<JobResult>;

export interface JobRunnerOptions {
  store: JobStore;
  executor: JobExecutor;
  dataDir: string;
  /** where finished jobs' files are kept and deleted from (default: the data folder) */
  files?: ExportFileStore;
  requiresAccessToken: boolean;
  /** jobs running at once (default 2) */
  concurrency?: number;
  /** how long files stay available after a job ends (default 1 hour) */
  fileTtlMs?: number;
  /** runs of one job before an interruption counts as failure (default 2: one resume after a restart) */
  maxAttempts?: number;
  /** how often expired files are looked for (default 60 s; 0 disables the timer) */
  sweepIntervalMs?: number;
  /** how often running progress is written to the store (default 2 s) */
  progressWriteMs?: number;
  /** the server's logger: one line per job state change */
  log?: RunnerLog;
  /** how writes to an unavailable store are retried (default: 12 retries, 0.5 s doubling up to 30 s: about 4 minutes) */
  storeRetry?: { retries?: number; minTimeout?: number; maxTimeout?: number };
}

export interface RunnerLog {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

const SILENT: RunnerLog = { info: () => undefined, warn: () => undefined, error: () => undefined };

interface Running {
  controller: AbortController;
  progress: string;
  lastWrite: number;
  done: Promise<void>;
}

export class JobRunner {
  private readonly queue: PQueue;
  private readonly running = new Map<string, Running>();
  private readonly downloads = new Map<string, number>();
  private readonly fileTtlMs: number;
  private readonly maxAttempts: number;
  private readonly progressWriteMs: number;
  private readonly log: RunnerLog;
  private readonly files: ExportFileStore;
  private sweepTimer: NodeJS.Timeout | undefined;
  private closing = false;
  /** jobs whose last state change could not be recorded: the sweep settles them once the store is back */
  private readonly unsettled = new Set<string>();

  constructor(private readonly options: JobRunnerOptions) {
    this.log = options.log ?? SILENT;
    this.queue = new PQueue({ concurrency: options.concurrency ?? 2 });
    this.fileTtlMs = options.fileTtlMs ?? 60 * 60_000;
    this.maxAttempts = options.maxAttempts ?? 2;
    this.progressWriteMs = options.progressWriteMs ?? 2000;
    this.files = options.files ?? new LocalFileStore(options.dataDir);
  }

  jobDir(id: string): string {
    return this.files.jobDir(id);
  }

  /** Picks up what the previous process left: interrupted jobs are re-queued (or failed), queued ones run. */
  async start(): Promise<void> {
    const { store } = this.options;
    for (const job of await store.list(['running'])) {
      await store.requeue(job.id);
      this.log.warn({ job: job.id, attempts: job.attempts }, 'export job was interrupted by a restart; running it again');
    }
    for (const job of await store.list(['queued'])) this.enqueue(job.id);
    await this.sweep();
    const every = this.options.sweepIntervalMs ?? 60_000;
    if (every > 0) {
      this.sweepTimer = setInterval(() => {
        void this.settle().catch((e: unknown) => this.log.error({ err: e }, 'settling unrecorded jobs failed'));
        void this.sweep().catch((e: unknown) => this.log.error({ err: e }, 'file expiry sweep failed'));
      }, every);
      this.sweepTimer.unref();
    }
  }

  enqueue(id: string): void {
    this.log.info({ job: id }, 'export job queued');
    // run() records its own failures; what reaches this catch is a store that stayed unavailable, and a
    // rejection here must not become an unhandled one (it would end the process).
    this.queue
      .add(() => this.run(id))
      .catch((err: unknown) => {
        this.unsettled.add(id);
        this.log.error(
          { job: id, err },
          'export job: the job store stayed unavailable; the job is left as stored until the store answers again',
        );
      });
  }

  /**
   * Jobs whose state change could not be recorded, brought back in line with the store: one it shows
   * running (its start committed, the reply lost, or the run ended unrecorded) is queued again and run,
   * one still queued is run; any other state is final. A job stays unsettled while the store fails.
   * Returns the ids queued again.
   */
  async settle(): Promise<string[]> {
    const queued: string[] = [];
    for (const id of [...this.unsettled]) {
      if (this.closing) break;
      if (this.running.has(id)) continue;
      let job: ExportJob | undefined;
      try {
        job = await this.options.store.get(id);
        if (job?.status === 'running') {
          await this.options.store.requeue(id);
          this.log.warn(
            { job: id, attempts: job.attempts },
            'export job: the store shows it running but nothing runs it; running it again',
          );
        }
      } catch {
        continue; // the store still fails: the next sweep tries again
      }
      this.unsettled.delete(id);
      if (job?.status !== 'running' && job?.status !== 'queued') continue; // ended (or gone): nothing to do
      queued.push(id);
      this.enqueue(id);
    }
    return queued;
  }

  /** in-memory progress of a job running in this process */
  progressOf(id: string): string | undefined {
    return this.running.get(id)?.progress;
  }

  /** Stops a running job and removes its files (the store already says cancelled). */
  async cancel(id: string): Promise<void> {
    const run = this.running.get(id);
    if (run) {
      run.controller.abort(new Error('export cancelled by the client'));
      await run.done;
    }
    // a store that cannot delete now (bucket unreachable) leaves it to the sweep: the job is cancelled in the store
    await this.files
      .remove(id)
      .catch((err: unknown) => this.log.warn({ job: id, err }, 'export job cancelled; its files are deleted by a later sweep'));
  }

  /** Marks a download of a job's file as in progress; call the returned function when it ends. */
  downloadStarted(id: string): () => void {
    this.downloads.set(id, (this.downloads.get(id) ?? 0) + 1);
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      const n = (this.downloads.get(id) ?? 1) - 1;
      if (n <= 0) this.downloads.delete(id);
      else this.downloads.set(id, n);
    };
  }

  /** Deletes the files of expired and cancelled jobs (skipping jobs being downloaded right now). */
  async sweep(now = new Date()): Promise<string[]> {
    const expired: string[] = [];
    for (const job of await this.options.store.dueForCleanup(now.toISOString())) {
      if (this.downloads.has(job.id) || this.running.has(job.id)) continue;
      try {
        await this.files.remove(job.id);
      } catch (err) {
        this.log.warn({ job: job.id, err }, 'export job expired but its files could not be deleted yet; the next sweep tries again');
        continue;
      }
      await this.options.store.expire(job.id);
      this.log.info({ job: job.id, was: job.status }, 'export job expired; its files were deleted');
      expired.push(job.id);
    }
    return expired;
  }

  /** Resolves when nothing is queued or running (tests). */
  async idle(): Promise<void> {
    await this.queue.onIdle();
  }

  /** Stops taking jobs; running ones are stopped and left queued, so the next start re-runs them. */
  async close(): Promise<void> {
    this.closing = true;
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.queue.pause();
    this.queue.clear();
    const runs = [...this.running.values()];
    for (const run of runs) run.controller.abort(new Error('server shutting down'));
    await Promise.all(runs.map((r) => r.done));
  }

  private async run(id: string): Promise<void> {
    if (this.closing) return;
    const { store } = this.options;
    const transactionTime = new Date().toISOString();
    const started = await this.persist(
      id,
      'start',
      () => store.start(id, transactionTime),
      (now) => now.status === 'running' && now.transactionTime === transactionTime,
    );
    if (!started) return; // cancelled while queued
    const job = await this.persist(id, 'read', () => store.get(id));
    if (job?.status !== 'running') return; // cancelled between start and now
    const expiresAt = (): string => new Date(Date.now() + this.fileTtlMs).toISOString();
    if (job.attempts > this.maxAttempts) {
      const message = `the export was interrupted ${job.attempts - 1} times (server restarts) and was given up; kick it off again`;
      this.log.error({ job: id, attempts: job.attempts, error: message }, 'export job failed');
      // the interrupted runs' partial files are of no use to anyone: gone now, not at the file TTL
      await this.files.remove(id).catch(() => undefined);
      await this.persist(id, 'record the failure', () => store.fail(id, operationOutcome('error', 'incomplete', message), expiresAt()));
      return;
    }
    this.log.info({ job: id, attempt: job.attempts }, 'export job running');
    const controller = new AbortController();
    let settle!: () => void;
    const entry: Running = { controller, progress: 'starting', lastWrite: 0, done: new Promise<void>((r) => (settle = r)) };
    this.running.set(id, entry);
    const dir = this.jobDir(id);
    try {
      let manifest: ExportManifest;
      try {
        await rm(dir, { recursive: true, force: true });
        await mkdir(dir, { recursive: true });
        controller.signal.throwIfAborted();
        const result = await this.options.executor({
          job,
          dir,
          signal: controller.signal,
          onProgress: (text) => {
            entry.progress = text.slice(0, 99);
            const now = Date.now();
            if (now - entry.lastWrite >= this.progressWriteMs) {
              entry.lastWrite = now;
              void store.progress(id, entry.progress).catch(() => undefined); // progress is best effort
            }
          },
        });
        controller.signal.throwIfAborted();
        manifest = buildManifest({
          job: result.transactionTime ? { ...job, transactionTime: result.transactionTime } : job,
          files: result.files,
          requiresAccessToken: this.options.requiresAccessToken,
          sinceNotApplied: result.sinceNotApplied ?? [],
        });
      } catch (err) {
        await this.files.remove(id).catch(() => undefined);
        if (controller.signal.aborted) {
          // cancelled: the store says so already; shutting down: leave it for the next start
          if (this.closing) {
            await store.requeue(id, true);
            this.log.info({ job: id }, 'export job stopped by shutdown; it runs again at the next start');
          } else this.log.info({ job: id }, 'export job stopped: cancelled');
          return;
        }
        const outcome = failureOutcome(err);
        this.log.error({ job: id, err, error: outcome.issue[0]?.diagnostics }, 'export job failed');
        await this.persist(id, 'record the failure', () => store.fail(id, outcome, expiresAt()));
        return;
      }
      const completed = await this.persist(
        id,
        'record the completion',
        () => store.complete(id, manifest, expiresAt()),
        (now) => now.status === 'completed' && JSON.stringify(now.manifest) === JSON.stringify(manifest),
      );
      if (completed) {
        const counts: Record<string, number> = {};
        for (const o of manifest.output) counts[o.type] = (counts[o.type] ?? 0) + (o.count ?? 0);
        this.log.info({ job: id, files: manifest.output.length, counts, errorFiles: manifest.error.length }, 'export job completed');
      } else {
        await this.files.remove(id).catch(() => undefined); // left to the sweep if the store cannot delete now
        this.log.info({ job: id }, 'export job stopped: cancelled');
      }
    } finally {
      this.running.delete(id);
      settle();
    }
  }

  /**
   * A store call, retried with backoff while it throws (store unreachable, disk full), except when shutting
   * down. `applied` tells from the job as stored whether a state change that threw was committed after all
   * (its reply lost): a retry then takes it as done instead of making it again.
   */
  private persist<T>(id: string, what: string, call: () => Promise<T>): Promise<T>;
  private persist(id: string, what: string, call: () => Promise<boolean>, applied: (job: ExportJob) => boolean): Promise<boolean>;
  private persist<T>(id: string, what: string, call: () => Promise<T>, applied?: (job: ExportJob) => boolean): Promise<T> {
    const retry = this.options.storeRetry ?? {};
    let failed = false;
    const attempt = async (): Promise<T> => {
      if (failed && applied) {
        const now = await this.options.store.get(id);
        if (now && applied(now)) {
          this.log.warn({ job: id }, `export job: the job store did ${what} although its reply was lost`);
          return true as T;
        }
      }
      try {
        return await call();
      } catch (err) {
        failed = true;
        throw err;
      }
    };
    return pRetry(attempt, {
      retries: retry.retries ?? 12,
      minTimeout: retry.minTimeout ?? 500,
      maxTimeout: retry.maxTimeout ?? 30_000,
      shouldRetry: () => !this.closing,
      onFailedAttempt: ({ error, attemptNumber, retriesLeft }) => {
        if (retriesLeft > 0)
          this.log.warn({ job: id, err: error, attempt: attemptNumber }, `export job: the job store failed to ${what}; retrying`);
      },
    });
  }
}

function failureOutcome(err: unknown): OperationOutcome {
  if (err instanceof FhirBridgeError) return err.toOperationOutcome();
  return operationOutcome('error', 'exception', `the export failed: ${(err as Error)?.message ?? String(err)}`);
}
