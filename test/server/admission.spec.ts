import { ErrorCode } from '../../src/protocol';
import { Admission } from '../../src/server/admission';

describe('Admission', () => {
  const limits = { maxConcurrentRequests: 2, maxConcurrentRequestsPerPeer: 3 };
  const stream = (remoteEndpointId: string, load: number) => ({ remoteEndpointId, load });

  it('admits up to the per-connection limit, counting what the stream already carries', () => {
    const admission = new Admission(limits);
    expect(admission.check(stream('a', 1))).toBeNull();
    expect(admission.check(stream('a', 2))).toMatchObject({
      code: ErrorCode.LIMIT_EXCEEDED,
      message: expect.stringContaining('maxConcurrentRequests 2'),
    });
  });

  it('admits up to the per-peer limit over all of its connections', () => {
    const admission = new Admission(limits);
    for (let i = 0; i < 3; i++) admission.started('a');
    expect(admission.check(stream('a', 0))).toMatchObject({
      code: ErrorCode.LIMIT_EXCEEDED,
      message: expect.stringContaining('PerPeer 3'),
    });
    expect(admission.check(stream('b', 0))).toBeNull();
    admission.ended('a');
    expect(admission.check(stream('a', 0))).toBeNull();
  });

  it('refuses everything with GOING_AWAY while draining, and serves again once reopened', () => {
    const admission = new Admission(limits);
    admission.startDraining();
    expect(admission.check(stream('a', 0))).toMatchObject({ code: ErrorCode.GOING_AWAY });
    admission.reopen();
    expect(admission.check(stream('a', 0))).toBeNull();
  });

  it('resolves whenIdle when the last request ends, not before', async () => {
    const admission = new Admission(limits);
    await admission.whenIdle();
    admission.started('a');
    admission.started('b');
    let idle = false;
    const waiting = admission.whenIdle().then(() => (idle = true));
    admission.ended('a');
    await Promise.resolve();
    expect(idle).toBe(false);
    expect(admission.inflight).toBe(1);
    admission.ended('b');
    await waiting;
    expect(idle).toBe(true);
  });
});
