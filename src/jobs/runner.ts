// Runs queued export jobs, at most `concurrency` at a time (p-queue), and keeps the job store honest:
// every job ends completed, failed (with an OperationOutcome) or cancelled, also across restarts and
// when several instances share one store. Each runner is one instance (`instanceId`, one per process):
// a job it accepted or took is held under a lease it renews every `heartbeatMs` (the store's `hold`);
// at start-up and on every heartbeat it takes over only jobs whose lease expired (their instance died),
// so restarting one instance never touches another's live work. A job taken over while it was running
// is re-run from scratch, up to `maxAttempts` runs, then failed. The heartbeat's answer also tells an
// owner that a job it runs was cancelled (through any instance: it stops it and deletes its files) or
// taken over; an owner that cannot renew stops its jobs itself shortly before the lease runs out, and
// completes or fails a job only while the store still names it the owner, so a job taken over is never
// written by two instances. Files are written to <dataDir>/jobs/<id>/ (one folder every instance shares), kept there or in a bucket
// by the file store (src/storage/), and deleted through it when the job expires or is cancelled (never while
// a download of them is in progress here).
// The store can fail under it (database connection lost, disk full): the state changes a run writes are
// retried with backoff (p-retry) until the store is back. A failed write may still have committed (the
// connection dropped after the COMMIT, before the reply), so a retry first reads the job back and takes a
// change already made as done: otherwise a start whose reply was lost would find the job no longer queued
// and leave it `running` with nothing running it, and a lost completion reply would read as a cancel and
// delete the files. A run that still cannot be recorded is logged and remembered; the periodic sweep
// settles it once the store answers again (a job the store shows running but this process does not run is
// queued again; one still queued is run), without waiting for a restart. Only jobs this instance holds
// are settled so. Nothing a job does can reject into the queue and take the server down. Every state
// change is one log line with the job id.
import { randomBytes } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import { hostname } from 'node:os';
import PQueue from 'p-queue';
import pRetry from 'p-retry';
import type { OperationOutcome } from 'fhir/r4';
import { FhirBridgeError, operationOutcome } from '../errors.js';
import type { SinkResult } from '../sinks/types.js';
import { LocalFileStore } from '../storage/local-store.js';
import type { ExportFileStore } from '../storage/types.js';
import type { JobStore, Lease } from './job-store.js';
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
  /** this instance's id in the store, unique per running process (default: host:pid:random) */
  instanceId?: string;
  /** how long a claim or renewal holds a job (default 30 s) */
  leaseMs?: number;
  /** how often the leases are renewed and expired ones taken over (default 10 s; 0 disables the timer) */
  heartbeatMs?: number;
}

