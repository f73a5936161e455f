// Change tracking in the sample databases, the way a hospital DBA would add it to their own tables (README,
// "Change tracking for DBAs"): a last-updated column on every table (set at insert by its default, by an
// UPDATE trigger afterwards) and one tombstone table that DELETE triggers fill with the deleted row's key.
// The mappings declare both (`source.lastUpdated`, `source.deleted`), which is what `_since` reads.
import type { Knex } from 'knex';
import { LAST_UPDATED_COLUMN, TOMBSTONE_KEYS, TOMBSTONE_TABLE, type TableSpec } from './synthea-schema.js';

export type TrackingTarget = 'sqlite' | 'postgres' | 'mysql';

/** SQLite's clock as the fixed-width ISO text the column holds (text compares in time order). */
const SQLITE_NOW = `strftime('%Y-%m-%dT%H:%M:%fZ', 'now')`;

const keyColumns = Array.from({ length: TOMBSTONE_KEYS }, (_, i) => `key${i + 1}`);

/** The last-updated column of a sample table. MariaDB's TIMESTAMP is stored in UTC (a DATETIME default would
 *  take each writer's session zone); an explicit default also stops MariaDB adding ON UPDATE by itself. */
export function addLastUpdatedColumn(t: Knex.CreateTableBuilder, knex: Knex, target: TrackingTarget): void {
  if (target === 'sqlite')
    t.specificType(LAST_UPDATED_COLUMN, 'TEXT')
      .notNullable()
      .defaultTo(knex.raw(`(${SQLITE_NOW})`));
  else if (target === 'postgres') t.specificType(LAST_UPDATED_COLUMN, 'timestamptz').notNullable().defaultTo(knex.raw('now()'));
  else t.specificType(LAST_UPDATED_COLUMN, 'timestamp(6)').notNullable().defaultTo(knex.raw('CURRENT_TIMESTAMP(6)'));
}

/** The tombstone table: which table, the deleted row's key (as text, in the table's rowKey order), when. */
export async function createTombstoneTable(knex: Knex, target: TrackingTarget): Promise<void> {
  await knex.schema.createTable(TOMBSTONE_TABLE, (t) => {
    t.string('table_name', 64).notNullable();
    for (const k of keyColumns) t.string(k, 255);
    if (target === 'sqlite')
      t.specificType('deleted_at', 'TEXT')
        .notNullable()
        .defaultTo(knex.raw(`(${SQLITE_NOW})`));
    else if (target === 'postgres') t.specificType('deleted_at', 'timestamptz').notNullable().defaultTo(knex.raw('now()'));
    else t.specificType('deleted_at', 'timestamp(6)').notNullable().defaultTo(knex.raw('CURRENT_TIMESTAMP(6)'));
    // `_since` reads one table's tombstones after an instant: one range scan
    t.index(['table_name', 'deleted_at'], `${TOMBSTONE_TABLE}_table_name_deleted_at_idx`);
  });
}

/** Index on the last-updated column and the UPDATE / DELETE triggers of one loaded table. */
export async function addChangeTriggers(knex: Knex, target: TrackingTarget, spec: TableSpec): Promise<void> {
  const t = spec.name;
  await knex.schema.alterTable(t, (b) => b.index([LAST_UPDATED_COLUMN], `${t}_${LAST_UPDATED_COLUMN}_idx`));
  const keys = spec.rowKey;
  if (target === 'sqlite') {
    // AFTER UPDATE rewriting the row (SQLite has no NEW assignment); the WHEN keeps a writer's own value and
    // stops the trigger's UPDATE from firing it again.
    await knex.raw(
      `CREATE TRIGGER "${t}_touch" AFTER UPDATE ON "${t}" FOR EACH ROW WHEN NEW.${LAST_UPDATED_COLUMN} IS OLD.${LAST_UPDATED_COLUMN} ` +
        `BEGIN UPDATE "${t}" SET ${LAST_UPDATED_COLUMN} = ${SQLITE_NOW} WHERE rowid = NEW.rowid; END`,
    );
    await knex.raw(
      `CREATE TRIGGER "${t}_tombstone" AFTER DELETE ON "${t}" FOR EACH ROW BEGIN ` +
        `INSERT INTO ${TOMBSTONE_TABLE} (table_name, ${keyColumns.slice(0, keys.length).join(', ')}) ` +
        `VALUES ('${t}', ${keys.map((k) => `OLD."${k}"`).join(', ')}); END`,
    );
    return;
  }
  if (target === 'postgres') {
    // now() is the writing transaction's start: the snapshot code (postgres-adapter.ts) relies on that.
    await knex.raw(
      `CREATE OR REPLACE FUNCTION fhir_bridge_touch() RETURNS trigger LANGUAGE plpgsql AS $$ ` +
        `BEGIN NEW.${LAST_UPDATED_COLUMN} := now(); RETURN NEW; END $$`,
    );
    await knex.raw(
      `CREATE OR REPLACE FUNCTION fhir_bridge_tombstone() RETURNS trigger LANGUAGE plpgsql AS $$ ` +
        `DECLARE r jsonb := to_jsonb(OLD); BEGIN ` +
        `INSERT INTO ${TOMBSTONE_TABLE} (table_name, ${keyColumns.join(', ')}) ` +
        `VALUES (TG_TABLE_NAME, ${keyColumns.map((_, i) => `r ->> TG_ARGV[${i}]`).join(', ')}); RETURN OLD; END $$`,
    );
    await knex.raw(`CREATE TRIGGER ?? BEFORE UPDATE ON ?? FOR EACH ROW EXECUTE FUNCTION fhir_bridge_touch()`, [`${t}_touch`, t]);
    await knex.raw(
      `CREATE TRIGGER ?? AFTER DELETE ON ?? FOR EACH ROW EXECUTE FUNCTION fhir_bridge_tombstone(${keys.map((k) => `'${k}'`).join(', ')})`,
      [`${t}_tombstone`, t],
    );
    return;
  }
  await knex.raw(`CREATE TRIGGER ?? BEFORE UPDATE ON ?? FOR EACH ROW SET NEW.${LAST_UPDATED_COLUMN} = CURRENT_TIMESTAMP(6)`, [
    `${t}_touch`,
    t,
  ]);
  await knex.raw(
    `CREATE TRIGGER ?? AFTER DELETE ON ?? FOR EACH ROW INSERT INTO ${TOMBSTONE_TABLE} (table_name, ${keyColumns
      .slice(0, keys.length)
      .join(', ')}) VALUES ('${t}', ${keys.map((k) => `OLD.\`${k}\``).join(', ')})`,
    [`${t}_tombstone`, t],
  );
}
