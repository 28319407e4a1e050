import { randomBytes } from 'crypto';
import { IoBiStream, IoConnection, IoEndpoint, bindingErrorMessage, bindEndpoint, parsePeer, runningIoThreads } from '../../src/iroh';
import { eventually } from '../support/harness';
import { freeUdpPort } from '../support/ports';

const ALPN = Buffer.from('io-spec/1');
const LOOPBACK = { relayMode: 'disabled' as const, bindAddr: '127.0.0.1:0' };

/** What the client dials: the server's id and direct addresses, read from its ticket. */
function peerOf(server: IoEndpoint) {
  return parsePeer(server.ticket());
}

/**
 * What a person reads of a binding error. Errors the binding raises on this thread belong to
 * Node's realm, not to Jest's (no `instanceof Error` here, so `String(err)` adds `Error: `).
 */
function messageOf(err: unknown): string {
  expect(err).not.toBeNull();
  return bindingErrorMessage(err).replace(/^Error: /, '');
}

/** Reads to the end of the stream. */
async function readAll(bi: IoBiStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for (;;) {
    const chunk = await bi.recv.read(64 * 1024);
    if (chunk.length === 0) return Buffer.concat(chunks);
    chunks.push(chunk);
  }
}

/** Echoes every stream the connection opens: reads to the end, writes it back, finishes. */
async function echo(connection: IoConnection): Promise<void> {
  for (;;) {
    let bi: IoBiStream;
    try {
      bi = await connection.acceptBi();
    } catch {
      return;
    }
    void readAll(bi)
      .then(async data => {
        for (let offset = 0; offset < data.length; offset += 64 * 1024) {
          const slice = data.subarray(offset, offset + 64 * 1024);
          await bi.send.write([slice.subarray(0, 3), slice.subarray(3)], slice.length);
        }
        await bi.send.finish();
      })
      // Streams the tests reset end here.
      .catch(() => undefined);
  }
}

describe.each([
  ['on the calling thread', false],
  ['in an I/O thread', true],
])('the binding %s', (_name, ioThread) => {
  let server: IoEndpoint;
  let client: IoEndpoint;
  let connection: IoConnection;

  beforeAll(async () => {
    server = await bindEndpoint({ ...LOOPBACK, ioThread }, ALPN);
    client = await bindEndpoint({ ...LOOPBACK, ioThread });
    void (async () => {
      for (;;) {
        const incoming = await server.acceptNext().catch(() => null);
        if (!incoming) return;
        void incoming.accept().then(echo, () => undefined);
      }
    })();
    connection = await client.connect(peerOf(server), ALPN);
  });

  afterAll(async () => {
    connection?.close(0, 'done');
    await client?.close();
    await server?.close();
    // The I/O thread lingers a moment for endpoints to come, then ends on its own.
    await eventually(() => runningIoThreads() === 0, 5000, 'the I/O thread to end');
  });

  it('runs where it was asked to', () => {
    expect(server.thread).toBe(ioThread ? 'worker' : 'main');
    // One I/O thread serves every endpoint of the calling thread.
    expect(runningIoThreads()).toBe(ioThread ? 1 : 0);
  });

  it('knows both ends of a connection', () => {
    expect(connection.remoteId()).toBe(server.id());
    expect(server.id()).toMatch(/^[0-9a-f]{64}$/);
    expect(server.boundSockets()[0]).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(connection.paths().some(path => path.isSelected && path.remoteAddr === server.boundSockets()[0])).toBe(true);
    expect(connection.stats().udpRxDatagrams).toBeGreaterThan(0);
  });

  it('echoes a request, an empty one, and many at once', async () => {
    const roundTrip = async (data: Buffer) => {
      const bi = await connection.openBi();
      if (data.length > 0) await bi.send.write([data], data.length);
      await bi.send.finish();
      return readAll(bi);
    };
    await expect(roundTrip(Buffer.from('hello'))).resolves.toEqual(Buffer.from('hello'));
    await expect(roundTrip(Buffer.alloc(0))).resolves.toEqual(Buffer.alloc(0));
    const many = Array.from({ length: 50 }, (_, i) => Buffer.from(`request ${i}`));
    await expect(Promise.all(many.map(roundTrip))).resolves.toEqual(many);
  });

  it('carries a large message intact, both ways', async () => {
    const data = randomBytes(3 * 1024 * 1024 + 17);
    const bi = await connection.openBi();
    const reply = readAll(bi);
    for (let offset = 0; offset < data.length; offset += 256 * 1024) {
      const slice = data.subarray(offset, offset + 256 * 1024);
      await bi.send.write([slice], slice.length);
    }
    await bi.send.finish();
    const echoed = await reply;
    expect(echoed.length).toBe(data.length);
    expect(echoed.equals(data)).toBe(true);
    await expect(bi.send.stopped()).resolves.toBeNull();
  });

  it('hands the errors of the binding over with their messages', async () => {
    const bi = await connection.openBi();
    await bi.send.reset(7);
    // With an I/O thread a write may resolve before it is made (up to a window of bytes): its
    // failure is then the next call's.
    const afterReset = await bi.send
      .write([Buffer.from('x')], 1)
      .then(() => bi.send.finish())
      .then(
        () => null,
        (err: Error) => err,
      );
    expect(messageOf(afterReset)).toBe('ClosedStream');
    await bi.recv.stop(7);
    await expect(bindEndpoint({ ...LOOPBACK, bindAddr: 'not an address', ioThread })).rejects.toThrow(
      /^invalid bindAddr "not an address" \(expected host:port\): (Error: )?invalid socket address syntax$/,
    );
    const refused = await client.connect(peerOf(server), Buffer.from('other/1')).then(
      () => null,
      (err: Error) => err,
    );
    expect(messageOf(refused)).toMatch(/^ConnectError::Connecting: ConnectingError::ConnectionError: aborted by/);
  });

  it('tells when a connection closes, with the reason', async () => {
    const second = await client.connect(peerOf(server), ALPN);
    const closed = second.closed();
    second.close(42, 'finished here');
    await expect(closed).resolves.toMatch(/closed|locally/i);
    await expect(second.openBi()).rejects.toThrow(/\w/);
  });
});

