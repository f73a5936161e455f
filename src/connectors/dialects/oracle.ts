// Oracle: the descriptor. The adapter (node-oracledb Thin mode, ResultSet batches) is oracle-adapter.ts,
// imported only when an oracle connector is opened.
import { randomBytes } from 'node:crypto';
import type { DialectDescriptor } from '../dialect-descriptor.js';
import { splitTableName } from '../index-columns.js';

const upper = (name: string): string => name.toUpperCase();

interface OracleAdminConnection {
  execute(sql: string): Promise<unknown>;
  close(): Promise<void>;
}

async function adminConnection(settings: Record<string, unknown>): Promise<OracleAdminConnection> {
  const { default: oracledb } = await import('oracledb');
  return (await oracledb.getConnection(settings)) as OracleAdminConnection;
}

export const oracle: DialectDescriptor = {
  name: 'oracle',
  aliases: ['oracledb'],
  driverPackage: 'oracledb',
  open: async (config) => (await import('./oracle-adapter.js')).openOracle(config),
  needs: 'connection',
  // the adapter sets NLS_DATE_FORMAT to 'YYYY-MM-DD HH24:MI:SS', through which Oracle compares text with a DATE
  sql: { knexClient: 'oracledb', foldIdentifier: upper, bindDate: (iso) => iso.slice(0, 19).replace('T', ' ') },
  exportConcurrency: 2,
  maxBindParameters: 65_535,
  // ORA-01795: at most 1000 expressions in a list
  maxInList: 1_000,
  tableCatalogue: {
    sql:
      `select object_name as "table_name" from all_objects where owner = sys_context('USERENV', 'CURRENT_SCHEMA') ` +
      `and object_type in ('TABLE', 'VIEW') order by 1`,
    bindings: [],
  },
  indexCatalogue: (table) => {
    const { schema, table: name } = splitTableName(table, upper);
    return {
      sql:
        `select index_name as "index_name", column_name as "column_name" from all_ind_columns ` +
        `where table_owner = coalesce(:1, sys_context('USERENV', 'CURRENT_SCHEMA')) and table_name = :2 ` +
        `order by index_name, column_position`,
      bindings: [schema ?? null, name],
    };
  },
  testDatabase: {
    envVar: 'TEST_ORACLE_URL',
    example: 'oracle://system:fhir-bridge@127.0.0.1:1521/FREEPDB1',
    image: 'oracle',
    // A schema is a user. When the URL's user may create users (SYSTEM), the test gets a private one, dropped
    // by cleanup(); otherwise (an APP_USER) tests share the URL's schema, so Oracle tests always name their
    // tables with the `schema` prefix.
    provision: async (url, name) => {
      const { oracleConfig } = await import('./oracle-adapter.js');
      const admin = async (...statements: string[]): Promise<void> => {
        const conn = await adminConnection(oracleConfig(url));
        try {
          for (const statement of statements) await conn.execute(statement);
        } finally {
          await conn.close();
        }
      };
      const password = `Fb${randomBytes(8).toString('hex')}`;
      try {
        await admin(
          `create user ${name} identified by "${password}" quota unlimited on users`,
          `grant create session, create table to ${name}`,
        );
      } catch {
        await admin(`drop user ${name} cascade`).catch(() => undefined);
        return { url, schema: name, cleanup: async () => undefined };
      }
      // lets the tests watch their statements from the server side (v$sql); they skip that part without it
      await admin(`grant select any dictionary to ${name}`).catch(() => undefined);
      const u = new URL(url);
      u.username = name;
      u.password = password;
      return { url: u.toString(), schema: name, cleanup: () => admin(`drop user ${name} cascade`) };
    },
    container: async (image) => {
      const { GenericContainer, Wait } = await import('testcontainers');
      const password = `Fb${randomBytes(6).toString('hex')}`;
      const c = await new GenericContainer(image)
        .withEnvironment({ ORACLE_PASSWORD: password, APP_USER: 'fhirbridge', APP_USER_PASSWORD: password })
        .withExposedPorts(1521)
        .withWaitStrategy(Wait.forLogMessage('DATABASE IS READY TO USE!'))
        .withStartupTimeout(300_000)
        .start();
      const where = `${c.getHost()}:${c.getMappedPort(1521)}/FREEPDB1`;
      // Lets the tests watch their statements from the server side (v$sql): APP_USER only has CONNECT and
      // RESOURCE, SYSTEM may grant more. Without it those checks skip, so a failure here is not fatal.
      await (async () => {
        const system = await adminConnection({ user: 'system', password, connectString: where });
        try {
          await system.execute('grant select any dictionary to fhirbridge');
        } finally {
          await system.close();
        }
      })().catch(() => undefined);
      return { url: `oracle://fhirbridge:${password}@${where}`, stop: () => c.stop() };
    },
  },
};
