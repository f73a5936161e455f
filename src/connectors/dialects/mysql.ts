// MySQL / MariaDB: the descriptor. The adapter (mysql2 streaming) is mysql-adapter.ts, imported only when a
// mysql connector is opened.
import type { DialectDescriptor } from '../dialect-descriptor.js';
import { splitTableName } from '../index-columns.js';

const utcText = (iso: string): string => iso.replace('T', ' ').replace('Z', '');

export const mysql: DialectDescriptor = {
  name: 'mysql',
  aliases: ['mariadb'],
  label: 'mysql (mariadb)',
  driverPackage: 'mysql2',
  open: async (config) => (await import('./mysql-adapter.js')).openMysql(config),
  needs: 'connection',
  holdsSample: true,
  sql: { knexClient: 'mysql2', bindDate: utcText },
  exportConcurrency: 2,
  maxBindParameters: 65_535,
  tableCatalogue: {
    sql: `select table_name as table_name from information_schema.tables where table_schema = database() order by 1`,
    bindings: [],
  },
  indexCatalogue: (table) => {
    const { schema, table: name } = splitTableName(table);
    return {
      sql:
        `select index_name as index_name, column_name as column_name from information_schema.statistics ` +
        `where table_schema = coalesce(?, database()) and table_name = ? order by index_name, seq_in_index`,
      bindings: [schema ?? null, name],
    };
  },
  testDatabase: {
    envVar: 'TEST_MARIADB_URL',
    example: 'mysql://root@127.0.0.1:3306/test',
    image: 'mariadb',
    provision: async (url, name) => {
      const { default: mysql2 } = await import('mysql2/promise');
      const admin = async (sql: string): Promise<void> => {
        const conn = await mysql2.createConnection({ uri: url.replace(/^mariadb:/, 'mysql:') });
        try {
          await conn.query(sql);
        } finally {
          await conn.end();
        }
      };
      await admin(`create database ${name} character set utf8mb4`);
      const u = new URL(url);
      u.pathname = `/${name}`;
      return { url: u.toString(), schema: name, cleanup: () => admin(`drop database if exists ${name}`) };
    },
    container: async (image) => {
      const { MariaDbContainer } = await import('@testcontainers/mariadb');
      const c = await new MariaDbContainer(image).start();
      return { url: c.getConnectionUri(true), stop: () => c.stop() };
    },
  },
};
