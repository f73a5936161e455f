// Status and cancel: GET /jobs/:id and DELETE /jobs/:id.
// Bulk Data IG 2.0.0, Bulk Data Status Request (https://hl7.org/fhir/uv/bulkdata/STU2/export.html#bulk-data-status-request):
// 202 with X-Progress and Retry-After while the job runs, 200 with the manifest and Expires when it is
// complete, 500 with an OperationOutcome when it failed; polls of one job closer than `minPollMs` get
// 429. Bulk Data Delete Request (https://hl7.org/fhir/uv/bulkdata/STU2/export.html#bulk-data-delete-request):
// DELETE cancels a running job or deletes a finished one's files (202); later polls are 404. Any instance
// sharing the job store answers for any job: a job running on another instance shows that instance's
// progress as stored, and a cancel reaches it through its heartbeat (it stops and deletes the files).
import type { OperationOutcome } from 'fhir/r4';
import type { FastifyPluginAsync } from 'fastify';
import { HttpError, operationOutcome } from '../errors.js';
import type { JobStore } from '../jobs/job-store.js';
import type { JobRunner } from '../jobs/runner.js';
import type { ExportJob, ExportManifest } from '../jobs/types.js';
import { FHIR_JSON, type RequestContext } from './request-context.js';

export interface StatusOptions {
  context: RequestContext;
  store: JobStore;
  runner: JobRunner;
  /** Retry-After of 202 and 429 answers, seconds */
  retryAfter: string;
  /** status polls of one job closer than this get 429 (0 disables) */
  minPollMs: number;
  /** the manifest a completed job is answered with (default: as stored; pre-signed URLs sign it per poll) */
  present?: (job: ExportJob) => Promise<ExportManifest>;
}

export const statusRoutes: FastifyPluginAsync<StatusOptions> = async (app, { context, store, runner, retryAfter, minPollMs, present }) => {
  // Last poll per job still in progress; forgotten once the job has an answer that will not change.
  const lastPoll = new Map<string, number>();

  app.get('/jobs/:id', async (request, reply) => {
    const { id } = request.params as { id: string };
    const job = await context.visibleJob(request, id);
    if (minPollMs > 0 && (job.status === 'queued' || job.status === 'running')) {
      const now = Date.now();
      const last = lastPoll.get(id);
      if (last !== undefined && now - last < minPollMs) {
        throw new HttpError(429, `polling too fast: wait ${retryAfter} s between status requests`, 'throttled', {
          'Retry-After': retryAfter,
        });
      }
      lastPoll.set(id, now);
    }
    switch (job.status) {
      case 'queued':
      case 'running': {
        const progress = runner.progressOf(id) ?? job.progress ?? (job.status === 'queued' ? 'queued' : 'in progress');
        return reply.code(202).header('X-Progress', progress.slice(0, 99)).header('Retry-After', retryAfter).send();
      }
      case 'completed':
        lastPoll.delete(id);
        return reply
          .code(200)
          .type('application/json')
          .header('Expires', new Date(job.expiresAt!).toUTCString())
          .send(present ? await present(job) : job.manifest);
      default: {
        lastPoll.delete(id);
        const outcome: OperationOutcome = job.error ?? operationOutcome('error', 'exception', 'the export failed');
        return reply.code(500).type(FHIR_JSON).send(outcome);
      }
    }
  });

  app.delete('/jobs/:id', async (request, reply) => {
    const { id } = request.params as { id: string };
    await context.visibleJob(request, id);
    const was = await store.cancel(id);
    if (!was) throw new HttpError(404, `no export job ${id}`, 'not-found');
    lastPoll.delete(id);
    await runner.cancel(id, was);
    request.log.info({ job: id }, 'export job cancelled');
    return reply
      .code(202)
      .type(FHIR_JSON)
      .send(operationOutcome('information', 'informational', `export ${id} cancelled; its files were deleted`));
  });
};
