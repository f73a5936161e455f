// Element names in templates checked against the FHIR R4 model shipped with fhirpath.js, so that a typo
// (`birthdate`, `valueQuanity`) is a MappingError at its line instead of invalid resources at export time;
// and, where a value's type is known at compile time, whether the element can hold it (value-types.ts).
// Cardinality and what directives yield at run time are left to export-time validation.
import { createRequire } from 'node:module';
import type { Path } from './parse.js';
import { isPlainObject } from './lookups.js';
import { closest } from './suggest.js';
import { checkComplexValue, checkPrimitiveValue, isPrimitiveType } from './value-types.js';

const require = createRequire(import.meta.url);

interface Model {
  path2Type: Record<string, string | { code: string }>;
  pathsDefinedElsewhere: Record<string, string>;
  type2Parent: Record<string, string>;
}

let model: Model | undefined;
function r4(): Model {
  model ??= require('fhirpath/fhir-context/r4') as Model;
  return model;
}

/** Is `name` an R4 resource type? */
export function isResourceType(name: string): boolean {
  const m = r4();
  let t: string | undefined = name;
  while (t && t !== 'Resource') t = m.type2Parent[t];
  return t === 'Resource' && name !== 'DomainResource' && name !== 'Resource';
}

let resourceTypes: string[] | undefined;
export function allResourceTypes(): string[] {
  resourceTypes ??= Object.keys(r4().type2Parent).filter(isResourceType);
  return resourceTypes;
}

const BACKBONE = new Set(['BackboneElement', 'Element']);

/** Type or path whose children `name` is looked up in, and its type code; undefined when `name` is not an
 *  element of `ctx`. */
function child(ctx: string, name: string): { ctx: string | undefined; type: string } | undefined {
  const m = r4();
  let cur: string | undefined = ctx;
  const seen = new Set<string>();
  while (cur && !seen.has(cur)) {
    seen.add(cur);
    const key = `${cur}.${name}`;
    const t = m.path2Type[key];
    if (t !== undefined) {
      const code = typeof t === 'string' ? t : t.code;
      // Backbone elements are described by path (Observation.component.code), datatypes by type name.
      if (BACKBONE.has(code)) return { ctx: key, type: code };
      if (code === 'Resource' || code.startsWith('System.')) return { ctx: undefined, type: code };
      return { ctx: code, type: code };
    }
    const elsewhere = m.pathsDefinedElsewhere[key];
    if (elsewhere) return { ctx: elsewhere, type: 'BackboneElement' };
    // Inherited elements: a datatype's parent type, a resource's DomainResource/Resource; a backbone path
    // inherits BackboneElement's (extension, modifierExtension, id).
    cur = m.type2Parent[cur] ?? (cur.includes('.') ? 'BackboneElement' : undefined);
  }
  return undefined;
}

function elementsOf(ctx: string): string[] {
  const m = r4();
  const out = new Set<string>();
  let cur: string | undefined = ctx;
  while (cur) {
    const prefix = `${cur}.`;
    for (const k of Object.keys(m.path2Type)) {
      if (k.startsWith(prefix) && !k.slice(prefix.length).includes('.')) out.add(k.slice(prefix.length));
    }
    cur = m.type2Parent[cur] ?? (cur.includes('.') ? 'BackboneElement' : undefined);
  }
  return [...out];
}

export interface ElementProblem {
  path: Path;
  message: string;
  /** the problem is the key (an unknown element name), not its value */
  atKey?: boolean;
}

/** Unknown element names in a resource template and values their element cannot hold (directive results
 *  are not looked into). */
export function checkElements(resourceType: string, template: Record<string, unknown>, path: Path): ElementProblem[] {
  const out: ElementProblem[] = [];
  walkObject(resourceType, template, path, out, resourceType);
  return out;
}

function walkObject(ctx: string, obj: Record<string, unknown>, path: Path, out: ElementProblem[], fhirPath: string): void {
  for (const [name, v] of Object.entries(obj)) {
    if (name.startsWith('$')) continue;
    const base = name.startsWith('_') ? name.slice(1) : name;
    const c = child(ctx, base);
    if (!c) {
      const near = closest(base, elementsOf(ctx));
      out.push({
        path: [...path, name],
        message: `unknown element "${name}" in ${ctx}${near ? ` (did you mean "${near}"?)` : ''}`,
        atKey: true,
      });
      continue;
    }
    const element = `${fhirPath}.${base}`;
    // `_name` holds the primitive's id/extension
    if (name.startsWith('_')) walkValue('Element', v, [...path, name], out, element);
    else if (isPrimitiveType(c.type)) checkPrimitiveValue(element, c.type, v, [...path, name], out);
    else {
      if (c.type !== 'Resource') checkComplexValue(element, c.type, v, [...path, name], out);
      walkValue(c.ctx, v, [...path, name], out, element);
    }
  }
}

function walkValue(ctx: string | undefined, v: unknown, path: Path, out: ElementProblem[], fhirPath: string): void {
  if (ctx === undefined) return;
  if (Array.isArray(v)) {
    v.forEach((x, i) => {
      walkValue(ctx, x, [...path, i], out, fhirPath);
    });
    return;
  }
  if (!isPlainObject(v)) return;
  // Directives whose parts are element values of this same element.
  if ('$each' in v) {
    walkValue(ctx, v.$template, [...path, '$template'], out, fhirPath);
    return;
  }
  if ('$if' in v) {
    walkValue(ctx, v.$then, [...path, '$then'], out, fhirPath);
    walkValue(ctx, v.$else, [...path, '$else'], out, fhirPath);
    return;
  }
  if ('$first' in v) {
    walkValue(ctx, v.$first, [...path, '$first'], out, fhirPath);
    return;
  }
  // `$literal` is "as written": also the way around this check, should the model lack an element.
  if (Object.keys(v).some((k) => k.startsWith('$') && k !== '$when')) return;
  walkObject(ctx, v, path, out, fhirPath);
}
