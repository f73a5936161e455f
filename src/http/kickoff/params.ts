// Reads the kick-off parameters of a Bulk Data $export request (IG 2.0.0, export.html#query-parameters)
// from a GET query string or a POST Parameters resource. This step knows the syntax only; what the
// source can do (_type support, _typeFilter translation, patient existence) is checked in resolve.ts.
//
// Two kinds of problems: an *invalid* value (a `_since` that is not an instant, an unknown resource
// type, an unsupported `_outputFormat`) is always a 400; an *unsupported* parameter (unknown name,
// `patient` on a GET, a custom includeAssociatedData value) is a 400 too, unless the client sent
// `Prefer: handling=lenient`, in which case it is ignored and reported in the manifest's error file.
import type { OperationOutcomeIssue } from 'fhir/r4';
import { HttpError } from '../../errors.js';
import { FHIR_ID_PATTERN } from '../../fhir/id.js';
import type { ExportLevel, IgnoredParameter } from '../../jobs/types.js';
import { MAX_IN_LIST } from '../../pipeline/plan.js';

export const NDJSON_FORMATS = ['application/fhir+ndjson', 'application/ndjson', 'ndjson'];
export const PROVENANCE_VALUES = ['LatestProvenanceResources', 'RelevantProvenanceResources'];

/** Parameters whose values are comma-delimited lists; repeats are joined (IG: "as if they were comma
 *  delimited values within a single instance of the parameter"). */
const LIST_PARAMS = new Set(['_type', '_elements', '_typeFilter', 'includeAssociatedData', 'patient']);
const SINGLE_PARAMS = new Set(['_outputFormat', '_since']);
const KNOWN_PARAMS = new Set([...LIST_PARAMS, ...SINGLE_PARAMS]);

