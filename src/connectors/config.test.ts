import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, MappingError } from '../errors.js';
import { loadConnectorConfig, parseConnectorConfig, redactConnection } from './config.js';
import { defaultConnectorFile } from './index.js';

const FILE = '/etc/fhir-bridge/connectors/test.yaml';

function fails(text: string, env: Record<string, string> = {}, file = FILE): ConfigError {
  try {
    parseConnectorConfig(text, file, env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('parseConnectorConfig', () => {
  it('fills ${VAR} and ${VAR:-default} from the environment', () => {
    const text = [
      'kind: postgres',
      'connection: postgres://app:${DB_PASSWORD}@${DB_HOST:-localhost}:5432/${DB_NAME:-ehr}',
      'name: ehr',
    ].join('\n');
    const config = parseConnectorConfig(text, FILE, { DB_PASSWORD: 's3cret', DB_NAME: 'prod' });
    expect(config.connection).toBe('postgres://app:s3cret@localhost:5432/prod');
    expect(config.name).toBe('ehr');
    expect(config.timezone).toBe('UTC');
  });

  it('names a missing variable and where it is used', () => {
    const err = fails('kind: postgres\nconnection:\n  host: db\n  password: "${DB_PASSWORD}"\n');
    expect(err.detail).toContain('DB_PASSWORD');
    expect(err.location).toEqual({ file: FILE, line: 4, column: 14 });
    expect(err.message).toMatch(/^\/etc\/fhir-bridge\/connectors\/test\.yaml:4:14: /);
  });

  it('resolves path and mappings against the file folder and defaults the name to the file name', () => {
    const config = parseConnectorConfig('kind: csv\npath: ../data\nmappings: ../mappings/ehr\ndelimiter: "|"\n', FILE, {});
    expect(config).toMatchObject({
      name: 'test',
      kind: 'csv',
      path: '/etc/fhir-bridge/data',
      mappings: ['/etc/fhir-bridge/mappings/ehr'],
      delimiter: '|',
      file: FILE,
    });
  });

  it('accepts kind aliases and tab as delimiter', () => {
    expect(parseConnectorConfig('kind: mariadb\nconnection: mysql://x@h/db\n', FILE, {}).kind).toBe('mysql');
    expect(parseConnectorConfig('kind: csv\npath: .\ndelimiter: tab\n', FILE, {}).delimiter).toBe('\t');
  });

  it('rejects an unknown key at its position', () => {
    const err = fails('kind: sqlite\npath: x.db\nconection: nope\n');
    expect(err.detail).toContain("unknown key 'conection'");
    expect(err.location).toMatchObject({ line: 3, column: 1 });
  });

  it('rejects values of the wrong type with their position', () => {
    expect(fails('kind: csv\npath: [a, b]\n').location).toMatchObject({ line: 2, column: 7 });
    expect(fails('kind: csv\npath: .\ndelimiter: ";;"\n').detail).toContain('single character');
    expect(fails('kind: csv\npath: .\ntimezone: Mars/Olympus\n').detail).toContain('IANA');
    expect(fails('kind: oracle9\nconnection: x\n').detail).toContain("unknown kind 'oracle9'");
    expect(fails('kind: postgres\nconnection: x\npool: { max: many }\n').detail).toContain('pool.max');
    expect(fails('kind: postgres\n').detail).toContain("needs 'connection'");
    expect(fails('path: x\n').detail).toContain("missing key 'kind'");
  });

  it('reports broken YAML with its line', () => {
    const err = fails('kind: csv\npath: "unterminated\n');
    expect(err.detail).toContain('invalid YAML');
    expect(err.location?.line).toBeGreaterThanOrEqual(2);
  });
});

describe('redactConnection', () => {
  it('never shows a password', () => {
    const text = redactConnection({ kind: 'postgres', connection: 'postgres://app:s3cret@db.example:5432/ehr?sslmode=require' });
    expect(text).toBe('postgres://app@db.example:5432/ehr');
    const obj = redactConnection({
      kind: 'mysql',
      connection: { host: 'db', port: 3306, user: 'app', password: 's3cret', database: 'ehr' },
    });
    expect(obj).toBe('mysql://app@db:3306/ehr');
    expect(obj).not.toContain('s3cret');
  });
});

describe('loadConnectorConfig', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'fbt-config-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('reads a file and reports a missing one as a ConfigError', async () => {
    const file = path.join(dir, 'c.yaml');
    await writeFile(file, 'kind: sqlite\npath: db/x.sqlite\n');
    expect((await loadConnectorConfig(file, {})).path).toBe(path.join(dir, 'db', 'x.sqlite'));
    await expect(loadConnectorConfig(path.join(dir, 'missing.yaml'))).rejects.toBeInstanceOf(ConfigError);
  });

  it('every mistake, also one found by a shared check, is a ConfigError (still a MappingError) with its position', () => {
    const err = fails('name: x\nkind: excel\n');
    expect(err).toBeInstanceOf(MappingError);
    expect(err.name).toBe('ConfigError');
    expect(err.location).toMatchObject({ file: FILE, line: 2, column: 7 });
  });

  it('pulls a fragment in with $include, located in the fragment file', async () => {
    const shared = 'fragments:\n  groups:\n    panel:\n      name: Panel\n      sql: SELECT PATIENT FROM ${PANEL_TABLE:-conditions}\n';
    await writeFile(path.join(dir, '_groups.yaml'), shared);
    const file = path.join(dir, 'inc.yaml');
    const config = parseConnectorConfig('kind: csv\npath: .\ngroups: { $include: _groups.yaml#groups }\n', file, {});
    expect(config.groups).toEqual({ panel: { name: 'Panel', sql: 'SELECT PATIENT FROM conditions' } });
    expect(
      parseConnectorConfig('kind: csv\npath: .\ngroups: { $include: _groups.yaml#groups }\n', file, { PANEL_TABLE: 'dx' }).groups,
    ).toMatchObject({ panel: { sql: 'SELECT PATIENT FROM dx' } });
  });

  it('an error inside a fragment names the fragment file:line:column and the connector that included it', async () => {
    const shared = 'fragments:\n  pool: { min: 1, max: lots }\n  env: "${NOT_SET}"\n';
    await writeFile(path.join(dir, '_bad.yaml'), shared);
    const file = path.join(dir, 'bad.yaml');
    const text = 'kind: postgres\nconnection: pg://x\npool: { $include: _bad.yaml#pool }\n';
    const err = fails(text, {}, file);
    expect(err.detail).toMatch(/pool\.max: expected a whole number/);
    expect(err.location).toEqual({ file: path.join(dir, '_bad.yaml'), line: 2, column: 24, includedFrom: { file, line: 3, column: 9 } });
    expect(err.message).toBe(`${path.join(dir, '_bad.yaml')}:2:24: pool.max: expected a whole number (included from ${file}:3:9)`);
    const envErr = fails('kind: postgres\nconnection: { $include: _bad.yaml#env }\n', {}, file);
    expect(envErr.location).toMatchObject({ file: path.join(dir, '_bad.yaml'), line: 3, column: 9 });
  });

  it('reports include cycles, unknown fragments and bad references where they are written', async () => {
    await writeFile(path.join(dir, '_a.yaml'), 'fragments:\n  x: { $include: _b.yaml#y }\n  z: 1\n');
    await writeFile(path.join(dir, '_b.yaml'), 'fragments:\n  y: { $include: _a.yaml#x }\n');
    const file = path.join(dir, 'cyc.yaml');
    const cycle = fails('kind: csv\npath: .\noptions: { $include: _a.yaml#x }\n', {}, file);
    expect(cycle.detail).toBe('$include cycle: _a.yaml#x → _b.yaml#y → _a.yaml#x');
    expect(cycle.location).toMatchObject({ file: path.join(dir, '_b.yaml'), line: 2, column: 18 });
    const unknown = fails('kind: csv\npath: .\noptions: { $include: _a.yaml#nope }\n', {}, file);
    expect(unknown.detail).toMatch(/unknown fragment "nope" in .*_a\.yaml: expected one of x, z/);
    expect(unknown.location).toMatchObject({ file, line: 3, column: 22 });
    expect(fails('kind: csv\npath: .\noptions: { $include: plain.yaml#x }\n', {}, file).detail).toMatch(/is not a fragment file/);
    expect(fails('kind: csv\npath: .\noptions: { $include: _a.yaml }\n', {}, file).detail).toMatch(/expected "<fragment file>#<name>"/);
    expect(fails('kind: csv\npath: .\noptions: { $include: _a.yaml#z, quote: x }\n', {}, file).detail).toMatch(/stands alone/);
  });

  it('loads every shipped connector file', async () => {
    const folder = path.dirname(defaultConnectorFile());
    const sqlite = await loadConnectorConfig(defaultConnectorFile(), {});
    expect(sqlite).toMatchObject({ kind: 'sqlite', sample: 'synthea', path: path.resolve(folder, '../.fhir-bridge/synthea.sqlite') });
    expect((await loadConnectorConfig(path.join(folder, 'synthea-csv.yaml'), {})).path).toBe(
      path.resolve(folder, '../samples/synthea-11pt/csv'),
    );
    const pg = await loadConnectorConfig(path.join(folder, 'synthea-postgres.yaml'), { FHIR_BRIDGE_POSTGRES_URL: 'postgres://u:p@h/d' });
    expect(pg.connection).toBe('postgres://u:p@h/d');
    const maria = await loadConnectorConfig(path.join(folder, 'synthea-mariadb.yaml'), {});
    expect(maria).toMatchObject({ kind: 'mysql', connection: 'mysql://root@127.0.0.1:3306/test' });
  });
});
