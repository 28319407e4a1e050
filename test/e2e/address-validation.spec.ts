/**
 * `retryHandshakesAbove`: while that many handshakes are under way, a connection from a source
 * address the client has not proved is answered with a QUIC Retry; a real client comes back
 * with the token from its address and is served. (A forged source never
 * comes back; that side cannot be shown without forging packets, which the binding cannot do.)
 */
import 'reflect-metadata';
import { LoggerService } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { IrohServer, IrohServerOptions } from '../../src';
import { LOOPBACK, call, irohClient } from '../support/harness';
import { MathModule } from '../support/math.app';

jest.setTimeout(30_000);

/** A Nest logger that keeps the warnings. */
function collectingLogger(): LoggerService & { warnings: string[] } {
  const warnings: string[] = [];
  return {
    warnings,
    log: () => undefined,
    error: () => undefined,
    warn: (message: unknown) => void warnings.push(String(message)),
    debug: () => undefined,
    verbose: () => undefined,
  };
}

async function start(options: IrohServerOptions) {
  const logger = collectingLogger();
  const server = new IrohServer({ ...LOOPBACK, ...options });
  const app = await NestFactory.createMicroservice(MathModule, { strategy: server, logger });
  await app.listen();
  return { app, server, logger };
}

const retried = (warnings: string[]) => warnings.filter(w => /QUIC Retry/.test(w));

describe('address validation (retryHandshakesAbove)', () => {
  it('0: every client proves its address with a Retry first, and is served', async () => {
    const { app, server, logger } = await start({ retryHandshakesAbove: 0 });
    const client = irohClient(server.ticket);
    try {
      await expect(call(client, 'sum', [1, 2, 3])).resolves.toBe(6);
      expect(retried(logger.warnings)).toEqual([expect.stringMatching(/Answered a connection with a QUIC Retry: 0 handshakes under way/)]);
      expect(server.connections).toHaveLength(1);
    } finally {
      await client.close();
      await app.close();
    }
  });

  it('by default a lone client is accepted without a Retry', async () => {
    const { app, server, logger } = await start({});
    const client = irohClient(server.ticket);
    try {
      await expect(call(client, 'sum', [4, 5])).resolves.toBe(9);
      expect(retried(logger.warnings)).toEqual([]);
    } finally {
      await client.close();
      await app.close();
    }
  });

  it('a burst past the threshold: every client is served, those past it after a Retry', async () => {
    const { app, server, logger } = await start({ retryHandshakesAbove: 1 });
    const clients = Array.from({ length: 6 }, () => irohClient(server.ticket));
    try {
      const sums = await Promise.all(clients.map((client, i) => call(client, 'sum', [i, 10])));
      expect(sums).toEqual([10, 11, 12, 13, 14, 15]);
      expect(server.connections).toHaveLength(6);
    } finally {
      await Promise.all(clients.map(client => client.close()));
      await app.close();
    }
    // Warnings are throttled: at most one line in the interval (with the count when flushed at close).
    expect(retried(logger.warnings).length).toBeLessThanOrEqual(2);
  });

  it('refuses a value that is not a whole number of 0 or more', () => {
    expect(() => new IrohServer({ ...LOOPBACK, retryHandshakesAbove: -1 })).toThrow(
      /retryHandshakesAbove must be a whole number, 0 or more/,
    );
  });
});
