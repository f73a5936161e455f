import { describe, expect, it } from 'vitest';
import { ConnectorError } from '../errors.js';
import { isMissingPackage } from './index.js';
import { connectorFailure, redactText, secretsOf } from './redact.js';

describe('secrets', () => {
  it('finds passwords in URLs (raw and decoded) and in nested settings', () => {
    expect(secretsOf('postgres://app:p%40ss@db/ehr').sort()).toEqual(['p%40ss', 'p@ss']);
    expect(secretsOf({ host: 'db', password: 'pw-one', options: { authentication: { token: 'tok-two' } } }).sort()).toEqual([
      'pw-one',
      'tok-two',
    ]);
    expect(secretsOf('postgres://app@db/ehr')).toEqual([]);
    expect(secretsOf('postgres://app:p@db/ehr')).toEqual([]); // too short to blank out of messages
  });

  it('removes them from driver messages, which are also shortened', () => {
    const err = connectorFailure('ehr', 'table patients', new Error('login failed for app with password p@ss'), ['p@ss']);
    expect(err).toBeInstanceOf(ConnectorError);
    expect(err.message).toBe('ehr: table patients: login failed for app with password ***');
    expect(err.cause).toBeUndefined();
    const knexStyle = new Error(`insert into t values ${'(?, ?), '.repeat(200)} - duplicate key value`);
    expect(connectorFailure('ehr', 'load', knexStyle, []).message).toBe('ehr: load: duplicate key value');
    expect(redactText('a-secret-b-secret', ['secret'])).toBe('a-***-b-***');
  });
});

describe('isMissingPackage', () => {
  it('recognises a missing driver package, not other import failures', () => {
    const missing = Object.assign(new Error("Cannot find package 'oracledb' imported from /x/oracle.js"), { code: 'ERR_MODULE_NOT_FOUND' });
    expect(isMissingPackage(missing, 'oracledb')).toBe(true);
    expect(isMissingPackage(missing, 'pg')).toBe(false);
    expect(isMissingPackage(new SyntaxError('Unexpected token'), 'oracledb')).toBe(false);
  });
});
