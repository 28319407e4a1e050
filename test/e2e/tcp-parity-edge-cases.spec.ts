/**
 * ClientIroh behaves as Nest's ClientTCP where it is easy to differ: a Promise-returning
 * deserializer, and an awaited emit() right before close().
 */
import { randomBytes } from 'crypto';
import { INestMicroservice } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ClientTCP, Transport } from '@nestjs/microservices';
import { lastValueFrom, timeout } from 'rxjs';
import { RunningServer, eventually, irohClient, settle, startIrohServer } from '../support/harness';
import { MathModule, observed } from '../support/math.app';

jest.setTimeout(30_000);

const asyncDeserializer = {
  deserialize: async (value: any) => value,
};

describe('parity with ClientTCP', () => {
  let tcpApp: INestMicroservice;
  let port: number;
  let iroh: RunningServer;

  beforeAll(async () => {
    tcpApp = await NestFactory.createMicroservice(MathModule, {
      transport: Transport.TCP,
      options: { host: '127.0.0.1', port: 0 },
      logger: false,
    });
    await tcpApp.listen();
    port = (tcpApp as any).serverInstance?.server?.address?.().port ?? (tcpApp as any).server?.server?.address?.().port;
    iroh = await startIrohServer(MathModule);
  });

  afterAll(async () => {
    await iroh?.app.close();
    await tcpApp?.close();
  });

  beforeEach(() => observed.reset());

  it('an async (Promise-returning) client deserializer: same result as TCP', async () => {
    const tcp = new ClientTCP({ host: '127.0.0.1', port, deserializer: asyncDeserializer as any });
    const client = irohClient(iroh.ticket, { deserializer: asyncDeserializer as any });
    try {
      const overTcp = await settle(tcp.send('sum', [1, 2, 3]).pipe(timeout(5000)));
      const overIroh = await settle(client.send('sum', [1, 2, 3]).pipe(timeout(5000)));
      expect(overTcp).toEqual({ values: [6] });
      expect(overIroh).toEqual(overTcp);
    } finally {
      tcp.close();
      await client.close();
    }
  });

  it('an awaited emit() right before close() reaches the server (as over TCP), every time', async () => {
    const big = randomBytes(768 * 1024).toString('base64'); // 1 MiB, incompressible
    const rounds = 5;
    for (let i = 0; i < rounds; i++) {
      // TCP
      const tcp = new ClientTCP({ host: '127.0.0.1', port });
      await tcp.connect();
      await lastValueFrom(tcp.emit('item.created', { via: 'tcp', big }), { defaultValue: undefined });
      tcp.close();
      // iroh
      const client = irohClient(iroh.ticket, { compressionThreshold: 0 });
      await client.connect();
      await lastValueFrom(client.emit('item.created', { via: 'iroh', big }), { defaultValue: undefined });
      await client.close();
    }
    await eventually(() => observed.events.length >= 2 * rounds, 3000, 'all events').catch(() => undefined);
    const count = (via: string) => (observed.events as any[]).filter(e => e.via === via).length;
    expect({ tcp: count('tcp'), iroh: count('iroh') }).toEqual({ tcp: rounds, iroh: rounds });
  });
});
