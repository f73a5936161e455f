// Discovery: GET /fhir/metadata, GET /fhir/.well-known/smart-configuration and /.well-known/smart-configuration.
// What a bulk data client reads first: the CapabilityStatement instantiating the Bulk Data IG 2.0.0
// bulk-data CapabilityStatement (https://hl7.org/fhir/uv/bulkdata/STU2/CapabilityStatement-bulk-data.html),
// and the SMART configuration of SMART App Launch 2.0.0 (https://hl7.org/fhir/smart-app-launch/STU2/conformance.html)
// that names the token endpoint. In open mode there is no SMART configuration (404).
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { HttpError } from '../errors.js';
import { capabilityStatement, smartConfiguration } from './capability-statement.js';
import { FHIR_JSON, type RequestContext } from './request-context.js';

export interface DiscoveryOptions {
  context: RequestContext;
  /** no authorization: no token URL in the CapabilityStatement, no SMART configuration */
  open: boolean;
  /** resource types the mappings produce */
  resourceTypes: string[];
  /** software version and start time, reported in the CapabilityStatement */
  version: string;
  startedAt: string;
}

export const discoveryRoutes: FastifyPluginAsync<DiscoveryOptions> = async (app, { context, open, resourceTypes, version, startedAt }) => {
  app.get('/fhir/metadata', async (request, reply) => {
    const cs = capabilityStatement({
      fhirBase: context.fhirBase(request),
      ...(open ? {} : { tokenUrl: context.tokenUrl(request) }),
      resourceTypes,
      version,
      date: startedAt,
    });
    return reply.type(FHIR_JSON).send(cs);
  });

  const smartConfig = async (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> => {
    if (open) throw new HttpError(404, 'this server runs in open mode (no authorization); there is no SMART configuration', 'not-found');
    return reply.type('application/json').send(smartConfiguration(context.tokenUrl(request), resourceTypes));
  };
  app.get('/fhir/.well-known/smart-configuration', smartConfig);
  app.get('/.well-known/smart-configuration', smartConfig);
};
