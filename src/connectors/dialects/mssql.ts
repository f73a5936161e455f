// SQL Server: the descriptor. The adapter (mssql/tedious request streaming) is mssql-adapter.ts, imported
// only when an mssql connector is opened.
import { randomBytes } from 'node:crypto';
import type { DialectDescriptor } from '../dialect-descriptor.js';

export const mssql: DialectDescriptor = {
  name: 'mssql',
  aliases: ['sqlserver'],
  driverPackage: 'mssql',
  open: async (config) => (await import('./mssql-adapter.js')).openMssql(config),
  needs: 'connection',
  sql: { knexClient: 'mssql', bindDate: (iso) => iso.replace('T', ' ').replace('Z', '') },
  // a request carries at most 2100 parameters
  exportConcurrency: 2,
  maxBindParameters: 2_100,
  tableCatalogue: {
    sql: `select table_name as table_name from information_schema.tables where table_schema = schema_name() order by 1`,
    bindings: [],
  },
  // key_ordinal 0 marks INCLUDE columns, which cannot serve a seek
  indexCatalogue: (table) => ({
    sql:
      `select i.name as index_name, c.name as column_name from sys.indexes i ` +
      `join sys.index_columns ic on ic.object_id = i.object_id and ic.index_id = i.index_id ` +
      `join sys.columns c on c.object_id = ic.object_id and c.column_id = ic.column_id ` +
      `where i.object_id = object_id(@p0) and ic.key_ordinal > 0 order by i.index_id, ic.key_ordinal`,
    bindings: [table],
  }),
  testDatabase: {
    envVar: 'TEST_MSSQL_URL',
    example: "'mssql://sa:FhirBridge1!@127.0.0.1:1433/master?trustServerCertificate=true'",
    image: 'mssql',
    provision: async (url, name) => {
      const { default: driver } = await import('mssql');
      const { mssqlConfig } = await import('./mssql-adapter.js');
      const admin = async (sql: string): Promise<void> => {
        const pool = await new driver.ConnectionPool(mssqlConfig(url)).connect();
        try {
          await pool.request().batch(sql);
        } finally {
          await pool.close();
        }
      };
      await admin(`create database ${name}`);
      const u = new URL(url);
      u.pathname = `/${name}`;
      return {
        url: u.toString(),
        schema: name,
        cleanup: () => admin(`alter database ${name} set single_user with rollback immediate; drop database ${name}`),
      };
    },
    container: async (image) => {
      const { MSSQLServerContainer } = await import('@testcontainers/mssqlserver');
      // The module waits for 'Recovery is complete' for at most 2 minutes; a first start on a slow machine
      // needs longer. The password meets SQL Server's policy (upper, lower, digit, symbol).
      const c = await new MSSQLServerContainer(image)
        .acceptLicense()
        .withPassword(`Fb1!${randomBytes(6).toString('hex')}`)
        .withStartupTimeout(300_000)
        .start();
      const url = `mssql://${encodeURIComponent(c.getUsername())}:${encodeURIComponent(c.getPassword())}@${c.getHost()}:${c.getPort()}/master?trustServerCertificate=true`;
      return { url, stop: () => c.stop() };
    },
  },
};
