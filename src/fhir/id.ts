// The FHIR `id` datatype (R4 §2.24.0.1 "id": 1–64 of A-Z a-z 0-9 - .). One definition, because resource
// ids are checked where mappings make them, where kick-off parameters name patients, where `_typeFilter`
// compares references and where groups are declared.

/** The id characters as a regular-expression fragment (no anchors), for patterns that embed an id. */
export const FHIR_ID_PATTERN = '[A-Za-z0-9\\-.]{1,64}';

/** A whole string that is a valid FHIR id. */
export const FHIR_ID_RE = new RegExp(`^${FHIR_ID_PATTERN}$`);

export function isFhirId(value: string): boolean {
  return FHIR_ID_RE.test(value);
}
