import { hostname } from 'node:os';
import { describe, expect, it } from 'vitest';
import { databaseOnThisMachine } from './server-location.js';

describe('databaseOnThisMachine', () => {
  it('is true for a server at a loopback address, localhost, this host or a Unix socket', () => {
    for (const connection of [
      'postgres://postgres@127.0.0.1:5432/test',
      'postgres://postgres@localhost/test',
      'mysql://root@[::1]:3306/test',
      `postgres://u@${hostname()}/db`,
      'postgres://u@/db?host=/var/run/postgresql',
    ])
      expect(databaseOnThisMachine({ kind: connection.startsWith('mysql') ? 'mysql' : 'postgres', connection }), connection).toBe(true);
    expect(databaseOnThisMachine({ kind: 'mysql', connection: { socketPath: '/run/mysqld/mysqld.sock', user: 'root' } })).toBe(true);
    expect(databaseOnThisMachine({ kind: 'mssql', connection: { server: 'localhost', user: 'sa' } })).toBe(true);
    expect(databaseOnThisMachine({ kind: 'oracle', connection: { connectString: '127.0.0.1:1521/FREEPDB1' } })).toBe(true);
    expect(databaseOnThisMachine({ kind: 'postgres', connection: { user: 'postgres', database: 'test' } })).toBe(true);
  });

  it('is false for a server elsewhere, a file source, or a connection it cannot read', () => {
    expect(databaseOnThisMachine({ kind: 'postgres', connection: 'postgres://u@db.hospital.example:5432/ehr' })).toBe(false);
    expect(databaseOnThisMachine({ kind: 'mssql', connection: { server: '10.1.2.3', user: 'sa' } })).toBe(false);
    expect(databaseOnThisMachine({ kind: 'oracle', connection: { connectString: 'claims-db:1521/CLAIMS' } })).toBe(false);
    expect(databaseOnThisMachine({ kind: 'sqlite', connection: 'sample.sqlite' })).toBe(false);
    expect(databaseOnThisMachine({ kind: 'csv' })).toBe(false);
    expect(databaseOnThisMachine({ kind: 'postgres', connection: 'not a url' })).toBe(false);
  });
});
