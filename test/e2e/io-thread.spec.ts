import { execFile } from 'child_process';
import { randomBytes } from 'crypto';
import { mkdtempSync, rmSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { ClientIroh, IrohClientError, IrohClientErrorCode } from '../../src';
import { runningIoThreads } from '../../src/iroh';
import { call, callAll, callError, eventually, irohClient, startIrohServer } from '../support/harness';
import { MathModule } from '../support/math.app';
import { freeUdpPort } from '../support/ports';

/**
 * `ioThread: true` on both sides, whatever IROH_TEST_IO_THREAD says: the endpoint, the binding's
 * calls and the byte conversion in an I/O thread, the rest of the transport as usual.
 */
const IO = { ioThread: true };

describe('ioThread', () => {
  let dir: string;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'iroh-io-'));
  });

  afterAll(async () => {
    rmSync(dir, { recursive: true, force: true });
    // The thread outlives its last endpoint by a second, then ends: nothing is left running.
    await eventually(() => runningIoThreads() === 0, 5000, 'the I/O thread to end');
  });

  it('serves requests, streams of replies and large messages both ways', async () => {
    const running = await startIrohServer(MathModule, IO);
    const client = irohClient(running.ticket, IO);
    try {
      await expect(call(client, 'sum', [1, 2, 3])).resolves.toBe(6);
      await expect(callAll(client, 'range', 500)).resolves.toEqual(Array.from({ length: 500 }, (_, i) => i));
      const large = randomBytes(3 << 20).toString('base64');
      await expect(call(client, 'echo', large, 30_000)).resolves.toBe(large);
      const many = await Promise.all(Array.from({ length: 200 }, (_, i) => call(client, 'sum', [i, 1])));
      expect(many).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
      await expect(call(client, 'whoami', {})).resolves.toMatchObject({ id: client.endpointId });
      expect(running.server.connectedPeers).toEqual([client.endpointId]);
    } finally {
      await client.close();
      await running.app.close();
    }
  });

  it('talks to a peer on the calling thread, both ways round', async () => {
    const ioServer = await startIrohServer(MathModule, IO);
    const plainServer = await startIrohServer(MathModule, { ioThread: false });
    const plainClient = irohClient(ioServer.ticket, { ioThread: false });
    const ioClient = irohClient(plainServer.ticket, IO);
    try {
      await expect(call(plainClient, 'echo', 'to a server in an I/O thread')).resolves.toBe('to a server in an I/O thread');
      await expect(call(ioClient, 'echo', 'from a client in an I/O thread')).resolves.toBe('from a client in an I/O thread');
    } finally {
      await Promise.all([plainClient.close(), ioClient.close()]);
      await Promise.all([ioServer.app.close(), plainServer.app.close()]);
    }
  });

  it('restarts on the same fixed port in the same process; the client recovers', async () => {
    const port = await freeUdpPort();
    const options = { ...IO, secretKeyFile: join(dir, 'restart.key'), bindAddr: `127.0.0.1:${port}` };
    let running = await startIrohServer(MathModule, options);
    const ticket = running.ticket;
    const client = irohClient(ticket, { ...IO, retryDelay: 50, maxRetryDelay: 200 });
    try {
      await expect(call(client, 'sum', [1, 1])).resolves.toBe(2);
      for (let round = 0; round < 2; round++) {
        await running.app.close();
        running = await startIrohServer(MathModule, options);
        expect(running.ticket).toBe(ticket);
        await expect(call(client, 'sum', [round, 3], 20_000)).resolves.toBe(round + 3);
      }
    } finally {
      await client.close();
      await running.app.close();
    }
  });

  it('hands errors over with their messages: a refused peer, an unreachable one, a bad address', async () => {
    const running = await startIrohServer(MathModule, { ...IO, allowPeers: ['0'.repeat(64)] });
    const refused = irohClient(running.ticket, { ...IO, retryAttempts: 0 });
    try {
      const err = await callError(refused, 'sum', [1]);
      expect(err).toBeInstanceOf(IrohClientError);
      expect(err.code).toBe(IrohClientErrorCode.UNAUTHORIZED);
      expect(err.message).toMatch(/peer not allowed/);
    } finally {
      await refused.close();
      await running.app.close();
    }
    const nobody = irohClient(running.ticket, { ...IO, connectTimeout: 300, retryAttempts: 0 });
    try {
      const err = await callError(nobody, 'sum', [1]);
      expect(err.code).toBe(IrohClientErrorCode.CONNECT_FAILED);
      expect(err.message).toMatch(/timed out after 300 ms|cannot connect/);
    } finally {
      await nobody.close();
    }
    const badAddress = new ClientIroh({ relayMode: 'disabled', bindAddr: 'not an address', peer: running.ticket, ...IO });
    try {
      await expect(badAddress.connect()).rejects.toThrow(
        /invalid bindAddr "not an address" \(expected host:port\): .*invalid socket address syntax/,
      );
    } finally {
      await badAddress.close();
    }
  });

  it('lets process.exit() end a process with requests under way, without aborting it', async () => {
    const support = join(__dirname, '../support');
    const outcome = await new Promise<{ code: number | null; signal: string | null; stdout: string }>(resolve => {
      const child = execFile(
        process.execPath,
        ['-r', join(support, 'ts-register.js'), join(support, 'exit-under-load.ts')],
        { timeout: 30_000 },
        (_err, stdout) => resolve({ code: child.exitCode, signal: child.signalCode, stdout }),
      );
    });
    expect(outcome).toEqual({ code: 0, signal: null, stdout: 'exiting\n' });
  });
});
