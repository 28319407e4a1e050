// A microservice with no handlers that listens, closes and reports, in a process that nothing
// else keeps alive: `await app.close()` must return before the process may exit.
// Argv: [bindAddr]. Prints `after close` and sets exit code 3.
import 'reflect-metadata';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { IrohServer } from '../../src';
import { IO_THREAD_OPTION } from './io-thread-option';

@Module({})
class EmptyModule {}

async function main(): Promise<void> {
  const strategy = new IrohServer({ relayMode: 'disabled', bindAddr: process.argv[2] ?? '127.0.0.1:0', ...IO_THREAD_OPTION });
  const app = await NestFactory.createMicroservice(EmptyModule, { strategy, logger: false });
  await app.listen();
  await app.close();
  process.stdout.write('after close\n');
  process.exitCode = 3;
}

void main();
