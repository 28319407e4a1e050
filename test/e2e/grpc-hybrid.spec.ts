import 'reflect-metadata';
import { Controller, INestApplication, INestApplicationContext, Module } from '@nestjs/common';
import { AbstractHttpAdapter, NestFactory } from '@nestjs/core';
import { createServer as createHttpServer } from 'http';
import { MessagePattern, ServerGrpc, Transport } from '@nestjs/microservices';
import { firstValueFrom, from } from 'rxjs';
import { ClientIroh, IROH_TRANSPORT, NO_MESSAGE_HANDLER } from '../../src';
import { IrohGrpcServer } from '../../src/grpc';
import { HeroCaller, HeroCallerModule, HeroTransport } from '../fixtures/grpc/hero-caller';
import { HERO_PROTO, HEROES, HeroesController } from '../fixtures/grpc/heroes.controller';
import { LOOPBACK, call, callError, irohClient } from '../support/harness';
import { freeTcpPort } from '../support/ports';

jest.setTimeout(60_000);

/**
 * A hybrid app's HTTP side that never listens: this suite is about its microservices, and
 * runs against Nest 11 too, whose HTTP platform package is not installed here.
 */
class UnusedHttpAdapter extends AbstractHttpAdapter {
  constructor() {
    super({});
  }
  initHttpServer(): void {
    this.httpServer = createHttpServer();
  }
  getType(): string {
    return 'none';
  }
  close(): void {}
  registerParserMiddleware(): void {}
  setErrorHandler(): void {}
  setNotFoundHandler(): void {}
  enableCors(): void {}
  createMiddlewareFactory() {
    return () => undefined;
  }
  applyVersionFilter() {
    return () => () => undefined;
  }
  useStaticAssets(): void {}
  setViewEngine(): void {}
  getRequestHostname(): string {
    return '';
  }
  getRequestMethod(): string {
    return '';
  }
  getRequestUrl(): string {
    return '';
  }
  status(): void {}
  reply(): void {}
  end(): void {}
  render(): void {}
  redirect(): void {}
  isHeadersSent(): boolean {
    return false;
  }
  getHeader(): undefined {
    return undefined;
  }
  setHeader(): void {}
  appendHeader(): void {}
}

/** Message handlers next to the gRPC controller, as a hybrid app may have them. */
@Controller()
class HeroPatternsController {
  @MessagePattern('heroes.count')
  count(): number {
    return HEROES.length;
  }

  @MessagePattern('heroes.iroh-only', IROH_TRANSPORT)
  irohOnly(): string {
    return 'iroh only';
  }
}

@Module({ controllers: [HeroesController, HeroPatternsController] })
class HybridHeroesModule {}

describe('one app serving the same controller over Nest gRPC and over iroh at once', () => {
  let app: INestApplication;
  let iroh: IrohGrpcServer;
  let url: string;
  const contexts: INestApplicationContext[] = [];

  beforeAll(async () => {
    url = `127.0.0.1:${await freeTcpPort()}`;
    iroh = new IrohGrpcServer({ ...LOOPBACK, package: 'hero', protoPath: HERO_PROTO });
    app = await NestFactory.create(HybridHeroesModule, new UnusedHttpAdapter(), { logger: false });
    app.connectMicroservice({ transport: Transport.GRPC, options: { package: 'hero', protoPath: HERO_PROTO, url } });
    app.connectMicroservice({ strategy: iroh });
    await app.startAllMicroservices();
    await app.init();
  });

  afterAll(async () => {
    for (const context of contexts) await context.close();
    await app?.close();
  });

  async function callerFor(transport: HeroTransport): Promise<HeroCaller> {
    const context = await NestFactory.createApplicationContext(HeroCallerModule.register(transport), { logger: false });
    contexts.push(context);
    return context.get(HeroCaller);
  }

  it("answers the same caller code over both, switched by the client module's config", async () => {
    const overGrpc = await callerFor({ kind: 'grpc', url });
    const overIroh = await callerFor({ kind: 'iroh', peer: iroh.ticket, proto: true });
    for (const caller of [overGrpc, overIroh]) {
      await expect(caller.findOne(1, 'hybrid')).resolves.toEqual({ ...HEROES[0], caller: 'hybrid' });
      await expect(caller.findMany([2, 3])).resolves.toEqual([HEROES[1], HEROES[2]]);
      await expect(caller.countHeroes(from([{ id: 1 }, { id: 2 }]))).resolves.toEqual({ count: 2, ids: [1, 2] });
      await expect(caller.chat(from([{ text: 'hi' }]))).resolves.toEqual([{ text: 'echo: hi' }]);
    }
  });

  it('still serves message patterns bound to no transport over iroh; those bound to IROH_TRANSPORT are not registered on a gRPC-serving server', async () => {
    const client: ClientIroh = irohClient(iroh.ticket);
    try {
      await expect(call(client, 'heroes.count', {})).resolves.toBe(HEROES.length);
      await expect(callError(client, 'heroes.iroh-only', {})).resolves.toBe(NO_MESSAGE_HANDLER);
    } finally {
      await client.close();
    }
  });

  it('is a gRPC server to Nest, with the status of an iroh server', async () => {
    expect(iroh.transportId).toBe(Transport.GRPC);
    expect(iroh).toBeInstanceOf(ServerGrpc);
    await expect(firstValueFrom(iroh.irohStatus)).resolves.toBe('connected');
  });
});
