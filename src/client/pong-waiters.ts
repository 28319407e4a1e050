import { IrohClientError, IrohClientErrorCode } from './client-errors';

type PongWaiter = (error: Error | null, payload?: Buffer) => void;

/** PINGs waiting for their PONG, by id (HELLO's and ping()'s; keep-alive PINGs wait for nothing). */
export class PongWaiters {
  private readonly waiting = new Map<number, PongWaiter>();

  /** Resolves with the PONG's payload, or fails after `timeoutMs` (TIMEOUT) or with the stream. */
  wait(id: number, timeoutMs: number, what: string): Promise<Buffer> {
    return new Promise<Buffer>((resolve, reject) => {
      const timer = setTimeout(
        () => {
          this.waiting.delete(id);
          reject(new IrohClientError(IrohClientErrorCode.TIMEOUT, `No ${what} within ${Math.round(timeoutMs)} ms`));
        },
        Math.max(0, timeoutMs),
      );
      this.waiting.set(id, (error, payload) => {
        clearTimeout(timer);
        if (error) reject(error);
        else resolve(payload as Buffer);
      });
    });
  }

  /** A PONG arrived. */
  answer(id: number, payload: Buffer): void {
    const waiter = this.waiting.get(id);
    if (!waiter) return;
    this.waiting.delete(id);
    waiter(null, payload);
  }

  failAll(error: Error): void {
    const waiters = [...this.waiting.values()];
    this.waiting.clear();
    for (const waiter of waiters) waiter(error);
  }
}
