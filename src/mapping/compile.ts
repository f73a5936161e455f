// One mapping document → CompiledMapping (its `$ref`s still to be linked by the set), in steps: compile the
// sections (source, children, lookups, search, resources), then assemble the mapping around `map`, the hot
// path: per resource a `when` test, an id, and the compiled template; failures become located RowIssues.
import type { Row } from '../connectors/types.js';
import type { SourceLocation } from '../errors.js';
import { makeLastUpdatedCoercer } from './coerce.js';
import { CompileContext, RowError, type ColumnUse, type Eval, type RefSlot } from './context.js';
import type { Zone } from './datetime.js';
import type { CompiledExpression } from './fhirpath.js';
import { canonicalKeyValue, compileIdTemplate, FHIR_ID_RE, hashId, type IdTemplate } from './ids.js';
import { allResourceTypes, checkElements, isResourceType } from './elements.js';
import { checkProfiles } from './profile-checks.js';
import { compileLookups, isPlainObject } from './lookups.js';
import { closest } from './suggest.js';
import type { ParsedDocument } from './parse.js';
import { checkKeys, compileChildren, compileSearch, compileSource, type CompiledSource } from './source.js';
import { parseTemplate } from './template.js';
import type { CompiledChild, CompiledMapping, CompiledResource, FhirResource, MapResult, RowIssue } from './types.js';
import { RESOURCE_KEYS, TOP_KEYS } from './vocabulary.js';
import { compileFhirPath, compileValue, OMIT, testCondition } from './values.js';
import { compiledFill, compiledKeyOf, type Fill, interpretedFill } from './codegen.js';

export interface MappingDraft {
  mapping: CompiledMapping;
  refs: RefSlot[];
  columns: ColumnUse[];
  /** where the name comes from (the `mapping:` value, or the document) */
  nameLocation: SourceLocation;
}

const ENGINE_FIELDS = ['resourceType', 'id'];

/** How templates run: generated code (codegen.ts), or the closure tree it is checked against. */
export type Engine = 'compiled' | 'interpreted';

interface ResourceRule {
  public: CompiledResource;
  resourceType: string;
  profiles: string[];
  when: CompiledExpression | undefined;
  whenLocation: SourceLocation;
  idTemplate: IdTemplate | undefined;
  idLocation: SourceLocation;
  names: string[];
  evals: Eval[];
  /** sets the template's elements (names/evals) on a resource: generated code, or the interpreter */
  fill: Fill;
  /** the template's own `meta` evaluator, merged with what the engine sets */
  meta: Eval | undefined;
}

/** What the sections of one document compile to, before they are put together into a CompiledMapping. */
interface Sections {
  name: string;
  location: SourceLocation;
  source: CompiledSource;
  children: CompiledChild[];
  search: Record<string, string>;
  rules: ResourceRule[];
}

export function compileDocument(
  doc: ParsedDocument,
  file: string,
  defaultName: string,
  zone: Zone,
  zoneName: string,
  engine: Engine = 'compiled',
): { draft?: MappingDraft; errors: CompileContext['errors']; name?: string } {
  const ctx = new CompileContext(file, doc, zone, zoneName);
  const sections = compileSections(ctx, defaultName, engine);
  if (!sections || ctx.errors.length > 0) return { errors: ctx.errors, ...(sections ? { name: sections.name } : {}) };
  const mapping = assembleMapping(sections, ctx);
  return { draft: { mapping, refs: ctx.refs, columns: ctx.columns, nameLocation: sections.location }, errors: [] };
}

/** Step 1: checks the document's keys and compiles each section; errors collect in `ctx`. */
function compileSections(ctx: CompileContext, defaultName: string, engine: Engine): Sections | undefined {
  const v = ctx.doc.value;
  if (!isPlainObject(v)) {
    ctx.error([], 'a mapping document is a map with mapping, source, resources, ...');
    return undefined;
  }
  checkKeys(ctx, v, TOP_KEYS, [], 'a mapping');
  let name = defaultName;
  if (v.mapping !== undefined) {
    if (typeof v.mapping !== 'string' || !/^[A-Za-z0-9_.-]+$/.test(v.mapping))
      ctx.error(['mapping'], 'mapping: expected a name of letters, digits, "_", "-" or "."');
    else name = v.mapping;
  }
  if (v.description !== undefined && typeof v.description !== 'string') ctx.error(['description'], 'expected text');
  const source = compileSource(ctx, v.source);
  const children = compileChildren(ctx, v.children);
  ctx.lookups = compileLookups(v.lookups, ctx.file, ctx);
  const search = compileSearch(ctx, v.search);
  const rules = compileResources(ctx, v.resources, source.key, engine);
  const location = v.mapping !== undefined ? ctx.at(['mapping']) : ctx.doc.location;
  return { name, location, source, children, search, rules };
}