describe('an endpoint on a fixed port', () => {
  it.each([false, true])('gives the port back once closed (ioThread %s)', async ioThread => {
    const port = await freeUdpPort();
    const bindAddr = `127.0.0.1:${port}`;
    for (let round = 0; round < 3; round++) {
      const endpoint = await bindEndpoint({ relayMode: 'disabled', bindAddr, ioThread }, ALPN);
      const sockets = endpoint.boundSockets();
      expect(sockets[0]).toBe(bindAddr);
      await endpoint.close();
      await expect(endpoint.releasePort(sockets)).resolves.toBe(true);
    }
    await eventually(() => runningIoThreads() === 0, 5000, 'the I/O thread to end');
  });
});

describe('an I/O thread', () => {
  it('ends when its endpoint fails to bind, with the binding error', async () => {
    const port = await freeUdpPort();
    const holder = await bindEndpoint({ relayMode: 'disabled', bindAddr: `127.0.0.1:${port}` });
    await expect(bindEndpoint({ relayMode: 'disabled', bindAddr: `127.0.0.1:${port}`, ioThread: true })).rejects.toThrow(
      new RegExp(`^cannot bind iroh endpoint on 127\\.0\\.0\\.1:${port}: `),
    );
    await eventually(() => runningIoThreads() === 0, 5000, 'the I/O thread to end');
    await holder.close();
    await holder.releasePort(holder.boundSockets());
  });

  it('fails what waits on it once its endpoint is closed', async () => {
    const endpoint = await bindEndpoint({ ...LOOPBACK, ioThread: true }, ALPN);
    const accepting = endpoint.acceptNext();
    await endpoint.close();
    // Closed before the thread could say so: null, or the thread's end.
    await expect(accepting.then(String, (err: Error) => err.message)).resolves.toMatch(/^(null|the iroh endpoint is closed)$/);
    await expect(endpoint.acceptNext()).rejects.toThrow('the iroh endpoint is closed');
    expect(() => endpoint.ticket()).toThrow('the iroh endpoint is closed');
    await eventually(() => runningIoThreads() === 0, 5000, 'the I/O thread to end');
  });
});
