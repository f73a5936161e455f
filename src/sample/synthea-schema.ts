// The relational schema of Synthea's CSV export (https://github.com/synthetichealth/synthea/wiki/CSV-File-Data-Dictionary),
// as loaded into SQLite, PostgreSQL and MariaDB: column kinds, primary keys and the foreign keys Synthea's ids form.
// Column names are lower-cased when created so unquoted SQL works in every database.

/**
 * id: a Synthea identifier (UUID) - rewritten per copy when the sample is loaded several times over;
 * code: a short code or token (kept as text: codes and ZIPs have leading zeros);
 * str: a name or description; text: free text that may be long;
 * date: YYYY-MM-DD; ts: an ISO instant (YYYY-MM-DDThh:mm:ssZ); num: a decimal amount; int: a whole number.
 */
export type ColumnKind = 'id' | 'code' | 'str' | 'text' | 'date' | 'ts' | 'num' | 'int';

export interface TableSpec {
  name: string;
  columns: Array<{ name: string; kind: ColumnKind }>;
  primaryKey?: string[];
  foreignKeys: Array<{ column: string; references: string }>;
  /** secondary indexes (column lists): every foreign key column that does not lead the primary key */
  indexes: string[][];
  /** the columns a DELETE trigger copies into the tombstone table (key1, key2, ...): the primary key, or
   *  for a table without one the columns the shipped mappings identify its rows by */
  rowKey: string[];
}

function table(
  name: string,
  columns: string,
  primaryKey: string[] | undefined,
  foreignKeys: Record<string, string> = {},
  rowKey?: string[],
): TableSpec {
  const pk = primaryKey?.map((c) => c.toLowerCase());
  // The mappings join and filter on these columns (children's IN lists, Patient compartments, SQL joins such
  // as claims_transactions.claimid or claims.appointmentid); unindexed, every child batch scans the table.
  const indexes = Object.keys(foreignKeys)
    .map((c) => c.toLowerCase())
    .filter((c) => pk?.[0] !== c)
    .map((c) => [c]);
  return {
    name,
    columns: columns
      .trim()
      .split(/\s+/)
      .map((c) => {
        const [col, kind] = c.split(':');
        return { name: col!.toLowerCase(), kind: kind as ColumnKind };
      }),
    primaryKey: pk,
    indexes,
    rowKey: (rowKey ?? primaryKey ?? []).map((c) => c.toLowerCase()),
    foreignKeys: Object.entries(foreignKeys).map(([column, references]) => ({ column: column.toLowerCase(), references })),
  };
}

const PATIENT_ENCOUNTER = { PATIENT: 'patients', ENCOUNTER: 'encounters' };

/** In load order: every table after the tables its foreign keys point at. */
/** Bump when the tables, types or indexes below change: sample databases built by older versions are
 *  then rebuilt on next open (see ensure-sample.ts) instead of silently lacking, say, an index. */
export const SYNTHEA_SCHEMA_VERSION = 3;

/**
 * Change tracking, as a DBA would add it (see README, "Change tracking for DBAs"): every table gets this
 * column, set when a row is inserted and by an UPDATE trigger, and DELETE triggers record the deleted row's
 * key in TOMBSTONE_TABLE.
 */
export const LAST_UPDATED_COLUMN = 'last_updated';
export const TOMBSTONE_TABLE = 'deleted_rows';
/** key1 … keyN of the tombstone table: wide enough for the longest rowKey below */
export const TOMBSTONE_KEYS = 5;
/**
 * What the loader writes as every sample row's last-updated time: the day the shipped sample was generated
 * (samples/synthea-11pt/SOURCE.md). A load-time clock would make every export of a freshly built sample
 * differ (meta.lastUpdated) and the golden hashes meaningless; rows changed after loading get the
 * database's clock from the triggers.
 */
export const SAMPLE_LAST_UPDATED = '2024-04-29T00:00:00Z';

