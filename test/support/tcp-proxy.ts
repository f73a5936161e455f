// A TCP proxy in front of a database server, so a test can make the server unreachable for its own
// connections only (stop accepting, drop what is open) without touching the shared server.
import net from 'node:net';

export interface TcpProxy {
  port: number;
  /** bytes passed from the server to the clients so far */
  readonly bytesFromServer: number;
  /** called after each chunk from the server */
  onServerData?: (total: number) => void;
  /** called with each chunk a client sends, and which proxied connection (numbered from 1) sent it */
  onClientData?: (chunk: Buffer, connection: number) => void;
  /** refuse new connections from now on (ECONNREFUSED); open ones stay until their server ends them */
  refuseNew(): void;
  /** refuse new connections and cut the open ones */
  close(): Promise<void>;
}

export async function tcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  const sockets = new Set<net.Socket>();
  let bytes = 0;
  let connections = 0;
  const server = net.createServer((client) => {
    const connection = ++connections;
    client.on('data', (chunk: Buffer) => proxy.onClientData?.(chunk, connection));
    const upstream = net.connect(target.port, target.host);
    sockets.add(client).add(upstream);
    const drop = (): void => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    upstream.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      proxy.onServerData?.(bytes);
    });
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const proxy: TcpProxy = {
    port: (server.address() as net.AddressInfo).port,
    get bytesFromServer() {
      return bytes;
    },
    refuseNew: () => void server.close(),
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        if (server.listening) server.close(() => resolve());
        else resolve();
      }),
  };
  return proxy;
}
