// Kick-off: GET|POST /fhir/$export (system), /fhir/Patient/$export (patient), /fhir/Group/:id/$export (group).
// Bulk Data IG 2.0.0, Bulk Data Kick-off Request (https://hl7.org/fhir/uv/bulkdata/STU2/export.html#bulk-data-kick-off-request):
// the parameters are read (kickoff/params.ts) and checked against what the source can do
// (kickoff/resolve.ts), a job is stored and queued, and the answer is 202 with the status URL in
// Content-Location. With auth on, a client runs one export at a time (a second kick-off is 429).
import { randomUUID } from 'node:crypto';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { SourceAdapter } from '../connectors/types.js';
import { HttpError, operationOutcome } from '../errors.js';
import type { GroupDirectory } from '../groups/group-directory.js';
import type { JobStore } from '../jobs/job-store.js';
import type { JobRunner } from '../jobs/runner.js';
import type { ExportLevel } from '../jobs/types.js';
import type { CompiledMappingSet } from '../mapping/types.js';
import { checkKickoffHeaders, isLenient, parseKickoffParams, ParameterProblems } from './kickoff/params.js';
import { resolveKickoff } from './kickoff/resolve.js';
import { FHIR_JSON, type RequestContext } from './request-context.js';

export interface KickoffOptions {
  context: RequestContext;
  store: JobStore;
  runner: JobRunner;
  groups: GroupDirectory;
  adapter: SourceAdapter;
  mappings: CompiledMappingSet;
  /** the FHIR R4 resource types (`_type` naming another is a 400) */
  knownTypes: ReadonlySet<string>;
  /** Retry-After of the 429 to a client with an export still running */
  retryAfter: string;
}

export const kickoffRoutes: FastifyPluginAsync<KickoffOptions> = async (app, options) => {
  const { context, store, runner, groups, adapter, mappings, knownTypes, retryAfter } = options;

  const kickoff =
    (level: ExportLevel) =>
    async (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> => {
      const claims = await context.authenticate(request);
      checkKickoffHeaders(request.headers);
      const clientId = claims?.clientId ?? null;
      if (claims) {
        const active = await store.active(clientId);
        if (active.length > 0) {
          throw new HttpError(
            429,
            `an export of yours is still in progress (${active.map((j) => j.id).join(', ')}); wait for it or DELETE it first`,
            'throttled',
            { 'Retry-After': retryAfter },
          );
        }
      }
      const lenient = isLenient(request.headers.prefer);
      const problems = new ParameterProblems(lenient);
      const raw = parseKickoffParams(
        {
          method: request.method === 'POST' ? 'POST' : 'GET',
          query: request.query as Record<string, unknown>,
          body: request.body,
          level,
          lenient,
          knownTypes,
        },
        problems,
      );
      let group: { id: string; members: unknown[] } | undefined;
      let groupId: string | undefined;
      if (level === 'group') {
        groupId = (request.params as { id: string }).id;
        groups.definition(groupId);
        group = { id: groupId, members: await groups.memberKeys(groupId) };
      }
      const resolved = await resolveKickoff(raw, {
        level,
        mappings,
        adapter,
        problems,
        ...(claims ? { scopes: claims.scopes } : {}),
        ...(group ? { group } : {}),
      });
      const b = context.base(request);
      const requestUrl = request.method === 'POST' ? `${b}${request.url.split('?')[0]}` : `${b}${request.url}`;
      const job = await store.create({
        id: randomUUID(),
        clientId,
        level,
        ...(groupId ? { groupId } : {}),
        requestUrl,
        baseUrl: b,
        params: resolved.params,
        ignored: problems.ignored,
        ...(resolved.patientKeys ? { patientKeys: resolved.patientKeys } : {}),
      });
      runner.enqueue(job.id);
      request.log.info({ job: job.id, client: clientId, exportLevel: level, types: resolved.params.types }, 'export kicked off');
      const note = problems.ignored.length
        ? ` ${problems.ignored.length} parameter(s) ignored (handling=lenient); see the manifest's error file.`
        : '';
      return reply
        .code(202)
        .header('Content-Location', `${b}/jobs/${job.id}`)
        .type(FHIR_JSON)
        .send(
          operationOutcome(
            'information',
            'informational',
            `export ${job.id} accepted; poll the Content-Location URL for its status.${note}`,
          ),
        );
    };

  for (const method of ['GET', 'POST'] as const) {
    app.route({ method, url: '/fhir/$export', handler: kickoff('system') });
    app.route({ method, url: '/fhir/Patient/$export', handler: kickoff('patient') });
    app.route({ method, url: '/fhir/Group/:id/$export', handler: kickoff('group') });
  }
};
