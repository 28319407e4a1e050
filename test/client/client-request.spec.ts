import { ClientRequest, RequestCarrier, RequestRouter, RequestState } from '../../src/client/client-request';
import { IrohClientError } from '../../src/client/client-errors';
import {
  EncodedPayload,
  Feature,
  FrameFlag,
  FrameType,
  ReplyMessage,
  decodeRequestMessage,
  encodeRequestMessage,
} from '../../src/protocol';

const payload = (): EncodedPayload => encodeRequestMessage('sum', [1, 2], undefined, 0);
const message = (n: number): EncodedPayload => ({ bytes: Buffer.from([n]), flags: FrameFlag.BINARY });

/** Records what a request does to the channel it is written to. */
class FakeCarrier implements RequestCarrier {
  readonly calls: string[] = [];
  sendData(id: number, data: EncodedPayload): void {
    this.calls.push(`DATA ${id} ${data.bytes[0]}`);
  }
  sendEnd(id: number): void {
    this.calls.push(`END ${id}`);
  }
  abandon(id: number): void {
    this.calls.push(`CANCEL ${id}`);
  }
}

class FakeRouter implements RequestRouter {
  readonly rerouted: ClientRequest[] = [];
  readonly dequeued: ClientRequest[] = [];
  accept = true;
  reroute(request: ClientRequest): boolean {
    this.rerouted.push(request);
    return this.accept;
  }
  dequeue(request: ClientRequest): void {
    this.dequeued.push(request);
  }
}

function start(options: { deadline?: number; upload?: boolean } = {}) {
  const replies: ReplyMessage[] = [];
  const request = new ClientRequest({
    payload: payload(),
    callback: reply => replies.push(reply),
    deadline: options.deadline ?? Infinity,
    upload: options.upload,
  });
  const router = new FakeRouter();
  request.router = router;
  return { request, replies, router, carrier: new FakeCarrier() };
}