/** Step 2: the CompiledMapping of sections that compiled without errors: ids, key records and `map`. */
function assembleMapping(sections: Sections, ctx: CompileContext): CompiledMapping {
  const { name, location, source, children, search, rules } = sections;
  const { file, zone } = ctx;
  const key = source.key;
  const ruleOfType = new Map<string, ResourceRule>();
  for (const r of rules) if (!ruleOfType.has(r.resourceType)) ruleOfType.set(r.resourceType, r);

  const canonicalKey = (values: readonly unknown[]): Array<string | undefined> => {
    const out: Array<string | undefined> = new Array(values.length);
    for (let i = 0; i < values.length; i++) out[i] = canonicalKeyValue(values[i], zone);
    return out;
  };
  const idOf = (rule: ResourceRule, canon: Array<string | undefined>): string | undefined => {
    if (rule.idTemplate) return rule.idTemplate.render(canon);
    let any = false;
    for (const c of canon) if (c !== undefined) any = true;
    if (!any) return undefined;
    return hashId(name, rule.resourceType, canon);
  };
  const keyOf =
    compiledKeyOf(key) ??
    ((row: Row): Record<string, unknown> => {
      const k: Record<string, unknown> = {};
      for (const c of key) k[c] = row[c] ?? null;
      return k;
    });

  return {
    name,
    file,
    location,
    source: {
      query: source.query,
      label: source.label,
      key,
      ...(source.patient ? { patient: source.patient } : {}),
      ...(source.lastUpdated ? { lastUpdated: source.lastUpdated } : {}),
      ...(source.deleted ? { deleted: source.deleted } : {}),
    },
    children,
    resources: rules.map((r) => r.public),
    search,
    resourceTypes: [...new Set(rules.map((r) => r.resourceType))],
    map: makeMap(sections, ctx, idOf, keyOf),
    keyOf,
    idFor(resourceType: string, values: unknown[]): string | undefined {
      const rule = ruleOfType.get(resourceType);
      if (!rule || values.length !== key.length) return undefined;
      const id = idOf(rule, canonicalKey(values));
      return id !== undefined && (!rule.idTemplate || FHIR_ID_RE.test(id)) ? id : undefined;
    },
    keyForId(resourceType: string, id: string): unknown[] | undefined {
      return ruleOfType.get(resourceType)?.idTemplate?.invert?.(id);
    },
  };
}

