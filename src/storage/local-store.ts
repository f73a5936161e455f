// The default store: a job's files stay in <dataDir>/jobs/<id>/, where the job wrote them, and are served
// from there (the layout and bytes fhir-bridge always had).
import { createReadStream } from 'node:fs';
import { readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { checkFileName, checkJobId } from './s3-location.js';
import type { ExportFileStore } from './types.js';

export class LocalFileStore implements ExportFileStore {
  readonly description: string;

  constructor(private readonly dataDir: string) {
    this.description = join(dataDir, 'jobs');
  }

  jobDir(jobId: string): string {
    return join(this.dataDir, 'jobs', checkJobId(jobId));
  }

  async publish(): Promise<void> {
    // already where downloads read them
  }

  async open(jobId: string, fileName: string): Promise<Readable | undefined> {
    const path = join(this.jobDir(jobId), checkFileName(fileName));
    try {
      if (!(await stat(path)).isFile()) return undefined;
    } catch {
      return undefined;
    }
    return createReadStream(path);
  }

  async list(jobId: string): Promise<string[]> {
    try {
      return (await readdir(this.jobDir(jobId))).sort();
    } catch {
      return [];
    }
  }

  async remove(jobId: string): Promise<void> {
    await rm(this.jobDir(jobId), { recursive: true, force: true });
  }
}
