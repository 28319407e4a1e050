/**
 * A handler whose teardown throws (rxjs UnsubscriptionError) on cancel or disconnect: only
 * that request is affected; the stream, the other requests and the process carry on.
 */
import { Controller, Module } from '@nestjs/common';
import { MessagePattern, Payload } from '@nestjs/microservices';
import { firstValueFrom, interval, finalize, Observable } from 'rxjs';
import { call, irohClient, settle, startIrohServer } from '../support/harness';

jest.setTimeout(30_000);

@Controller()
class TeardownController {
  @MessagePattern('ticks.bad.teardown')
  ticks(): Observable<number> {
    return interval(10).pipe(
      finalize(() => {
        throw new Error('teardown failed');
      }),
    );
  }
  @MessagePattern('delay')
  async delay(@Payload() ms: number): Promise<string> {
    await new Promise(r => setTimeout(r, ms));
    return 'done';
  }
}
@Module({ controllers: [TeardownController] })
class TeardownModule {}

describe('a teardown that throws during cancellation', () => {
  it('fails only the cancelled request; other requests on the connection are answered', async () => {
    const running = await startIrohServer(TeardownModule);
    const client = irohClient(running.ticket, { keepAliveInterval: 0 }); // isolate from keep-alive
    try {
      await client.connect();
      const other = settle(client.send('delay', 500));
      // take the first value, then unsubscribe: CANCEL -> the handler's teardown throws
      await firstValueFrom(client.send('ticks.bad.teardown', {}));
      let timer: NodeJS.Timeout | undefined;
      const otherResult = await Promise.race([other, new Promise(r => (timer = setTimeout(() => r('no answer within 5 s'), 5000)))]);
      clearTimeout(timer);
      const next = await call(client, 'delay', 1, 3000).catch((e: any) => `failed: ${e?.message ?? e}`);
      expect({ otherResult, next }).toEqual({ otherResult: { values: ['done'] }, next: 'done' });
    } finally {
      await client.close();
      await running.app.close();
    }
  });

  it('a client that disconnects while such a handler runs causes no unhandled rejection on the server', async () => {
    const rejections: unknown[] = [];
    const onRejection = (reason: unknown) => rejections.push(reason);
    process.on('unhandledRejection', onRejection);
    const running = await startIrohServer(TeardownModule);
    const client = irohClient(running.ticket);
    try {
      const sub = client.send('ticks.bad.teardown', {}).subscribe({ error: () => undefined });
      await new Promise(r => setTimeout(r, 300));
      await client.close(); // connection closed -> onPeerClosed -> channel.close() -> teardown throws
      await new Promise(r => setTimeout(r, 500));
      sub.unsubscribe();
      expect(rejections.map(r => String(r))).toEqual([]);
    } finally {
      process.off('unhandledRejection', onRejection);
      await running.app.close();
    }
  });
});