/** The hot path: one row (and its child rows) → resources and located row issues. */
function makeMap(
  { name, location, source, rules, children }: Sections,
  ctx: CompileContext,
  idOf: (rule: ResourceRule, canon: Array<string | undefined>) => string | undefined,
  keyOf: (row: Row) => Record<string, unknown>,
): CompiledMapping['map'] {
  const { zone } = ctx;
  const key = source.key;
  const label = source.label;
  // children whose rows carry their own last-updated column (not those whose changes are in another table)
  const trackedChildren = children.filter((c) => c.lastUpdated && !c.lastUpdated.table);
  const lastUpdated = source.lastUpdated || trackedChildren.length > 0 ? makeLastUpdatedCoercer(zone) : undefined;
  const lastUpdatedLocation = source.lastUpdated ? ctx.at(['source', 'lastUpdated']) : undefined;

  const toIssue = (e: unknown, rule: ResourceRule, row: Row): RowIssue => {
    const base = { severity: 'error' as const, mapping: name, table: label, key: keyOf(row), resourceType: rule.resourceType };
    if (e instanceof RowError) {
      return {
        ...base,
        code: e.code,
        message: e.message,
        ...(e.location ? { location: e.location } : {}),
        ...(e.column ? { column: e.column } : {}),
        ...(e.expression ? { expression: e.expression } : {}),
      };
    }
    return {
      ...base,
      code: 'processing',
      message: `unexpected failure: ${(e as Error)?.message ?? String(e)}`,
      location: rule.public.location,
    };
  };

  return (row: Row, childRows?: Record<string, Row[]>): MapResult => {
    const out: FhirResource[] = [];
    const issues: RowIssue[] = [];
    let canon: Array<string | undefined> | undefined;
    let matched = false;
    let updated: unknown;
    let updatedError: RowError | undefined;
    if (lastUpdated) {
      try {
        updated = source.lastUpdated ? lastUpdated(row[source.lastUpdated]) : undefined;
        // a resource made of child rows too changed when the latest of them did
        for (const child of trackedChildren) {
          for (const childRow of childRows?.[child.name] ?? []) {
            const t = lastUpdated(childRow[child.lastUpdated!.column]);
            if (t !== undefined && (updated === undefined || Date.parse(t as string) > Date.parse(updated as string))) updated = t;
          }
        }
      } catch (e) {
        updatedError = new RowError(
          'value',
          `${(e as Error).message} in column ${source.lastUpdated ?? 'lastUpdated of a child'}`,
          lastUpdatedLocation,
          undefined,
          source.lastUpdated,
        );
      }
    }
    for (const rule of rules) {
      try {
        if (rule.when && !testCondition(rule.when, row, undefined, rule.whenLocation, rule.resourceType)) continue;
        matched = true;
        if (updatedError) throw updatedError;
        if (!canon) {
          canon = new Array(key.length);
          for (let i = 0; i < key.length; i++) canon[i] = canonicalKeyValue(row[key[i]!], zone);
        }
        const id = idOf(rule, canon);
        if (id === undefined) {
          const missing = key.filter((_, i) => canon![i] === undefined);
          throw new RowError(
            'required',
            `row has no value for key column(s) ${missing.join(', ')} needed by the id`,
            rule.idLocation,
            `${rule.resourceType}.id`,
            missing[0],
          );
        }
        if (rule.idTemplate && !FHIR_ID_RE.test(id))
          throw new RowError(
            'value',
            `id ${JSON.stringify(id)} is not a valid FHIR id (1-64 of A-Z a-z 0-9 - .)`,
            rule.idLocation,
            `${rule.resourceType}.id`,
          );
        const res: Record<string, unknown> = { resourceType: rule.resourceType, id };
        let meta = rule.meta ? (rule.meta(row, undefined, childRows) as Record<string, unknown> | undefined) : undefined;
        if (rule.profiles.length > 0 || updated !== undefined) {
          if (!meta && updated !== undefined && rule.profiles.length > 0)
            meta = { lastUpdated: updated, profile: rule.profiles.slice() }; // the usual case, in one step
          else {
            meta = meta ? { ...meta } : {};
            if (updated !== undefined) meta.lastUpdated = updated;
            if (rule.profiles.length > 0) meta.profile = mergeProfiles(rule.profiles, meta.profile);
          }
        }
        if (meta) res.meta = meta;
        rule.fill(res, row, childRows);
        for (const prev of out) {
          if (prev.id === id && prev.resourceType === rule.resourceType) {
            throw new RowError(
              'processing',
              `row makes two ${rule.resourceType} resources with id ${id}: give the resources distinct "id" templates or exclusive "when" conditions`,
              rule.idLocation,
              `${rule.resourceType}.id`,
            );
          }
        }
        out.push(res as unknown as FhirResource);
      } catch (e) {
        // The issue accounts for the row: no "matched no resource" on top of it.
        matched = true;
        issues.push(toIssue(e, rule, row));
      }
    }
    if (!matched) {
      issues.push({
        severity: 'information',
        code: 'not-supported',
        message: 'row matched no resource (no resource\'s "when" holds)',
        mapping: name,
        location,
        table: label,
        key: keyOf(row),
      });
    }
    return { resources: out, issues };
  };
}

function mergeProfiles(engine: string[], template: unknown): string[] {
  // A fresh array per resource: resources never share objects (the pipeline may edit them).
  if (template === undefined) return engine.slice();
  const extra = Array.isArray(template) ? template : [template];
  return [...engine, ...extra.filter((p): p is string => typeof p === 'string' && !engine.includes(p))];
}

