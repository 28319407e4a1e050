import 'reflect-metadata';
import {
  CallHandler,
  CanActivate,
  Controller,
  ExecutionContext,
  INestMicroservice,
  Injectable,
  Module,
  NestInterceptor,
  UseGuards,
  UseInterceptors,
} from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ClientGrpc, ClientGrpcProxy, GrpcMethod, Transport } from '@nestjs/microservices';
import { Metadata, status } from '@grpc/grpc-js';
import { Observable, Subject, firstValueFrom, lastValueFrom, map, of, range, take, timeout, toArray } from 'rxjs';
import { randomBytes } from 'crypto';
import { endpointIdOf, generateSecretKey } from '../../src';
import { ClientGrpcIroh, IrohGrpcServer } from '../../src/grpc';
import { HERO_PROTO, HEROES, HeroesModule, MISSING_ID, observed } from '../fixtures/grpc/heroes.controller';
import { HeroesService } from '../fixtures/grpc/hero-caller';
import { LOOPBACK, eventually, startIrohServer } from '../support/harness';
import { freeTcpPort } from '../support/ports';
import { MathModule } from '../support/math.app';

jest.setTimeout(60_000);

/** Calls through the client `getClientByServiceName` returns: @grpc/grpc-js's calling conventions. */
const rawCalls = {
  unary: (client: any) =>
    new Promise((resolve, reject) => client.findOne({ id: 2 }, (err: unknown, hero: unknown) => (err ? reject(err) : resolve(hero)))),
  unaryWithMetadata: (client: any) => {
    const metadata = new Metadata();
    metadata.add('caller', 'raw');
    return new Promise((resolve, reject) =>
      client.findOne({ id: 1 }, metadata, { deadline: Date.now() + 5000 }, (err: unknown, hero: unknown) =>
        err ? reject(err) : resolve(hero),
      ),
    );
  },
  unaryError: (client: any) =>
    new Promise((resolve, reject) =>
      client.findOne({ id: MISSING_ID }, (err: unknown, hero: unknown) => (err ? reject(err) : resolve(hero))),
    ),
  serverStreaming: (client: any) =>
    new Promise((resolve, reject) => {
      const heroes: unknown[] = [];
      const call = client.findMany({ ids: [3, 1] });
      call.on('data', (hero: unknown) => heroes.push(hero));
      call.on('error', reject);
      call.on('end', () => resolve(heroes));
    }),
  clientStreaming: (client: any) =>
    new Promise((resolve, reject) => {
      const call = client.countHeroes((err: unknown, count: unknown) => (err ? reject(err) : resolve(count)));
      call.write({ id: 4 });
      call.write({ id: 5 });
      call.end();
    }),
  bidirectional: (client: any) =>
    new Promise((resolve, reject) => {
      const lines: unknown[] = [];
      const call = client.chat();
      call.on('data', (line: unknown) => lines.push(line));
      call.on('error', reject);
      call.on('end', () => resolve(lines));
      call.write({ text: 'one' });
      call.write({ text: 'two' });
      call.end();
    }),
  cancelled: (client: any) =>
    new Promise((resolve, reject) => {
      const call = client.ticks({ intervalMs: 10 });
      call.once('data', () => call.cancel());
      call.on('error', reject);
      call.on('end', () => resolve('ended'));
    }),
};

function outcome(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    value => ({ value }),
    (err: any) => ({ error: { code: err.code, details: err.details, message: err.message } }),
  );
}

