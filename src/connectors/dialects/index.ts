// Every dialect fhir-bridge can read, one line each. Adding a database is a descriptor file beside this one
// plus its line here (see src/connectors/README.md); src/connectors/registry.ts reads this table.
export { csv } from './csv.js';
export { duckdb } from './duckdb.js';
export { mssql } from './mssql.js';
export { mysql } from './mysql.js';
export { oracle } from './oracle.js';
export { postgres } from './postgres.js';
export { sqlite } from './sqlite.js';
