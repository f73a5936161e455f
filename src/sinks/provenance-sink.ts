// LatestProvenanceResources / RelevantProvenanceResources when no mapping produces Provenance: the source
// keeps no history, so one Provenance per batch of exported resources (this export assembled them from the
// source) is both the latest and all the relevant provenance.
import { randomUUID } from 'node:crypto';
import type { Provenance } from 'fhir/r4';
import type { FhirResource } from '../mapping/types.js';
import type { ResourceSink } from './types.js';

export interface ProvenanceOptions {
  /** Provenance.recorded: the export's transaction time */
  recorded: string;
  /** connector name, for Provenance.entity */
  sourceName: string;
}

const BATCH = 500;

export function provenanceSink(inner: ResourceSink, options: ProvenanceOptions): ResourceSink {
  let targets: string[] = [];
  const flush = async (): Promise<void> => {
    if (targets.length === 0) return;
    const provenance: Provenance & FhirResource = {
      resourceType: 'Provenance',
      id: randomUUID(),
      target: targets.map((reference) => ({ reference })),
      recorded: options.recorded,
      activity: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-DataOperation', code: 'CREATE', display: 'create' }] },
      agent: [
        {
          type: {
            coding: [
              { system: 'http://terminology.hl7.org/CodeSystem/provenance-participant-type', code: 'assembler', display: 'Assembler' },
            ],
          },
          who: { display: 'fhir-bridge' },
        },
      ],
      entity: [{ role: 'source', what: { display: `source ${options.sourceName}` } }],
    };
    targets = [];
    await inner.write(provenance);
  };
  return {
    async write(resource) {
      await inner.write(resource);
      if (resource.resourceType === 'Provenance') return;
      targets.push(`${resource.resourceType}/${resource.id}`);
      if (targets.length >= BATCH) await flush();
    },
    writeError: (outcome) => inner.writeError(outcome),
    ...(inner.writeDeleted ? { writeDeleted: (bundle) => inner.writeDeleted!(bundle) } : {}),
    async close() {
      await flush();
      return inner.close();
    },
    abort: () => inner.abort(),
  };
}
