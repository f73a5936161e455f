// `[base]/metadata` and `[base]/.well-known/smart-configuration`: what a bulk data client reads first.
// The CapabilityStatement instantiates the IG's bulk-data CapabilityStatement and names the three
// export operations; with auth on, it carries the SMART token endpoint (oauth-uris extension).
import type { CapabilityStatement, CapabilityStatementRestResource } from 'fhir/r4';
import { SIGNING_ALGORITHMS } from './auth/client-assertion.js';

export const BULK_DATA_CAPABILITY = 'http://hl7.org/fhir/uv/bulkdata/CapabilityStatement/bulk-data';
const OPERATION = 'http://hl7.org/fhir/uv/bulkdata/OperationDefinition';

export interface CapabilityInput {
  fhirBase: string;
  /** undefined in open mode */
  tokenUrl?: string;
  /** resource types the mappings produce */
  resourceTypes: string[];
  version: string;
  date: string;
}

export function capabilityStatement(input: CapabilityInput): CapabilityStatement {
  const resources: CapabilityStatementRestResource[] = [
    {
      type: 'Group',
      interaction: [{ code: 'read' }, { code: 'search-type' }],
      searchParam: [
        { name: '_id', type: 'token' },
        { name: 'identifier', type: 'token' },
        { name: 'name', type: 'string' },
      ],
      operation: [{ name: 'export', definition: `${OPERATION}/group-export` }],
    },
    { type: 'Patient', operation: [{ name: 'export', definition: `${OPERATION}/patient-export` }] },
  ];
  for (const type of [...input.resourceTypes].sort()) {
    if (type !== 'Group' && type !== 'Patient') resources.push({ type: type as CapabilityStatementRestResource['type'] });
  }
  const rest: CapabilityStatement['rest'] = [
    {
      mode: 'server',
      documentation:
        'Bulk Data Access IG 2.0.0 $export over data mapped by fhir-bridge. Supported kick-off parameters: _outputFormat, _since, _type, _elements, patient (POST), _typeFilter (the subset documented in the fhir-bridge README), includeAssociatedData (LatestProvenanceResources, RelevantProvenanceResources).',
      resource: resources,
      operation: [{ name: 'export', definition: `${OPERATION}/export` }],
    },
  ];
  if (input.tokenUrl) {
    rest[0]!.security = {
      service: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/restful-security-service', code: 'SMART-on-FHIR' }] }],
      extension: [
        {
          url: 'http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris',
          extension: [{ url: 'token', valueUri: input.tokenUrl }],
        },
      ],
    };
  }
  return {
    resourceType: 'CapabilityStatement',
    status: 'active',
    date: input.date,
    kind: 'instance',
    instantiates: [BULK_DATA_CAPABILITY],
    software: { name: 'fhir-bridge', version: input.version },
    implementation: { description: 'fhir-bridge Bulk Data export server', url: input.fhirBase },
    fhirVersion: '4.0.1',
    format: ['json'],
    rest,
  };
}

/** SMART App Launch 2.0.0 conformance (`.well-known/smart-configuration`) for backend services. */
export function smartConfiguration(tokenUrl: string, resourceTypes: string[]): Record<string, unknown> {
  return {
    token_endpoint: tokenUrl,
    grant_types_supported: ['client_credentials'],
    token_endpoint_auth_methods_supported: ['private_key_jwt'],
    token_endpoint_auth_signing_alg_values_supported: [...SIGNING_ALGORITHMS],
    scopes_supported: ['system/*.read', 'system/*.rs', ...[...resourceTypes].sort().flatMap((t) => [`system/${t}.read`, `system/${t}.rs`])],
    capabilities: ['client-confidential-asymmetric', 'permission-v1', 'permission-v2'],
  };
}