function compileResources(ctx: CompileContext, v: unknown, key: string[], engine: Engine): ResourceRule[] {
  if (!Array.isArray(v) || v.length === 0) {
    ctx.error(
      v === undefined ? [] : ['resources'],
      'mapping needs "resources": a list of { resourceType, profile?, id?, when?, template }',
    );
    return [];
  }
  const rules: ResourceRule[] = [];
  v.forEach((r, i) => {
    const p = ['resources', i];
    if (!isPlainObject(r)) {
      ctx.error(p, 'expected { resourceType, profile?, id?, when?, template }');
      return;
    }
    checkKeys(ctx, r, RESOURCE_KEYS, p, 'a resource');
    if (typeof r.resourceType !== 'string' || !/^[A-Z][A-Za-z]+$/.test(r.resourceType)) {
      ctx.error(r.resourceType === undefined ? p : [...p, 'resourceType'], 'resourceType: expected a FHIR resource type such as Patient');
      return;
    }
    const resourceType = r.resourceType;
    if (!isResourceType(resourceType)) {
      const near = closest(resourceType, allResourceTypes());
      ctx.error(
        [...p, 'resourceType'],
        `unknown resourceType "${resourceType}": expected an R4 resource type${near ? ` (did you mean "${near}"?)` : ''}`,
      );
      return;
    }
    const profiles: string[] = [];
    if (r.profile !== undefined && r.profile !== null) {
      const list = Array.isArray(r.profile) ? r.profile : [r.profile];
      list.forEach((u, j) => {
        if (typeof u !== 'string' || !/^\S+$/.test(u))
          ctx.error(Array.isArray(r.profile) ? [...p, 'profile', j] : [...p, 'profile'], 'expected a profile URL');
        else profiles.push(u);
      });
    }
    let idTemplate: IdTemplate | undefined;
    if (r.id !== undefined && r.id !== null) {
      const tpl = typeof r.id === 'string' ? parseTemplate(r.id) : 'id: expected a string template over key columns, e.g. "{Id}"';
      if (typeof tpl === 'string') ctx.error([...p, 'id'], tpl);
      else if (tpl.refs.length === 0)
        ctx.error([...p, 'id'], `id template ${JSON.stringify(r.id)} references no column: every row would get the same id`);
      else {
        const bad = tpl.refs.filter((ref) => ref.parent || !key.includes(ref.column));
        if (bad.length > 0)
          ctx.error(
            [...p, 'id'],
            `id template may only use key columns (${key.join(', ')}); ${bad.map((b) => `"${b.column}"`).join(', ')} is not one`,
          );
        else idTemplate = compileIdTemplate(tpl, key);
      }
    }
    const scope = { query: 'source', inEach: false, expression: resourceType };
    let when: CompiledExpression | undefined;
    if (typeof r.when === 'string') when = compileFhirPath(ctx, r.when, [...p, 'when'], scope);
    else if (r.when !== undefined) ctx.error([...p, 'when'], 'expected a FHIRPath condition over the row');
    const names: string[] = [];
    const evals: Eval[] = [];
    let meta: Eval | undefined;
    if (!isPlainObject(r.template)) {
      ctx.error(r.template === undefined ? p : [...p, 'template'], 'expected "template": the resource body as FHIR JSON in YAML');
    } else {
      const body = Object.fromEntries(Object.entries(r.template).filter(([k]) => !ENGINE_FIELDS.includes(k)));
      for (const e of checkElements(resourceType, body, [...p, 'template'])) ctx.error(e.path, e.message, e.atKey);
      for (const e of checkProfiles(resourceType, profiles, body, [...p, 'template'])) ctx.error(e.path, e.message, e.atKey);
      for (const [field, val] of Object.entries(r.template)) {
        const fp = [...p, 'template', field];
        if (ENGINE_FIELDS.includes(field)) {
          ctx.error(fp, `"${field}" is set by the engine${field === 'id' ? ' (use the resource\'s "id:" template)' : ''}`, true);
          continue;
        }
        if (field.startsWith('$')) {
          ctx.error(
            fp,
            `"${field}" cannot be used on the template itself${field === '$when' ? ': use the resource\'s "when:"' : ''}`,
            true,
          );
          continue;
        }
        const e = compileValue(ctx, val, fp, { ...scope, expression: `${resourceType}.${field}` });
        if (e === OMIT) continue;
        if (field === 'meta') meta = e;
        else {
          names.push(field);
          evals.push(e);
        }
      }
    }
    rules.push({
      public: { resourceType, profiles, location: ctx.at([...p, 'resourceType']), ...(idTemplate ? { idTemplate: r.id as string } : {}) },
      resourceType,
      profiles,
      when,
      whenLocation: ctx.at([...p, 'when'], true),
      idTemplate,
      idLocation: ctx.at(r.id === undefined ? [...p, 'resourceType'] : [...p, 'id']),
      names,
      evals,
      fill: (engine === 'compiled' ? compiledFill(names, evals) : undefined) ?? interpretedFill(names, evals),
      meta,
    });
  });
  // Two resources of one type with the default id and no `when` always collide.
  const seen = new Map<string, number>();
  rules.forEach((r, i) => {
    if (r.idTemplate || r.when) return;
    const prev = seen.get(r.resourceType);
    if (prev !== undefined)
      ctx.error(
        ['resources', i],
        `resources ${prev} and ${i} are both ${r.resourceType} with the default id: give them distinct "id" templates (e.g. "{Id}-a") or "when" conditions`,
      );
    else seen.set(r.resourceType, i);
  });
  return rules;
}