describe('getClientByServiceName: the same raw-client code over Nest gRPC and over iroh', () => {
  let grpcApp: INestMicroservice;
  let irohApp: INestMicroservice;
  let grpcClient: ClientGrpcProxy;
  let irohClient: ClientGrpcIroh;

  beforeAll(async () => {
    const url = `127.0.0.1:${await freeTcpPort()}`;
    grpcApp = await NestFactory.createMicroservice(HeroesModule, {
      transport: Transport.GRPC,
      options: { package: 'hero', protoPath: HERO_PROTO, url },
      logger: false,
    });
    await grpcApp.listen();
    const server = new IrohGrpcServer({ ...LOOPBACK, package: 'hero', protoPath: HERO_PROTO });
    irohApp = await NestFactory.createMicroservice(HeroesModule, { strategy: server, logger: false });
    await irohApp.listen();
    grpcClient = new ClientGrpcProxy({ package: 'hero', protoPath: HERO_PROTO, url });
    irohClient = new ClientGrpcIroh({ ...LOOPBACK, package: 'hero', protoPath: HERO_PROTO, peer: server.ticket });
  });

  afterAll(async () => {
    grpcClient?.close();
    await irohClient?.close();
    await grpcApp?.close();
    await irohApp?.close();
  });

  it.each(Object.keys(rawCalls))('%s', async name => {
    const run = rawCalls[name as keyof typeof rawCalls];
    const overGrpc = await outcome(run(grpcClient.getClientByServiceName('HeroesService')));
    const overIroh = await outcome(run(irohClient.getClientByServiceName('HeroesService')));
    expect(overIroh).toEqual(overGrpc);
  });

  it('a request that does not fit its message type fails before it is sent, as over gRPC', async () => {
    const call = (client: ClientGrpc) => outcome(firstValueFrom(client.getService<any>('HeroesService').findMany({ ids: 'not a list' })));
    const overGrpc = await call(grpcClient);
    expect(overGrpc).toMatchObject({ error: { code: status.INTERNAL } });
    expect(await call(irohClient)).toEqual(overGrpc);
  });

  it('reports a cancelled call as @grpc/grpc-js does', async () => {
    expect(await outcome(rawCalls.cancelled(irohClient.getClientByServiceName('HeroesService')))).toEqual({
      error: { code: status.CANCELLED, details: 'Cancelled on client', message: '1 CANCELLED: Cancelled on client' },
    });
  });
});

