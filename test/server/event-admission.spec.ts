/**
 * Event admission (src/server/event-admission.ts): handlers counted per connection and per
 * peer until they settle, and room announced to the connections waiting for it.
 */
import { EventAdmission, EventSource } from '../../src/server/event-admission';

/** An event handler the test settles by hand. */
function handler(): { run: () => Promise<void>; finish: () => void; fail: () => void } {
  let finish!: () => void;
  let fail!: () => void;
  const settled = new Promise<void>((resolve, reject) => {
    finish = resolve;
    fail = () => reject(new Error('handler failed'));
  });
  return { run: () => settled, finish, fail };
}

const flush = () => new Promise(r => setImmediate(r));

describe('EventAdmission', () => {
  it('runs at most maxConcurrentEvents per connection, counting each until it settles (even by failing)', async () => {
    const admission = new EventAdmission({ maxConcurrentEvents: 2, maxConcurrentEventsPerPeer: 10 });
    const connection: EventSource = { remoteEndpointId: 'peer' };
    const [a, b, c] = [handler(), handler(), handler()];
    expect(admission.tryStart(connection, a.run)).toBe(true);
    expect(admission.tryStart(connection, b.run)).toBe(true);
    expect(admission.tryStart(connection, c.run)).toBe(false);
    expect(admission.running).toBe(2);
    const room = admission.whenRoom(connection);
    a.fail();
    await room;
    expect(admission.running).toBe(1);
    expect(admission.tryStart(connection, c.run)).toBe(true);
    b.finish();
    c.finish();
    await flush();
    expect(admission.running).toBe(0);
  });

  it('bounds a peer over all its connections, and wakes its other connections when it has room', async () => {
    const admission = new EventAdmission({ maxConcurrentEvents: 10, maxConcurrentEventsPerPeer: 2 });
    const first: EventSource = { remoteEndpointId: 'peer' };
    const second: EventSource = { remoteEndpointId: 'peer' };
    const other: EventSource = { remoteEndpointId: 'someone else' };
    const [a, b] = [handler(), handler()];
    expect(admission.tryStart(first, a.run)).toBe(true);
    expect(admission.tryStart(first, b.run)).toBe(true);
    expect(admission.tryStart(second, handler().run)).toBe(false);
    // Another peer is not held back by this one.
    expect(admission.tryStart(other, () => Promise.resolve())).toBe(true);
    let woken = false;
    void admission.whenRoom(second).then(() => (woken = true));
    a.finish();
    await flush();
    expect(woken).toBe(true);
    expect(admission.tryStart(second, handler().run)).toBe(true);
  });

  it('counts a handler that throws at once as settled', async () => {
    const admission = new EventAdmission({ maxConcurrentEvents: 1, maxConcurrentEventsPerPeer: 1 });
    const connection: EventSource = { remoteEndpointId: 'peer' };
    expect(
      admission.tryStart(connection, () => {
        throw new Error('sync failure');
      }),
    ).toBe(true);
    await flush();
    expect(admission.running).toBe(0);
  });

  it('lets whatever waited for a connection that is gone stop waiting', async () => {
    const admission = new EventAdmission({ maxConcurrentEvents: 1, maxConcurrentEventsPerPeer: 1 });
    const connection: EventSource = { remoteEndpointId: 'peer' };
    admission.tryStart(connection, handler().run);
    const room = admission.whenRoom(connection);
    admission.forget(connection);
    await expect(room).resolves.toBeUndefined();
  });
});
