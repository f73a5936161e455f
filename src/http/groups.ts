// Groups: GET /fhir/Group[?name=&identifier=&_id=] (search) and GET /fhir/Group/:id (read).
// The rosters of Group-level export (Bulk Data IG 2.0.0, https://hl7.org/fhir/uv/bulkdata/STU2/export.html#endpoint---group-of-patients)
// as FHIR Group resources (R4 RESTful read and search, https://hl7.org/fhir/R4/http.html), so a client
// can find the id to export; members are Patient references made by the Patient mapping's ids. A token
// must allow reading Group.
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import { HttpError } from '../errors.js';
import type { GroupDirectory } from '../groups/group-directory.js';
import { canExport } from './auth/scopes.js';
import { FHIR_JSON, type RequestContext } from './request-context.js';

export interface GroupOptions {
  context: RequestContext;
  groups: GroupDirectory;
}

export const groupRoutes: FastifyPluginAsync<GroupOptions> = async (app, { context, groups }) => {
  const authorizeType = async (request: FastifyRequest, type: string): Promise<void> => {
    const claims = await context.authenticate(request);
    if (claims && !canExport(claims.scopes, type))
      throw new HttpError(403, `the access token's scopes do not allow reading ${type}`, 'forbidden');
  };

  app.get('/fhir/Group', async (request, reply) => {
    await authorizeType(request, 'Group');
    const q = request.query as Record<string, string | undefined>;
    const bundle = await groups.search(context.fhirBase(request), {
      ...(q.name !== undefined ? { name: q.name } : {}),
      ...(q.identifier !== undefined ? { identifier: q.identifier } : {}),
      ...(q._id !== undefined ? { _id: q._id } : {}),
    });
    return reply.type(FHIR_JSON).send(bundle);
  });

  app.get('/fhir/Group/:id', async (request, reply) => {
    await authorizeType(request, 'Group');
    return reply.type(FHIR_JSON).send(await groups.resource((request.params as { id: string }).id));
  });
};