// FHIR R4 `instant` (datatypes.html#instant): seconds and a zone are required.
const INSTANT_RE =
  /^([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)-(0[1-9]|1[0-2])-(0[1-9]|[1-2][0-9]|3[0-1])T([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?(Z|(\+|-)((0[0-9]|1[0-3]):[0-5][0-9]|14:00))$/;
/** Most search values (`code=a,b,c` counts 3) all `_typeFilter` queries of one kick-off may carry. */
export const MAX_TYPE_FILTER_VALUES = MAX_IN_LIST;
const ELEMENT_RE = /^(?:([A-Z][A-Za-z]+)\.)?([a-z][A-Za-z0-9]*(?:\[x\])?)$/;
const PATIENT_REF_RE = new RegExp(`(?:^|/)Patient/(${FHIR_ID_PATTERN})(?:/_history/[^/]+)?$`);
/** search result parameters the IG forbids inside `_typeFilter` */
const FORBIDDEN_IN_TYPE_FILTER = new Set([
  '_include',
  '_revinclude',
  '_sort',
  '_count',
  '_elements',
  '_summary',
  '_total',
  '_contained',
  '_containedType',
]);

export interface RawKickoffParams {
  outputFormat: 'application/fhir+ndjson';
  since?: string;
  types?: string[];
  elements?: string[];
  patients?: string[];
  typeFilters?: string[];
  includeAssociatedData?: string[];
  /** parameters dropped under handling=lenient */
  ignored: IgnoredParameter[];
}

export interface KickoffSource {
  method: 'GET' | 'POST';
  /** the parsed query string (fastify gives repeated keys as arrays) */
  query: Record<string, unknown>;
  /** the POST body (a Parameters resource), if any */
  body?: unknown;
  level: ExportLevel;
  lenient: boolean;
  /** every R4 resource type name */
  knownTypes: ReadonlySet<string>;
}

/** The preference tokens of `Prefer` headers (RFC 7240): `respond-async, handling=lenient` → both. */
function preferences(prefer: string | string[] | undefined): string[] {
  const values = Array.isArray(prefer) ? prefer : prefer ? [prefer] : [];
  return values.flatMap((v) => v.split(/[,;]/)).map((token) => token.trim().toLowerCase().replace(/\s+/g, ''));
}

/**
 * The kick-off headers (IG 2.0.0, export.html#headers). `Prefer: respond-async` is the only answer mode
 * we have and `application/fhir+json` the only format of the OperationOutcome we answer with; when a
 * header is missing "the server MAY return an error or MAY process the request as if" it were sent.
 * We refuse a missing Prefer (as the reference server does: a client that does not ask for the async
 * pattern does not expect a 202), and an Accept that does not allow application/fhir+json. A missing
 * Accept is taken as application/fhir+json, as the IG allows.
 */
export function checkKickoffHeaders(headers: { prefer?: string | string[]; accept?: string | string[] }): void {
  if (!preferences(headers.prefer).includes('respond-async')) {
    throw new HttpError(
      400,
      'a kick-off request needs the header "Prefer: respond-async" (IG: Bulk Data Kick-off Request, Headers)',
      'invalid',
    );
  }
  const accept = Array.isArray(headers.accept) ? headers.accept.join(',') : headers.accept;
  if (accept !== undefined && !accept.split(',').some((range) => range.split(';')[0]!.trim().toLowerCase() === 'application/fhir+json')) {
    throw new HttpError(
      400,
      `Accept: "${accept}" is not supported; a kick-off request answers with application/fhir+json only (send "Accept: application/fhir+json")`,
      'invalid',
    );
  }
}

/** `Prefer: respond-async, handling=lenient` → true */
export function isLenient(prefer: string | string[] | undefined): boolean {
  return preferences(prefer).includes('handling=lenient');
}

/** Whether the date part of a FHIR instant names a real day (no 02-30, no 04-31). */
function dayExists(instant: string): boolean {
  const [y, m, d] = instant.slice(0, 10).split('-').map(Number) as [number, number, number];
  return d <= new Date(Date.UTC(y, m, 0)).getUTCDate();
}

/** Reports problems: invalid ones throw, unsupported ones throw unless lenient. */
export class ParameterProblems {
  readonly ignored: IgnoredParameter[] = [];
  constructor(readonly lenient: boolean) {}

  invalid(param: string, message: string): never {
    throw new HttpError(400, `${param}: ${message}`, 'invalid');
  }

  /** Returns normally (the caller drops the value) only under handling=lenient. */
  unsupported(param: string, message: string, code: OperationOutcomeIssue['code'] = 'not-supported'): void {
    const text = `${param}: ${message}`;
    if (!this.lenient) {
      throw new HttpError(400, `${text} (send "Prefer: handling=lenient" to have it ignored instead)`, code);
    }
    this.ignored.push({ severity: 'warning', code, diagnostics: `Ignored under handling=lenient: ${text}`, expression: [param] });
  }
}

export function parseKickoffParams(src: KickoffSource, problems: ParameterProblems = new ParameterProblems(src.lenient)): RawKickoffParams {
  const raw = collect(src, problems);
  const out: RawKickoffParams = { outputFormat: 'application/fhir+ndjson', ignored: problems.ignored };

  const format = raw.get('_outputFormat');
  if (format) {
    const value = single('_outputFormat', format, problems).trim().toLowerCase();
    if (!NDJSON_FORMATS.includes(value)) {
      problems.invalid('_outputFormat', `"${value}" is not supported; use one of ${NDJSON_FORMATS.join(', ')}`);
    }
  }

  const since = raw.get('_since');
  if (since) {
    const value = single('_since', since, problems).trim();
    if (!INSTANT_RE.test(value) || Number.isNaN(Date.parse(value))) {
      problems.invalid('_since', `"${value}" is not a FHIR instant (e.g. 2024-01-31T00:00:00Z: date, time with seconds and a time zone)`);
    }
    // Date.parse rolls an impossible day over (2024-02-31 becomes March 2): refuse it instead.
    if (!dayExists(value)) problems.invalid('_since', `"${value}" is not a date that exists`);
    // A _since in the future selects nothing and is almost always a client clock or time zone error
    // (the reference server refuses it too): say so rather than export nothing.
    if (Date.parse(value) > Date.now()) problems.invalid('_since', `"${value}" is later than the server's current time`);
    out.since = new Date(value).toISOString();
  }

  const types = raw.get('_type');
  if (types) {
    out.types = unique(types.map((t) => t.trim()).filter(Boolean));
    // `_type=` would otherwise mean "no type filter" by accident: a parameter given must name a type.
    if (out.types.length === 0) problems.invalid('_type', 'names no resource type (omit _type to export every type)');
    for (const type of out.types) {
      if (!src.knownTypes.has(type)) problems.invalid('_type', `"${type}" is not a FHIR R4 resource type`);
    }
  }

  const elements = raw.get('_elements');
  if (elements) {
    out.elements = [];
    for (const element of unique(elements.map((e) => e.trim()).filter(Boolean))) {
      const m = ELEMENT_RE.exec(element);
      if (!m) {
        problems.invalid('_elements', `"${element}" must be [resource type].[element] or [element], root elements only`);
      }
      if (m[1] && !src.knownTypes.has(m[1])) problems.invalid('_elements', `"${m[1]}" in "${element}" is not a FHIR R4 resource type`);
      out.elements.push(element);
    }
  }

  const patients = raw.get('patient');
  if (patients) {
    if (src.level === 'system') {
      problems.unsupported('patient', 'not applicable to a system-level export (use [base]/Patient/$export or [base]/Group/[id]/$export)');
    } else if (src.method !== 'POST') {
      problems.unsupported('patient', 'is only accepted in a POST kick-off (a Parameters resource with valueReference entries)');
    } else {
      out.patients = unique(
        patients.map((ref) => {
          const m = PATIENT_REF_RE.exec(ref.trim());
          if (!m) problems.invalid('patient', `"${ref}" is not a Patient reference (Patient/[id])`);
          return m[1]!;
        }),
      );
    }
  }

  const filters = raw.get('_typeFilter');
  if (filters) {
    out.typeFilters = [];
    let values = 0;
    for (const query of unique(filters.map((f) => f.trim()).filter(Boolean))) {
      const q = query.indexOf('?');
      const type = q > 0 ? query.slice(0, q) : '';
      if (!src.knownTypes.has(type) || q === query.length - 1) {
        problems.invalid('_typeFilter', `"${query}" must be [resource type]?[search parameters]`);
      }
      for (const [name, value] of new URLSearchParams(query.slice(q + 1))) {
        if (FORBIDDEN_IN_TYPE_FILTER.has(name.split(':')[0]!)) {
          problems.invalid('_typeFilter', `"${name}" is a search result parameter, which the IG forbids in _typeFilter`);
        }
        values += value.split(',').length;
      }
      // Each value becomes an SQL bind variable: tens of thousands of codes pass here but kill the job
      // later ("too many SQL variables"; Oracle takes at most 1000 per IN). Refuse them up front.
      if (values > MAX_TYPE_FILTER_VALUES) {
        throw new HttpError(
          400,
          `_typeFilter: more than ${MAX_TYPE_FILTER_VALUES} search values in all (split the export, or use a Group)`,
          'too-costly',
        );
      }
      out.typeFilters.push(query);
    }
  }

  const associated = raw.get('includeAssociatedData');
  if (associated) {
    out.includeAssociatedData = [];
    for (const value of unique(associated.map((v) => v.trim()).filter(Boolean))) {
      if (PROVENANCE_VALUES.includes(value)) out.includeAssociatedData.push(value);
      else problems.unsupported('includeAssociatedData', `value "${value}" is not supported (supported: ${PROVENANCE_VALUES.join(', ')})`);
    }
    if (out.includeAssociatedData.length === 0) delete out.includeAssociatedData;
  }
  return out;
}

/** Name → values, from the query string and (POST) the Parameters body; list params split on commas. */
function collect(src: KickoffSource, problems: ParameterProblems): Map<string, string[]> {
  const entries: Array<[string, string]> = [];
  for (const [name, value] of Object.entries(src.query)) {
    for (const v of Array.isArray(value) ? value : [value]) {
      if (v !== undefined && v !== null) entries.push([name, String(v)]);
    }
  }
  if (src.method === 'POST' && src.body !== undefined && src.body !== null && src.body !== '') {
    entries.push(...parametersResource(src.body, problems));
  }
  const out = new Map<string, string[]>();
  for (const [name, value] of entries) {
    if (!KNOWN_PARAMS.has(name)) {
      problems.unsupported(name, 'unknown kick-off parameter');
      continue;
    }
    const values = name === '_typeFilter' ? splitTypeFilter(value) : LIST_PARAMS.has(name) ? value.split(',') : [value];
    out.set(name, [...(out.get(name) ?? []), ...values]);
  }
  return out;
}

/** `_typeFilter` queries are comma-separated, but a query's own values may hold commas (`code=a,b`):
 *  a new query starts only where a comma is followed by `ResourceType?`. */
export function splitTypeFilter(value: string): string[] {
  return value.split(/,(?=[A-Z][A-Za-z]+\?)/);
}

function parametersResource(body: unknown, problems: ParameterProblems): Array<[string, string]> {
  const b = body as { resourceType?: unknown; parameter?: unknown };
  if (typeof b !== 'object' || b.resourceType !== 'Parameters') {
    problems.invalid('body', 'a POST kick-off must carry a FHIR Parameters resource (Content-Type: application/fhir+json)');
  }
  if (b.parameter === undefined) return [];
  if (!Array.isArray(b.parameter)) problems.invalid('Parameters.parameter', 'must be an array');
  const out: Array<[string, string]> = [];
  (b.parameter as Array<Record<string, unknown>>).forEach((p, i) => {
    const name = p?.name;
    if (typeof name !== 'string') problems.invalid(`Parameters.parameter[${i}]`, 'has no name');
    let value: unknown;
    if (name === 'patient') {
      value = (p.valueReference as { reference?: unknown } | undefined)?.reference ?? p.valueString;
    } else {
      const key = Object.keys(p).find((k) => k.startsWith('value'));
      value = key ? p[key] : undefined;
    }
    if (typeof value !== 'string') {
      problems.invalid(
        `Parameters.parameter[${i}] (${name})`,
        name === 'patient' ? 'needs a valueReference with a reference' : 'needs a string value (valueString, valueInstant, valueCode...)',
      );
    }
    out.push([name, value]);
  });
  return out;
}

function single(param: string, values: string[], problems: ParameterProblems): string {
  if (values.length > 1) problems.invalid(param, 'may be given only once');
  return values[0]!;
}

function unique<T>(values: T[]): T[] {
  return [...new Set(values)];
}
