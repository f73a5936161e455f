// What the database-server adapters (PostgreSQL, MySQL/MariaDB, SQL Server, Oracle) share: errors that
// name the connector and never carry the connection's secrets, and the loop that hands out a driver's row
// stream as Rows until the end, a break, an abort or a failure.
import { ConnectorError } from '../errors.js';
import { throwIfAborted } from './normalise.js';
import { connectorFailure, redactConnection, secretsOf } from './redact.js';
import { buildSelect, queryLabel, type BuiltQuery, type SqlDialect } from './sql-builder.js';
import type { ConnectorConfig, Row, SourceQuery, StreamOptions } from './types.js';

/** One driver result stream, as ServerAdapter.drain reads it. */
export interface DriverRows<T> {
  /** the table or query, for errors */
  what: string;
  rows: AsyncIterable<T>;
  normalise(raw: T): Row;
  signal: AbortSignal | undefined;
  /** stops the driver when the signal fires while a row is awaited */
  abort(): void;
  /** runs however the loop ended: `complete` when every row was read, `failure` when the driver failed */
  finish(complete: boolean, failure: unknown): void | Promise<void>;
}

export abstract class ServerAdapter {
  readonly name: string;
  /** passwords etc. of the connection, scrubbed from every error */
  protected readonly secrets: string[];
  /** the connection without secrets, for errors */
  protected readonly where: string;

  constructor(config: ConnectorConfig) {
    this.name = config.name;
    this.secrets = secretsOf(config.connection);
    this.where = redactConnection(config);
  }

  /** A driver error while doing `what`, as a ConnectorError without secrets. */
  protected failure(what: string, err: unknown): ConnectorError {
    return connectorFailure(this.name, what, err, this.secrets);
  }

  protected cannotConnect(what: string, err: unknown): ConnectorError {
    return this.failure(`cannot connect to ${this.where} (for ${what})`, err);
  }

  /** The rows of one result; an abort ends it with the signal's reason, a driver error as a ConnectorError. */
  protected async *drain<T>(driver: DriverRows<T>): AsyncGenerator<Row> {
    const { signal } = driver;
    signal?.addEventListener('abort', driver.abort, { once: true });
    let complete = false;
    let failure: unknown;
    try {
      for await (const raw of driver.rows) {
        throwIfAborted(signal);
        yield driver.normalise(raw);
      }
      complete = true;
    } catch (err) {
      if (signal?.aborted) throw signal.reason ?? err;
      failure = err;
      throw this.failure(driver.what, err);
    } finally {
      signal?.removeEventListener('abort', driver.abort);
      await driver.finish(complete, failure);
    }
  }
}

/** A stream's statement, built before a connection is taken: a bad query or an aborted signal fails first. */
export function streamStatement(
  dialect: SqlDialect,
  query: SourceQuery,
  options: StreamOptions,
): { what: string; built: BuiltQuery; batchSize: number } {
  const built = buildSelect(dialect, query);
  throwIfAborted(options.signal);
  return { what: queryLabel(query), built, batchSize: Math.max(1, options.batchSize ?? 1000) };
}

/** The connector's `connection`, which every server adapter needs. */
export function requireConnection(config: ConnectorConfig): NonNullable<ConnectorConfig['connection']> {
  if (config.connection === undefined) {
    const article = /^[aeiou]/.test(config.kind) ? 'an' : 'a';
    throw new ConnectorError(`${config.name}: ${article} ${config.kind} connector needs 'connection'`);
  }
  return config.connection;
}
