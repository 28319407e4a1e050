/**
 * A client with several peers, as an application sees it: balancing, aggregate status and
 * per-peer events, pings, and the `peers` option through ClientsModule and ClientGrpcIroh.
 */
import 'reflect-metadata';
import { Inject, Injectable, INestMicroservice, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ClientProxy, ClientsModule } from '@nestjs/microservices';
import { firstValueFrom } from 'rxjs';
import { ClientIroh, IrohStatus } from '../../src';
import { ClientGrpcIroh, IrohGrpcServer } from '../../src/grpc';
import { HERO_PROTO, HEROES, HeroesModule } from '../fixtures/grpc/heroes.controller';
import { HeroesService } from '../fixtures/grpc/hero-caller';
import { LOOPBACK, RunningServer, call, eventually, startIrohServer } from '../support/harness';
import { MathModule } from '../support/math.app';

jest.setTimeout(60_000);

describe('a client with several peers', () => {
  let servers: RunningServer[];

  beforeEach(async () => {
    servers = [await startIrohServer(MathModule), await startIrohServer(MathModule)];
  });

  afterEach(async () => {
    await Promise.all(servers.map(s => s.app.close()));
  });

  it('spreads requests in flight over the peers', async () => {
    const client = new ClientIroh({ ...LOOPBACK, peers: servers.map(s => s.ticket) });
    try {
      expect((await client.pingAll()).map(p => p.error)).toEqual([null, null]);
      const replies = Promise.all(Array.from({ length: 10 }, (_, i) => call(client, 'delay', { ms: 300, value: i })));
      await eventually(() => servers.every(s => s.server.inflightRequests > 0), 2000, 'requests on both servers');
      expect(servers.map(s => s.server.inflightRequests)).toEqual([5, 5]);
      await expect(replies).resolves.toEqual(Array.from({ length: 10 }, (_, i) => i));
    } finally {
      await client.close();
    }
  });

  it('connects to every peer; reports each by endpoint id, and the client as connected while one is', async () => {
    const client = new ClientIroh({ ...LOOPBACK, peers: servers.map(s => s.ticket), keepAliveInterval: 200, keepAliveTimeout: 1000 });
    const events: string[] = [];
    const statuses: string[] = [];
    client.on('connect', () => events.push('connect'));
    client.on('disconnect', () => events.push('disconnect'));
    client.on('peer:connect', id => events.push(`peer:connect ${id}`));
    client.on('peer:disconnect', id => events.push(`peer:disconnect ${id}`));
    client.status.subscribe(s => statuses.push(s));
    const [a, b] = servers.map(s => s.server.endpointId);
    try {
      expect(client.peerIds).toEqual([a, b]);
      await client.connect();
      await eventually(() => events.filter(e => e.startsWith('peer:connect')).length === 2, 5000, 'both peers ready');
      expect(events.sort()).toEqual(['connect', `peer:connect ${a}`, `peer:connect ${b}`].sort());
      events.length = 0;
      await servers[0].app.close();
      await eventually(() => events.length > 0, 5000, 'peer:disconnect');
      expect(events).toEqual([`peer:disconnect ${a}`]);
      expect(statuses[statuses.length - 1]).toBe(IrohStatus.CONNECTED);
      await expect(call(client, 'sum', [1, 2])).resolves.toBe(3);
      await servers[1].app.close();
      await eventually(() => events.includes('disconnect'), 5000, 'disconnect');
      expect(statuses).toContain(IrohStatus.DISCONNECTED);
      servers = [];
    } finally {
      await client.close();
    }
  });

  it('pings one peer, or each of them; a peer that cannot be reached reports its error', async () => {
    const down = await startIrohServer(MathModule);
    const downId = down.server.endpointId;
    await down.app.close();
    const client = new ClientIroh({ ...LOOPBACK, peers: [servers[0].ticket, servers[1].ticket, down.ticket], connectTimeout: 500 });
    try {
      const one = await client.ping({ peer: servers[1].server.endpointId });
      expect(one).toMatchObject({ endpointId: servers[1].server.endpointId, path: 'direct' });
      expect(one.rttMs).toBeGreaterThan(0);
      const byTicket = await client.ping({ peer: servers[0].ticket });
      expect(byTicket.endpointId).toBe(servers[0].server.endpointId);
      const all = await client.pingAll({ timeout: 2000 });
      expect(all.map(p => [p.endpointId, p.result !== null, p.error?.constructor.name ?? null])).toEqual([
        [servers[0].server.endpointId, true, null],
        [servers[1].server.endpointId, true, null],
        [downId, false, 'IrohClientError'],
      ]);
      await expect(client.ping({ peer: 'f'.repeat(64) })).rejects.toThrow(/not one of this client's peers/);
    } finally {
      await client.close();
    }
  });

  it('refuses options without a peer, and lists of other things than strings', () => {
    expect(() => new ClientIroh({ ...LOOPBACK })).toThrow(/options.peer.*options.peers/);
    expect(() => new ClientIroh({ ...LOOPBACK, peers: [] })).toThrow(/options.peer.*options.peers/);
    expect(() => new ClientIroh({ ...LOOPBACK, peers: [42 as unknown as string] })).toThrow(/not a list of strings/);
    expect(() => new ClientIroh({ ...LOOPBACK, peers: ['x'], retryAttempts: 1.5 })).toThrow(/retryAttempts/);
  });

  it('takes peers through ClientsModule', async () => {
    @Injectable()
    class Caller {
      constructor(@Inject('MATH') readonly client: ClientProxy) {}
    }
    @Module({
      imports: [
        ClientsModule.register([{ name: 'MATH', customClass: ClientIroh, options: { ...LOOPBACK, peers: servers.map(s => s.ticket) } }]),
      ],
      providers: [Caller],
    })
    class CallerModule {}
    const context = await NestFactory.createApplicationContext(CallerModule, { logger: false });
    const client = context.get(Caller).client as ClientIroh;
    try {
      expect(client).toBeInstanceOf(ClientIroh);
      expect(client.peerIds).toEqual(servers.map(s => s.server.endpointId));
      await expect(firstValueFrom(client.send('sum', [2, 3]))).resolves.toBe(5);
    } finally {
      await context.close();
    }
  });
});

describe('ClientGrpcIroh with several peers', () => {
  const apps: INestMicroservice[] = [];
  const heroServers: IrohGrpcServer[] = [];

  beforeAll(async () => {
    for (let i = 0; i < 2; i++) {
      const server = new IrohGrpcServer({ ...LOOPBACK, package: 'hero', protoPath: HERO_PROTO });
      const app = await NestFactory.createMicroservice(HeroesModule, { strategy: server, logger: false });
      await app.listen();
      apps.push(app);
      heroServers.push(server);
    }
  });

  afterAll(async () => {
    await Promise.all(apps.map(app => app.close()));
  });

  it('sends calls to both servers', async () => {
    const client = new ClientGrpcIroh({ ...LOOPBACK, package: 'hero', protoPath: HERO_PROTO, peers: heroServers.map(s => s.ticket) });
    try {
      const heroes = client.getService<HeroesService>('HeroesService');
      expect((await client.pingAll()).map(p => p.error)).toEqual([null, null]);
      const slow = Promise.all(Array.from({ length: 4 }, () => firstValueFrom(heroes.slow({ ms: 300 }))));
      await eventually(() => heroServers.every(s => s.inflightRequests > 0), 2000, 'calls on both servers');
      await expect(slow).resolves.toEqual(Array.from({ length: 4 }, () => HEROES[0]));
      await expect(firstValueFrom(heroes.findOne({ id: 2 }))).resolves.toEqual(HEROES[1]);
    } finally {
      await client.close();
    }
  });
});
