// The profile validator's public surface (see types.ts for the issue shape, README "Validation").
export type { Conformance, ConformanceOptions, StructureDefinition } from './conformance.js';
export { loadConformance, SHIPPED_PACKAGES } from './conformance.js';
export type { CoverageRow } from './must-support.js';
export { MustSupportCoverage, mustSupportCoverage } from './must-support.js';
export type { FhirJson, FhirPackage } from './package-loader.js';
export { readFhirPackage, FhirPackageError } from './package-loader.js';
export type { IssueCode, IssueSeverity, ValidationIssue, Validator } from './types.js';
export { createValidator, ProfileValidator } from './validator.js';
export type { OutputReport } from './validate-ndjson.js';
export { validateNdjsonFolder } from './validate-ndjson.js';
