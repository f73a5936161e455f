// Stands in for export-worker.js in worker-executor.test.ts: speaks the same messages, chosen by the
// job's connectorFile: "ok" reports progress then a result, "fail" an error, "crash" exits, "hang" waits
// for an abort.
import { parentPort, workerData } from 'node:worker_threads';

const mode = workerData.connectorFile;
parentPort.postMessage({ type: 'progress', text: `job ${workerData.job.id} started` });
if (mode === 'ok') {
  parentPort.postMessage({
    type: 'done',
    result: { files: { output: [{ type: 'Patient', path: `${workerData.dir}/Patient.000001.ndjson`, count: 2, bytes: 10 }], error: [] } },
  });
  parentPort.close();
} else if (mode === 'fail') {
  parentPort.postMessage({ type: 'error', message: 'table gone', issueCode: 'transient', status: 503 });
  parentPort.close();
} else if (mode === 'crash') {
  process.exit(3);
} else {
  parentPort.on('message', (m) => {
    if (m.type === 'abort') {
      parentPort.postMessage({ type: 'error', message: `aborted: ${m.reason}` });
      parentPort.close();
    }
  });
}
