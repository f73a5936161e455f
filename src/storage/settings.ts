// The storage settings of `fhir-bridge serve` (options, else environment variables) → the file store and
// the manifest URL mode. Endpoint, region and credentials also come from the standard AWS variables
// (AWS_ENDPOINT_URL_S3, AWS_REGION, AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, AWS_PROFILE ...), which
// the SDK reads itself; secrets are never options.
import { DURATION_FORMS, parseDuration } from '../duration.js';
import { MAX_PRESIGN_SECONDS, S3FileStore } from './s3-store.js';
import { parseS3Url, settingError } from './s3-location.js';

export interface StorageSettings {
  /** `local` (default) or s3://bucket[/prefix] */
  storage?: string;
  s3Endpoint?: string;
  s3Region?: string;
  s3ForcePathStyle?: boolean;
  /** how long pre-signed download URLs stay valid (seconds, or with a unit: 15m); absent: manifests carry the server's own URLs */
  s3Presign?: string;
}

export interface StorageChoice {
  /** undefined: the data folder (the server's default store) */
  store?: S3FileStore;
  presignSeconds?: number;
}

export function storageFromSettings(settings: StorageSettings, env: NodeJS.ProcessEnv, dataDir: string): StorageChoice {
  const storage = settings.storage ?? env.FHIR_BRIDGE_STORAGE ?? 'local';
  const endpoint = settings.s3Endpoint;
  const region = settings.s3Region;
  const forcePathStyle = settings.s3ForcePathStyle ?? isTrue(env.FHIR_BRIDGE_S3_FORCE_PATH_STYLE);
  const presign = settings.s3Presign ?? env.FHIR_BRIDGE_S3_PRESIGN;
  if (storage === 'local') {
    const s3Only = [
      ['--s3-endpoint', endpoint],
      ['--s3-region', region],
      ['--s3-force-path-style', settings.s3ForcePathStyle],
      ['--s3-presign', presign],
    ].find(([, v]) => v !== undefined && v !== false);
    if (s3Only) throw settingError(`${s3Only[0]} needs --storage s3://bucket[/prefix] (files are kept in the data folder)`);
    return {};
  }
  if (!storage.startsWith('s3://')) throw settingError(`--storage must be "local" or s3://bucket[/prefix], got "${storage}"`);
  if (endpoint !== undefined && !/^https?:\/\/[^/]+/.test(endpoint))
    throw settingError(`--s3-endpoint must be an http(s) URL such as https://minio.example.org:9000, got "${endpoint}"`);
  let presignSeconds: number | undefined;
  if (presign !== undefined) {
    presignSeconds = parseDuration(presign, 's');
    if (presignSeconds === undefined || presignSeconds < 1 || presignSeconds > MAX_PRESIGN_SECONDS)
      throw settingError(
        `--s3-presign must be whole seconds from 1 to ${MAX_PRESIGN_SECONDS} (7 days), or a duration with a unit (${DURATION_FORMS}), got "${presign}"`,
      );
  }
  const store = new S3FileStore({
    ...parseS3Url(storage),
    dataDir,
    ...(endpoint ? { endpoint } : {}),
    ...(region ? { region } : {}),
    ...(forcePathStyle ? { forcePathStyle } : {}),
  });
  return { store, ...(presignSeconds !== undefined ? { presignSeconds } : {}) };
}

function isTrue(v: string | undefined): boolean {
  return v !== undefined && /^(1|true|yes)$/i.test(v.trim());
}
