import { Controller, Module } from '@nestjs/common';
import { Ctx, MessagePattern, Payload } from '@nestjs/microservices';
import { Observable } from 'rxjs';
import { IrohContext } from '../../src';

/**
 * The service of the scale-out tests, run as one of several instances
 * (test/support/scale-out-server.ts). Every run of a request is printed (`RAN <id>`), so a
 * test can tell that nothing ran twice, even on an instance it killed.
 */
@Controller()
export class ScaleOutController {
  static instance = process.env.INSTANCE ?? 'server';

  @MessagePattern('work')
  async work(@Payload() { id, ms }: { id: string; ms: number }): Promise<{ id: string; instance: string }> {
    process.stdout.write(`RAN ${id}\n`);
    await new Promise(resolve => setTimeout(resolve, ms));
    return { id, instance: ScaleOutController.instance };
  }

  @MessagePattern('instance')
  instance(): string {
    return ScaleOutController.instance;
  }

  /** The deadline the handler sees, and this server's clock. */
  @MessagePattern('deadline')
  deadline(@Payload() _data: unknown, @Ctx() ctx: IrohContext): { deadline: number | null; now: number } {
    const getDeadline = (ctx as unknown as { getDeadline?: () => number | undefined }).getDeadline;
    return { deadline: getDeadline?.call(ctx) ?? null, now: Date.now() };
  }

  /** Never answers; prints `CANCELLED <tag> <ms since start>` when the server stops it. */
  @MessagePattern('hang')
  hang(@Payload() tag: string): Observable<never> {
    return new Observable<never>(() => {
      const started = Date.now();
      process.stdout.write(`STARTED ${tag}\n`);
      return () => process.stdout.write(`CANCELLED ${tag} ${Date.now() - started}\n`);
    });
  }
}

@Module({ controllers: [ScaleOutController] })
export class ScaleOutModule {}
