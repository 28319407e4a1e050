import { Picker } from '../../src/client/picker';

interface FakePeer {
  name: string;
  isReady: boolean;
  pending: number;
}

const peer = (name: string, pending = 0, isReady = true): FakePeer => ({ name, pending, isReady });

describe('Picker', () => {
  it('picks the ready peer with the fewest requests in flight', () => {
    const peers = [peer('a', 3), peer('b', 1), peer('c', 2)];
    const picker = new Picker();
    for (let i = 0; i < 5; i++) expect(picker.pick(peers)?.name).toBe('b');
  });

  it('leaves out peers that are not ready or not accepted, and returns null when none is left', () => {
    const peers = [peer('a', 0, false), peer('b', 5), peer('c', 0)];
    const picker = new Picker();
    expect(picker.pick(peers, p => p.name !== 'c')?.name).toBe('b');
    expect(picker.pick(peers, p => p.name === 'a')).toBeNull();
    expect(picker.pick([peer('x', 0, false)])).toBeNull();
    expect(picker.pick([])).toBeNull();
  });

  it('shares ties evenly: idle peers take turns', () => {
    const peers = [peer('a'), peer('b'), peer('c', 0, false), peer('d')];
    const picker = new Picker();
    const counts: Record<string, number> = {};
    const order: string[] = [];
    for (let i = 0; i < 300; i++) {
      const picked = picker.pick(peers)!;
      counts[picked.name] = (counts[picked.name] ?? 0) + 1;
      if (i < 6) order.push(picked.name);
    }
    expect(counts).toEqual({ a: 100, b: 100, d: 100 });
    expect(order).toEqual(['a', 'b', 'd', 'a', 'b', 'd']);
  });

  it('under load follows the requests in flight: a peer that answers twice as fast gets about two thirds', () => {
    // 12 requests kept in flight; each tick peer a finishes up to 2 of its requests, b up to 1.
    const a = peer('a');
    const b = peer('b');
    const picker = new Picker();
    const picked = { a: 0, b: 0 };
    for (let tick = 0; tick < 3000; tick++) {
      while (a.pending + b.pending < 12) {
        const chosen = picker.pick([a, b])!;
        chosen.pending++;
        picked[chosen.name as 'a' | 'b']++;
      }
      a.pending = Math.max(0, a.pending - 2);
      b.pending = Math.max(0, b.pending - 1);
    }
    const share = picked.a / (picked.a + picked.b);
    expect(share).toBeGreaterThan(0.6);
    expect(share).toBeLessThan(0.72);
  });
});
