// Shared by the validator's tests: one validator per test file (loading the definitions takes seconds),
// and the official examples of the shipped packages.
import { SHIPPED_PACKAGES } from '../../src/validation/conformance.js';
import { type FhirJson, type FhirPackage, readFhirPackage } from '../../src/validation/package-loader.js';
import { createValidator, type ProfileValidator } from '../../src/validation/validator.js';

let validator: Promise<ProfileValidator> | undefined;
export function sharedValidator(): Promise<ProfileValidator> {
  validator ??= createValidator();
  return validator;
}

let packages: Promise<FhirPackage[]> | undefined;
export function shippedPackages(): Promise<FhirPackage[]> {
  packages ??= Promise.all(SHIPPED_PACKAGES.map(readFhirPackage));
  return packages;
}

/** A fresh copy of an official example, by its file name in the package (`example/Patient-example.json`). */
export async function example(file: string): Promise<FhirJson> {
  for (const pkg of await shippedPackages()) {
    const found = pkg.examples.find((e) => e.file === file);
    if (found) return structuredClone(found.resource);
  }
  throw new Error(`no example ${file}`);
}
