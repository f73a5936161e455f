// oracledb and mssql ship no type declarations (and @types/mssql is not installed); the adapters describe
// the little they use in oracle.ts and mssql.ts.
declare module 'oracledb';
declare module 'mssql';
