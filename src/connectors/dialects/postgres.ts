// PostgreSQL: the descriptor. The adapter (pg + a server-side cursor) is postgres-adapter.ts, imported only
// when a postgres connector is opened.
import type { DialectDescriptor } from '../dialect-descriptor.js';

export const postgres: DialectDescriptor = {
  name: 'postgres',
  aliases: ['postgresql', 'pg'],
  driverPackage: 'pg',
  open: async (config) => (await import('./postgres-adapter.js')).openPostgres(config),
  needs: 'connection',
  holdsSample: true,
  sql: { knexClient: 'pg', foldIdentifier: (name) => name.toLowerCase() },
  exportConcurrency: 2,
  maxBindParameters: 65_535,
  tableCatalogue: {
    sql: `select table_name as table_name from information_schema.tables where table_schema = current_schema() order by 1`,
    bindings: [],
  },
  // to_regclass resolves the name through the session's search_path, as the adapter's queries do;
  // attnum 0 is an expression key.
  indexCatalogue: (table) => ({
    sql:
      `select i.indexrelid::text as index_name, a.attname as column_name ` +
      `from pg_index i cross join lateral unnest(i.indkey) with ordinality as k(attnum, ord) ` +
      `left join pg_attribute a on a.attrelid = i.indrelid and a.attnum = k.attnum ` +
      `where i.indrelid = to_regclass($1) order by i.indexrelid, k.ord`,
    bindings: [table.toLowerCase()],
  }),
  testDatabase: {
    envVar: 'TEST_POSTGRES_URL',
    example: 'postgres://postgres@127.0.0.1:5432/test',
    image: 'postgres',
    // a private schema, reached through search_path (in the URL for other clients, options.schema for the adapter)
    provision: async (url, name) => {
      const { default: pg } = await import('pg');
      const admin = async (sql: string): Promise<void> => {
        const client = new pg.Client({ connectionString: url });
        await client.connect();
        try {
          await client.query(sql);
        } finally {
          await client.end();
        }
      };
      await admin(`create schema ${name}`);
      const u = new URL(url);
      u.searchParams.set('options', `-c search_path=${name}`);
      return {
        url: u.toString(),
        schema: name,
        connector: { options: { schema: name } },
        cleanup: () => admin(`drop schema if exists ${name} cascade`),
      };
    },
    container: async (image) => {
      const { PostgreSqlContainer } = await import('@testcontainers/postgresql');
      const c = await new PostgreSqlContainer(image).start();
      return { url: c.getConnectionUri(), stop: () => c.stop() };
    },
  },
};
