/**
 * Deadlines across the wire (docs/protocol.md, "Deadlines"): the server learns the time the
 * caller has left, shows it to the handler, and stops a handler still running at it. The
 * server runs in its own process.
 */
import { ClientIroh, IrohClientError, IrohClientErrorCode } from '../../src';
import { alpnBytes, bindEndpoint, parsePeer } from '../../src/iroh';
import { FrameStream } from '../../src/transport';
import { Feature, Frame, FrameType, HELLO_ID, decodeHello, encodeHello, encodeRequestMessage, withDeadline } from '../../src/protocol';
import { LOOPBACK, call, callError, eventually } from '../support/harness';
import { Instance, InstanceOutputs, startInstance, stopInstance } from '../support/scale-out-processes';

jest.setTimeout(60_000);

describe('deadlines', () => {
  let outputs: InstanceOutputs;
  let instance: Instance;

  beforeAll(async () => {
    outputs = new InstanceOutputs();
    instance = await startInstance('deadlines', {}, outputs);
  });

  afterAll(async () => {
    await stopInstance(instance, 'SIGKILL');
  });

  function cancelledAfter(tag: string): number | null {
    const line = outputs.lines(new RegExp(`^CANCELLED ${tag} `))[0];
    return line ? Number(line.split(' ')[2]) : null;
  }

  it("the handler sees the caller's deadline on its own clock; none when the caller set no timeout", async () => {
    const timed = new ClientIroh({ ...LOOPBACK, peer: instance.ticket, timeout: 3000 });
    const untimed = new ClientIroh({ ...LOOPBACK, peer: instance.ticket });
    try {
      await timed.connect();
      const sentAt = Date.now();
      const seen = await call(timed, 'deadline', {});
      expect(seen.deadline).not.toBeNull();
      // Measured from when it was written (after sentAt), so at most the 3 s the client allows.
      expect(seen.deadline - seen.now).toBeLessThanOrEqual(3000);
      expect(seen.deadline - seen.now).toBeGreaterThan(2500);
      expect(Math.abs(seen.deadline - (sentAt + 3000))).toBeLessThan(500);
      await expect(call(untimed, 'deadline', {})).resolves.toEqual({ deadline: null, now: expect.any(Number) });
    } finally {
      await Promise.all([timed.close(), untimed.close()]);
    }
  });

  it('ClientIroh: a request still running at its deadline fails with TIMEOUT, and its handler is stopped', async () => {
    const client = new ClientIroh({ ...LOOPBACK, peer: instance.ticket, timeout: 400 });
    try {
      await client.connect();
      const started = Date.now();
      const err = await callError(client, 'hang', 'client-timeout');
      expect(err).toBeInstanceOf(IrohClientError);
      expect(err.code).toBe(IrohClientErrorCode.TIMEOUT);
      expect(Date.now() - started).toBeLessThan(1000);
      await eventually(() => cancelledAfter('client-timeout') !== null, 3000, 'the handler stopped');
      expect(cancelledAfter('client-timeout')).toBeLessThan(1000);
    } finally {
      await client.close();
    }
  });

  it('the server stops a handler at the deadline by itself (a caller that never cancels)', async () => {
    // A bare protocol client: HELLO, then a REQUEST with 300 ms left, and never a CANCEL.
    const endpoint = await bindEndpoint(LOOPBACK);
    const connection = await endpoint.connect(parsePeer(instance.ticket), alpnBytes(undefined));
    const replies: Frame[] = [];
    let pong: ((payload: Buffer) => void) | null = null;
    const stream = new FrameStream(await connection.openBi(), 1 << 20, {
      onFrame: frame => {
        if (frame.type === FrameType.PONG && frame.id === HELLO_ID) pong?.(Buffer.from(frame.payload));
        else if (frame.id === 1) replies.push({ ...frame, payload: Buffer.from(frame.payload) });
      },
      onOversized: () => undefined,
      onProtocolError: () => undefined,
      onClosed: () => undefined,
    }).start();
    try {
      const hello = new Promise<Buffer>(resolve => (pong = resolve));
      stream.writer.write(FrameType.PING, HELLO_ID, encodeHello(Feature.DEADLINE | Feature.DRAIN));
      const features = decodeHello(await hello).features;
      expect(features & Feature.DEADLINE).toBe(Feature.DEADLINE);
      const request = withDeadline(encodeRequestMessage('hang', 'server-deadline', undefined, 0), 300);
      stream.writer.write(FrameType.REQUEST, 1, request.bytes, request.flags);
      await eventually(() => cancelledAfter('server-deadline') !== null, 5000, 'the server to stop the handler');
      const after = cancelledAfter('server-deadline')!;
      expect(after).toBeGreaterThanOrEqual(250);
      expect(after).toBeLessThan(1000);
      // The caller stopped waiting at its deadline: whether the server still says so is its choice.
      await new Promise(resolve => setTimeout(resolve, 200));
      const reply = replies[0] ? `${FrameType[replies[0].type]} ${replies[0].payload.toString()}` : 'no reply';
      console.log(`server-side deadline: handler stopped ${after} ms after it started (deadline 300 ms); ${reply}`);
    } finally {
      await stream.finish();
      connection.close(0, '');
      await endpoint.close();
    }
  });
});
