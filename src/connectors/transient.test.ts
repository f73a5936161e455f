import { describe, expect, it } from 'vitest';
import { connectorFailure } from './redact.js';
import { isTransientDriverError } from './transient.js';

const err = (message: string, code?: string): Error => Object.assign(new Error(message), code ? { code } : {});

describe('isTransientDriverError', () => {
  it.each([
    ['terminating connection due to administrator command', '57P01'],
    ['could not serialize access due to concurrent update', '40001'],
    ['deadlock detected', '40P01'],
    ['connection failure', '08006'],
    ['Connection terminated unexpectedly', undefined],
    ['timeout exceeded when trying to connect', undefined],
    ['Deadlock found when trying to get lock', 'ER_LOCK_DEADLOCK'],
    ['Connection lost: The server closed the connection.', 'PROTOCOL_CONNECTION_LOST'],
    ['read ECONNRESET', 'ECONNRESET'],
    ['connect ECONNREFUSED 127.0.0.1:5432', 'ECONNREFUSED'],
  ])('%s (%s) is worth a retry', (message, code) => {
    expect(isTransientDriverError(err(message, code))).toBe(true);
  });

  it.each([
    ['relation "visit" does not exist', '42P01'],
    ['password authentication failed for user "x"', '28P01'],
    ["Unknown column 'x' in 'field list'", 'ER_BAD_FIELD_ERROR'],
    ['syntax error at or near "selec"', '42601'],
  ])('%s (%s) is not', (message, code) => {
    expect(isTransientDriverError(err(message, code))).toBe(false);
  });

  it('is kept on the ConnectorError built from the driver error', () => {
    expect(connectorFailure('pg', 'table visit', err('deadlock detected', '40P01'), []).transient).toBe(true);
    expect(connectorFailure('pg', 'table visit', err('relation "visit" does not exist', '42P01'), []).transient).toBe(false);
  });
});
