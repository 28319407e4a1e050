import 'reflect-metadata';
import { INestMicroservice, Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ClientProxy } from '@nestjs/microservices';
import { firstValueFrom, lastValueFrom, Observable, timeout, toArray } from 'rxjs';
import { ClientIroh, ClientIrohOptions, IrohServer, IrohServerOptions } from '../../src';
import { IO_THREAD_OPTION } from './io-thread-option';

/** Loopback, no relays: what every test endpoint uses (in an I/O thread with `IROH_TEST_IO_THREAD=1`). */
export const LOOPBACK = { relayMode: 'disabled' as const, bindAddr: '127.0.0.1:0', ...IO_THREAD_OPTION };

export interface RunningServer {
  app: INestMicroservice;
  server: IrohServer;
  ticket: string;
}

export async function startIrohServer(module: Type<unknown>, options: IrohServerOptions = {}): Promise<RunningServer> {
  const server = new IrohServer({ ...LOOPBACK, ...options });
  const app = await NestFactory.createMicroservice(module, { strategy: server, logger: false });
  await app.listen();
  return { app, server, ticket: server.ticket };
}

export function irohClient(ticket: string, options: Partial<ClientIrohOptions> = {}): ClientIroh {
  return new ClientIroh({ ...LOOPBACK, peer: ticket, ...options });
}

/** The one reply of a request, failing the test after `ms`. */
export function call<T = any>(client: ClientProxy, pattern: unknown, data: unknown, ms = 10_000): Promise<T> {
  return firstValueFrom(client.send<T>(pattern, data).pipe(timeout(ms)));
}

/** All replies of a request, in order. */
export function callAll<T = any>(client: ClientProxy, pattern: unknown, data: unknown, ms = 10_000): Promise<T[]> {
  return lastValueFrom(client.send<T>(pattern, data).pipe(toArray(), timeout(ms)));
}

/** The error a request fails with (rejects if it succeeds). */
export async function callError(client: ClientProxy, pattern: unknown, data: unknown, ms = 10_000): Promise<any> {
  try {
    const value = await call(client, pattern, data, ms);
    throw new Error(`expected an error, got ${JSON.stringify(value)}`);
  } catch (err) {
    return err;
  }
}

export async function eventually(check: () => boolean, ms = 5000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise(r => setTimeout(r, 10));
  }
}

export function settle<T>(source: Observable<T>): Promise<{ values: T[]; error?: unknown }> {
  return new Promise(resolve => {
    const values: T[] = [];
    source.subscribe({
      next: v => values.push(v),
      error: error => resolve({ values, error }),
      complete: () => resolve({ values }),
    });
  });
}
