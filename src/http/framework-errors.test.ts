// Requests refused before any route runs still get an OperationOutcome: a malformed URL (fastify's router),
// and headers or a URL too large for Node's HTTP parser (431 / 414 on the socket). Sent over a real socket,
// since app.inject bypasses the HTTP parser.
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fakeServer } from '../../test/support/test-server.js';

type Server = Awaited<ReturnType<typeof fakeServer>>;

/** Sends raw bytes and returns the status code and body of the answer. */
function raw(url: string, request: string): Promise<{ status: number; contentType: string; body: string }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => socket.write(request));
    let data = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      data += chunk;
    });
    socket.on('error', reject);
    socket.on('close', () => {
      const [head = '', body = ''] = data.split('\r\n\r\n');
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1]);
      const contentType = /content-type: ([^\r\n]+)/i.exec(head)?.[1] ?? '';
      resolve({ status, contentType, body });
    });
  });
}

describe('errors before a route runs', () => {
  let server: Server;
  let url: string;
  beforeAll(async () => {
    server = await fakeServer();
    url = await server.listen(0);
  });
  afterAll(() => server.close());

  it('headers too large: 431 with an OperationOutcome', async () => {
    const res = await raw(url, `GET /fhir/metadata HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
    expect(res.status).toBe(431);
    expect(res.contentType).toContain('application/fhir+json');
    expect(JSON.parse(res.body)).toMatchObject({ resourceType: 'OperationOutcome', issue: [{ code: 'too-long' }] });
  });

  it('a malformed request line: 400 with an OperationOutcome', async () => {
    const res = await raw(url, 'NOT A REQUEST\r\n\r\n');
    expect(res.status).toBe(400);
    expect(JSON.parse(res.body)).toMatchObject({ resourceType: 'OperationOutcome', issue: [{ code: 'invalid' }] });
  });

  it('a URL the router cannot decode: 400 with an OperationOutcome', async () => {
    const res = await server.app.inject({ method: 'GET', url: '/jobs/%E0%A4%A' });
    expect(res.statusCode).toBe(400);
    expect(res.headers['content-type']).toContain('application/fhir+json');
    expect(res.json()).toMatchObject({ resourceType: 'OperationOutcome' });
  });
});