export const SYNTHEA_TABLES: TableSpec[] = [
  table('organizations', 'Id:id NAME:str ADDRESS:str CITY:str STATE:code ZIP:code LAT:num LON:num PHONE:str REVENUE:num UTILIZATION:int', [
    'Id',
  ]),
  table(
    'payers',
    'Id:id NAME:str OWNERSHIP:str ADDRESS:str CITY:str STATE_HEADQUARTERED:code ZIP:code PHONE:str AMOUNT_COVERED:num AMOUNT_UNCOVERED:num ' +
      'REVENUE:num COVERED_ENCOUNTERS:int UNCOVERED_ENCOUNTERS:int COVERED_MEDICATIONS:int UNCOVERED_MEDICATIONS:int COVERED_PROCEDURES:int ' +
      'UNCOVERED_PROCEDURES:int COVERED_IMMUNIZATIONS:int UNCOVERED_IMMUNIZATIONS:int UNIQUE_CUSTOMERS:int QOLS_AVG:str MEMBER_MONTHS:int',
    ['Id'],
  ),
  table(
    'providers',
    'Id:id ORGANIZATION:id NAME:str GENDER:code SPECIALITY:str ADDRESS:str CITY:str STATE:code ZIP:code LAT:num LON:num ENCOUNTERS:int PROCEDURES:int',
    ['Id'],
    { ORGANIZATION: 'organizations' },
  ),
  table(
    'patients',
    'Id:id BIRTHDATE:date DEATHDATE:date SSN:code DRIVERS:code PASSPORT:code PREFIX:code FIRST:str LAST:str SUFFIX:code MAIDEN:str ' +
      'MARITAL:code RACE:code ETHNICITY:code GENDER:code BIRTHPLACE:str ADDRESS:str CITY:str STATE:str COUNTY:str FIPS:code ZIP:code ' +
      'LAT:num LON:num HEALTHCARE_EXPENSES:num HEALTHCARE_COVERAGE:num INCOME:int',
    ['Id'],
  ),
  table(
    'encounters',
    'Id:id START:ts STOP:ts PATIENT:id ORGANIZATION:id PROVIDER:id PAYER:id ENCOUNTERCLASS:code CODE:code DESCRIPTION:str ' +
      'BASE_ENCOUNTER_COST:num TOTAL_CLAIM_COST:num PAYER_COVERAGE:num REASONCODE:code REASONDESCRIPTION:str',
    ['Id'],
    { PATIENT: 'patients', ORGANIZATION: 'organizations', PROVIDER: 'providers', PAYER: 'payers' },
  ),
  table(
    'payer_transitions',
    'PATIENT:id MEMBERID:id START_DATE:ts END_DATE:ts PAYER:id SECONDARY_PAYER:id PLAN_OWNERSHIP:code OWNER_NAME:str',
    ['PATIENT', 'START_DATE'],
    { PATIENT: 'patients', PAYER: 'payers', SECONDARY_PAYER: 'payers' },
  ),
  table(
    'allergies',
    'START:date STOP:date PATIENT:id ENCOUNTER:id CODE:code SYSTEM:code DESCRIPTION:str TYPE:code CATEGORY:code REACTION1:code ' +
      'DESCRIPTION1:str SEVERITY1:code REACTION2:code DESCRIPTION2:str SEVERITY2:code',
    ['PATIENT', 'ENCOUNTER', 'CODE'],
    PATIENT_ENCOUNTER,
  ),
  table(
    'careplans',
    'Id:id START:date STOP:date PATIENT:id ENCOUNTER:id CODE:code DESCRIPTION:str REASONCODE:code REASONDESCRIPTION:str',
    ['Id'],
    PATIENT_ENCOUNTER,
  ),
  table(
    'conditions',
    'START:date STOP:date PATIENT:id ENCOUNTER:id CODE:code DESCRIPTION:str',
    ['PATIENT', 'ENCOUNTER', 'CODE', 'START'],
    PATIENT_ENCOUNTER,
  ),
  table(
    'devices',
    'START:ts STOP:ts PATIENT:id ENCOUNTER:id CODE:code DESCRIPTION:str UDI:str',
    ['PATIENT', 'ENCOUNTER', 'CODE', 'START'],
    PATIENT_ENCOUNTER,
  ),
  table(
    'imaging_studies',
    'Id:id DATE:ts PATIENT:id ENCOUNTER:id SERIES_UID:code BODYSITE_CODE:code BODYSITE_DESCRIPTION:str MODALITY_CODE:code ' +
      'MODALITY_DESCRIPTION:str INSTANCE_UID:code SOP_CODE:code SOP_DESCRIPTION:str PROCEDURE_CODE:code',
    ['Id'],
    PATIENT_ENCOUNTER,
  ),
  table(
    'immunizations',
    'DATE:ts PATIENT:id ENCOUNTER:id CODE:code DESCRIPTION:str BASE_COST:num',
    ['PATIENT', 'ENCOUNTER', 'CODE', 'DATE'],
    PATIENT_ENCOUNTER,
  ),
  table(
    'medications',
    'START:ts STOP:ts PATIENT:id PAYER:id ENCOUNTER:id CODE:code DESCRIPTION:str BASE_COST:num PAYER_COVERAGE:num DISPENSES:int ' +
      'TOTALCOST:num REASONCODE:code REASONDESCRIPTION:str',
    undefined,
    { ...PATIENT_ENCOUNTER, PAYER: 'payers' },
    ['PATIENT', 'ENCOUNTER', 'CODE', 'START', 'STOP'],
  ),
  table(
    'observations',
    'DATE:ts PATIENT:id ENCOUNTER:id CATEGORY:code CODE:code DESCRIPTION:str VALUE:str UNITS:code TYPE:code',
    undefined, // some rows have no ENCOUNTER, so no composite key
    PATIENT_ENCOUNTER,
    ['PATIENT', 'ENCOUNTER', 'CODE', 'DATE'],
  ),
  table(
    'procedures',
    'START:ts STOP:ts PATIENT:id ENCOUNTER:id CODE:code DESCRIPTION:str BASE_COST:num REASONCODE:code REASONDESCRIPTION:str',
    ['PATIENT', 'ENCOUNTER', 'CODE', 'START'],
    PATIENT_ENCOUNTER,
  ),
  table('supplies', 'DATE:date PATIENT:id ENCOUNTER:id CODE:code DESCRIPTION:str QUANTITY:int', undefined, PATIENT_ENCOUNTER, [
    'PATIENT',
    'ENCOUNTER',
    'CODE',
    'DATE',
  ]),
  table(
    'claims',
    'Id:id PATIENTID:id PROVIDERID:id PRIMARYPATIENTINSURANCEID:id SECONDARYPATIENTINSURANCEID:id DEPARTMENTID:code PATIENTDEPARTMENTID:code ' +
      'DIAGNOSIS1:code DIAGNOSIS2:code DIAGNOSIS3:code DIAGNOSIS4:code DIAGNOSIS5:code DIAGNOSIS6:code DIAGNOSIS7:code DIAGNOSIS8:code ' +
      'REFERRINGPROVIDERID:id APPOINTMENTID:id CURRENTILLNESSDATE:ts SERVICEDATE:ts SUPERVISINGPROVIDERID:id STATUS1:code STATUS2:code ' +
      'STATUSP:code OUTSTANDING1:num OUTSTANDING2:num OUTSTANDINGP:num LASTBILLEDDATE1:ts LASTBILLEDDATE2:ts LASTBILLEDDATEP:ts ' +
      'HEALTHCARECLAIMTYPEID1:code HEALTHCARECLAIMTYPEID2:code',
    ['Id'],
    {
      PATIENTID: 'patients',
      PROVIDERID: 'providers',
      PRIMARYPATIENTINSURANCEID: 'payers',
      SECONDARYPATIENTINSURANCEID: 'payers',
      REFERRINGPROVIDERID: 'providers',
      APPOINTMENTID: 'encounters',
      SUPERVISINGPROVIDERID: 'providers',
    },
  ),
  table(
    'claims_transactions',
    'ID:id CLAIMID:id CHARGEID:code PATIENTID:id TYPE:code AMOUNT:num METHOD:code FROMDATE:ts TODATE:ts PLACEOFSERVICE:id ' +
      'PROCEDURECODE:code MODIFIER1:code MODIFIER2:code DIAGNOSISREF1:code DIAGNOSISREF2:code DIAGNOSISREF3:code DIAGNOSISREF4:code ' +
      'UNITS:num DEPARTMENTID:code NOTES:text UNITAMOUNT:num TRANSFEROUTID:code TRANSFERTYPE:code PAYMENTS:num ADJUSTMENTS:num ' +
      'TRANSFERS:num OUTSTANDING:num APPOINTMENTID:id LINENOTE:text PATIENTINSURANCEID:id FEESCHEDULEID:code PROVIDERID:id ' +
      'SUPERVISINGPROVIDERID:id',
    ['ID'],
    {
      CLAIMID: 'claims',
      PATIENTID: 'patients',
      PLACEOFSERVICE: 'organizations',
      APPOINTMENTID: 'encounters',
      PROVIDERID: 'providers',
      SUPERVISINGPROVIDERID: 'providers',
    },
  ),
];