/** A fresh instance id: readable in logs and the store (which host, which process), unique per start. */
export function newInstanceId(): string {
  return `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
}

export interface RunnerLog {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

const SILENT: RunnerLog = { info: () => undefined, warn: () => undefined, error: () => undefined };

/** Why a run was stopped from outside: shutdown (requeued), cancelled (files deleted), lost (another instance has it). */
type StopReason = 'shutdown' | 'cancelled' | 'lost';

interface Running {
  controller: AbortController;
  progress: string;
  lastWrite: number;
  done: Promise<void>;
  /** local time the last claim or renewal of this job's lease was sent (it holds until then + leaseMs) */
  renewedAt: number;
  stopped?: StopReason;
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
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private closing = false;
  /** jobs whose last state change could not be recorded: the sweep settles them once the store is back */
  private readonly unsettled = new Set<string>();
  /** jobs this instance holds: queued here (p-queue) or running here; their leases are renewed */
  private readonly held = new Set<string>();
  readonly instanceId: string;
  readonly leaseMs: number;
  readonly heartbeatMs: number;
  private readonly lease: Lease;
  private beating = false;
  private heartbeatFailing = false;

  constructor(private readonly options: JobRunnerOptions) {
    this.log = options.log ?? SILENT;
    this.queue = new PQueue({ concurrency: options.concurrency ?? 2 });
    this.fileTtlMs = options.fileTtlMs ?? 60 * 60_000;
    this.maxAttempts = options.maxAttempts ?? 2;
    this.progressWriteMs = options.progressWriteMs ?? 2000;
    this.instanceId = options.instanceId ?? newInstanceId();
    this.leaseMs = options.leaseMs ?? 30_000;
    this.heartbeatMs = options.heartbeatMs ?? 10_000;
    if (!(this.leaseMs > 0)) throw new Error(`the job lease must be positive, got ${this.leaseMs} ms`);
    if (this.heartbeatMs >= this.leaseMs)
      throw new Error(`the heartbeat (${this.heartbeatMs} ms) must be shorter than the job lease (${this.leaseMs} ms)`);
    this.lease = { owner: this.instanceId, ms: this.leaseMs };
    this.files = options.files ?? new LocalFileStore(options.dataDir);
  }

  jobDir(id: string): string {
    return this.files.jobDir(id);
  }

  /**
   * Picks up what dead instances left (this one's previous process among them): jobs whose lease expired
   * are taken over (interrupted ones re-run, or failed after too many runs), queued ones nobody holds run
   * here. Jobs other live instances hold are left alone.
   */
  async start(): Promise<void> {
    this.log.info(
      { instance: this.instanceId, leaseMs: this.leaseMs, heartbeatMs: this.heartbeatMs },
      'job runner started; jobs are held under this instance id',
    );
    await this.takeOver(true);
    await this.sweep();
    const every = this.options.sweepIntervalMs ?? 60_000;
    if (every > 0) {
      this.sweepTimer = setInterval(() => {
        void this.settle().catch((e: unknown) => this.log.error({ err: e }, 'settling unrecorded jobs failed'));
        void this.sweep().catch((e: unknown) => this.log.error({ err: e }, 'file expiry sweep failed'));
      }, every);
      this.sweepTimer.unref();
    }
    if (this.heartbeatMs > 0) {
      this.heartbeatTimer = setInterval(() => void this.heartbeat(), this.heartbeatMs);
      this.heartbeatTimer.unref();
    }
  }

  /**
   * One heartbeat: renews the leases of the jobs held here, stops those it learns were cancelled or taken
   * over, stops its own runs when their lease is about to run out unrenewed (the store is unreachable:
   * another instance may take them soon), and takes over jobs whose lease expired. Never throws.
   */
  async heartbeat(): Promise<void> {
    this.fence();
    if (this.beating || this.closing) return;
    this.beating = true;
    try {
      const ids = [...this.held];
      const sent = Date.now();
      let kept: Set<string>;
      try {
        kept = new Set(await this.options.store.hold(ids, this.lease));
      } catch (err) {
        if (!this.heartbeatFailing) this.log.warn({ err, instance: this.instanceId }, 'job leases could not be renewed; retrying');
        this.heartbeatFailing = true;
        return;
      }
      if (this.heartbeatFailing) this.log.info({ instance: this.instanceId }, 'job leases renewed again');
      this.heartbeatFailing = false;
      for (const id of ids) {
        const run = this.running.get(id);
        if (kept.has(id)) {
          if (run) run.renewedAt = sent;
        } else if (run) await this.lost(id, run);
        else this.held.delete(id); // queued here, but cancelled or taken meanwhile: its run() will not start it
      }
      await this.takeOver(false);
    } catch (err) {
      this.log.error({ err }, 'job heartbeat failed');
    } finally {
      this.beating = false;
    }
  }

  /** Takes the jobs whose lease expired (at start-up also those recorded under this instance id) and runs them here. */
  private async takeOver(atStart: boolean): Promise<void> {
    if (this.closing) return;
    for (const { job, was, previousOwner } of await this.options.store.takeOver(this.lease, { graceMs: this.leaseMs, mine: atStart })) {
      if (was === 'running')
        this.log.warn(
          { job: job.id, attempts: job.attempts, previousOwner, instance: this.instanceId },
          'export job was interrupted by a restart; running it again',
        );
      else if (previousOwner)
        this.log.warn(
          { job: job.id, previousOwner, instance: this.instanceId },
          'export job: its instance stopped holding it; running it here',
        );
      this.enqueue(job.id);
    }
  }

  /** A job running here that the store no longer shows as ours: cancelled (stop, delete files) or taken over (stop only). */
  private async lost(id: string, run: Running): Promise<void> {
    if (run.stopped) return;
    const job = await this.options.store.get(id);
    const mine = job?.owner === undefined || job.owner === this.instanceId;
    if (job?.status === 'cancelled' && mine) this.stop(run, 'cancelled');
    else if (mine && (job?.status === 'completed' || job?.status === 'failed'))
      return; // this run's own ending, just recorded
    else {
      this.log.warn(
        { job: id, status: job?.status, owner: job?.owner, instance: this.instanceId },
        'export job: another instance holds it now; stopping here',
      );
      this.stop(run, 'lost');
    }
  }

  /** Stops the runs whose lease may run out before the next renewal could reach the store. */
  private fence(now = Date.now()): void {
    const margin = Math.min(this.heartbeatMs || this.leaseMs / 3, this.leaseMs / 2);
    for (const [id, run] of this.running) {
      if (run.stopped || now - run.renewedAt < this.leaseMs - margin) continue;
      this.log.warn(
        { job: id, instance: this.instanceId, unrenewedMs: now - run.renewedAt },
        'export job: its lease could not be renewed and is about to expire; stopping it here so another instance can take it over',
      );
      this.stop(run, 'lost');
    }
  }

  private stop(run: Running, reason: StopReason): void {
    if (run.stopped) return;
    run.stopped = reason;
    const why = {
      shutdown: 'server shutting down',
      cancelled: 'export cancelled by the client',
      lost: 'the job is held by another instance',
    };
    run.controller.abort(new Error(why[reason]));
  }

  enqueue(id: string): void {
    this.log.info({ job: id }, 'export job queued');
    // claimed at once (a kick-off's job is stored unowned): another instance's takeover leaves it to us
    if (!this.held.has(id)) {
      this.held.add(id);
      void this.options.store.hold([id], this.lease).catch(() => undefined); // the next heartbeat retries
    }
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
          // only while it is still ours: after the lease expired another instance may have taken it
          if (!(await this.options.store.requeue(id, false, this.instanceId))) {
            this.unsettled.delete(id);
            continue;
          }
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

  /**
   * After the store says cancelled: stops the job when it runs here and removes its files. `was` is the job
   * as it was before the cancel: one another instance holds is stopped by that instance, which deletes its
   * files once stopped (its heartbeat tells it; if it died, the sweep does once its lease expired).
   */
  async cancel(id: string, was?: ExportJob): Promise<void> {
    const run = this.running.get(id);
    if (run) {
      this.stop(run, 'cancelled');
      await run.done;
      return;
    }
    const active = was?.status === 'queued' || was?.status === 'running';
    if (active && was?.owner !== undefined && was.owner !== this.instanceId) return;
    // a store that cannot delete now (bucket unreachable) leaves it to the sweep: the job is cancelled in the store
    await this.files
      .remove(id)
      .catch((err: unknown) => this.log.warn({ job: id, err }, 'export job cancelled; its files are deleted by a later sweep'));
    if (was?.owner === this.instanceId) await this.options.store.release(this.instanceId, [id]).catch(() => undefined);
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
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    this.queue.pause();
    this.queue.clear();
    const runs = [...this.running.values()];
    for (const run of runs) this.stop(run, 'shutdown');
    await Promise.all(runs.map((r) => r.done));
    // the jobs queued here are given up, so another instance (or the next start) takes them at once
    await this.options.store.release(this.instanceId).catch(() => undefined);
  }

  private async run(id: string): Promise<void> {
    try {
      await this.runHeld(id);
    } finally {
      this.held.delete(id);
    }
  }

  private async runHeld(id: string): Promise<void> {
    if (this.closing) return;
    const { store } = this.options;
    const me = this.instanceId;
    const transactionTime = new Date().toISOString();
    const claimedAt = Date.now();
    const started = await this.persist(
      id,
      'start',
      () => store.start(id, transactionTime, this.lease),
      (now) => now.status === 'running' && now.transactionTime === transactionTime && now.owner === me,
    );
    if (!started) return; // cancelled while queued, or another instance has it
    const job = await this.persist(id, 'read', () => store.get(id));
    if (job?.status !== 'running' || job.owner !== me) return; // cancelled (or taken) between start and now
    const expiresAt = (): string => new Date(Date.now() + this.fileTtlMs).toISOString();
    if (job.attempts > this.maxAttempts) {
      const message = `the export was interrupted ${job.attempts - 1} times (server restarts) and was given up; kick it off again`;
      this.log.error({ job: id, attempts: job.attempts, error: message }, 'export job failed');
      // the interrupted runs' partial files are of no use to anyone: gone now, not at the file TTL (this
      // instance has just claimed the job, so they are no other instance's)
      await this.files.remove(id).catch(() => undefined);
      await this.persist(id, 'record the failure', () => store.fail(id, operationOutcome('error', 'incomplete', message), expiresAt(), me));
      return;
    }
    this.log.info({ job: id, attempt: job.attempts, instance: me }, 'export job running');
    const controller = new AbortController();
    let settle!: () => void;
    const entry: Running = {
      controller,
      progress: 'starting',
      lastWrite: 0,
      done: new Promise<void>((r) => (settle = r)),
      renewedAt: claimedAt,
    };
    this.running.set(id, entry);
    const dir = this.jobDir(id);
    try {
      let manifest: ExportManifest;
      try {
        // an earlier run's local files must not mix with this run's (objects it published stay until expiry
        // deletes the job's prefix; the manifest lists only this run's)
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
        if (controller.signal.aborted) {
          await this.stopped(id, entry.stopped ?? (this.closing ? 'shutdown' : 'cancelled'));
          return;
        }
        const outcome = failureOutcome(err);
        this.log.error({ job: id, err, error: outcome.issue[0]?.diagnostics }, 'export job failed');
        if (await this.persist(id, 'record the failure', () => store.fail(id, outcome, expiresAt(), me)))
          await this.files.remove(id).catch(() => undefined);
        else await this.notOurs(id);
        return;
      }
      const completed = await this.persist(
        id,
        'record the completion',
        () => store.complete(id, manifest, expiresAt(), me),
        (now) => now.status === 'completed' && JSON.stringify(now.manifest) === JSON.stringify(manifest),
      );
      if (completed) {
        const counts: Record<string, number> = {};
        for (const o of manifest.output) counts[o.type] = (counts[o.type] ?? 0) + (o.count ?? 0);
        this.log.info({ job: id, files: manifest.output.length, counts, errorFiles: manifest.error.length }, 'export job completed');
      } else await this.notOurs(id);
    } finally {
      this.running.delete(id);
      settle();
    }
  }

  /** After a run was stopped from outside. Only an owner deletes files: a job lost to another instance is its now. */
  private async stopped(id: string, reason: StopReason): Promise<void> {
    if (reason === 'lost') {
      this.log.warn(
        { job: id, instance: this.instanceId },
        'export job stopped here: another instance holds it (or will, once its lease expired)',
      );
      return;
    }
    await this.files.remove(id).catch(() => undefined);
    if (reason === 'shutdown') {
      await this.options.store.requeue(id, true, this.instanceId).catch(() => undefined);
      this.log.info({ job: id }, 'export job stopped by shutdown; it runs again at the next start');
      return;
    }
    // cancelled: the store says so already; the files are gone, so the job is nobody's any more
    await this.options.store.release(this.instanceId, [id]).catch(() => undefined);
    this.log.info({ job: id }, 'export job stopped: cancelled');
  }

  /** A completion or failure the store refused: the job was cancelled (delete its files) or is another instance's (leave them). */
  private async notOurs(id: string): Promise<void> {
    const now = await this.options.store.get(id).catch(() => undefined);
    if (now?.status === 'cancelled' && (now.owner === undefined || now.owner === this.instanceId)) await this.stopped(id, 'cancelled');
    else await this.stopped(id, 'lost');
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