describe('ClientRequest', () => {
  it('a deadline that passes while queued fails it with TIMEOUT and takes it out of the queue', async () => {
    const { request, replies, router } = start({ deadline: Date.now() + 30 });
    await new Promise(r => setTimeout(r, 60));
    expect(router.dequeued).toEqual([request]);
    expect(replies).toHaveLength(1);
    expect(replies[0].err).toBeInstanceOf(IrohClientError);
    expect(replies[0].err).toMatchObject({
      code: 'TIMEOUT',
      message: expect.stringMatching(/No reply within \d+ ms \(no server was ready in time\)/),
    });
    expect(request.state).toBe(RequestState.FINISHED);
  });

  it('a deadline that passes once written cancels it on the server and fails it with TIMEOUT', async () => {
    const { request, replies, carrier } = start({ deadline: Date.now() + 30 });
    request.written(carrier, 7);
    await new Promise(r => setTimeout(r, 60));
    expect(carrier.calls).toEqual(['CANCEL 7']);
    expect(replies).toEqual([{ err: expect.objectContaining({ code: 'TIMEOUT' }), isDisposed: true }]);
  });

  it('finishes once: replies after the last one, and a cancel after it, do nothing', () => {
    const { request, replies, carrier } = start();
    request.written(carrier, 1);
    request.reply({ response: 1 });
    request.finish({ response: 2, isDisposed: true });
    request.finish({ response: 3, isDisposed: true });
    request.reply({ response: 4 });
    request.cancel();
    expect(replies).toEqual([{ response: 1 }, { response: 2, isDisposed: true }]);
    expect(carrier.calls).toEqual([]);
  });

  it('cancel: a queued request leaves the queue, a written one is cancelled on the server; no callback', () => {
    const queued = start();
    queued.request.cancel();
    expect(queued.router.dequeued).toEqual([queued.request]);
    const written = start();
    written.request.written(written.carrier, 3);
    written.request.cancel();
    expect(written.carrier.calls).toEqual(['CANCEL 3']);
    expect([...queued.replies, ...written.replies]).toEqual([]);
  });

  it('carries the time left to servers that announced DEADLINE, computed when written', async () => {
    const deadline = Date.now() + 1000;
    const { request } = start({ deadline });
    expect(request.payloadFor(0)).toEqual(payload());
    await new Promise(r => setTimeout(r, 50));
    const left = deadline - Date.now();
    const withDeadline = request.payloadFor(Feature.DEADLINE)!;
    expect(withDeadline.flags & FrameFlag.DEADLINE).toBe(FrameFlag.DEADLINE);
    const decoded = decodeRequestMessage(
      { type: FrameType.REQUEST, flags: withDeadline.flags, id: 1, payload: withDeadline.bytes },
      1 << 20,
    );
    expect(decoded.timeoutMs).toBeLessThanOrEqual(950);
    expect(Math.abs(decoded.timeoutMs! - left)).toBeLessThanOrEqual(2);
    expect(decoded).toMatchObject({ envelope: false, body: { pattern: 'sum' } });
    request.cancel();
    // Without a deadline nothing is added, whatever the server supports.
    expect(start().request.payloadFor(Feature.DEADLINE)).toEqual(payload());
  });

  it('has no payload once its deadline has passed', async () => {
    const { request } = start({ deadline: Date.now() + 10 });
    await new Promise(r => setTimeout(r, 30));
    expect(request.payloadFor(Feature.DEADLINE)).toBeNull();
  });

  it('builds a payload from the time left when given a function', () => {
    const seen: number[] = [];
    const request = new ClientRequest({
      payload: remaining => {
        seen.push(remaining);
        return payload();
      },
      callback: () => undefined,
      deadline: Date.now() + 500,
    });
    request.payloadFor(0);
    expect(seen[0]).toBeGreaterThan(0);
    expect(seen[0]).toBeLessThanOrEqual(500);
    request.cancel();
  });

  it('keeps request-stream messages given while queued and sends them, then END, once written', () => {
    const { request, carrier } = start({ upload: true });
    expect(request.send(message(1))).toBe(true);
    expect(request.send(message(2))).toBe(true);
    request.end();
    expect(request.send(message(3))).toBe(false);
    request.written(carrier, 4);
    expect(carrier.calls).toEqual(['DATA 4 1', 'DATA 4 2', 'END 4']);
    expect(request.closeUpload()).toBe(false);
  });

  it('sends request-stream messages at once when written; the stream is still open when the server ends it', () => {
    const { request, carrier } = start({ upload: true });
    request.written(carrier, 2);
    request.send(message(9));
    expect(carrier.calls).toEqual(['DATA 2 9']);
    expect(request.closeUpload()).toBe(true);
    expect(request.closeUpload()).toBe(false);
  });

  it('refused before running: goes to another peer, with its request stream replayed there', () => {
    const { request, router, replies } = start({ upload: true });
    const first = new FakeCarrier();
    request.peer = 'peer-a';
    request.written(first, 1);
    request.send(message(5));
    expect(request.retryElsewhere()).toBe(true);
    expect(router.rerouted).toEqual([request]);
    expect(request.refusedBy.has('peer-a')).toBe(true);
    expect(request.state).toBe(RequestState.QUEUED);
    const second = new FakeCarrier();
    request.written(second, 9);
    expect(second.calls).toEqual(['DATA 9 5']);
    expect(replies).toEqual([]);
  });

  it('once a reply came it may have run: it is never sent elsewhere', () => {
    const { request, router, carrier } = start();
    request.written(carrier, 1);
    request.reply({ response: 1 });
    expect(request.isRetryable).toBe(false);
    expect(request.retryElsewhere()).toBe(false);
    expect(router.rerouted).toEqual([]);
  });

  it('a request stream larger than the retry buffer commits the request', () => {
    const { request, carrier } = start({ upload: true });
    request.written(carrier, 1);
    const big: EncodedPayload = { bytes: Buffer.alloc(200 * 1024), flags: FrameFlag.BINARY };
    request.send(big);
    expect(request.isRetryable).toBe(true);
    request.send(big);
    expect(request.isRetryable).toBe(false);
  });

  it('with nowhere to go, a refusal is left to the caller to deliver', () => {
    const { request, router, carrier } = start();
    router.accept = false;
    request.written(carrier, 1);
    expect(request.retryElsewhere()).toBe(false);
  });

  it('delivers replies decoded asynchronously in arrival order', async () => {
    const { request, replies, carrier } = start();
    request.written(carrier, 1);
    const slow = new Promise<ReplyMessage>(resolve => setTimeout(() => resolve({ response: 'first' }), 20));
    request.reply(slow);
    request.reply({ response: 'second' });
    request.finish(Promise.resolve({ response: 'third', isDisposed: true }));
    await new Promise(r => setTimeout(r, 50));
    expect(replies.map(r => r.response)).toEqual(['first', 'second', 'third']);
  });
});