describe('ClientGrpcIroh', () => {
  let irohApp: INestMicroservice;
  let server: IrohGrpcServer;

  beforeAll(async () => {
    server = new IrohGrpcServer({ ...LOOPBACK, package: 'hero', protoPath: HERO_PROTO, maxMessageSize: 4096 });
    irohApp = await NestFactory.createMicroservice(HeroesModule, { strategy: server, logger: false });
    await irohApp.listen();
  });

  afterAll(async () => {
    await irohApp?.close();
  });

  beforeEach(() => observed.reset());

  async function withClient<T>(
    options: Partial<ConstructorParameters<typeof ClientGrpcIroh>[0]>,
    use: (client: ClientGrpcIroh) => Promise<T>,
  ): Promise<T> {
    const client = new ClientGrpcIroh({ ...LOOPBACK, package: 'hero', protoPath: HERO_PROTO, peer: server.ticket, ...options });
    try {
      return await use(client);
    } finally {
      await client.close();
    }
  }

  it('offers each method under both names generated clients have', async () => {
    await withClient({}, async client => {
      const heroes = client.getService<any>('HeroesService');
      expect(typeof heroes.FindOne).toBe('function');
      expect(typeof heroes.findOne).toBe('function');
      await expect(firstValueFrom(heroes.FindOne({ id: 3 }))).resolves.toEqual(HEROES[2]);
    });
  });

  it("refuses unknown services as Nest's gRPC client does", async () => {
    await withClient({}, async client => {
      expect(() => client.getService('VillainsService')).toThrow('The invalid gRPC service (service "VillainsService" not found)');
    });
  });

  it('needs the .proto for getClientByServiceName', async () => {
    await withClient({ protoPath: undefined }, async client => {
      expect(() => client.getClientByServiceName('HeroesService')).toThrow(/needs the service's \.proto/);
    });
  });

  it("fails a request stream message over the server's size limit with RESOURCE_EXHAUSTED, and the connection carries on", async () => {
    await withClient({}, async client => {
      const heroes = client.getService<HeroesService>('HeroesService');
      const lines = new Subject<{ text: string }>();
      const chat = lastValueFrom(heroes.chat(lines).pipe(toArray(), timeout(10_000))).catch(err => err);
      lines.next({ text: 'short' });
      lines.next({ text: randomBytes(6000).toString('base64') });
      const error = await chat;
      expect(error).toMatchObject({ code: status.RESOURCE_EXHAUSTED });
      expect(error.details).toMatch(/exceeds the maximum message size of 4096 bytes/);
      // Compressible, it arrives small but would inflate past the limit: refused as well.
      const inflating = await lastValueFrom(heroes.chat(of({ text: 'x'.repeat(10_000) })).pipe(toArray(), timeout(10_000))).catch(
        err => err,
      );
      expect(inflating).toMatchObject({ code: status.RESOURCE_EXHAUSTED });
      expect(inflating.details).toMatch(/exceeds the maximum message size of 4096 bytes/);
      await expect(firstValueFrom(heroes.findOne({ id: 1 }))).resolves.toEqual(HEROES[0]);
    });
  });

  it("stops the server's handler when the caller unsubscribes in the middle of its request stream", async () => {
    await withClient({}, async client => {
      const heroes = client.getService<HeroesService>('HeroesService');
      const ids = new Subject<{ id: number }>();
      const subscription = heroes.findEach(ids).subscribe();
      ids.next({ id: 1 });
      await eventually(() => server.inflightRequests === 1, 5000, 'the call to reach the server');
      subscription.unsubscribe();
      await eventually(() => server.inflightRequests === 0, 5000, 'the server to drop the call');
      expect(ids.observed).toBe(false);
    });
  });

  it("maps the client's own timeout to DEADLINE_EXCEEDED", async () => {
    await withClient({ timeout: 100 }, async client => {
      // Connected first: the timeout counts connecting too, and the server must see the call.
      await client.connect();
      const heroes = client.getService<HeroesService>('HeroesService');
      const error = await firstValueFrom(heroes.slow({ ms: 2000 })).catch(err => err);
      expect(error).toMatchObject({
        code: status.DEADLINE_EXCEEDED,
        details: 'Deadline exceeded',
        message: '4 DEADLINE_EXCEEDED: Deadline exceeded',
      });
      await eventually(() => observed.cancelledCalls === 1, 5000, 'the server to see the call cancelled');
    });
  });

  it('fails with DEADLINE_EXCEEDED at once for a deadline already past, without calling', async () => {
    await withClient({}, async client => {
      const heroes = client.getService<HeroesService>('HeroesService');
      const error = await firstValueFrom(heroes.findOne({ id: 1 }, new Metadata(), { deadline: Date.now() - 1 })).catch(err => err);
      expect(error).toMatchObject({ code: status.DEADLINE_EXCEEDED });
      expect(observed.paths).toEqual([]);
    });
  });

  it('fails with UNAVAILABLE when the server cannot be reached', async () => {
    const client = new ClientGrpcIroh({
      ...LOOPBACK,
      package: 'hero',
      protoPath: HERO_PROTO,
      // An endpoint nobody runs: with relays and discovery off there is no way to reach it.
      peer: endpointIdOf(generateSecretKey()),
      connectTimeout: 500,
      retryAttempts: 0,
    });
    try {
      const error = await firstValueFrom(client.getService<HeroesService>('HeroesService').findOne({ id: 1 })).catch(err => err);
      expect(error).toMatchObject({ code: status.UNAVAILABLE });
    } finally {
      await client.close();
    }
  });

  it('streams many messages both ways', async () => {
    await withClient({}, async client => {
      const heroes = client.getService<HeroesService>('HeroesService');
      const lines = range(1, 2000).pipe(map(i => ({ text: `line ${i}` })));
      const echoes = await lastValueFrom(heroes.chat(lines).pipe(toArray(), timeout(20_000)));
      expect(echoes).toHaveLength(2000);
      expect(echoes[1999]).toEqual({ text: 'echo: line 2000' });
    });
  });
});

describe('gRPC calls to a server that does not serve gRPC', () => {
  it('fail with UNIMPLEMENTED, request streams included, and the connection carries on', async () => {
    const running = await startIrohServer(MathModule);
    const client = new ClientGrpcIroh({ ...LOOPBACK, peer: running.ticket, package: 'hero' });
    try {
      const heroes = client.getService<HeroesService>('HeroesService');
      await expect(firstValueFrom(heroes.findOne({ id: 1 }))).rejects.toMatchObject({
        code: status.UNIMPLEMENTED,
        details: 'The server does not implement the method /hero.HeroesService/FindOne',
      });
      const ids = new Subject<{ id: number }>();
      const counted = firstValueFrom(heroes.countHeroes(ids)).catch(err => err);
      for (let id = 1; id <= 20; id++) ids.next({ id });
      expect(await counted).toMatchObject({ code: status.UNIMPLEMENTED });
      for (let id = 21; id <= 40; id++) ids.next({ id });
      ids.complete();
      // The same client's message patterns still work: the stream was not closed.
      await expect(firstValueFrom(client.send('sum', [1, 2]).pipe(take(1)))).resolves.toBe(3);
    } finally {
      await client.close();
      await running.app.close();
    }
  });
});

@Injectable()
class DenyThirteen implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    return context.switchToRpc().getData<{ id: number }>().id !== 13;
  }
}

