import { randomBytes } from 'crypto';
import { IrohClientError } from '../../src';
import { call, callError, irohClient, startIrohServer } from '../support/harness';
import { MathModule } from '../support/math.app';
import { RawPeer, closedBy, send } from '../support/raw-peer';

jest.setTimeout(60_000);

describe('limits', () => {
  it('refuses messages above maxMessageSize on both sides, and the connection carries on', async () => {
    const running = await startIrohServer(MathModule, { maxMessageSize: 4096 });
    const roomy = irohClient(running.ticket);
    const strict = irohClient(running.ticket, { maxMessageSize: 4096 });
    try {
      // Incompressible, so compression cannot bring it under the limit.
      const big = randomBytes(10_000);
      const serverSide = await callError(roomy, 'echo', big);
      expect(serverSide).toEqual({
        status: 'error',
        code: 'MESSAGE_TOO_LARGE',
        message: expect.stringMatching(/Message of 100\d\d bytes exceeds the maximum message size of 4096 bytes/),
      });
      await expect(call(roomy, 'sum', [1, 2])).resolves.toBe(3);

      const clientSide = await callError(strict, 'echo', big);
      expect(clientSide).toBeInstanceOf(IrohClientError);
      expect(clientSide.code).toBe('MESSAGE_TOO_LARGE');
      await expect(call(strict, 'sum', [3])).resolves.toBe(3);
    } finally {
      await Promise.all([roomy.close(), strict.close()]);
      await running.app.close();
    }
  });

  it("refuses replies above the client's maxMessageSize without reading them in", async () => {
    const running = await startIrohServer(MathModule);
    const client = irohClient(running.ticket, { maxMessageSize: 2048 });
    try {
      const err = await callError(client, 'blob', 5000);
      expect(err).toBeInstanceOf(IrohClientError);
      expect(err.code).toBe('MESSAGE_TOO_LARGE');
      await expect(call(client, 'sum', [4])).resolves.toBe(4);
    } finally {
      await client.close();
      await running.app.close();
    }
  });

  it('limits requests in flight per connection; the others are served', async () => {
    const running = await startIrohServer(MathModule, { maxConcurrentRequests: 2 });
    const client = irohClient(running.ticket);
    try {
      await client.connect();
      const first = call(client, 'delay', { ms: 300, value: 'a' });
      const second = call(client, 'delay', { ms: 300, value: 'b' });
      const third = await callError(client, 'delay', { ms: 300, value: 'c' });
      expect(third).toEqual(expect.objectContaining({ code: 'LIMIT_EXCEEDED' }));
      await expect(Promise.all([first, second])).resolves.toEqual(['a', 'b']);
      await expect(call(client, 'sum', [5])).resolves.toBe(5);
    } finally {
      await client.close();
      await running.app.close();
    }
  });

  it('limits pattern length', async () => {
    const running = await startIrohServer(MathModule, { maxPatternLength: 32 });
    const client = irohClient(running.ticket);
    try {
      await expect(callError(client, 'x'.repeat(100), {})).resolves.toEqual(expect.objectContaining({ code: 'LIMIT_EXCEEDED' }));
      await expect(call(client, 'sum', [6])).resolves.toBe(6);
    } finally {
      await client.close();
      await running.app.close();
    }
  });

  it('limits connections', async () => {
    const running = await startIrohServer(MathModule, { maxConnections: 1 });
    const first = irohClient(running.ticket);
    const second = irohClient(running.ticket, { retryAttempts: 0, connectTimeout: 3000 });
    try {
      await expect(call(first, 'sum', [1])).resolves.toBe(1);
      const started = Date.now();
      const err = await callError(second, 'sum', [1]);
      expect(Date.now() - started).toBeLessThan(4000);
      expect(String(err.message)).toMatch(/refused|cannot connect|timed out/i);
      await expect(call(first, 'sum', [2])).resolves.toBe(2);
    } finally {
      await Promise.all([first.close(), second.close()]);
      await running.app.close();
    }
  });

  it('closes a connection whose client stops in the middle of a frame (incompleteFrameTimeout)', async () => {
    const running = await startIrohServer(MathModule, { incompleteFrameTimeout: 300 });
    const raw = await RawPeer.bind();
    const client = irohClient(running.ticket);
    try {
      const connection = await raw.connect(running.ticket);
      const bi = await connection.openBi();
      // A REQUEST header announcing 100 bytes, then only 3 of them.
      await send(bi, Buffer.from([0x11, 0, 1, 100, 1, 2, 3]));
      const closed = await closedBy(connection, 5000);
      expect(closed.reason).toMatch(/incomplete/);
      await expect(call(client, 'sum', [7])).resolves.toBe(7);
    } finally {
      await client.close();
      await raw.close();
      await running.app.close();
    }
  });

  it('closes connections that send nothing for idleTimeout; pinging clients stay', async () => {
    const running = await startIrohServer(MathModule, { idleTimeout: 600 });
    const raw = await RawPeer.bind();
    const client = irohClient(running.ticket, { keepAliveInterval: 150 });
    try {
      await expect(call(client, 'sum', [1])).resolves.toBe(1);
      const connection = await raw.connect(running.ticket);
      const bi = await connection.openBi();
      // One PING, then silence.
      await send(bi, Buffer.from([0x17, 0, 1, 0]));
      const started = Date.now();
      const closed = await closedBy(connection, 5000);
      expect(closed.reason).toMatch(/idle/);
      expect(Date.now() - started).toBeGreaterThanOrEqual(400);
      // The pinging client was idle as long, and is still served on the same connection.
      const before = (client as any).active.connection;
      await expect(call(client, 'sum', [2])).resolves.toBe(2);
      expect((client as any).active.connection).toBe(before);
    } finally {
      await client.close();
      await raw.close();
      await running.app.close();
    }
  });
});
