// Shapes shared by the $export modules (parameters, jobs, manifest). The HTTP edge turns requests into
// these; the job store persists them; the job runner turns them into a pipeline ExportRequest.
import type { OperationOutcome, OperationOutcomeIssue } from 'fhir/r4';

export type ExportLevel = 'system' | 'patient' | 'group';

/** The kick-off parameters after parsing and validation, as stored with the job. */
export interface ExportParams {
  /** always application/fhir+ndjson: the only format written */
  outputFormat: 'application/fhir+ndjson';
  /** `_since` as an ISO instant */
  since?: string;
  /** `_type`: resource types to export (already narrowed to what the client may see) */
  types: string[];
  /** `_elements`, as given (`Patient.id` or `id`) */
  elements?: string[];
  /** `patient`: FHIR Patient ids */
  patients?: string[];
  /** `_typeFilter` queries that were accepted (`Observation?code=1234-5`) */
  typeFilters?: string[];
  /** `includeAssociatedData` values that were accepted */
  includeAssociatedData?: string[];
}

/** A parameter ignored under `Prefer: handling=lenient`; written as one OperationOutcome to the error file. */
export type IgnoredParameter = OperationOutcomeIssue;

export type JobStatus = 'queued' | 'running' | 'completed' | 'failed' | 'cancelled' | 'expired';

export interface ManifestFile {
  type: string;
  url: string;
  count?: number;
}

/** The Complete Status body of Bulk Data Access IG 2.0.0 (export.html#response---complete-status). */
export interface ExportManifest {
  transactionTime: string;
  request: string;
  requiresAccessToken: boolean;
  output: ManifestFile[];
  deleted?: ManifestFile[];
  error: ManifestFile[];
  extension?: Record<string, unknown>;
}

export interface ExportJob {
  id: string;
  /** the client that kicked it off (null in open mode) */
  clientId: string | null;
  status: JobStatus;
  level: ExportLevel;
  groupId?: string;
  /** full URL of the kick-off request (without parameters for POST) */
  requestUrl: string;
  /** public base URL (scheme://host[:port]) file URLs are built on */
  baseUrl: string;
  params: ExportParams;
  /** parameters ignored under handling=lenient */
  ignored: IgnoredParameter[];
  /** patient-compartment source keys the export is limited to (Group members, `patient`) */
  patientKeys?: unknown[];
  createdAt: string;
  transactionTime?: string;
  startedAt?: string;
  finishedAt?: string;
  expiresAt?: string;
  progress?: string;
  manifest?: ExportManifest;
  error?: OperationOutcome;
  /** how many times a run was started (a restart re-runs an interrupted job) */
  attempts: number;
  /** the server instance holding the job (queued or running there); absent: nobody, anyone may take it */
  owner?: string;
  /** until when `owner` holds it unless it renews (ISO instant); after that another instance may take it over */
  leaseExpiresAt?: string;
}

/** What a kick-off stores; the store fills in status, timestamps and attempts. */
export type NewJob = Pick<
  ExportJob,
  'id' | 'clientId' | 'level' | 'groupId' | 'requestUrl' | 'baseUrl' | 'params' | 'ignored' | 'patientKeys'
>;