@Injectable()
class ShoutNames implements NestInterceptor {
  intercept(_context: ExecutionContext, next: CallHandler): Observable<unknown> {
    return next.handle().pipe(map((hero: { name: string }) => ({ ...hero, name: hero.name.toUpperCase() })));
  }
}

@Controller()
class GuardedHeroesController {
  @GrpcMethod('HeroesService', 'FindOne')
  @UseGuards(DenyThirteen)
  @UseInterceptors(ShoutNames)
  findOne({ id }: { id: number }) {
    return HEROES.find(hero => hero.id === id);
  }
}

@Module({ controllers: [GuardedHeroesController] })
class GuardedHeroesModule {}

describe('guards, interceptors and processing hooks around gRPC calls', () => {
  it('run the same over Nest gRPC and over iroh', async () => {
    const url = `127.0.0.1:${await freeTcpPort()}`;
    const grpcApp = await NestFactory.createMicroservice(GuardedHeroesModule, {
      transport: Transport.GRPC,
      options: { package: 'hero', protoPath: HERO_PROTO, url },
      logger: false,
    });
    const irohServer = new IrohGrpcServer({ ...LOOPBACK, package: 'hero', protoPath: HERO_PROTO });
    const irohApp = await NestFactory.createMicroservice(GuardedHeroesModule, { strategy: irohServer, logger: false });
    const hooksSeen: Record<string, string[]> = { grpc: [], iroh: [] };
    const servers = { grpc: (grpcApp as any).serverInstance, iroh: irohServer as any };
    for (const [name, server] of Object.entries(servers)) {
      server.setOnProcessingStartHook((_transport: unknown, context: { operationId: string }, done: () => Promise<unknown>) => {
        hooksSeen[name].push(`start ${context.operationId}`);
        return done();
      });
      server.setOnProcessingEndHook((_transport: unknown, request: { id: number }) => hooksSeen[name].push(`end ${request.id}`));
    }
    await grpcApp.listen();
    await irohApp.listen();
    const clients = {
      grpc: new ClientGrpcProxy({ package: 'hero', protoPath: HERO_PROTO, url }),
      iroh: new ClientGrpcIroh({ ...LOOPBACK, package: 'hero', protoPath: HERO_PROTO, peer: irohServer.ticket }),
    };
    try {
      const results: Record<string, unknown[]> = {};
      for (const [name, client] of Object.entries(clients)) {
        const heroes = client.getService<HeroesService>('HeroesService');
        results[name] = [
          await outcome(firstValueFrom(heroes.findOne({ id: 2 }))),
          await outcome(firstValueFrom(heroes.findOne({ id: 13 }))),
        ];
      }
      expect(results.grpc).toEqual([
        { value: { ...HEROES[1], name: 'GRACE' } },
        { error: { code: status.UNKNOWN, details: 'Forbidden resource', message: '2 UNKNOWN: Forbidden resource' } },
      ]);
      expect(results.iroh).toEqual(results.grpc);
      await eventually(() => hooksSeen.iroh.length === 4 && hooksSeen.grpc.length === 4, 5000, 'the end hooks');
      expect(hooksSeen.grpc).toEqual(['start FindOne', 'end 2', 'start FindOne', 'end 13']);
      expect(hooksSeen.iroh).toEqual(hooksSeen.grpc);
    } finally {
      clients.grpc.close();
      await clients.iroh.close();
      await grpcApp.close();
      await irohApp.close();
    }
  });
});

// Type-level check: ClientGrpcIroh is a ClientGrpc.
const asClientGrpc: (client: ClientGrpcIroh) => ClientGrpc = client => client;
void asClientGrpc;
